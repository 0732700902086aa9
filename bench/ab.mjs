#!/usr/bin/env node
// A/B: spawn latency of two or more capspawn builds (and child_process), loaded side by side in
// one process and alternated spawn by spawn, so a patch's gain is measured under the same noise.
//
//   node bench/ab.mjs base=/tmp/base patched=/tmp/patched [child_process] [--stdio pipe]
//
// Each NAME=DIR loads DIR/dist/index.js (with DIR/capspawn.linux-x64-gnu.node next to it). The
// first variant is the reference for the ratios. See bench/README.md.
import { spawn as cpSpawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const o = { rounds: 30, batch: 10, stdio: 'ignore', heapMb: 0, args: [], json: false, file: '/bin/true', pass: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--rounds') o.rounds = Number(argv[++i]);
  else if (a === '--batch') o.batch = Number(argv[++i]);
  else if (a === '--stdio') o.stdio = argv[++i];
  else if (a === '--heap-mb') o.heapMb = Number(argv[++i]);
  else if (a === '--json') o.json = true;
  else if (a === '--pass') o.pass = argv[++i]; // internal: 'forward' or 'reverse' load order
  else if (a === '--help' || a === '-h') {
    console.log('usage: node bench/ab.mjs NAME=DIR... [child_process] [--rounds N] [--batch N] [--stdio ignore|pipe] [--heap-mb N] [--json]\n' +
      'Runs two node processes, one loading the builds in the given order and one in reverse (so load\n' +
      'order cannot favour one), each doing half the rounds in a random order per round, and merges\n' +
      'their samples. With --heap-mb, each of them first holds that much touched memory.');
    process.exit(0);
  } else o.args.push(a);
}

if (o.pass === null) {
  // Driver: two passes in fresh processes, load order forward and reversed, samples merged.
  const { execFileSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const self = fileURLToPath(import.meta.url);
  const half = String(Math.max(1, Math.ceil(o.rounds / 2)));
  const rest = process.argv.slice(2).filter((a, i, all) => a !== '--json' && a !== '--rounds' && all[i - 1] !== '--rounds');
  const passes = ['forward', 'reverse'].map((pass) =>
    JSON.parse(execFileSync(process.execPath, [self, ...rest, '--rounds', half, '--pass', pass], { maxBuffer: 2 ** 26, stdio: ['ignore', 'pipe', 'inherit'] })));
  report(passes[0].names, passes[0].data.map((d, i) => ({
    exit: [...d.exit, ...passes[1].data[i].exit],
    call: [...d.call, ...passes[1].data[i].call],
    rounds: [...d.rounds, ...passes[1].data[i].rounds],
  })), Number(half) * 2);
  process.exit(0);
}

const variants = [];
const specs = o.pass === 'reverse' ? [...o.args].reverse() : o.args;
for (const a of specs) {
  if (a === 'child_process' || a === 'cp') {
    variants.push({ name: 'child_process', start: () => cpSpawn(o.file, [], { stdio: o.stdio }) });
    continue;
  }
  const eq = a.indexOf('=');
  if (eq < 1) throw new Error(`expected NAME=DIR or child_process, got ${a}`);
  const name = a.slice(0, eq);
  const mod = await import(pathToFileURL(resolve(a.slice(eq + 1), 'dist/index.js')).href);
  variants.push({ name, start: () => mod.spawn(o.file, [], { stdio: o.stdio }) });
}
if (variants.length === 0) throw new Error('nothing to compare');

const held = [];
for (let i = 0; i < o.heapMb / 2; i++) held.push(Buffer.alloc(2 ** 20, 1 + (i % 200)));
for (let i = 0; i < o.heapMb / 16; i++) held.push(new Array(2 ** 20).fill(i + 0.5));

function once(start) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = start();
    const call = performance.now() - t0;
    let exit = 0;
    child.once('error', rej);
    child.once('exit', (code) => {
      exit = performance.now() - t0;
      if (code !== 0) rej(new Error(`exit ${code}`));
    });
    child.once('close', () => res({ call, exit }));
    child.stdout?.resume();
    child.stderr?.resume();
    child.stdin?.end();
  });
}

function quantile(s, q) {
  const p = (s.length - 1) * q;
  const lo = Math.floor(p);
  return s[lo] + (s[Math.ceil(p)] - s[lo]) * (p - lo);
}
function sorted(a) {
  return [...a].sort((x, y) => x - y);
}

const data = variants.map(() => ({ exit: [], call: [], rounds: [] }));
for (const v of variants) for (let i = 0; i < 5; i++) await once(v.start);
// A new random order every round: a spawn right after a fork() (child_process) pays for the
// copy-on-write faults that fork left behind, so no build may always follow the same neighbour.
let seed = o.pass === 'reverse' ? 2 : 1;
const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
const shuffled = (n) => {
  const a = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
};
for (let r = 0; r < o.rounds; r++) {
  for (const i of shuffled(variants.length)) {
    const exits = [];
    for (let b = 0; b < o.batch; b++) {
      const t = await once(variants[i].start);
      data[i].exit.push(t.exit);
      data[i].call.push(t.call);
      exits.push(t.exit);
    }
    data[i].rounds.push(quantile(sorted(exits), 0.5));
  }
}

if (o.pass) {
  // Child pass: raw samples, in the order the builds were given.
  const order = o.pass === 'reverse' ? [...variants.keys()].reverse() : [...variants.keys()];
  console.log(JSON.stringify({ names: order.map((i) => variants[i].name), data: order.map((i) => data[i]) }));
  process.exit(0);
}

function report(names, data, rounds) {
  const ref = data[0];
  const rows = names.map((name, i) => {
    const d = data[i];
    const perRound = sorted(d.rounds.map((m, r) => ref.rounds[r] / m));
    return {
      name,
      exitP10Ms: quantile(sorted(d.exit), 0.1),
      exitMedianMs: quantile(sorted(d.exit), 0.5),
      exitP90Ms: quantile(sorted(d.exit), 0.9),
      callP10Ms: quantile(sorted(d.call), 0.1),
      callMedianMs: quantile(sorted(d.call), 0.5),
      speedupVsFirst: quantile(sorted(ref.exit), 0.5) / quantile(sorted(d.exit), 0.5),
      // On a busy machine the low quantile is closer to the uncontended cost than the median.
      p10SpeedupVsFirst: quantile(sorted(ref.exit), 0.1) / quantile(sorted(d.exit), 0.1),
      perRoundSpeedup: { min: perRound[0], median: quantile(perRound, 0.5), max: perRound.at(-1) },
    };
  });
  if (o.json) {
    console.log(JSON.stringify({ options: { ...o, args: undefined, rounds }, rows }, null, 2));
    return;
  }
  console.log(`${rounds} rounds x ${o.batch} spawns of ${o.file}, stdio '${o.stdio}'${o.heapMb ? `, ${o.heapMb} MB held` : ''}; ` +
    `speedup = ${names[0]}'s median (or p10) / this one's`);
  const f = (x) => x.toFixed(3);
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(14)} exit p10 ${f(r.exitP10Ms)} median ${f(r.exitMedianMs)} p90 ${f(r.exitP90Ms)} ms | ` +
      `spawn() p10 ${f(r.callP10Ms)} median ${f(r.callMedianMs)} ms | speedup median ${r.speedupVsFirst.toFixed(3)}x ` +
      `p10 ${r.p10SpeedupVsFirst.toFixed(3)}x, per-round ${f(r.perRoundSpeedup.min)}/${f(r.perRoundSpeedup.median)}/${f(r.perRoundSpeedup.max)}`);
  }
}
