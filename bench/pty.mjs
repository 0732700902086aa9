#!/usr/bin/env node
// PTY spawn latency: capspawn's spawnPty() against node-pty's spawn(), alternating in the same
// rounds (so only the ratios of one run mean anything on a shared machine). Each spawn runs
// `/bin/echo ready` in a new terminal and is timed from the call to its first output and to
// its exit event. node-pty is not a dependency of capspawn: it is used when it can be loaded
// (`npm install --no-save node-pty` somewhere, and NODE_PTY=<its directory>, or installed
// where Node finds it); without it the comparison is skipped and said so.
//
//   npm run build && npm run bench:pty
//   NODE_PTY=/tmp/scratch/node_modules/node-pty node bench/pty.mjs --rounds 30 --batch 10 [--json]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { spawnPty } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    batch: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('node bench/pty.mjs [--rounds N] [--batch N] [--json]   (NODE_PTY=<node-pty directory> to compare)');
  process.exit(0);
}
const rounds = Number(values.rounds);
const batch = Number(values.batch);

function loadNodePty() {
  const require = createRequire(import.meta.url);
  for (const where of [process.env.NODE_PTY, 'node-pty'].filter(Boolean)) {
    try {
      return { pty: require(where), from: require.resolve(where) };
    } catch (error) {
      if (where === process.env.NODE_PTY) console.error(`bench:pty: NODE_PTY=${where} does not load: ${error.message}`);
    }
  }
  return null;
}

const nodePty = loadNodePty();
const variants = {
  'capspawn spawnPty': () => {
    const term = spawnPty('/bin/echo', ['ready'], { cols: 80, rows: 24 });
    return { onData: (f) => term.onData(f), onExit: (f) => term.onExit(f) };
  },
};
if (nodePty) {
  variants['node-pty spawn'] = () => {
    const term = nodePty.pty.spawn('/bin/echo', ['ready'], { name: 'xterm-256color', cols: 80, rows: 24, cwd: process.cwd(), env: process.env });
    return { onData: (f) => term.onData(f), onExit: (f) => term.onExit(f) };
  };
} else {
  console.error('bench:pty: node-pty is not installed here, so the comparison is skipped (npm install --no-save node-pty in a scratch directory, then NODE_PTY=<that>/node_modules/node-pty)');
}

function once(start) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const term = start();
    let data;
    term.onData(() => {
      data ??= Number(process.hrtime.bigint() - t0) / 1e6;
    });
    term.onExit(() => resolve({ data, exit: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}

// A fixed-seed shuffle, so that no variant always follows the same neighbour.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const names = Object.keys(variants);
const samples = Object.fromEntries(names.map((n) => [n, { data: [], exit: [] }]));
for (const name of names) await once(variants[name]); // warm-up
for (let round = 0; round < rounds; round++) {
  const order = [...names].sort(() => random() - 0.5);
  for (const name of order) {
    for (let i = 0; i < batch; i++) {
      const { data, exit } = await once(variants[name]);
      if (data !== undefined) samples[name].data.push(data);
      samples[name].exit.push(exit);
    }
  }
}

const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const result = {};
for (const name of names) {
  result[name] = {
    firstOutputMedianMs: quantile(samples[name].data, 0.5),
    exitMedianMs: quantile(samples[name].exit, 0.5),
    exitP90Ms: quantile(samples[name].exit, 0.9),
    spawns: samples[name].exit.length,
  };
}
if (values.json) {
  console.log(JSON.stringify({ rounds, batch, nodePty: nodePty?.from ?? null, result }, null, 2));
} else {
  console.log(`PTY spawn of /bin/echo, ${rounds} rounds x ${batch}, medians (p90):`);
  for (const name of names) {
    const r = result[name];
    console.log(`  ${name.padEnd(18)} first output ${r.firstOutputMedianMs.toFixed(2)} ms, exit ${r.exitMedianMs.toFixed(2)} ms (${r.exitP90Ms.toFixed(2)})`);
  }
  if (nodePty) {
    const ours = result['capspawn spawnPty'];
    const theirs = result['node-pty spawn'];
    console.log(`  capspawn vs node-pty: first output ${(theirs.firstOutputMedianMs / ours.firstOutputMedianMs).toFixed(2)}x, exit ${(theirs.exitMedianMs / ours.exitMedianMs).toFixed(2)}x (above 1: capspawn is faster)`);
  }
}
