/**
 * child_process parity, proven side by side: each scenario is a function of a `spawn`
 * implementation that returns what an observer sees (the events in order with their arguments,
 * the error's code, errno, syscall, path and spawnargs, a synchronous throw and its code, the
 * bytes on each stream, killed, exitCode, signalCode, whether pid is set, spawnfile and
 * spawnargs), run through `child_process.spawn` and capspawn's `spawn`; the two must be equal.
 * Where capspawn differs on purpose (README, "Differences from child_process"), the test says so
 * and asserts capspawn's side.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CapspawnChildProcess, spawn as capspawn } from '../dist/index.js';
import { FIXTURES, requirePrivilege, tempDir } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Child = any;
type Spawn = (...args: unknown[]) => Child;
type Log = (...entry: unknown[]) => void;
/** Starts the scenario's child (or children) with `spawn`; may log what it sees. */
type Start = (spawn: Spawn, log: Log) => Child;
interface Hooks {
  /** Runs once spawn() returned (before any event). */
  then?: (child: Child, log: Log, spawn: Spawn) => void | Promise<void>;
  /** On 'spawn', 'exit', 'close'. */
  onSpawn?: (child: Child, log: Log) => void;
  onExit?: (child: Child, log: Log) => void;
  onClose?: (child: Child, log: Log) => void | Promise<void>;
  /** Do not read the streams (a scenario that reads, pauses or destroys them itself). */
  noRead?: boolean;
  /** Report stream byte counts instead of their text. */
  counts?: boolean;
}

const IMPLS = { node: cp.spawn as unknown as Spawn, capspawn: capspawn as unknown as Spawn };

function errorView(error: unknown): Record<string, unknown> {
  if (error === null || typeof error !== 'object') return { thrownValue: String(error) };
  const e = error as Record<string, unknown>;
  // capspawn's messages may end with the step that failed, in parentheses (README): not compared.
  const message = typeof e.message === 'string' ? e.message.replace(/ \(.*\)$/s, '') : e.message;
  const out: Record<string, unknown> = { name: e.name, code: e.code, message };
  for (const key of ['errno', 'syscall', 'path', 'spawnargs']) if (key in e) out[key] = e[key];
  return out;
}

/** A stream's direction. (child_process's stdout and stderr are writable too, being one end
 * of a socket pair; capspawn's are the read ends of pipes: not compared.) */
function streamKind(stream: Child, index: number): string | null {
  if (stream === null || stream === undefined) return null;
  if (index === 1 || index === 2) return stream.readable ? 'r' : '';
  return `${stream.readable ? 'r' : ''}${stream.writable ? 'w' : ''}`;
}

/** What an observer sees of one scenario, run with `spawn`. */
async function observe(spawn: Spawn, start: Start, hooks: Hooks = {}): Promise<Record<string, unknown>> {
  const log: unknown[] = [];
  const note: Log = (...entry) => log.push(entry.length === 1 ? entry[0] : entry);
  let child: Child;
  try {
    child = start(spawn, note);
  } catch (error) {
    return { threw: errorView(error), log };
  }
  const seen: Record<string, unknown> = {
    pid: typeof child.pid,
    spawnfile: child.spawnfile,
    spawnargs: child.spawnargs,
    stdio: Array.isArray(child.stdio) ? child.stdio.map(streamKind) : String(child.stdio),
  };
  const bytes: Record<number, Buffer[]> = {};
  if (!hooks.noRead) {
    (child.stdio ?? []).forEach((stream: Child, i: number) => {
      if (stream && stream.readable) {
        bytes[i] = [];
        stream.on('data', (chunk: Buffer) => bytes[i]!.push(chunk));
      }
    });
  }
  const closed = new Promise<void>((resolve) => {
    child.on('spawn', () => {
      note('spawn');
      hooks.onSpawn?.(child, note);
    });
    child.on('error', (error: unknown) => note('error', errorView(error)));
    child.on('exit', (code: unknown, signal: unknown) => {
      note('exit', code, signal);
      hooks.onExit?.(child, note);
    });
    child.on('close', (code: unknown, signal: unknown) => {
      note('close', code, signal);
      void Promise.resolve(hooks.onClose?.(child, note)).then(() => resolve());
    });
  });
  await hooks.then?.(child, note, spawn);
  let guard: NodeJS.Timeout | undefined;
  const stuck = new Promise<void>((resolve) => {
    guard = setTimeout(() => {
      note('no close within 15 s');
      child.kill?.('SIGKILL');
      resolve();
    }, 15_000);
  });
  await Promise.race([closed, stuck]);
  clearTimeout(guard);
  const streams = Object.fromEntries(
    Object.entries(bytes).map(([i, chunks]) => {
      const all = Buffer.concat(chunks);
      return [i, hooks.counts ? all.length : all.toString()];
    }),
  );
  return { ...seen, log, streams, killed: child.killed, exitCode: child.exitCode, signalCode: child.signalCode };
}

