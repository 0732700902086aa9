#!/usr/bin/env node
// Spawn benchmark: capspawn.spawn vs child_process.spawn (plain, and wrapped in setpriv), side by
// side in one process, alternating in rounds. See bench/README.md.
//
//   node bench/spawn.mjs                  # both phases (normal heap here, ~1 GB in a child node)
//   node bench/spawn.mjs --json           # the same, as JSON on stdout
//   node bench/spawn.mjs --phase heap1g   # only the ~1 GB phase, in this process
//   node bench/spawn.mjs --help
import { spawn as cpSpawn, execFile, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const SELF = fileURLToPath(import.meta.url);
const TRUE = '/bin/true';
const SLEEP = '/bin/sleep';

const HELP = `usage: node bench/spawn.mjs [options]
  --phase all|normal|heap1g  what to run (default all: normal here, heap1g in a child node)
  --rounds N                 latency rounds; each round runs every variant once (default 20)
  --batch N                  spawns per variant per round at the normal heap (default 20)
  --batch-1g N               spawns per variant per round with ~1 GB held (default 4)
  --heap-mb N                memory held in the heap1g phase (default 1024)
  --inflight N               spawns in flight for the throughput test (default 64)
  --throughput N             spawns per throughput run, normal heap (default 512; 0 skips)
  --throughput-1g N          spawns per throughput run with ~1 GB held (default 128; 0 skips)
  --children N               children kept running for the memory test (default 200; 0 skips)
  --descriptors LIST         open descriptors to hold for the latency-against-descriptors test
                             (default 1000,10000 besides what node has; 'none' skips)
  --heap-mb-big N            memory held in the heap-flatness phase (default 4096; 0 skips)
  --module PATH              capspawn build to load (default ../dist/index.js)
  --quick                    a fast smoke run (few rounds, small counts)
  --json                     machine-readable output on stdout (progress goes to stderr)`;

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    phase: 'all', rounds: 20, batch: 20, batch1g: 4, heapMb: 1024, inflight: 64,
    throughput: 512, throughput1g: 128, children: 200, module: null, json: false, quiet: false,
    variant: null, descriptors: [1000, 10000], heapMbBig: 4096,
  };
  const int = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a non-negative integer, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--phase': o.phase = next(); break;
      case '--rounds': o.rounds = Math.max(1, int(a, next())); break;
      case '--batch': o.batch = Math.max(1, int(a, next())); break;
      case '--batch-1g': o.batch1g = Math.max(1, int(a, next())); break;
      case '--heap-mb': o.heapMb = int(a, next()); break;
      case '--inflight': o.inflight = Math.max(1, int(a, next())); break;
      case '--throughput': o.throughput = int(a, next()); break;
      case '--throughput-1g': o.throughput1g = int(a, next()); break;
      case '--children': o.children = int(a, next()); break;
      case '--module': o.module = next(); break;
      case '--descriptors': {
        const v = next();
        o.descriptors = v === 'none' ? [] : v.split(',').map((x) => int(a, x));
        break;
      }
      case '--heap-mb-big': o.heapMbBig = int(a, next()); break;
      case '--variant': o.variant = next(); break; // internal: for --phase memory-probe
      case '--quick':
        Object.assign(o, { rounds: 5, batch: 5, batch1g: 2, throughput: 256, throughput1g: 64, children: 50, descriptors: [10000], heapMbBig: 0 });
        break;
      case '--json': o.json = true; break;
      case '--quiet': o.quiet = true; break;
      case '-h': case '--help': console.log(HELP); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  if (!['all', 'normal', 'heap1g', 'heapbig', 'memory-probe'].includes(o.phase)) throw new Error(`--phase must be all, normal or heap1g`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const progress = (msg) => { if (!opts.quiet) process.stderr.write(`[bench] ${msg}\n`); };

const moduleUrl = opts.module
  ? pathToFileURL(opts.module).href
  : new URL('../dist/index.js', import.meta.url).href;
const capspawn = await import(moduleUrl).catch((error) => {
  console.error(`cannot load capspawn from ${moduleUrl} (run \`npm run build\` first): ${error.message}`);
  process.exit(2);
});

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// ---------------------------------------------------------------------------------------------
// Variants: how each one starts /bin/true (or `sleep` for the memory test)

function which(name) {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const full = `${dir || '.'}/${name}`;
    if (existsSync(full)) return full;
  }
  return null;
}
const SETPRIV = which('setpriv');
const SETPRIV_ARGS = ['--no-new-privs', '--inh-caps=-all', '--bounding-set=-all'];

