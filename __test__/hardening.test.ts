/**
 * The hardening options as the workload sees them: `capabilities` (one capability kept, and
 * nothing else), `securebits: 'locked'`, `parentDeathSignal`, `umask`, `rlimits`, and stdio
 * entries beyond 2. Each test reads the workload's own /proc/self/status or `setpriv --dump`,
 * or what it could and could not do; refusals must leave no marker file and no child.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Duplex } from 'node:stream';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type SpawnOptions } from '../dist/index.js';
import {
  FIXTURES,
  childPids,
  outcome,
  parseStatus,
  readStatus,
  requirePrivilege,
  runReport,
  tempDir,
  type Outcome,
  type ProcStatus,
} from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('hardening');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const NET_BIND_SERVICE = 1n << 10n;
const BIND_80 = ['-c', "import socket; s=socket.socket(); s.bind(('127.0.0.1',80)); print('bound')"];

async function run(command: string, args: string[], options: SpawnOptions): Promise<Outcome> {
  return outcome(spawn(command, args, options));
}

/** Runs the command to its end, asserts it exited 0, and returns its stdout. */
async function stdoutOf(command: string, args: string[], options: SpawnOptions): Promise<string> {
  const result = await run(command, args, options);
  expect(result.error, result.error?.message).toBeUndefined();
  expect(result.close, result.stderr.toString()).toEqual([0, null]);
  return result.stdout.toString('utf8');
}

const workloadStatus = async (options: SpawnOptions): Promise<ProcStatus> =>
  parseStatus(await stdoutOf('/bin/cat', ['/proc/self/status'], options));

/** `setpriv --dump` run as the workload, as `{ 'Capability bounding set': '…', … }`. */
async function dump(options: SpawnOptions): Promise<Record<string, string>> {
  const text = await stdoutOf('/usr/bin/setpriv', ['--dump'], options);
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  );
}

const sets = (s: ProcStatus) => ({ CapBnd: s.capBnd, CapEff: s.capEff, CapPrm: s.capPrm, CapInh: s.capInh, CapAmb: s.capAmb });
const only = (mask: bigint) => ({ CapBnd: mask, CapEff: mask, CapPrm: mask, CapInh: mask, CapAmb: mask });

/** `spawn()` must throw synchronously with `code`, and start nothing. */
function expectThrowsAndNothingRuns(options: Record<string, unknown>, code: string, message?: string): void {
  const marker = path.join(dir, 'ran');
  const before = childPids();
  let thrown: (Error & { code?: string }) | undefined;
  try {
    const child = spawn('/bin/sh', ['-c', `touch '${marker}'`], options as SpawnOptions);
    child.on('error', () => {});
    child.kill('SIGKILL');
  } catch (error) {
    thrown = error as Error & { code?: string };
  }
  expect(thrown, `no throw for ${JSON.stringify(options)}`).toBeDefined();
  expect(thrown!.code, `${JSON.stringify(options)}: ${thrown!.message}`).toBe(code);
  if (message !== undefined) expect(thrown!.message).toContain(message);
  expect(childPids()).toEqual(before);
  expect(fs.existsSync(marker)).toBe(false);
}

/** The fields of /proc/<pid>/stat the tests use, or null once the process is gone. */
function stat(pid: number): { comm: string; state: string; ppid: number; exitCode: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  // Field 52, exit_code: the status as waitpid reports it (for a zombie: how it died).
  return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), state: rest[0]!, ppid: Number(rest[1]), exitCode: Number(rest[49]) };
}

/** Dead: gone from /proc, or a zombie its new parent (init) has not reaped yet. */
const dead = (pid: number) => {
  const s = stat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
};

