/**
 * Attacks from a workload with the same credentials as the supervisor's next children, seen
 * from a Node supervisor: stopping each child before exec (SIGSTOP, which cannot be blocked)
 * and flooding it with SIGTSTP (which waits, blocked, for the moment the child unblocks its
 * signals). The spawn must end either way, within a bounded time, with its own error code and
 * the workload never run, and the event loop must keep ticking throughout.
 *
 * The storms run as a uid and gid of their own that nothing else here has, so `kill(-1)` from
 * them reaches only the children these tests spawn (vitest runs other files meanwhile).
 * The memory racer, the lying filters and the extremes are in crates/capspawn/tests (attacks.rs,
 * lying_filters.rs): the same core code, driven from Rust, where the marker's address is known.
 */
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type CapspawnChildProcess, type SpawnError } from '../dist/index.js';
import { childPids, requirePrivilege } from './helpers.js';

const STORM_ID = 64_124;
const asStormUid = { uid: STORM_ID, gid: STORM_ID, stdio: 'ignore' } as const;

beforeEach((ctx) => requirePrivilege(ctx));

let storm: CapspawnChildProcess | undefined;
afterEach(async () => {
  if (storm && storm.exitCode === null && storm.signalCode === null) {
    storm.kill('SIGKILL');
    await once(storm, 'exit');
  }
  storm = undefined;
});

function startStorm(signal: 'STOP' | 'TSTP'): void {
  storm = spawn('/bin/sh', ['-c', `while :; do kill -${signal} -1 2>/dev/null; done`], asStormUid);
}

/** The child's first 'spawn' (undefined) or 'error' (the error). */
function started(child: CapspawnChildProcess): Promise<SpawnError | undefined> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error as SpawnError));
  });
}

/** Kills a started workload (the storm stops it too) and waits for its exit. */
async function killStarted(child: CapspawnChildProcess): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

/** One spawn under the storm: 'spawned', or the code of the error it emitted. */
async function oneSpawn(): Promise<string> {
  const child = spawn('/bin/true', [], asStormUid);
  const error = await started(child);
  if (error) return error.code;
  await killStarted(child);
  return 'spawned';
}

/** Runs `count` spawns under the storm with a 5 ms interval timer; returns the outcomes and the
 * longest gap between two ticks. */
async function underStorm(count: number): Promise<{ outcomes: string[]; longestGap: number }> {
  let last = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 5);
  const outcomes: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      outcomes.push(await oneSpawn());
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    clearInterval(ticker);
  }
  return { outcomes, longestGap };
}

describe('a workload stopping the next child before exec', () => {
  it('SIGSTOP: the child is killed, the spawn fails with ERR_CAPSPAWN_CHILD_HELD, the loop ticks on', async () => {
    startStorm('STOP');
    const { outcomes, longestGap } = await underStorm(40);
    const held = outcomes.filter((o) => o === 'ERR_CAPSPAWN_CHILD_HELD').length;
    expect(held, 'the storm never caught a child before exec: the test proves nothing').toBeGreaterThan(0);
    expect(outcomes.filter((o) => o !== 'spawned' && o !== 'ERR_CAPSPAWN_CHILD_HELD')).toEqual([]);
    // A stopped child is killed within two watchdog ticks (10 ms each); a generous bound for a
    // loaded machine, far below "until someone sends SIGCONT".
    expect(longestGap).toBeLessThan(1000);
    expect(childPids().filter((pid) => pid !== storm?.pid)).toEqual([]);
  }, 60_000);

  it('SIGTSTP: stop signals pending before exec are discarded, so nearly every spawn succeeds', async () => {
    startStorm('TSTP');
    const { outcomes, longestGap } = await underStorm(60);
    const held = outcomes.filter((o) => o === 'ERR_CAPSPAWN_CHILD_HELD').length;
    expect(held, `${held} of ${outcomes.length} children were stopped before exec`).toBeLessThan(15);
    expect(outcomes.filter((o) => o !== 'spawned' && o !== 'ERR_CAPSPAWN_CHILD_HELD')).toEqual([]);
    expect(longestGap).toBeLessThan(1000);
  }, 60_000);

  it('the held error says what happened, with its stage, and the workload did not run', async () => {
    startStorm('STOP');
    for (let i = 0; i < 200; i++) {
      const child = spawn('/bin/true', [], asStormUid);
      const closed = new Promise<unknown[]>((resolve) => child.once('close', (...args) => resolve(args)));
      const error = await started(child);
      if (!error) {
        await killStarted(child);
        continue;
      }
      expect(error.code).toBe('ERR_CAPSPAWN_CHILD_HELD');
      expect(error.stage).toBe('held');
      expect(error.message).toMatch(/stopped or held before exec.*the workload did not run/);
      const [code] = await closed;
      expect(code).toBeLessThan(0);
      expect(child.pid).toBeUndefined();
      return;
    }
    throw new Error('no spawn of 200 was held: the storm did not work');
  }, 60_000);
});