/** name → { label, stdio, start(file, args) } */
const VARIANTS = {
  'capspawn:ignore': {
    label: "capspawn.spawn         stdio 'ignore'",
    baseline: 'cp:ignore',
    start: (file, args) => capspawn.spawn(file, args, { stdio: 'ignore' }),
  },
  'capspawn:pipe': {
    label: "capspawn.spawn         stdio 'pipe'",
    baseline: 'cp:pipe',
    start: (file, args) => capspawn.spawn(file, args),
  },
  'cp:ignore': {
    label: "child_process.spawn    stdio 'ignore'",
    baseline: 'cp:ignore',
    start: (file, args) => cpSpawn(file, args, { stdio: 'ignore' }),
  },
  'cp:pipe': {
    label: "child_process.spawn    stdio 'pipe'",
    baseline: 'cp:pipe',
    start: (file, args) => cpSpawn(file, args),
  },
  'setpriv:ignore': {
    label: "child_process + setpriv stdio 'ignore'",
    baseline: 'cp:ignore',
    start: (file, args) => cpSpawn(SETPRIV, [...SETPRIV_ARGS, file, ...args], { stdio: 'ignore' }),
  },
};

/** The floor: `bench/floor`, a Rust program that does only clone(CLONE_VM | CLONE_VFORK) +
 * capctl's bounding-set clear + execve + waitpid (and, with --vfork, libc's vfork + execve +
 * waitpid), built here with cargo. It runs as a server, so its spawns alternate with the other
 * variants in the same rounds; each duration is its own measurement, in nanoseconds. */