/** Runs the scenario through both implementations and returns [child_process's, capspawn's]. */
async function both(start: Start, hooks?: Hooks): Promise<[Record<string, unknown>, Record<string, unknown>]> {
  const expected = await observe(IMPLS.node, start, hooks);
  const actual = await observe(IMPLS.capspawn, start, hooks);
  return [expected, actual];
}

async function same(start: Start, hooks?: Hooks): Promise<Record<string, unknown>> {
  const [expected, actual] = await both(start, hooks);
  expect(actual).toEqual(expected);
  return actual;
}

/** A file that `spawn` cannot execute, and one without `#!`. */
const dir = tempDir('parity');
const notExecutable = path.join(dir, 'not-executable');
fs.writeFileSync(notExecutable, '#!/bin/sh\necho no\n', { mode: 0o644 });
const noShebang = path.join(dir, 'no-shebang');
fs.writeFileSync(noShebang, 'echo "ran by sh: $0 $1"\n', { mode: 0o755 });

/** Strings of every UTF-8 length from 240 to 270 bytes, each ending in a character of 1, 2, 3
 * or 4 bytes (and one with a lone surrogate): around the 256-byte buffer the binding reads short
 * strings into, where a character that does not fit must not be cut off. */
const BOUNDARY = (() => {
  const out: string[] = [];
  for (const last of ['a', 'é', '€', '😀', '\ud800']) {
    for (let bytes = 240; bytes <= 270; bytes++) {
      const body = 'x'.repeat(Math.max(0, bytes - Buffer.byteLength(last)));
      out.push(body + last);
    }
  }
  return out;
})();

describe('outcomes', () => {
  it.each<[string, Start, Hooks?]>([
    ['arguments and env values around 256 UTF-8 bytes', (spawn) =>
      spawn('sh', ['-c', 'printf "%s\\n" "$@"; env | grep ^CAPSPAWN_B | sort', 'sh', ...BOUNDARY], {
        env: Object.fromEntries(BOUNDARY.map((value, i) => [`CAPSPAWN_B${String(i).padStart(3, '0')}`, value])),
      })],
    ['a command that prints and exits 0', (spawn) => spawn('echo', ['hello', 'world'])],
    // Node ignores SIGPIPE and blocks nothing: neither may leak into the workload (capspawn's
    // child resets ignored signals itself after clone3's CLONE_CLEAR_SIGHAND).
    ['the signal mask and ignored signals the workload starts with', (spawn) => spawn('grep', ['-E', '^Sig(Blk|Ign)', '/proc/self/status'])],
    // The CPUs the workload may run on: the supervisor's affinity, as a fork's child inherits it.
    ['the CPUs the workload may run on', (spawn) => spawn('grep', ['^Cpus_allowed', '/proc/self/status'])],
    ['an exit status', (spawn) => spawn('sh', ['-c', 'echo out; echo err >&2; exit 3'])],
    ['a child killed by a signal', (spawn) => spawn('sh', ['-c', 'kill -USR1 $$'])],
    ['stdin written and ended', (spawn) => spawn('cat'), { then: (child) => child.stdin.end('through cat\n') }],
    ['argv0', (spawn) => spawn('cat', ['/proc/self/cmdline'], { argv0: 'custom-name' })],
    ['an empty argv0', (spawn) => spawn('cat', ['/proc/self/cmdline'], { argv0: '' })],
    ["cwd: '' (the parent's directory)", (spawn) => spawn('pwd', [], { cwd: '' })],
    ['cwd as a string and as a file: URL', (spawn) => spawn('pwd', [], { cwd: new URL('file:///tmp') })],
    ['cwd as a Buffer (not changed to)', (spawn) => spawn('pwd', [], { cwd: Buffer.from('/tmp') })],
    ['a cwd that does not exist (ENOENT, emitted)', (spawn) => spawn('pwd', [], { cwd: path.join(dir, 'nowhere') })],
    ['args converted with String()', (spawn) => spawn('echo', [23, true, null, undefined, {}, 1.5, -0, 10n])],
    ['args given as options (spawn(file, options))', (spawn) => spawn('pwd', { cwd: '/tmp' })],
    ['args null', (spawn) => spawn('echo', null, { cwd: '/tmp' })],
    ['env with non-string values', (spawn) => spawn('/usr/bin/env', [], { env: { A: 1, B: true, C: null, D: undefined, E: {}, F: '' } })],
    ['env as a string (its characters become variables)', (spawn) => spawn('/usr/bin/env', [], { env: 'AB' })],
    ['env as a number (no variables)', (spawn) => spawn('/usr/bin/env', [], { env: 5 })],
    ['env falsy (the supervisor\'s)', (spawn) => spawn('sh', ['-c', 'echo "$HOME"'], { env: 0 })],
    ['a PATH lookup in the env given', (spawn) => spawn('true', [], { env: { PATH: '/nowhere' } })],
    ['detached: a new session', (spawn) => spawn('sh', ['-c', 'test "$(cut -d" " -f6 /proc/$$/stat)" = $$ && echo leader'], { detached: true })],
    ['not detached: the same session', (spawn) => spawn('sh', ['-c', 'test "$(cut -d" " -f6 /proc/$$/stat)" = $$ || echo member'])],
    ['shell: true joins the command line', (spawn) => spawn('echo', ['a', '"b  c"', '$HOME'], { shell: true, env: { HOME: '/home/x', PATH: process.env.PATH } })],
    ['shell: true with null and undefined args', (spawn) => spawn('echo', [null, undefined, 'c'], { shell: true })],
    ['shell: a path to a shell', (spawn) => spawn('echo $0', { shell: '/bin/bash' })],
    ['shell with argv0', (spawn) => spawn('echo $0', { shell: true, argv0: 'named' })],
    ["shell: '' (no shell)", (spawn) => spawn('echo', ['$HOME'], { shell: '' })],
    ['shell that does not exist (ENOENT)', (spawn) => spawn('echo', ['x'], { shell: '/nonexistent/sh' })],
    ['shell: a command the shell does not find (127)', (spawn) => spawn('capspawn-does-not-exist', { shell: true })],
    ['shell: a pipeline', (spawn) => spawn('echo bar | tr a-z A-Z', { shell: true })],
  ])('%s', async (_label, start, hooks) => {
    await same(start, hooks);
  });
});

