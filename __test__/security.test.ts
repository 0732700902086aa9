/**
 * Attacks from a workload with the same credentials as the supervisor's next children, seen
 * from a Node supervisor: stopping each child before exec (SIGSTOP, which cannot be blocked;
 * SIGTSTP, which waits blocked, is the core's attacks.rs). The spawn must end either way,
 * within a bounded time, with its own error code and the workload never run, and the event
 * loop must keep ticking throughout.
 *
 * The storms run as a uid and gid of their own that nothing else here has, so `kill(-1)` from
 * them reaches only the children these tests spawn (vitest runs other files meanwhile).
 * The memory racer, the lying filters and the extremes are in crates/capspawn/tests (attacks.rs,
 * lying_filters.rs): the same core code, driven from Rust, where the marker's address is known.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type CapspawnChildProcess, type SpawnError } from '../dist/index.js';
import { FIXTURES, requirePrivilege, tempDir } from './helpers.js';

const STORM_ID = 64_124;
const asStormUid = { uid: STORM_ID, gid: STORM_ID, stdio: 'ignore', parentDeathSignal: 'SIGKILL' } as const;

beforeEach((ctx) => requirePrivilege(ctx));

let storm: CapspawnChildProcess | undefined;
afterEach(async () => {
  if (storm && storm.exitCode === null && storm.signalCode === null) {
    storm.kill('SIGKILL');
    await once(storm, 'exit');
  }
  storm = undefined;
});

function startStorm(signal: 'STOP'): void {
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

/** Runs the storm fixture in a process group of its own (perl's setpgrp): the kernel drops
 * SIGTSTP to an orphaned process group, which the test runner's may be (CI has no job control). */
function stormRun(signal: 'STOP', count: number): { control: boolean; outcomes: string[]; longestGap: number } {
  const fixture = path.join(FIXTURES, 'storm.mjs');
  const args = ['-e', 'setpgrp(0, 0); exec @ARGV or die', process.execPath, fixture, signal, String(count)];
  return JSON.parse(execFileSync('perl', args, { encoding: 'utf8', timeout: 60_000 }));
}

describe('a workload stopping the next child before exec', () => {
  it('SIGSTOP: the child is killed, the spawn fails with ERR_CAPSPAWN_CHILD_HELD, the loop ticks on', () => {
    const { control, outcomes, longestGap } = stormRun('STOP', 40);
    expect(control, 'the storm did not stop a sleep of its uid: the run proves nothing').toBe(true);
    const held = outcomes.filter((o) => o === 'ERR_CAPSPAWN_CHILD_HELD').length;
    expect(held, 'the storm never caught a child before exec: the test proves nothing').toBeGreaterThan(0);
    expect(outcomes.filter((o) => o !== 'spawned' && o !== 'ERR_CAPSPAWN_CHILD_HELD')).toEqual([]);
    // The timer kept firing: a stopped child is killed within two watchdog ticks (10 ms each),
    // so the loop is held that long, not until someone sends SIGCONT. A generous bound for a
    // loaded machine (the issue asks for the timer; no other timing is asserted).
    expect(longestGap).toBeLessThan(1000);
  }, 90_000);

  // SIGTSTP, SIGTTIN and SIGTTOU pending before exec (blocked, they wait): the core's
  // `cargo test --test attacks stop_signals_pending_before_exec_are_discarded` sends each while a
  // seccomp notification holds the child in its verification, every time. A storm from a loop
  // here no longer hit that window (0 of 60 children held with the discard removed), so it
  // could not fail, and is gone.

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

describe('two copies of capspawn in one supervisor (two versions of the package, each its own addon)', () => {
  it("neither copy's flag restore reaches the other's child while it drops, and the flag comes back", (ctx) => {
    requirePrivilege(ctx);
    // Each copy has its own gate state; they share the memory. Without the process-wide lock a
    // copy's restore of the dumpable flag (at its spawn's end, or its watchdog's, 10 ms later)
    // lands while the other copy's child has dropped capabilities on that memory (which that
    // child's verification may catch: ERR_CAPSPAWN_VERIFY, stage 'dumpable'), and a copy that
    // enters while the other's child has the flag cleared takes 0 for the supervisor's own, so
    // the flag never comes back. Observed as the owner of /proc/self/status in a supervisor run
    // as nobody: nobody while dumpable, root while not. Batches of ten, as a supervisor using
    // each copy in turn would, leave each copy's last child pending; the owner is looked at after
    // each round, once both copies' watchdogs have settled.
    const root = path.resolve(FIXTURES, '..', '..');
    const dir = tempDir('two-copies'); // mode 0777: nobody reads the copies below it
    try {
      const addon = fs.readdirSync(root).find((f) => /^capspawn\..*\.node$/.test(f));
      expect(addon, 'a local build of the addon').toBeDefined();
      for (const copy of ['a', 'b']) {
        fs.cpSync(path.join(root, 'dist'), path.join(dir, copy, 'dist'), { recursive: true });
        fs.copyFileSync(path.join(root, addon!), path.join(dir, copy, addon!));
        fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, copy, 'package.json'));
      }
      const script = path.join(dir, 'run.cjs');
      fs.writeFileSync(
        script,
        `const fs = require('node:fs');
        const copies = ['a', 'b'].map((c) => require(${JSON.stringify(dir)} + '/' + c + '/dist/cjs/index.js'));
        const owner = () => fs.statSync('/proc/self/status').uid;
        (async () => {
          const failures = [];
          let ran = 0;
          const before = owner();
          const owners = new Set();
          for (let round = 0; round < 20; round++) {
            for (const { spawn } of copies) {
              for (let i = 0; i < 10; i++) {
                await new Promise((resolve) => {
                  const child = spawn('/bin/true', [], { stdio: 'ignore' });
                  child.on('error', (e) => { failures.push(e.code + ' ' + e.stage); resolve(); });
                  child.on('exit', (code) => { if (code === 0) ran++; resolve(); });
                });
              }
            }
            await new Promise((resolve) => setTimeout(resolve, 30)); // past the watchdog's settle
            owners.add(owner());
          }
          // Each copy keeps one descriptor of the lock's file, opened read-only (the access mode
          // in fdinfo's octal flags is 0).
          const lockFiles = fs.readdirSync('/proc/self/fd').filter((fd) => {
            try { return fs.readlinkSync('/proc/self/fd/' + fd).endsWith('/auxv'); } catch { return false; }
          }).map((fd) => Number.parseInt(/flags:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1], 8) & 3);
          console.log(JSON.stringify({ ran, failures, before, after: [...owners], lockFiles }));
        })();`,
      );
      const env = { ...process.env };
      delete env.CAPSPAWN_NATIVE_LIBRARY_PATH;
      const asNobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
      const out = JSON.parse(execFileSync('setpriv', [...asNobody, process.execPath, script], { env, encoding: 'utf8' }));
      expect(out).toEqual({ ran: 400, failures: [], before: 65534, after: [65534], lockFiles: [0, 0] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