function buildFloor() {
  const root = fileURLToPath(new URL('..', import.meta.url));
  try {
    execFileSync('cargo', ['build', '--release', '--quiet', '-p', 'capspawn-floor'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    console.error(`bench: the floor could not be built (${error.message}); its rows are skipped`);
    return null;
  }
  return fileURLToPath(new URL('../target/release/capspawn-floor', import.meta.url));
}

class FloorServer {
  constructor(binary, args) {
    this.child = cpSpawn(binary, [...args, TRUE], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  /** The floor's own time for one spawn, in ms. */
  async once() {
    this.child.stdin.write('1\n');
    const { value, done } = await this.lines.next();
    if (done) throw new Error('the floor ended');
    return Number(value) / 1e6;
  }
  close() {
    this.child.stdin.end();
  }
}

const FLOOR = opts.phase === 'memory-probe' ? null : buildFloor();
const floors = {};
if (FLOOR) {
  VARIANTS['floor:clone'] = { label: 'floor: clone+clear+exec+wait', baseline: 'cp:ignore', floor: [] };
  VARIANTS['floor:vfork'] = { label: 'floor: C vfork+exec+wait', baseline: 'cp:ignore', floor: ['--vfork'] };
  // Not a floor: capspawn's core crate from Rust, without Node, N-API or an event loop.
  VARIANTS['floor:core'] = { label: 'capspawn core from Rust (no Node)', baseline: 'cp:ignore', floor: ['--core'] };
}
function floorServer(variant) {
  return (floors[variant] ??= new FloorServer(FLOOR, VARIANTS[variant].floor));
}
function closeFloors() {
  for (const f of Object.values(floors)) f.close();
}

const LATENCY_VARIANTS = Object.keys(VARIANTS).filter((v) => v !== 'setpriv:ignore' || SETPRIV);

// ---------------------------------------------------------------------------------------------
// Measurements

const now = () => performance.now();
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

function memory() {
  const m = process.memoryUsage();
  const mb = (x) => Math.round((x / 2 ** 20) * 10) / 10;
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) };
}

/** Lets the child's streams end, so 'close' comes and no descriptor is left open. */
function drain(child) {
  child.stdout?.resume();
  child.stderr?.resume();
  child.stdin?.end();
}

/** One spawn of /bin/true, run to exit. Resolves with the times in ms since the spawn() call:
 * `call` (spawn() returned), `exit` ('exit' event), `close` ('close' event). */
function spawnOnce(variant) {
  if (VARIANTS[variant].floor) {
    return floorServer(variant).once().then((t) => ({ call: t, exit: t, close: t }));
  }
  return new Promise((resolve, reject) => {
    let exitAt = 0;
    const t0 = now();
    const child = VARIANTS[variant].start(TRUE, []);
    const call = now() - t0;
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      exitAt = now() - t0;
      if (code !== 0) reject(new Error(`${variant}: /bin/true ended with ${code ?? signal}`));
    });
    child.once('close', () => resolve({ call, exit: exitAt, close: now() - t0 }));
    drain(child);
  });
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  return {
    n: s.length, median: r(quantile(s, 0.5)), p90: r(quantile(s, 0.9)), min: r(s[0]), max: r(s[s.length - 1]),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

// A fixed-seed generator: runs are reproducible in their order.
let seed = 1;
const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
function shuffle(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Every variant once per round, `batch` spawns in a row each, in a new random order every round:
 * the first spawn after a fork() (child_process) pays for the copy-on-write faults fork left in
 * this process, so no variant may always follow the same neighbour. */
async function latency(variants, rounds, batch, label) {
  const samples = Object.fromEntries(variants.map((v) => [v, { call: [], exit: [], close: [] }]));
  const perRound = Object.fromEntries(variants.map((v) => [v, []]));
  for (const v of variants) for (let i = 0; i < 3; i++) await spawnOnce(v); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const v of shuffle(variants)) {
      const exits = [];
      for (let i = 0; i < batch; i++) {
        const t = await spawnOnce(v);
        samples[v].call.push(t.call);
        samples[v].exit.push(t.exit);
        samples[v].close.push(t.close);
        exits.push(t.exit);
      }
      perRound[v].push(summary(exits).median);
    }
    if ((round + 1) % 5 === 0 || round + 1 === rounds) progress(`${label}: latency round ${round + 1}/${rounds}`);
  }
  const out = {};
  for (const v of variants) {
    const base = VARIANTS[v].baseline;
    // The ratio of each round's medians, for how stable the headline ratio is on a noisy machine.
    const roundRatios = perRound[v].map((m, i) => perRound[base][i] / m).sort((a, b) => a - b);
    out[v] = {
      label: VARIANTS[v].label.replace(/\s+/g, ' '),
      exitMs: summary(samples[v].exit),
      callMs: summary(samples[v].call),
      closeMs: summary(samples[v].close),
      baseline: base,
      roundRatio: { min: round3(roundRatios[0]), median: round3(quantile(roundRatios, 0.5)), max: round3(roundRatios.at(-1)) },
    };
  }
  for (const v of variants) {
    out[v].speedup = round3(out[out[v].baseline].exitMs.median / out[v].exitMs.median);
  }
  return out;
}

const round3 = (x) => Math.round(x * 1000) / 1000;

/** `total` spawns of /bin/true with `inflight` running at once; spawns per second. */
function throughputOnce(variant, total, inflight) {
  return new Promise((resolve, reject) => {
    let started = 0;
    let done = 0;
    const t0 = now();
    const launch = () => {
      started++;
      const child = VARIANTS[variant].start(TRUE, []);
      child.once('error', reject);
      child.once('close', (code) => {
        if (code !== 0) return reject(new Error(`${variant}: /bin/true ended with ${code}`));
        done++;
        if (started < total) launch();
        else if (done === total) resolve(total / ((now() - t0) / 1000));
      });
      drain(child);
    };
    for (let i = 0; i < Math.min(inflight, total); i++) launch();
  });
}

async function throughput(variants, total, inflight, runs, label) {
  const rates = Object.fromEntries(variants.map((v) => [v, []]));
  await throughputOnce(variants[0], Math.min(total, inflight), inflight); // warm-up
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) rates[v].push(await throughputOnce(v, total, inflight));
  }
  progress(`${label}: throughput done`);
  const out = {};
  for (const v of variants) {
    const sorted = [...rates[v]].sort((a, b) => a - b);
    out[v] = { label: VARIANTS[v].label.replace(/\s+/g, ' '), spawnsPerSec: Math.round(quantile(sorted, 0.5)), runs: rates[v].map(Math.round) };
  }
  return { inflight, total, ...out };
}

