// Checks the hand-written Node-API layer (crates/capspawn-node/src/napi) from JS.
//
// Run from the repo root:
//   scripts/napi-selftest   (part of npm test; builds the addon with the
//   napi-selftest feature and passes its path as CAPSPAWN_NODE).
'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const addon = process.env.CAPSPAWN_NODE || path.join(__dirname, '../../capspawn.linux-x64-gnu.node');
const t = require(addon).__selftest;
if (!t) {
  console.error(`${addon} has no __selftest: build it with --features napi-selftest`);
  process.exit(2);
}

// How much slower than this machine the run is: scripts/arm64-test sets CAPSPAWN_TEST_SLOWDOWN in
// its emulated arm64 VM, where starting node alone takes seconds. The time limits below scale by it.
const SLOWDOWN = Number(process.env.CAPSPAWN_TEST_SLOWDOWN) || 1;

let passed = 0;
let failed = 0;
function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack).split('\n').join('\n  ')}`);
  }
}

// Runs `body` in a fresh node process with `t` bound to the selftest exports;
// it reports by printing one JSON line on exit.
function child(body, timeoutMs = 10000 * SLOWDOWN) {
  const code = `const t = require(${JSON.stringify(addon)}).__selftest;\n${body}`;
  const start = Date.now();
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: timeoutMs });
  const elapsed = Date.now() - start;
  const line = r.stdout.trim().split('\n').pop();
  return { status: r.status, signal: r.signal, elapsed, out: line ? JSON.parse(line) : null, stderr: r.stderr };
}

const expectCode = (code, re) => (e) => {
  assert.ok(e instanceof Error, 'instanceof Error');
  assert.equal(e.code, code);
  if (re) assert.match(e.message, re);
  return true;
};

check('echo round-trips primitives, strings, arrays, buffers', () => {
  const samples = [undefined, null, true, false, 0, -1.5, 2 ** 53, NaN, -Infinity, '', 'héllo\u0000 ✓ 𝄞',
    [1, 'a', [null, true, []]], Buffer.from([0, 1, 255]), Buffer.alloc(0)];
  for (const v of samples) assert.deepEqual(t.echo(v), v);
  assert.ok(Buffer.isBuffer(t.echo(new Uint8Array([7]))));
  assert.equal(t.echo('\ud800'), '\ufffd');
  assert.equal(t.echo(), undefined);
  assert.equal(t.echo(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 1);
  assert.throws(() => t.echo({}), expectCode('ERR_INVALID_ARG_TYPE', /received object/));
});

check('typed getters accept exact types', () => {
  const out = t.typed({ s: 'x', i: -(2 ** 53 - 1), u: 4294967295, b: false, list: ['a', 'b'], opt: undefined });
  assert.deepEqual({ ...out }, {
    s: 'x', i: -(2 ** 53 - 1), u: 4294967295, i32: -7, b: false, list: ['a', 'b'], hasOpt: true, optIsNone: true,
  });
  assert.equal(t.typed({ s: '', i: 0, u: 0, b: true, list: [] }).hasOpt, false);
});

check('typed getters reject wrong types and ranges', () => {
  const ok = { s: 'x', i: 1, u: 1, b: true, list: [] };
  assert.throws(() => t.typed({ ...ok, s: 5 }), expectCode('ERR_INVALID_ARG_TYPE', /^s: expected string, received number$/));
  assert.throws(() => t.typed({ ...ok, b: 1 }), expectCode('ERR_INVALID_ARG_TYPE', /^b: /));
  assert.throws(() => t.typed({ ...ok, u: -1 }), expectCode('ERR_OUT_OF_RANGE', /^u: /));
  assert.throws(() => t.typed({ ...ok, u: 2 ** 32 }), expectCode('ERR_OUT_OF_RANGE'));
  assert.throws(() => t.typed({ ...ok, i: 1.5 }), expectCode('ERR_OUT_OF_RANGE'));
  assert.throws(() => t.typed({ ...ok, i: NaN }), expectCode('ERR_OUT_OF_RANGE'));
  assert.throws(() => t.typed({ ...ok, i: 2 ** 53 }), expectCode('ERR_OUT_OF_RANGE'));
  assert.throws(() => t.typed({ ...ok, list: 'ab' }), expectCode('ERR_INVALID_ARG_TYPE', /expected array, received string/));
  assert.throws(() => t.typed({ ...ok, list: [1] }), expectCode('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => t.typed({ ...ok, s: undefined }), expectCode('ERR_MISSING_ARGS'));
  assert.throws(() => t.typed(null), expectCode('ERR_INVALID_ARG_TYPE', /expected object, received null/));
});

check('an exception thrown by JS during a helper is kept, not replaced', () => {
  const bad = { get s() { throw new RangeError('from getter'); } };
  assert.throws(() => t.typed(bad), (e) => e instanceof RangeError && e.message === 'from getter');
});

check('Err becomes a thrown Error with code and extra props', () => {
  let caught;
  try { t.throwCoded(); } catch (e) { caught = e; }
  assert.ok(caught instanceof Error);
  assert.equal(caught.code, 'ENOENT');
  assert.equal(caught.message, 'spawn /nonexistent: no such file or directory');
  assert.equal(caught.errno, -2);
  assert.equal(caught.syscall, 'execve');
  assert.equal(caught.stage, 'exec');
  assert.equal(caught.ratio, 0.5);
  assert.equal(caught.fatal, true);
  assert.deepEqual(caught.remaining, ['CAP_NET_RAW', 'CAP_SYS_ADMIN']);
  assert.equal(typeof caught.stack, 'string');
});

check('error_value builds the same Error without throwing', () => {
  const e = t.errorValue();
  assert.ok(e instanceof Error);
  assert.equal(e.code, 'ENOENT');
  assert.deepEqual(e.remaining, ['CAP_NET_RAW', 'CAP_SYS_ADMIN']);
});

check('a Rust panic becomes ERR_CAPSPAWN_INTERNAL, and the addon keeps working', () => {
  // In a child process: Rust's panic hook reports the panic on stderr, which is checked here
  // instead of being printed in the middle of a passing run.
  const r = child(`let caught;
    try { t.panic(); } catch (e) { caught = [e instanceof Error, e.code, /selftest panic/.test(e.message)]; }
    console.log(JSON.stringify({ caught, after: t.echo('still fine') }));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, { caught: [true, 'ERR_CAPSPAWN_INTERNAL', true], after: 'still fine' });
  assert.match(r.stderr, /panicked at .*\nselftest panic/);
});