describe('every errno class', () => {
  it.each<[string, Start]>([
    ['ENOENT: a command not found', (spawn) => spawn('capspawn-no-such-command', ['a'])],
    ['ENOENT: an absolute path not found', (spawn) => spawn('/nonexistent/x', ['a', 'b'])],
    ['EACCES: a file without the execute bit', (spawn) => spawn(notExecutable, ['x'])],
    ['EACCES: a directory', (spawn) => spawn('/tmp')],
    ['ENOEXEC: a script without #! runs with /bin/sh', (spawn) => spawn(noShebang, ['arg'])],
    ['E2BIG: an argument past MAX_ARG_STRLEN (thrown)', (spawn) => spawn('echo', ['x'.repeat(200_000)])],
    ['EBADF: a stdio descriptor that is not open (thrown)', (spawn) => spawn('echo', [], { stdio: ['pipe', 1000, 'pipe'] })],
    ['EINVAL: uid -1 (thrown)', (spawn) => spawn('true', [], { uid: -1 })],
    ['EINVAL: gid -1 (thrown)', (spawn) => spawn('true', [], { gid: -1 })],
  ])('%s', async (_label, start) => {
    await same(start);
  });

  it('EPERM: setuid as an unprivileged supervisor is thrown synchronously', (ctx) => {
    requirePrivilege(ctx);
    const wrapper = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
    const [expected, actual] = ['node', 'capspawn'].map((impl) => driver(impl, 'uid-eperm', { wrapper }));
    expect(actual).toEqual(expected);
    expect(actual!.events[0]).toEqual(['threw', { name: 'Error', code: 'EPERM', errno: -1, syscall: 'spawn', message: 'spawn EPERM' }]);
  });

  it('EMFILE: out of descriptors is an error event, with no stdio streams', () => {
    const wrapper = ['prlimit', '--nofile=256'];
    const [expected, actual] = ['node', 'capspawn'].map((impl) => driver(impl, 'emfile', { wrapper }));
    expect(actual).toEqual(expected);
    expect(actual!.events).toContainEqual(['error', expect.objectContaining({ code: 'EMFILE' })]);
  });
});