/** In a fresh node (--phase memory-probe): this process's memory before and while `n` `sleep`
 * children started by `variant` run. A fresh process, because in one that has already spawned
 * thousands of children the allocator and the V8 heap have room to spare, and RSS would not move. */
async function memoryProbe(variant, n) {
  const settle = () => new Promise((r) => setTimeout(r, 100));
  const run = (file, args) => new Promise((resolve) => {
    const child = VARIANTS[variant].start(file, args);
    child.once('close', resolve);
    drain(child);
    return child;
  });
  const startAll = () => {
    const closed = [];
    const children = [];
    for (let i = 0; i < n; i++) {
      const child = VARIANTS[variant].start(SLEEP, ['60']);
      child.once('error', () => {});
      closed.push(new Promise((resolve) => child.once('close', resolve)));
      children.push(child);
    }
    return { children, closed };
  };
  const stopAll = async ({ children, closed }) => {
    for (const child of children) child.kill('SIGKILL');
    for (const child of children) drain(child);
    await Promise.all(closed);
  };
  // Warm-up: load and compile everything a spawn touches, start the reaper, and let the V8 heap
  // and the allocator grow to what a burst of n spawns needs (start n, stop them), so that the
  // measured growth is what the running children hold, not the garbage of starting them.
  for (let i = 0; i < 10; i++) await run(TRUE, []);
  await stopAll(startAll());
  gc(); await settle(); gc();
  const before = process.memoryUsage();
  const batch = startAll();
  await settle();
  gc(); await settle(); gc();
  const during = process.memoryUsage();
  const running = batch.children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  await stopAll(batch);
  return { variant, children: n, running, before, during };
}

function memoryProbeInChild(variant, n) {
  const args = [SELF, '--phase', 'memory-probe', '--variant', variant, '--children', String(n), '--json', '--quiet'];
  if (opts.module) args.push('--module', opts.module);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 2 ** 20 }, (error, stdout) => {
      if (error) return reject(error);
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function memoryTest(n) {
  const variants = ['capspawn:pipe', 'cp:pipe', 'capspawn:ignore', 'cp:ignore'];
  const out = { children: n };
  // Each variant three times, each in a fresh process, in rotating order; the median is kept.
  // RSS moves by whole pages and V8 commits heap in chunks, so one run is noisy by a few KB per
  // child; heapUsed (JS objects retained per child) is the steadier number.
  const passes = Object.fromEntries(variants.map((v) => [v, []]));
  for (let pass = 0; pass < 3; pass++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + pass) % variants.length];
      passes[v].push(await memoryProbeInChild(v, n));
    }
  }
  const median = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);
  for (const v of variants) {
    const per = (p, key) => (p.during[key] - p.before[key]) / p.children;
    const rss = passes[v].map((p) => per(p, 'rss'));
    const native = passes[v].map((p) => per(p, 'rss') - per(p, 'heapTotal'));
    const heap = passes[v].map((p) => per(p, 'heapUsed'));
    out[v] = {
      label: VARIANTS[v].label.replace(/\s+/g, ' '),
      rssBytes: Math.round(median(rss)),
      nonV8RssBytes: Math.round(median(native)),
      heapBytes: Math.round(median(heap)),
      running: Math.min(...passes[v].map((p) => p.running)),
      rssPerChildRuns: rss.map(Math.round),
      rssBeforeMb: Math.round(median(passes[v].map((p) => p.before.rss)) / 2 ** 20),
    };
  }
  progress('memory per child done');
  return out;
}