check('tsfn delivers 3 calls in order, then the process exits by itself', () => {
  const r = child(`const calls = [];
    t.makeTsfn((err, i) => calls.push([err, i]));
    process.on('exit', () => console.log(JSON.stringify(calls)));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, [[null, 0], [null, 1], [null, 2]]);
});

check('a ref\'ed tsfn keeps node alive until its thread is done', () => {
  const r = child(`const calls = []; const start = Date.now();
    t.makeTsfn((err, i) => calls.push(i), { delayMs: 400 });
    process.on('exit', () => console.log(JSON.stringify({ calls, ms: Date.now() - start })));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out.calls, [0, 1, 2]);
  assert.ok(r.out.ms >= 350, `exited after ${r.out.ms} ms`);
});

check('an unref\'ed tsfn does not keep node alive', () => {
  const r = child(`const calls = [];
    t.makeTsfn((err, i) => calls.push(i), { delayMs: ${5000 * SLOWDOWN}, unref: true });
    process.on('exit', () => console.log(JSON.stringify(calls)));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, []);
  assert.ok(r.elapsed < 3000 * SLOWDOWN, `took ${r.elapsed} ms`);
});

check('tsfn keeps order over 20000 calls', () => {
  const r = child(`let next = 0, bad = 0;
    t.makeTsfn((err, i) => { if (i !== next++) bad++; }, { count: 20000 });
    process.on('exit', () => console.log(JSON.stringify({ next, bad })));`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, { next: 20000, bad: 0 });
});

check('exceptions from the JS callback or from convert are reported as uncaught', () => {
  const body = (opts, cb) => `const seen = [], calls = [];
    process.on('uncaughtException', (e) => seen.push([e.code || e.message, e instanceof Error]));
    t.makeTsfn(${cb}, ${JSON.stringify(opts)});
    process.on('exit', () => console.log(JSON.stringify({ seen, calls })));`;
  let r = child(body({}, `(err, i) => { calls.push(i); if (i === 1) throw new Error('cb threw'); }`));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.out, { seen: [['cb threw', true]], calls: [0, 1, 2] });
  r = child(body({ fail: 'error' }, '(err, i) => calls.push(i)'));
  assert.deepEqual(r.out, { seen: [['ERR_SELFTEST_CONVERT', true]], calls: [0, 1] });
  r = child(body({ fail: 'panic' }, '(err, i) => calls.push(i)'));
  assert.deepEqual(r.out, { seen: [['ERR_CAPSPAWN_INTERNAL', true]], calls: [0, 1] });
});

check('without a handler, a throwing tsfn callback ends the process like any uncaught error', () => {
  const r = child(`t.makeTsfn(() => { throw new Error('boom from cb'); });`);
  assert.notEqual(r.status, 0);
  assert.equal(r.signal, null);
  assert.match(r.stderr, /boom from cb/);
});

check('a tsfn outliving its worker env is closed safely (no use-after-free)', () => {
  const r = child(`const { Worker } = require('node:worker_threads');
    const w = new Worker(\`const t = require(\${JSON.stringify(${JSON.stringify(addon)})}).__selftest;
      t.makeTsfn(() => {}, { delayMs: 300 }); require('node:worker_threads').parentPort.postMessage('ready');\`,
      { eval: true });
    w.on('message', () => w.terminate());
    w.on('exit', () => setTimeout(() => console.log(JSON.stringify('main survived')), 700));`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out, 'main survived');
});

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