async function waitUntil(condition: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe('capabilities: keeping one capability', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  it("user: 'nobody' with NET_BIND_SERVICE binds 127.0.0.1:80; without it, EACCES", async () => {
    // Port 80 needs the capability here (it would not with ip_unprivileged_port_start <= 80).
    expect(Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))).toBeGreaterThan(80);
    const kept = await run('/usr/bin/python3', BIND_80, { user: 'nobody', capabilities: ['NET_BIND_SERVICE'] });
    expect(kept.error).toBeUndefined();
    expect({ close: kept.close, stdout: kept.stdout.toString(), stderr: kept.stderr.toString() }).toEqual({
      close: [0, null],
      stdout: 'bound\n',
      stderr: '',
    });

    const dropped = await run('/usr/bin/python3', BIND_80, { user: 'nobody' });
    expect(dropped.error).toBeUndefined();
    expect(dropped.close).toEqual([1, null]);
    expect(dropped.stdout.toString()).toBe('');
    expect(dropped.stderr.toString()).toMatch(/PermissionError: \[Errno 13\] Permission denied/);
  });

  it('leaves net_bind_service alone in every set (setpriv --dump and /proc/self/status)', async () => {
    const options: SpawnOptions = { user: 'nobody', capabilities: ['NET_BIND_SERVICE'] };
    const fields = await dump(options);
    expect(fields).toMatchObject({
      uid: '65534',
      euid: '65534',
      no_new_privs: '1',
      'Capability bounding set': 'net_bind_service',
      'Ambient capabilities': 'net_bind_service',
      'Inheritable capabilities': 'net_bind_service',
    });
    const status = await workloadStatus(options);
    expect(sets(status)).toEqual(only(NET_BIND_SERVICE));
    expect(status.text).toMatch(/^CapEff:\t0000000000000400$/m);
    expect(status.uid).toEqual([65534, 65534, 65534, 65534]);
  });

  it("accepts 'CAP_NET_BIND_SERVICE', 'NET_BIND_SERVICE', 'net_bind_service' and 10 alike", async () => {
    for (const name of ['CAP_NET_BIND_SERVICE', 'NET_BIND_SERVICE', 'net_bind_service', 10]) {
      const status = await workloadStatus({ capabilities: [name] });
      expect(sets(status), String(name)).toEqual(only(NET_BIND_SERVICE));
      expect(status.uid).toEqual([0, 0, 0, 0]);
    }
  });

  it("throws ERR_INVALID_ARG_VALUE for an unknown name ('CAP_NOPE'), and nothing runs", () => {
    expectThrowsAndNothingRuns({ capabilities: ['CAP_NOPE'] }, 'ERR_INVALID_ARG_VALUE', 'CAP_NOPE');
    expectThrowsAndNothingRuns({ capabilities: ['NET_BIND_SERVICE', 'CAP_NOPE'] }, 'ERR_INVALID_ARG_VALUE', 'CAP_NOPE');
    expectThrowsAndNothingRuns({ capabilities: [64] }, 'ERR_OUT_OF_RANGE');
    expectThrowsAndNothingRuns({ capabilities: 'NET_BIND_SERVICE' }, 'ERR_INVALID_ARG_TYPE');
  });

  it('throws ERR_CAPSPAWN_CAPABILITY_NOT_HELD for one the supervisor lacks (setpriv --bounding-set=-net_raw)', () => {
    const wrapper = ['setpriv', '--inh-caps=-all', '--bounding-set=-net_raw'];
    const marker = path.join(dir, 'ran');
    const report = runReport(wrapper, { command: '/bin/sh', args: ['-c', `touch '${marker}'`], options: { capabilities: ['NET_RAW'] } });
    expect(report.inspect.permitted).not.toContain('CAP_NET_RAW');
    expect(report.inspect.permitted).toContain('CAP_NET_BIND_SERVICE');
    expect(report.thrown).toMatchObject({ code: 'ERR_CAPSPAWN_CAPABILITY_NOT_HELD', message: expect.stringContaining('NET_RAW') });
    expect(report.result).toBeUndefined();
    expect(report.children).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);

    // The same supervisor keeps one it does hold.
    const held = runReport(wrapper, { command: '/bin/cat', args: ['/proc/self/status'], options: { capabilities: ['NET_BIND_SERVICE'] } });
    expect(held.result).toMatchObject({ ok: true, exitCode: 0 });
    expect(sets(parseStatus((held.result as { stdout: string }).stdout))).toEqual(only(NET_BIND_SERVICE));
  });
});