/** Runs fixtures/parity-driver.mjs with one implementation; returns its report. */
function driver(
  impl: string,
  scenario: string,
  { wrapper = [], stdout = 'pipe' }: { wrapper?: string[]; stdout?: 'pipe' | number } = {},
): { events: unknown[]; stdout?: number; [key: string]: unknown } {
  const result = path.join(dir, `${impl}-${scenario}.json`);
  fs.rmSync(result, { force: true });
  const argv = [...wrapper, process.execPath, path.join(FIXTURES, 'parity-driver.mjs'), impl, scenario, result];
  const run = cp.spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', stdout, 'pipe'], maxBuffer: 8 << 20, timeout: 20_000 });
  const report = JSON.parse(fs.readFileSync(result, 'utf8')) as { events: unknown[]; stdout?: number; stderr?: string };
  if (stdout === 'pipe') report.stdout = run.stdout.length;
  report.stderr = nonblocking(run.stderr.toString());
  return report;
}

/** `flags: 0104002` lines of /proc/self/fdinfo into whether O_NONBLOCK (04000) is set on each. */
function nonblocking(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.startsWith('flags:'))
    .map((line) => ((parseInt(line.split(/\s+/)[1]!, 8) & 0o4000) !== 0 ? 'nonblocking' : 'blocking'))
    .join(',');
}

