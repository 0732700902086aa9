/**
 * child_process.spawn semantics of capspawn's spawn(): exits, signals, environment, directory,
 * argv0, stdio bytes, spawn failures, timeout, abort, unref, and many children at once — with
 * no descriptor or zombie left behind.
 */
import { execFileSync, spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { getEventListeners, once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type SpawnOptions } from '../dist/index.js';
import { nativeOrigin } from '../dist/native.js';
import { FIXTURES, childPids, fdCount, outcome, readStatus, requirePrivilege, runReport, tempDir } from './helpers.js';

// Every spawn here is refused by design on a supervisor that cannot empty the bounding set.
beforeEach((ctx) => requirePrivilege(ctx));

let dir: string;
beforeEach(() => {
  dir = tempDir('spawn');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs a command to its end and returns its stdout as text, asserting it exited 0. */
async function stdoutOf(command: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  const result = await outcome(spawn(command, args, options));
  expect(result.error).toBeUndefined();
  expect(result.close).toEqual([0, null]);
  return result.stdout.toString('utf8');
}

/** The fields of a /proc/<pid>/stat text the tests use. */
function statFields(text: string): { pid: number; state: string; ppid: number; pgrp: number; session: number } {
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: rest[0]!, ppid: Number(rest[1]), pgrp: Number(rest[2]), session: Number(rest[3]) };
}

describe('exit and signals', () => {
  it("reports the exit code: events 'spawn' → 'exit' → 'close'", async () => {
    const child = spawn('/bin/sh', ['-c', 'exit 3']);
    const result = await outcome(child);
    expect(result.events).toEqual(['spawn', 'exit', 'close']);
    expect(result.exit).toEqual([3, null]);
    expect(result.close).toEqual([3, null]);
    expect([child.exitCode, child.signalCode, child.killed]).toEqual([3, null, false]);
  });

  it("emits 'spawn' asynchronously, after spawn() returned, with a live pid", async () => {
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const done = outcome(child);
    try {
      let spawned = false;
      child.on('spawn', () => (spawned = true));
      expect(spawned).toBe(false);
      expect(Number.isInteger(child.pid) && child.pid! > 0).toBe(true);
      await once(child, 'spawn');
      // (Not its cmdline: execve may still be setting that up; its parent is fixed since clone.)
      expect(statFields(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')).ppid).toBe(process.pid);
    } finally {
      child.kill('SIGKILL');
      await done;
    }
  });

  it("kill() sends SIGTERM: exit(null, 'SIGTERM'), signalCode set, killed true", async () => {
    const child = spawn('/bin/sleep', ['30']);
    const done = outcome(child);
    await once(child, 'spawn');
    expect(child.killed).toBe(false);
    expect(child.kill()).toBe(true);
    expect(child.killed).toBe(true);
    const result = await done;
    expect(result.exit).toEqual([null, 'SIGTERM']);
    expect(result.close).toEqual([null, 'SIGTERM']);
    expect([child.exitCode, child.signalCode]).toEqual([null, 'SIGTERM']);
  });

  it('kill() takes a signal name or number, and SIGTERM as its default (killSignal is for timeout and signal, as in child_process)', async () => {
    const byName = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const byNumber = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const byDefault = spawn('/bin/sleep', ['30'], { stdio: 'ignore', killSignal: 'SIGINT' });
    const results = Promise.all([byName, byNumber, byDefault].map(outcome));
    expect(byName.kill('SIGKILL')).toBe(true);
    expect(byNumber.kill(9)).toBe(true);
    expect(byDefault.kill()).toBe(true);
    expect((await results).map((r) => r.exit)).toEqual([
      [null, 'SIGKILL'],
      [null, 'SIGKILL'],
      [null, 'SIGTERM'],
    ]);
  });

  it('kill(0) probes without killing (and sets killed, as child_process does); an unknown signal throws ERR_UNKNOWN_SIGNAL', async () => {
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const done = outcome(child);
    try {
      expect(() => child.kill('SIGNOPE' as NodeJS.Signals)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_SIGNAL' }));
      expect(child.killed).toBe(false);
      expect(child.kill(0)).toBe(true);
      expect(child.killed).toBe(true);
      expect(fs.existsSync(`/proc/${child.pid}`)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
    expect((await done).exit).toEqual([null, 'SIGKILL']);
  });

  it('kill() after the exit returns false and leaves killed false', async () => {
    const child = spawn('/bin/true');
    const result = await outcome(child);
    expect(result.exit).toEqual([0, null]);
    expect(child.kill()).toBe(false);
    expect(child.kill('SIGKILL')).toBe(false);
    expect(child.killed).toBe(false);
  });

  it('starts the workload with default signal dispositions and nothing blocked', async () => {
    // Node ignores SIGPIPE; an ignored signal would survive execve if nobody reset it.
    expect(readStatus().sigIgn & (1n << 12n)).not.toBe(0n);
    const status = (await stdoutOf('/bin/cat', ['/proc/self/status'])).split('\n');
    expect(status).toContain('SigIgn:\t0000000000000000');
    expect(status).toContain('SigBlk:\t0000000000000000');
  });
});

describe('environment, directory, argv0, session', () => {
  it('passes env exactly: only those variables, numbers and booleans as strings, undefined left out', async () => {
    const env = { A: '1', B: 'two words', C: 3, D: undefined, E: true, F: '' };
    expect(await stdoutOf('/usr/bin/env', [], { env })).toBe('A=1\nB=two words\nC=3\nE=true\nF=\n');
  });

  it('passes process.env by default', async () => {
    const value = randomBytes(8).toString('hex');
    process.env.CAPSPAWN_TEST_VARIABLE = value;
    try {
      const lines = (await stdoutOf('/usr/bin/env', [])).split('\n');
      expect(lines).toContain(`CAPSPAWN_TEST_VARIABLE=${value}`);
      expect(lines).toContain(`PATH=${process.env.PATH}`);
    } finally {
      delete process.env.CAPSPAWN_TEST_VARIABLE;
    }
  });

  it("looks a bare command up in env's PATH, not the supervisor's", async () => {
    const script = path.join(dir, 'capspawn-hello');
    fs.writeFileSync(script, '#!/bin/sh\necho "found in $PATH"\n', { mode: 0o755 });
    expect(await stdoutOf('capspawn-hello', [], { env: { PATH: dir } })).toBe(`found in ${dir}\n`);
    // `true` is in the supervisor's PATH, but not in this one.
    const result = await outcome(spawn('true', [], { env: { PATH: dir } }));
    expect(result.error).toMatchObject({ code: 'ENOENT', stage: 'exec' });
  });

  it('runs in cwd, given as a path or a file: URL', async () => {
    const real = fs.realpathSync(dir);
    expect(await stdoutOf('/bin/pwd', ['-P'], { cwd: dir })).toBe(`${real}\n`);
    expect(await stdoutOf('/bin/pwd', ['-P'], { cwd: pathToFileURL(dir) })).toBe(`${real}\n`);
  });

  it("fails with ENOENT at stage 'chdir' for a missing cwd, before anything runs", async () => {
    const missing = path.join(dir, 'missing');
    const marker = path.join(dir, 'ran');
    const result = await outcome(spawn('/bin/sh', ['-c', `touch '${marker}'`], { cwd: missing }));
    expect(result.events).toEqual(['error', 'close']);
    // As child_process reports it (syscall 'spawn <file>'); `stage` says which step failed.
    expect(result.error).toMatchObject({ code: 'ENOENT', errno: -2, stage: 'chdir', syscall: 'spawn /bin/sh', path: '/bin/sh' });
    expect(result.close).toEqual([-2, null]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('sets argv[0] from argv0, else from the command as given', async () => {
    const renamed = spawn('/bin/cat', ['/proc/self/cmdline'], { argv0: 'renamed' });
    expect([renamed.spawnfile, renamed.spawnargs]).toEqual(['/bin/cat', ['renamed', '/proc/self/cmdline']]);
    expect((await outcome(renamed)).stdout.toString()).toBe('renamed\0/proc/self/cmdline\0');
    expect(await stdoutOf('/bin/cat', ['/proc/self/cmdline'])).toBe('/bin/cat\0/proc/self/cmdline\0');
    expect(await stdoutOf('/bin/cat', ['/proc/self/cmdline'], { argv0: '' })).toBe('\0/proc/self/cmdline\0');
  });

  it('detached: the workload leads a new session; otherwise it stays in ours', async () => {
    const ours = statFields(fs.readFileSync('/proc/self/stat', 'utf8'));
    const detached = statFields(await stdoutOf('/bin/cat', ['/proc/self/stat'], { detached: true }));
    expect(detached.session).toBe(detached.pid);
    expect(detached.pgrp).toBe(detached.pid);
    const attached = statFields(await stdoutOf('/bin/cat', ['/proc/self/stat']));
    expect(attached.session).toBe(ours.session);
    expect(attached.session).not.toBe(attached.pid);
  });
});

describe('stdio', () => {
  it("'close' comes even when piped output is left unread, as child_process drains it after 'exit'", async () => {
    const partly = spawn('/bin/sh', ['-c', 'echo out; echo warn >&2']);
    let out = '';
    partly.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    expect(await once(partly, 'close')).toEqual([0, null]);
    expect(out).toBe('out\n');
    expect(await once(spawn('/bin/echo', ['nobody reads this']), 'close')).toEqual([0, null]);
  });

  it('reports a signal by its first name, as child_process: SIGABRT, not SIGIOT', async () => {
    const result = await outcome(spawn('/bin/sh', ['-c', 'kill -ABRT $$']));
    expect(result.exit).toEqual([null, 'SIGABRT']);
  });

  it('takes streams with a descriptor, as child_process does: a socket (its handle) and an open fs stream', async () => {
    const dir = tempDir('streams');
    const file = fs.createWriteStream(path.join(dir, 'err'));
    await once(file, 'open');
    // The stdin of a plain child_process cat is a net.Socket over a pipe: our workload writes
    // into it, and cat prints what it got.
    const cat = nodeSpawn('/bin/cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    const catOut: Buffer[] = [];
    cat.stdout.on('data', (chunk: Buffer) => catOut.push(chunk));
    const child = spawn('/bin/sh', ['-c', 'echo to-socket; echo to-file >&2'], { stdio: ['ignore', cat.stdin, file] });
    const result = await outcome(child);
    cat.stdin.end();
    await once(cat, 'close');
    file.close();
    await once(file, 'close');
    expect(result.close).toEqual([0, null]);
    expect(Buffer.concat(catOut).toString()).toBe('to-socket\n');
    expect(fs.readFileSync(path.join(dir, 'err'), 'utf8')).toBe('to-file\n');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a stream without a descriptor yet (an fs stream before open), with ERR_INVALID_ARG_VALUE', async () => {
    const dir = tempDir('streams');
    const file = fs.createWriteStream(path.join(dir, 'late'));
    const opened = once(file, 'open');
    expect(() => spawn('/bin/true', [], { stdio: ['ignore', file, 'ignore'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(childPids()).toEqual([]);
    await opened;
    file.close();
    await once(file, 'close');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('carries 1 MiB of random bytes through cat unchanged, both directions', async () => {
    const input = randomBytes(1 << 20);
    const child = spawn('/bin/cat');
    const done = outcome(child);
    child.stdin!.end(input);
    const result = await done;
    expect(result.close).toEqual([0, null]);
    expect(result.stdout.length).toBe(input.length);
    expect(result.stdout.equals(input)).toBe(true);
    expect(result.stderr.length).toBe(0);
  });

  it('keeps stderr apart from stdout', async () => {
    const input = randomBytes(300_001);
    const child = spawn('/bin/sh', ['-c', 'cat >&2; printf out']);
    const done = outcome(child);
    child.stdin!.end(input);
    const result = await done;
    expect(result.close).toEqual([0, null]);
    expect(result.stderr.equals(input)).toBe(true);
    expect(result.stdout.toString()).toBe('out');
  });

  it("'ignore' gives the workload /dev/null and the child no streams", async () => {
    const quiet = spawn('/bin/true', [], { stdio: 'ignore' });
    expect([quiet.stdin, quiet.stdout, quiet.stderr]).toEqual([null, null, null]);
    expect(quiet.stdio).toEqual([null, null, null]);
    expect((await outcome(quiet)).close).toEqual([0, null]);
    const links = await stdoutOf('/bin/sh', ['-c', 'readlink /proc/$$/fd/0 /proc/$$/fd/2'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(links).toBe('/dev/null\n/dev/null\n');
  });

  it("'inherit' gives the workload the supervisor's descriptor", async () => {
    const child = spawn('/bin/sh', ['-c', 'readlink /proc/$$/fd/2'], { stdio: ['pipe', 'pipe', 'inherit'] });
    expect(child.stderr).toBe(null);
    const result = await outcome(child);
    expect(result.stdout.toString()).toBe(`${fs.readlinkSync('/proc/self/fd/2')}\n`);
  });

  it('a descriptor number puts that file at the workload’s descriptor', async () => {
    const file = path.join(dir, 'out');
    const fd = fs.openSync(file, 'w');
    try {
      const result = await outcome(spawn('/bin/echo', ['to the file'], { stdio: ['ignore', fd, 'ignore'] }));
      expect(result.close).toEqual([0, null]);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('to the file\n');
  });

  it('the workload inherits no descriptor besides 0, 1 and 2, even one without close-on-exec', () => {
    const report = runReport([], { command: '/bin/sh', args: ['-c', 'ls /proc/$$/fd'] }, { inheritedFd: 40 });
    // The supervisor has descriptor 40 open without close-on-exec…
    expect(report.fds.find(({ fd }) => fd === 40)).toEqual({ fd: 40, cloexec: false });
    // …and the workload still sees only its stdio.
    expect(report.result).toMatchObject({ ok: true, exitCode: 0, stdout: '0\n1\n2\n' });
  });
});

describe('a file the kernel cannot execute', () => {
  it('without #! it runs with /bin/sh, as child_process (glibc execvp) runs it', async () => {
    const dir = tempDir('script');
    const script = path.join(dir, 'no-shebang');
    fs.writeFileSync(script, 'echo ran "$0" "$@"\n', { mode: 0o755 });
    const ours = await outcome(spawn(script, ['a b', 'c'], { argv0: 'ignored' }));
    const theirs = execFileSync(script, ['a b', 'c'], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ours.exit).toEqual([0, null]);
    expect(ours.stdout.toString()).toBe(`ran ${script} a b c\n`);
    expect(ours.stdout.toString()).toBe(theirs);
  });
});

describe('spawn failures', () => {
  /** The error child_process emits for the same command, to compare with. */
  async function nodeError(command: string, args: string[]): Promise<Record<string, unknown>> {
    const [error] = (await once(nodeSpawn(command, args), 'error')) as [Record<string, unknown>];
    return { code: error.code, errno: error.errno, syscall: error.syscall, path: error.path, spawnargs: error.spawnargs, message: (error as unknown as Error).message };
  }

  it("ENOENT: 'error' asynchronously, as child_process reports it, then close(-2, null); never 'spawn'", async () => {
    const child = spawn('/nonexistent/capspawn-command', ['a', 'b']);
    let errored = false;
    child.on('error', () => (errored = true));
    expect(errored).toBe(false);
    expect(child.pid).toBeUndefined();
    const result = await outcome(child);
    expect(result.events).toEqual(['error', 'close']);
    expect(result.close).toEqual([-2, null]);
    expect(result.error).toMatchObject({ stage: 'exec', ...(await nodeError('/nonexistent/capspawn-command', ['a', 'b'])) });
    expect(result.error).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'spawn /nonexistent/capspawn-command' });
    expect(result.stdout.length + result.stderr.length).toBe(0);
  });

  it('ENOENT for a bare name found nowhere in PATH', async () => {
    const result = await outcome(spawn('capspawn-no-such-command-anywhere'));
    expect(result.error).toMatchObject({
      stage: 'exec',
      ...(await nodeError('capspawn-no-such-command-anywhere', [])),
    });
    expect(result.close).toEqual([-2, null]);
  });

  it('EACCES for a file that is not executable, and for a directory', async () => {
    const file = path.join(dir, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\necho ran\n', { mode: 0o644 });
    for (const target of [file, dir]) {
      const result = await outcome(spawn(target, ['x']));
      expect(result.events).toEqual(['error', 'close']);
      expect(result.error).toMatchObject({ stage: 'exec', ...(await nodeError(target, ['x'])) });
      expect(result.error).toMatchObject({ code: 'EACCES', errno: -13 });
      expect(result.close).toEqual([-13, null]);
      expect(result.stdout.length).toBe(0);
    }
  });

  it('leaves no child behind', async () => {
    await outcome(spawn('/nonexistent/capspawn-command'));
    expect(childPids()).toEqual([]);
  });
});

describe('timeout and abort', () => {
  it('timeout kills the workload with killSignal', async () => {
    const child = spawn('/bin/sleep', ['30'], { timeout: 50, killSignal: 'SIGINT', stdio: 'ignore' });
    const result = await outcome(child);
    expect(result.exit).toEqual([null, 'SIGINT']);
    expect(child.killed).toBe(true);
  });

  it('timeout uses SIGTERM by default, and spares a workload that ends first', async () => {
    const slow = spawn('/bin/sleep', ['30'], { timeout: 50, stdio: 'ignore' });
    const quick = spawn('/bin/true', [], { timeout: 60_000 });
    const [slowResult, quickResult] = await Promise.all([outcome(slow), outcome(quick)]);
    expect(slowResult.exit).toEqual([null, 'SIGTERM']);
    expect(quickResult.exit).toEqual([0, null]);
    expect(quick.killed).toBe(false);
  });

  it("an AbortSignal kills the workload and emits an AbortError (code 'ABORT_ERR')", async () => {
    const controller = new AbortController();
    const child = spawn('/bin/sleep', ['30'], { signal: controller.signal, stdio: 'ignore' });
    const done = outcome(child);
    await once(child, 'spawn');
    const reason = new Error('stop it');
    controller.abort(reason);
    const result = await done;
    expect(result.events).toEqual(['spawn', 'error', 'exit', 'close']);
    expect(result.error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(result.exit).toEqual([null, 'SIGTERM']);
    expect(child.killed).toBe(true);
  });

  it('an already aborted signal kills at once, with killSignal', async () => {
    const child = spawn('/bin/sleep', ['30'], { signal: AbortSignal.abort(), killSignal: 'SIGKILL', stdio: 'ignore' });
    const result = await outcome(child);
    expect(result.events).toEqual(['spawn', 'error', 'exit', 'close']); // child_process's order
    expect(result.error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(result.exit).toEqual([null, 'SIGKILL']);
  });

  it('aborting after the exit does nothing', async () => {
    const controller = new AbortController();
    const child = spawn('/bin/true', [], { signal: controller.signal });
    const result = await outcome(child);
    expect(result.events).toEqual(['spawn', 'exit', 'close']);
    expect(getEventListeners(controller.signal, 'abort')).toEqual([]); // removed at the exit
    const errors: unknown[] = [];
    child.on('error', (e) => errors.push(e));
    controller.abort();
    expect(errors).toEqual([]);
    expect(child.killed).toBe(false);
  });
});

describe('ref and unref', () => {
  const fixture = path.join(FIXTURES, 'unref.mjs');

  it('unref() lets the supervisor exit while the workload still runs', () => {
    const out = execFileSync(process.execPath, [fixture, 'unref'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'inherit'] });
    const [first, second] = out.trim().split('\n');
    expect(second).toBe('done');
    const { pid, referenced } = JSON.parse(first!) as { pid: number; referenced: boolean };
    expect(referenced).toBe(false);
    // The supervisor is gone, its workload is not.
    const state = statFields(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).state;
    try {
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('/bin/sleep\0' + '30\0');
      expect(state).not.toBe('Z');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('ref() after unref() keeps the supervisor alive until the exit', () => {
    const out = execFileSync(process.execPath, [fixture, 'ref-again'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = out.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([{ pid: expect.any(Number), referenced: true }, { exit: [0, null] }]);
  });
});

describe('two copies of capspawn in one process', () => {
  it('share the binding: every exit reaches its child, and unref() in one spares the other', () => {
    // Two copies of the JS (as two installs of one version give), loading this build's binding.
    const root = path.join(FIXTURES, '..', '..');
    const dir = tempDir('copies');
    for (const copy of ['a', 'b']) {
      fs.cpSync(path.join(root, 'dist'), path.join(dir, copy, 'dist'), { recursive: true });
      fs.writeFileSync(path.join(dir, copy, 'package.json'), JSON.stringify({ type: 'module' }));
    }
    const out = execFileSync(process.execPath, [path.join(FIXTURES, 'two-copies.mjs'), path.join(dir, 'a'), path.join(dir, 'b')], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, CAPSPAWN_NATIVE_LIBRARY_PATH: nativeOrigin.path },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const report = JSON.parse(out.trim().split('\n').pop()!) as { exits: Record<string, unknown>; lingering: number };
    process.kill(report.lingering, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    // The process ended by itself once A's last child had exited; B's unref'd sleeper still ran.
    expect(report.exits).toEqual({ a1: [0, null], b1: [0, null], a2: [0, null] });
  });
});

describe('resources', () => {
  it("closes its end of the workload's stdin when the workload exits, as child_process does", async () => {
    await outcome(spawn('/bin/true')); // the first spawn sets up the reaper and the exit channel
    const before = fdCount();
    const child = spawn('/bin/true');
    const result = await outcome(child);
    expect(result.close).toEqual([0, null]);
    expect(child.stdin!.destroyed).toBe(true);
    expect(fdCount()).toBe(before);
  });

  it('200 spawns, 50 at a time, some failing: right output each, no descriptor or zombie left', async () => {
    await outcome(spawn('/bin/true'));
    const before = fdCount();
    const one = async (i: number): Promise<void> => {
      if (i % 10 === 7) {
        const result = await outcome(spawn(`/nonexistent/capspawn-${i}`));
        expect(result.error).toMatchObject({ code: 'ENOENT' });
        return;
      }
      const result = await outcome(spawn('/bin/echo', [`child ${i}`]));
      expect(result.close).toEqual([0, null]);
      expect(result.stdout.toString()).toBe(`child ${i}\n`);
    };
    for (let start = 0; start < 200; start += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => one(start + k)));
    }
    expect(childPids()).toEqual([]);
    expect(fdCount()).toBe(before);
  });

  it('a spawn whose result cannot be handed back (a polluted prototype) stops its child and closes its pipes', async () => {
    await outcome(spawn('/bin/true'));
    const before = fdCount();
    Object.defineProperty(Object.prototype, 'stdio', {
      set() {
        throw new Error('polluted');
      },
      configurable: true,
    });
    try {
      expect(() => spawn('/bin/cat', [], { stdio: 'pipe' })).toThrow('polluted');
    } finally {
      delete (Object.prototype as { stdio?: unknown }).stdio;
    }
    // Killed and reaped (its pidfd closed with it), its pipe ends closed: no cat left waiting.
    for (let i = 0; i < 100 && (childPids().length > 0 || fdCount() > before); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(childPids()).toEqual([]);
    expect(fdCount()).toBe(before);
  });
});