describe("securebits: 'locked'", () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  const LOCKED = ['noroot', 'noroot_locked', 'no_setuid_fixup', 'no_setuid_fixup_locked', 'keep_caps_locked'];

  it('a workload that stays uid 0 has no capability, and the bits are set and locked', async () => {
    const status = await workloadStatus({ securebits: 'locked' });
    expect(status.uid).toEqual([0, 0, 0, 0]);
    expect(sets(status)).toEqual(only(0n));
    const fields = await dump({ securebits: 'locked' });
    expect(fields.uid).toBe('0');
    const bits = fields.Securebits!.split(',');
    for (const bit of LOCKED) expect(bits, fields.Securebits).toContain(bit);
  });

  it("keeps CapEff/CapPrm empty after an exec as root even with boundingSet: 'inherit'", async () => {
    const supervisor = readStatus();
    for (const noNewPrivs of [true, false]) {
      const status = await workloadStatus({ securebits: 'locked', boundingSet: 'inherit', noNewPrivs });
      expect(status.uid).toEqual([0, 0, 0, 0]);
      expect(status.capBnd).toBe(supervisor.capBnd);
      expect({ CapEff: status.capEff, CapPrm: status.capPrm, CapAmb: status.capAmb }, `noNewPrivs ${noNewPrivs}`).toEqual({
        CapEff: 0n,
        CapPrm: 0n,
        CapAmb: 0n,
      });
    }
    // The control: without the securebits (and without no_new_privs), that exec as root
    // regains the whole bounding set. This is what NOROOT buys.
    const control = await workloadStatus({ boundingSet: 'inherit', noNewPrivs: false });
    expect(control.capEff).toBe(supervisor.capBnd);
    expect(control.capPrm).toBe(supervisor.capBnd);
  });

  it('with a kept capability, a workload as nobody keeps exactly it under locked bits', async () => {
    const options: SpawnOptions = { user: 'nobody', securebits: 'locked', capabilities: ['NET_BIND_SERVICE'] };
    expect(sets(await workloadStatus(options))).toEqual(only(NET_BIND_SERVICE));
    const bits = (await dump(options)).Securebits!.split(',');
    for (const bit of LOCKED) expect(bits).toContain(bit);
  });
});

describe('parentDeathSignal', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  /** Runs fixtures/orphan.mjs: it spawns `sleep 60` with `options`, prints its pid, and exits. */
  function orphan(options: Record<string, unknown>): { pid: number; supervisor: number } {
    const result = spawnSync(process.execPath, [path.join(FIXTURES, 'orphan.mjs'), JSON.stringify(options)], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status, result.stderr + result.stdout).toBe(0);
    const report = JSON.parse(result.stdout.trim()) as { pid: number; supervisor: number };
    expect(report.pid).toBeGreaterThan(0);
    return report;
  }

  it("'SIGKILL': the workload dies with its supervisor, as root and as nobody", async () => {
    for (const options of [{ parentDeathSignal: 'SIGKILL' }, { parentDeathSignal: 'SIGKILL', user: 'nobody' }]) {
      const { pid } = orphan(options);
      expect(await waitUntil(() => dead(pid)), `sleep ${pid} still running: ${JSON.stringify(stat(pid))}`).toBe(true);
      const zombie = stat(pid);
      // Reaped (gone), or a zombie sleep whose wait status says SIGKILL.
      if (zombie !== null) expect({ comm: zombie.comm, signal: zombie.exitCode & 0x7f }).toEqual({ comm: 'sleep', signal: 9 });
    }
  });

  it('is armed in the workload (setpriv --dump), after the change to nobody', async () => {
    expect((await dump({ parentDeathSignal: 'SIGKILL', user: 'nobody' }))['Parent death signal']).toBe('KILL');
    expect((await dump({ parentDeathSignal: 15 }))['Parent death signal']).toBe('TERM');
    expect((await dump({}))['Parent death signal']).toBe('[none]');
  });

  it('without it, the workload outlives its supervisor', async () => {
    const { pid, supervisor } = orphan({});
    try {
      const s = stat(pid);
      expect(s).toMatchObject({ comm: 'sleep' });
      expect(s!.state).not.toMatch(/^[ZX]$/); // alive (sleeping, or still starting up)
      expect(s!.ppid).not.toBe(supervisor); // reparented: the supervisor is gone, the workload is not
    } finally {
      if (!dead(pid)) process.kill(pid, 'SIGKILL');
    }
    expect(await waitUntil(() => dead(pid))).toBe(true);
  });
});