/** Latency with the supervisor holding more open descriptors (copies of /dev/null): the same
 * alternating rounds at each count, then every one of them closed again. */
async function descriptorTest(counts) {
  const variants = ['capspawn:ignore', 'capspawn:pipe', 'cp:ignore', 'cp:pipe'];
  const open = () => readdirSync('/proc/self/fd').length;
  const held = [];
  const out = { variants, points: [] };
  const rounds = Math.max(3, Math.ceil(opts.rounds / 2));
  try {
    for (const extra of [0, ...counts]) {
      while (held.length < extra) held.push(openSync('/dev/null', 'r'));
      const l = await latency(variants, rounds, opts.batch, `descriptors ${open()}`);
      out.points.push({ open: open(), ...Object.fromEntries(variants.map((v) => [v, l[v].exitMs.median])) });
    }
  } finally {
    for (const fd of held) closeSync(fd);
  }
  progress('latency against descriptors done');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phases

/** Holds ~`mb` MB of touched, reachable memory: half in Buffers (1 MB each, outside the V8
 * heap), half in arrays of doubles on the V8 heap (8 MB each). */
function holdMemory(mb) {
  const held = [];
  const buffers = Math.floor(mb / 2);
  for (let i = 0; i < buffers; i++) held.push(Buffer.alloc(2 ** 20, (i % 251) + 1));
  const arrays = Math.ceil((mb - buffers) / 8);
  for (let i = 0; i < arrays; i++) held.push(new Array(2 ** 20).fill(i + 0.5));
  return held;
}

let held = null;

async function runPhase(name) {
  const isBig = name !== 'normal';
  const heldMb = name === 'heapbig' ? opts.heapMbBig : opts.heapMb;
  const start = now();
  if (isBig) {
    progress(`${name}: allocating ${heldMb} MB`);
    held = holdMemory(heldMb);
    gc();
  }
  const memoryAtStart = memory();
  progress(`${name}: RSS ${memoryAtStart.rssMb} MB`);
  const result = { phase: name, heldMb: isBig ? heldMb : 0, memoryAtStart };
  // With 4 GB held, fork() takes ~0.1 s: child_process gets fewer rounds there.
  const variants = name === 'heapbig' ? ['capspawn:ignore', 'capspawn:pipe', 'cp:ignore', 'cp:pipe', 'floor:clone'].filter((v) => VARIANTS[v]) : LATENCY_VARIANTS;
  result.latency = await latency(variants, name === 'heapbig' ? Math.max(3, Math.ceil(opts.rounds / 2)) : opts.rounds, isBig ? opts.batch1g : opts.batch, name);
  const total = name === 'heapbig' ? 0 : isBig ? opts.throughput1g : opts.throughput;
  if (total > 0) result.throughput = await throughput(['capspawn:ignore', 'cp:ignore'], total, opts.inflight, 2, name);
  if (!isBig && opts.children > 0) result.memoryPerChild = await memoryTest(opts.children);
  if (!isBig && opts.descriptors.length > 0) result.descriptors = await descriptorTest(opts.descriptors);
  result.memoryAtEnd = memory();
  result.seconds = round3((now() - start) / 1000);
  if (held) result.heldCheck = held.length; // keeps `held` reachable to the end
  return result;
}

/** Runs a held-memory phase (heap1g, heapbig) in a separate node with a big old space; returns
 * its JSON. */
function runHeapPhaseInChild(phase = 'heap1g') {
  const args = [
    `--max-old-space-size=${Math.max(4096, opts.heapMbBig + 2048)}`, SELF, '--phase', phase, '--json',
    '--rounds', String(opts.rounds), '--batch-1g', String(opts.batch1g), '--heap-mb', String(opts.heapMb),
    '--heap-mb-big', String(opts.heapMbBig),
    '--inflight', String(opts.inflight), '--throughput-1g', String(opts.throughput1g),
  ];
  if (opts.module) args.push('--module', opts.module);
  if (opts.quiet) args.push('--quiet');
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { maxBuffer: 64 * 2 ** 20 }, (error, stdout) => {
      if (error) return reject(error);
      try {
        resolve(JSON.parse(stdout).phases[0]);
      } catch (e) {
        reject(e);
      }
    });
    child.stderr.pipe(process.stderr);
  });
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function table(report) {
  const lines = [];
  const e = report.environment;
  lines.push(`capspawn spawn benchmark: node ${e.node}, Linux ${e.kernel}, ${e.cpus} CPUs (${e.cpuModel}), load ${e.loadavg.join(' ')}`);
  lines.push(`Latency: spawn() of ${TRUE} to its 'exit' event, one at a time; ${report.options.rounds} rounds, every variant in each round (random order).`);
  lines.push(`Ratios: child_process's median / this median, same stdio (setpriv: vs stdio 'ignore'). >1 means faster than child_process.`);
  for (const p of report.phases) {
    lines.push('');
    const m = p.memoryAtStart;
    const held = p.heldMb ? `~${p.heldMb} MB held in memory` : 'normal heap';
    lines.push(`== ${p.phase}: ${held}; RSS ${m.rssMb} MB at start (heap ${m.heapUsedMb} MB, buffers ${m.arrayBuffersMb} MB), ${p.memoryAtEnd.rssMb} MB at end; ${p.seconds} s`);
    const n = Object.values(p.latency)[0].exitMs.n;
    lines.push(`   ${pad(`latency (${n} spawns each)`, 40)}${lpad('median', 9)}${lpad('p90', 9)}${lpad('spawn()', 9)}${lpad('ratio', 8)}  per-round ratio min–max`);
    for (const [v, r] of Object.entries(p.latency)) {
      const ratio = v === r.baseline ? '1' : r.speedup.toFixed(2);
      const rr = v === r.baseline ? '' : `${r.roundRatio.min.toFixed(2)}–${r.roundRatio.max.toFixed(2)}`;
      lines.push(`   ${pad(VARIANTS[v].label, 40)}${lpad(ms(r.exitMs.median), 6)} ms${lpad(ms(r.exitMs.p90), 6)} ms${lpad(ms(r.callMs.median), 6)} ms${lpad(`${ratio}x`, 8)}  ${rr}`);
    }
    const l = p.latency;
    if (l['setpriv:ignore']) {
      lines.push(`   capspawn 'ignore' vs the setpriv wrapper: ${(l['setpriv:ignore'].exitMs.median / l['capspawn:ignore'].exitMs.median).toFixed(2)}x faster`);
    }
    const normal = report.phases.find((q) => q.phase === 'normal');
    if (p.phase === 'heapbig') {
      if (normal) {
        for (const v of ['capspawn:ignore', 'capspawn:pipe']) {
          const x = l[v].exitMs.median / normal.latency[v].exitMs.median;
          lines.push(`   target: ${VARIANTS[v].label.replace(/\s+/g, ' ')} flat from ${normal.memoryAtStart.rssMb} MB to ${m.rssMb} MB RSS (within 10%): ${x.toFixed(2)}x, ${x <= 1.1 ? 'met' : 'NOT met'}`);
        }
      }
      continue;
    }
    const target = p.heldMb ? 40 : 2.5;
    for (const kind of ['ignore', 'pipe']) {
      const got = l[`capspawn:${kind}`].speedup;
      lines.push(`   target: capspawn >= ${target}x child_process (stdio '${kind}'): ${got.toFixed(2)}x, ${got >= target ? 'met' : 'NOT met'}`);
    }
    if (l['floor:clone']) {
      const bound = l['cp:ignore'].exitMs.median / l['floor:clone'].exitMs.median;
      lines.push(`   (the floor itself is ${bound.toFixed(2)}x faster than child_process 'ignore' here: no spawn that clears the bounding set can beat that)`);
      const floor = l['floor:clone'].exitMs.median;
      for (const [v, limit] of [['capspawn:ignore', 1.2], ['capspawn:pipe', 1.4]]) {
        const x = l[v].exitMs.median / floor;
        lines.push(`   target: ${VARIANTS[v].label.replace(/\s+/g, ' ')} <= ${limit}x the floor (${ms(floor)} ms): ${x.toFixed(2)}x, ${x <= limit ? 'met' : 'NOT met'}`);
      }
    }
    if (p.throughput) {
      const t = p.throughput;
      lines.push(`   throughput, ${t.inflight} in flight, ${t.total} spawns per run: capspawn ${t['capspawn:ignore'].spawnsPerSec}/s, ` +
        `child_process ${t['cp:ignore'].spawnsPerSec}/s (${(t['capspawn:ignore'].spawnsPerSec / t['cp:ignore'].spawnsPerSec).toFixed(2)}x; runs ` +
        `${t['capspawn:ignore'].runs.join(',')} vs ${t['cp:ignore'].runs.join(',')})`);
    }
    if (p.descriptors) {
      const d = p.descriptors;
      lines.push(`   latency against the supervisor's open descriptors (medians, ms): ${d.points.map((q) => q.open).join(' / ')} open`);
      for (const v of d.variants) {
        const first = d.points[0][v];
        const last = d.points.at(-1)[v];
        const flat = v.startsWith('capspawn') ? `; target within 10%: ${last / first <= 1.1 ? 'met' : 'NOT met'}` : '';
        lines.push(`     ${pad(VARIANTS[v].label, 40)}${d.points.map((q) => ms(q[v])).join(' / ')}  (${(last / first).toFixed(2)}x${flat})`);
      }
    }
    if (p.memoryPerChild) {
      const c = p.memoryPerChild;
      const kb = (x) => `${(x / 1024).toFixed(1)} KB`;
      lines.push(`   supervisor memory per running child (${c.children} \`sleep\` children running in a fresh node; growth / ${c.children}; median of 3 runs):`);
      for (const kind of ['pipe', 'ignore']) {
        const a = c[`capspawn:${kind}`];
        const b = c[`cp:${kind}`];
        lines.push(`     stdio ${pad(`'${kind}'`, 9)} capspawn RSS ${lpad(kb(a.rssBytes), 8)} (JS heap ${kb(a.heapBytes)}), ` +
          `child_process RSS ${lpad(kb(b.rssBytes), 8)} (JS heap ${kb(b.heapBytes)})`);
      }
    }
  }
  if (!SETPRIV) lines.push('', 'setpriv not found in PATH: its row was skipped.');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

const report = {
  environment: {
    node: process.version, kernel: os.release(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?',
    loadavg: os.loadavg().map((x) => x.toFixed(2)), module: moduleUrl, setpriv: SETPRIV,
  },
  options: { rounds: opts.rounds, batch: opts.batch, batch1g: opts.batch1g, heapMb: opts.heapMb, inflight: opts.inflight,
    throughput: opts.throughput, throughput1g: opts.throughput1g, children: opts.children },
  phases: [],
};

if (opts.phase === 'memory-probe') {
  console.log(JSON.stringify(await memoryProbe(opts.variant, opts.children)));
  process.exit(0);
}

const started = now();
try {
  if (opts.phase === 'all' || opts.phase === 'normal') report.phases.push(await runPhase('normal'));
  if (opts.phase === 'heap1g') report.phases.push(await runPhase('heap1g'));
  if (opts.phase === 'heapbig') report.phases.push(await runPhase('heapbig'));
  if (opts.phase === 'all') report.phases.push(await runHeapPhaseInChild());
  if (opts.phase === 'all' && opts.heapMbBig > 0) report.phases.push(await runHeapPhaseInChild('heapbig'));
} catch (error) {
  console.error(`bench failed: ${error.stack ?? error}`);
  process.exit(1);
}
closeFloors();
report.seconds = round3((now() - started) / 1000);
console.log(opts.json ? JSON.stringify(report, null, 2) : table(report));