describe('option validation: the same error code, thrown or not, as child_process', () => {
  const VALUES: Array<[string, unknown]> = [
    ['undefined', undefined], ['null', null], ['true', true], ['false', false], ['0', 0], ['1', 1], ['-1', -1],
    ['1.5', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['2**31', 2 ** 31], ['2**53', 2 ** 53],
    ["''", ''], ["'str'", 'str'], ['{}', {}], ['[]', []], ['a function', () => {}], ['a symbol', Symbol('s')], ['10n', 10n],
  ];
  const OPTIONS = ['cwd', 'env', 'argv0', 'stdio', 'detached', 'timeout', 'killSignal', 'signal', 'uid', 'gid', 'shell',
    'windowsHide', 'windowsVerbatimArguments', 'serialization', 'encoding'];
  /** What capspawn does on purpose where child_process does something else (see the README). */
  const DIFFERENT: Record<string, { code: string; why: string }> = {
    'timeout=2**31': { code: 'ERR_OUT_OF_RANGE', why: "past 2**31-1 ms Node's setTimeout fires after 1 ms, so child_process kills the child at once" },
    'timeout=2**53': { code: 'ERR_OUT_OF_RANGE', why: 'the same' },
    'timeout=1': { code: '', why: 'not a validation case: a 1 ms timeout races the child (the timeout scenarios cover it)' },
    // child_process's isInt32 (`value | 0`) converts the value first: a BigInt or a Symbol makes
    // it throw a bare TypeError with no code (and an object's valueOf runs). capspawn checks
    // the type first, so it is the error child_process means.
    'uid=10n': { code: 'ERR_INVALID_ARG_TYPE', why: 'child_process throws a bare TypeError (BigInt mixed in `| 0`)' },
    'uid=a symbol': { code: 'ERR_INVALID_ARG_TYPE', why: 'child_process throws a bare TypeError (Symbol to number)' },
    'gid=10n': { code: 'ERR_INVALID_ARG_TYPE', why: 'child_process throws a bare TypeError (BigInt mixed in `| 0`)' },
    'gid=a symbol': { code: 'ERR_INVALID_ARG_TYPE', why: 'child_process throws a bare TypeError (Symbol to number)' },
  };
  /** The command for each option, chosen so that every value child_process runs with ends the same way. */
  const run = (name: string, value: unknown) => (spawn: Spawn) => spawn('/bin/echo', ['ok'], { [name]: value });

  it.each(OPTIONS)('options.%s', async (name) => {
    const expected: Record<string, unknown> = {};
    const actual: Record<string, unknown> = {};
    for (const [label, value] of VALUES) {
      const key = `${name}=${label}`;
      const difference = DIFFERENT[key];
      if (difference) {
        if (!difference.code) continue;
        const seen = await observe(IMPLS.capspawn, run(name, value));
        expect(seen.threw, `${key}: ${difference.why}`).toMatchObject({ code: difference.code });
        continue;
      }
      expected[key] = await observe(IMPLS.node, run(name, value));
      actual[key] = await observe(IMPLS.capspawn, run(name, value));
    }
    expect(actual).toEqual(expected);
  });

  it.each<[string, (value: unknown) => Start]>([
    ['the command', (value) => (spawn) => spawn(value, ['ok'])],
    ['args', (value) => (spawn) => spawn('/bin/echo', value, {})],
    ['options', (value) => (spawn) => spawn('/bin/echo', ['ok'], value)],
    ['an argument', (value) => (spawn) => spawn('/bin/echo', typeof value === 'symbol' ? [] : [value])],
    ['a stdio entry', (value) => (spawn) => spawn('/bin/echo', ['ok'], { stdio: ['pipe', 'pipe', value] })],
    ['an env value', (value) => (spawn) => spawn('/bin/sh', ['-c', 'echo "$V"'], { env: typeof value === 'symbol' ? {} : { V: value } })],
  ])('%s', async (_label, start) => {
    const STDIO_DIFFERENT = new Set(['1.5', 'NaN', 'Infinity', '2**31', '2**53']);
    const expected: Record<string, unknown> = {};
    const actual: Record<string, unknown> = {};
    for (const [label, value] of VALUES) {
      if (_label === 'a stdio entry' && STDIO_DIFFERENT.has(label)) {
        // child_process converts the number to 32 bits (NaN and 2**53 are descriptor 0, 1.5 is
        // 1): capspawn refuses a number that is not a descriptor.
        const seen = await observe(IMPLS.capspawn, start(value));
        expect(seen.threw, label).toMatchObject({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
        continue;
      }
      expected[label] = await observe(IMPLS.node, start(value));
      actual[label] = await observe(IMPLS.capspawn, start(value));
    }
    expect(actual).toEqual(expected);
  });

  it.each<[string, Start]>([
    ['a NUL byte in the command', (spawn) => spawn('/bin/echo\0x')],
    ['a NUL byte in an argument', (spawn) => spawn('/bin/echo', ['a\0b'])],
    ['a NUL byte in cwd', (spawn) => spawn('/bin/echo', [], { cwd: '/tmp\0x' })],
    ['a NUL byte in argv0', (spawn) => spawn('/bin/echo', [], { argv0: 'a\0b' })],
    ['a NUL byte in shell', (spawn) => spawn('/bin/echo', [], { shell: '/bin/sh\0x' })],
    ['a NUL byte in an env key', (spawn) => spawn('/bin/echo', [], { env: { 'A\0B': '1' } })],
    ['a NUL byte in an env value', (spawn) => spawn('/bin/echo', [], { env: { A: 'x\0y' } })],
    ['an unknown killSignal name', (spawn) => spawn('/bin/echo', [], { killSignal: 'SIGNOPE' })],
    ['a killSignal Node has no name for', (spawn) => spawn('/bin/echo', [], { killSignal: 34 })],
    ['a killSignal in lower case', (spawn) => spawn('/bin/echo', ['ok'], { killSignal: 'sigkill' })],
    ["serialization 'advanced'", (spawn) => spawn('/bin/echo', ['ok'], { serialization: 'advanced' })],
    ['a non-file URL as cwd', (spawn) => spawn('/bin/echo', [], { cwd: new URL('http://example.com/') })],
    ["stdio 'ipc' as a string", (spawn) => spawn('/bin/echo', [], { stdio: 'ipc' })],
    ['a stdio entry that is a Buffer', (spawn) => spawn('/bin/echo', [], { stdio: ['pipe', Buffer.from('x'), 'pipe'] })],
    ['a stdio entry { fd }', (spawn) => spawn('/bin/echo', ['ok'], { stdio: ['pipe', 'pipe', { fd: 1 }] })],
    ['a stdio entry that is a destroyed socket', (spawn) => {
      const other = spawn('/bin/true');
      other.stdout.destroy();
      return spawn('/bin/echo', ['ok'], { stdio: ['pipe', other.stdout, 'pipe'] });
    }],
    ['an fs stream not yet open', (spawn) => spawn('/bin/echo', ['ok'], { stdio: ['pipe', fs.createWriteStream(path.join(dir, 'later')), 'pipe'] })],
    ['more than three stdio entries, null and undefined among them', (spawn) => spawn('/bin/sh', ['-c', 'echo three >&3; ls /proc/self/fd/4 2>&1 | wc -l'], { stdio: [null, undefined, 'pipe', 'pipe', undefined] })],
    ['a negative stdio number (a pipe)', (spawn) => spawn('/bin/echo', ['ok'], { stdio: ['pipe', -5, 'pipe'] })],
  ])('%s', async (_label, start) => {
    await same(start);
  });
});

describe('stdio', () => {
  it.each<[string, Start, Hooks?]>([
    ["'ignore'", (spawn) => spawn('sh', ['-c', 'echo out; echo err >&2; cat'], { stdio: 'ignore' })],
    ["'ignore' for one", (spawn) => spawn('sh', ['-c', 'echo out; echo err >&2'], { stdio: ['pipe', 'ignore', 'pipe'] })],
    ['a descriptor number (a file)', (spawn) => {
      const fd = fs.openSync(path.join(dir, `out-${spawn === IMPLS.node ? 'node' : 'capspawn'}`), 'w');
      const child = spawn('sh', ['-c', 'echo to-file'], { stdio: ['ignore', fd, 'pipe'] });
      fs.closeSync(fd);
      return child;
    }, // capspawn's child is a ChildProcess too (its prototype chain is Node's): tell them apart by
    // capspawn's own class, or both sides would read child_process's file.
    { onClose: (child, log) => log('file', fs.readFileSync(path.join(dir, `out-${child instanceof CapspawnChildProcess ? 'capspawn' : 'node'}`), 'utf8')) }],
    ['an open fs stream', (spawn) => {
      const stream = fs.createWriteStream('', { fd: fs.openSync('/dev/null', 'w') });
      const child = spawn('sh', ['-c', 'echo via-stream; echo err >&2'], { stdio: ['ignore', stream, 'pipe'] });
      stream.destroy();
      return child;
    }],
    ["a pipe beyond 2, both ways", (spawn) => spawn('sh', ['-c', 'read line <&3; echo "got $line" >&3'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] }),
      { then: (child) => child.stdio[3].write('ping\n') }],
    ['the blocking mode of the descriptors a piped child gets', (spawn) => spawn('sh', ['-c', 'for n in 0 1 2; do grep flags /proc/self/fdinfo/$n; done'], { stdio: 'pipe' })],
  ])('%s', async (_label, start, hooks) => {
    const [expected, actual] = await both(start, hooks);
    // The mode flags beyond O_NONBLOCK differ with the kind of pipe; compare O_NONBLOCK.
    for (const seen of [expected, actual]) {
      const streams = seen.streams as Record<string, string>;
      if (_label.startsWith('the blocking mode')) streams[1] = nonblocking(streams[1]!);
    }
    expect(actual).toEqual(expected);
  });

  it("another child's stdout as stdin (the pipe-dataflow case): the reader gets blocking reads", async () => {
    const start: Start = (spawn) => {
      const cat = spawn('cat');
      const head = spawn('head', ['-n1'], { stdio: [cat.stdout, 'pipe', 'pipe'] });
      cat.stdin.write('first line\nsecond line\n');
      head.on('exit', () => cat.stdin.end());
      return head;
    };
    await same(start);
  });

  it("a child's stdout into another's stdin, with grep (data flows through, nothing is lost)", async () => {
    const start: Start = (spawn) => {
      const producer = spawn('sh', ['-c', 'sleep 0.1; seq 1 20000']);
      return spawn('wc', ['-l'], { stdio: [producer.stdout, 'pipe', 'pipe'] });
    };
    await same(start);
  });

  it.each([
    ['a pipe', 'pipe'],
    ['a file', 'file'],
  ] as const)("'inherit' with the supervisor's stdout %s: 1 MB arrives, and the child's descriptors are blocking", (_label, kind) => {
    const reports = ['node', 'capspawn'].map((impl) => {
      if (kind === 'pipe') return driver(impl, 'inherit-1mb');
      const file = path.join(dir, `inherit-${impl}`);
      const fd = fs.openSync(file, 'w');
      try {
        const report = driver(impl, 'inherit-1mb', { stdout: fd });
        return { ...report, stdout: fs.statSync(file).size };
      } finally {
        fs.closeSync(fd);
      }
    });
    expect(reports[1]).toEqual(reports[0]);
    expect(reports[1]!.stdout).toBe(1 << 20);
  });

  it("'inherit' with the supervisor's stdio a TTY", () => {
    // script(1) gives the driver a pseudo-terminal for its stdio; the driver's child inherits it.
    const reports = ['node', 'capspawn'].map((impl) => {
      const result = path.join(dir, `tty-${impl}.json`);
      const command = [process.execPath, path.join(FIXTURES, 'parity-driver.mjs'), impl, 'inherit-1mb', result].map((a) => `'${a}'`).join(' ');
      const run = cp.spawnSync('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20, timeout: 20_000 });
      const report = JSON.parse(fs.readFileSync(result, 'utf8')) as Record<string, unknown>;
      // The terminal turns each \n into \r\n; 1 MB of NULs has none, and the flags lines go through it too.
      const text = run.stdout.toString('latin1');
      return { ...report, nuls: text.split('\0').length - 1, flags: nonblocking(text.replace(/\r/g, '')) };
    });
    expect(reports[1]).toEqual(reports[0]);
    expect(reports[1]!.nuls).toBe(1 << 20);
  });
});

describe('kill, timeout, AbortSignal, dispose', () => {
  it.each<[string, Start, Hooks?]>([
    ['kill() before spawn', (spawn) => spawn('sleep', ['10']), { then: (child, log) => log('kill', child.kill()) }],
    ['kill() on spawn', (spawn) => spawn('sleep', ['10']), { onSpawn: (child, log) => log('kill', child.kill('SIGKILL')) }],
    ['kill() with a lower-case name', (spawn) => spawn('sleep', ['10']), { onSpawn: (child, log) => log('kill', child.kill('sigint' as never)) }],
    ['kill(0): a probe that sets killed', (spawn) => spawn('sleep', ['0.1']), { onSpawn: (child, log) => log('kill', child.kill(0)) }],
    ['kill() after exit', (spawn) => spawn('true'), { onExit: (child, log) => log('kill', child.kill()) }],
    ['kill() after close', (spawn) => spawn('true'), { onClose: (child, log) => log('kill', child.kill()) }],
    ['kill() with an unknown signal throws', (spawn) => spawn('true'), {
      then: (child, log) => {
        for (const signal of ['SIGNOPE', 1.5, {}, null, 34]) {
          try {
            log('kill', child.kill(signal));
          } catch (error) {
            log('kill threw', errorView(error));
          }
        }
      },
    }],
    ['a bare kill() sends SIGTERM, not killSignal', (spawn) => spawn('sleep', ['10'], { killSignal: 'SIGKILL' }), { onSpawn: (child) => child.kill() }],
    ['timeout with killSignal', (spawn) => spawn('sleep', ['10'], { timeout: 50, killSignal: 'SIGUSR2' })],
    ['timeout with a numeric killSignal', (spawn) => spawn('sleep', ['10'], { timeout: 50, killSignal: 9 })],
    ['a timeout that does not fire', (spawn) => spawn('true', [], { timeout: 10_000 })],
    ['an AbortSignal aborted before spawn', (spawn) => spawn('sleep', ['10'], { signal: AbortSignal.abort() })],
    ['an AbortSignal aborted after spawn, with killSignal', (spawn) => {
      const controller = new AbortController();
      const child = spawn('sleep', ['10'], { signal: controller.signal, killSignal: 'SIGINT' });
      child.on('spawn', () => controller.abort());
      return child;
    }],
    ['an AbortSignal aborted after exit', (spawn) => {
      const controller = new AbortController();
      const child = spawn('true', [], { signal: controller.signal });
      child.on('exit', () => controller.abort());
      return child;
    }],
    ['an AbortSignal with an ENOENT command', (spawn) => spawn('/nonexistent/x', [], { signal: AbortSignal.abort() })],
    ['Symbol.dispose kills a running child', (spawn) => spawn('sleep', ['10']), { onSpawn: (child) => child[Symbol.dispose]() }],
    ['Symbol.dispose after kill() does not signal again', (spawn) => spawn('sleep', ['10']), {
      onSpawn: (child, log) => {
        log('kill', child.kill('SIGINT'));
        child[Symbol.dispose]();
      },
    }],
    ['Symbol.dispose after exit', (spawn) => spawn('true'), { onClose: (child) => child[Symbol.dispose]() }],
  ])('%s', async (_label, start, hooks) => {
    await same(start, hooks);
  });
});

describe("'close' against 'exit'", () => {
  it.each<[string, Start, Hooks]>([
    ['streams never read', (spawn) => spawn('sh', ['-c', 'echo out; echo err >&2']), { noRead: true }],
    ['streams destroyed at once (the child writes once they are: SIGPIPE)', (spawn) => spawn('sh', ['-c', 'read line; echo out']), {
      noRead: true,
      then: (child) => {
        child.stdout.destroy();
        child.stderr.destroy();
        child.stdin.end('go\n');
      },
    }],
    ['a stream paused and never resumed', (spawn) => spawn('sh', ['-c', 'echo out']), { noRead: true, then: (child) => child.stdout.pause() }],
    ['a stream read only after exit', (spawn) => spawn('sh', ['-c', 'echo out']), {
      noRead: true,
      onExit: (child, log) => child.stdout.on('data', (chunk: Buffer) => log('late data', String(chunk))),
    }],
    ['a stream that outlives the child (a grandchild holds it)', (spawn) => spawn('sh', ['-c', '(sleep 0.3; echo grandchild) & echo child']), {}],
    ['stdin destroyed at exit', (spawn) => spawn('sh', ['-c', 'exec <&-; echo closed stdin']), { onExit: (child, log) => log('stdin destroyed', child.stdin.destroyed) }],
  ])('%s', async (_label, start, hooks) => {
    await same(start, hooks);
  });
});

describe('ref and unref (in a supervisor of their own)', () => {
  it.each(['unref', 'ref-again', 'unref-piped'])('%s', (scenario) => {
    const [expected, actual] = ['node', 'capspawn'].map((impl) => driver(impl, scenario));
    expect(actual).toEqual(expected);
  });
});

describe('differences capspawn makes on purpose (README: "Differences from child_process")', () => {
  it("'ipc' is not supported: ERR_CAPSPAWN_IPC_UNSUPPORTED, thrown, nothing started", async () => {
    const seen = await observe(IMPLS.capspawn, (spawn) => spawn('/bin/echo', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }));
    expect(seen.threw).toEqual({ name: 'Error', code: 'ERR_CAPSPAWN_IPC_UNSUPPORTED', message: expect.stringContaining("'ipc' is not supported") });
  });

  it('an unknown option throws (a typo of a privilege option must not run the workload as root)', async () => {
    const [expected, actual] = await both((spawn) => spawn('/bin/echo', ['ok'], { usr: 'nobody' }));
    expect(expected.streams).toEqual({ 1: 'ok\n', 2: '' });
    expect(actual.threw).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('env is read as own keys only: inherited ones do not reach the workload', async () => {
    const env = Object.assign(Object.create({ INHERITED: 'yes' }) as object, { OWN: '1' });
    const [expected, actual] = await both((spawn) => spawn('/bin/sh', ['-c', 'echo "$INHERITED/$OWN"'], { env }));
    expect(expected.streams).toMatchObject({ 1: 'yes/1\n' });
    expect(actual.streams).toMatchObject({ 1: '/1\n' });
  });

  it("an env key that is empty or has '=' throws", async () => {
    for (const key of ['', 'A=B']) {
      const seen = await observe(IMPLS.capspawn, (spawn) => spawn('/bin/echo', [], { env: { [key]: '1' } }));
      expect(seen.threw).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
  });

  it('the privilege drop: the workload has no capabilities and no_new_privs, where child_process keeps them', async (ctx) => {
    requirePrivilege(ctx);
    const [expected, actual] = await both((spawn) => spawn('grep', ['-E', '^(CapBnd|CapEff|NoNewPrivs)', '/proc/self/status']));
    expect(expected.streams).not.toEqual(actual.streams);
    expect((actual.streams as Record<string, string>)[1]).toMatch(/CapEff:\t0{16}\nCapBnd:\t0{16}\n[\s\S]*NoNewPrivs:\t1\n/);
  });
});

// Keeps the tmp directory tidy whatever happened.
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

describe("differences on purpose (README), asserted on capspawn's side", () => {
  it("an argument whose String() has a NUL byte throws ERR_INVALID_ARG_VALUE (child_process cuts it there)", () => {
    const nul = { toString: () => 'a\0b' };
    expect(() => capspawn('echo', [nul as unknown as string])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it("stdout and stderr are pipes' read ends, not writable (child_process's are socket pairs)", async () => {
    const child = capspawn('true');
    const node = cp.spawn('true');
    expect([child.stdout.writable, child.stderr.writable]).toEqual([false, false]);
    expect([node.stdout.writable, node.stderr.writable]).toEqual([true, true]);
    await Promise.all([child, node].map((c) => new Promise((resolve) => c.on('close', resolve))));
  });

  it("an aborted execFile signal sends execFile's killSignal (child_process sends SIGTERM)", async () => {
    const { execFile } = await import('../dist/index.js');
    const controller = new AbortController();
    let error: Error | null = null;
    const child = execFile('sleep', ['10'], { signal: controller.signal, killSignal: 'SIGUSR1' }, (e) => (error = e));
    const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    setTimeout(() => controller.abort(), 100);
    expect(await exited).toBe('SIGUSR1');
    expect((error as Error | null)?.name).toBe('AbortError');
  });
});