describe('umask and rlimits', () => {
  describe('in the workload', () => {
    beforeEach((ctx) => requirePrivilege(ctx));

    it('umask: 0o027 is the workload’s mask, and its new files get 0640', async () => {
      const file = path.join(dir, 'created');
      expect(await stdoutOf('/bin/sh', ['-c', `umask; touch '${file}'`], { umask: 0o027 })).toBe('0027\n');
      expect(fs.statSync(file).mode & 0o777).toBe(0o640);
      expect(await stdoutOf('/bin/sh', ['-c', 'umask'], { umask: 0o077, user: 'nobody' })).toBe('0077\n');
      expect(await stdoutOf('/bin/sh', ['-c', 'umask'], { umask: 0 })).toBe('0000\n');
    });

    it('rlimits: { nofile: [100, 200] } sets the soft and hard limits; a number sets both', async () => {
      expect(await stdoutOf('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { rlimits: { nofile: [100, 200] } })).toBe('100\n200\n');
      expect(await stdoutOf('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { rlimits: { nofile: [100, 200] }, user: 'nobody' })).toBe(
        '100\n200\n',
      );
      expect(await stdoutOf('/bin/sh', ['-c', 'ulimit -Sc; ulimit -Hc'], { rlimits: { core: 0 } })).toBe('0\n0\n');
      const status = await stdoutOf('/bin/cat', ['/proc/self/limits'], { rlimits: { nofile: [100, 200], core: 0 } });
      expect(status).toMatch(/^Max open files\s+100\s+200\s+files\s*$/m);
      expect(status).toMatch(/^Max core file size\s+0\s+0\s+bytes\s*$/m);
    });

    it("a hard limit the supervisor may not raise (no CAP_SYS_RESOURCE) fails at stage 'rlimit', and nothing runs", () => {
      const hard = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
      const marker = path.join(dir, 'ran');
      const report = runReport(['setpriv', '--inh-caps=-all', '--bounding-set=-sys_resource'], {
        command: '/bin/sh',
        args: ['-c', `touch '${marker}'`],
        options: { rlimits: { nofile: [100, hard + 1] } },
      });
      expect(report.inspect.effective).not.toContain('CAP_SYS_RESOURCE');
      // EPERM is thrown, as child_process throws every errno but EACCES, EAGAIN, EMFILE, ENFILE, ENOENT.
      expect(report.thrown).toMatchObject({ code: 'EPERM', errno: -1, stage: 'rlimit', syscall: 'spawn' });
      expect(report.result).toBeUndefined();
      expect(report.children).toEqual([]);
      expect(fs.existsSync(marker)).toBe(false);
    });
  });

  it.each([
    [{ umask: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ umask: 0o1000 }, 'ERR_OUT_OF_RANGE'],
    [{ umask: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ umask: '027' }, 'ERR_INVALID_ARG_TYPE'],
    [{ umask: null }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: { nofile: -1 } }, 'ERR_OUT_OF_RANGE'],
    [{ rlimits: { nofile: 1.5 } }, 'ERR_OUT_OF_RANGE'],
    [{ rlimits: { nofile: [100, NaN] } }, 'ERR_OUT_OF_RANGE'],
    [{ rlimits: { nofile: 2 ** 53 } }, 'ERR_OUT_OF_RANGE'],
    [{ rlimits: { nofile: '100' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: { nofile: null } }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: [100, 200] }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: null }, 'ERR_INVALID_ARG_TYPE'],
    [{ rlimits: { nofile: [200, 100] } }, 'ERR_INVALID_ARG_VALUE'],
    [{ rlimits: { nofile: [Infinity, 100] } }, 'ERR_INVALID_ARG_VALUE'],
    [{ rlimits: { nofile: [100] } }, 'ERR_INVALID_ARG_VALUE'],
    [{ rlimits: { nofile: [1, 2, 3] } }, 'ERR_INVALID_ARG_VALUE'],
    [{ rlimits: { bogus: 1 } }, 'ERR_INVALID_ARG_VALUE', 'bogus'],
  ] as [Record<string, unknown>, string, string?][])('%o throws %s synchronously, and nothing runs', (options, code, message) => {
    expectThrowsAndNothingRuns(options, code, message);
  });
});

describe('stdio entries beyond 2', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  it("'pipe' at 3 gives child.stdio[3], a duplex socket the workload reads and writes", async () => {
    const child = spawn('/bin/sh', ['-c', 'read line <&3; echo "got $line" >&3'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    expect(child.stdio).toHaveLength(4);
    const socket = child.stdio[3] as Duplex;
    expect(socket).toBeInstanceOf(Duplex);
    let got = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (got += chunk));
    socket.write('hello\n');
    const result = await outcome(child);
    expect(result.error).toBeUndefined();
    expect(result.close).toEqual([0, null]);
    expect(got).toBe('got hello\n');
  });

  it('a supervisor holding 10,000 descriptors gives the workload a small table, with only what it was given', async () => {
    const held: number[] = [];
    try {
      // 10,000, or as many as the soft descriptor limit leaves room for (Node cannot raise it).
      const soft = Number(/Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
      const count = Math.min(10_000, soft - fs.readdirSync('/proc/self/fd').length - 100);
      expect(count).toBeGreaterThan(300); // well above the 64 a small table holds
      for (let i = 0; i < count; i++) held.push(fs.openSync('/dev/null', 'r'));
      const extra = fs.openSync('/etc/hostname', 'r');
      held.push(extra);
      // FDSize is the capacity of the workload's table, which execve does not shrink: with the
      // supervisor's table copied whole it would be above `count`.
      const script = 'grep FDSize /proc/self/status; ls /proc/self/fd | tr "\\n" " "; echo; read line <&3; echo "$line"';
      const out = await stdoutOf('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe', extra] });
      const [size, fds, line] = out.split('\n');
      expect(Number(/FDSize:\s+(\d+)/.exec(size!)![1])).toBeLessThanOrEqual(256);
      // ls's own directory descriptor comes after 0-3.
      expect(fds!.trim().split(' ').map(Number).slice(0, 4)).toEqual([0, 1, 2, 3]);
      expect(fds!.trim().split(' ')).toHaveLength(5);
      expect(line).toBe(fs.readFileSync('/etc/hostname', 'utf8').trim());
    } finally {
      for (const fd of held) fs.closeSync(fd);
    }
  });

  it("'ignore' beyond 2 leaves that descriptor closed in the workload", async () => {
    const probe = (fd: number) => `(true >&${fd}) 2>/dev/null && echo ${fd} open || echo ${fd} closed`;
    const script = [3, 4, 5].map(probe).join('; ');
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'ignore'] });
    expect(child.stdio).toHaveLength(5);
    expect(child.stdio[4]).toBeNull();
    child.stdio[3]!.on('data', () => {}).on('error', () => {});
    const result = await outcome(child);
    expect(result.close).toEqual([0, null]);
    expect(result.stdout.toString()).toBe('3 open\n4 closed\n5 closed\n');
    // …and so does 'ignore' at 3 with nothing after it.
    const alone = await stdoutOf('/bin/sh', ['-c', probe(3)], { stdio: ['pipe', 'pipe', 'pipe', 'ignore'] });
    expect(alone).toBe('3 closed\n');
  });
});
