/**
 * The `capspawn` command (dist/cli.js), run as a real process, under the same setpriv wrappers
 * as the deployment tests: doctor's verdict must agree with whether `exec` actually runs a
 * workload; exec passes exit statuses and signals through and applies its flags (as the
 * workload's `setpriv --dump` and /proc/self/status show); inspect reads another process; bad
 * usage exits 2.
 */
import { execFileSync, spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { spawn } from '../dist/index.js';
import { capNames, parseStatus, readStatus, requirePrivilege, tempDir } from './helpers.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

const PODMAN_WITHOUT_SETPCAP = ['setpriv', '--bounding-set=-setpcap'];
const EMPTY_BOUNDING_SET = ['setpriv', '--bounding-set=-all'];
const UNPRIVILEGED = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

/** A fresh directory for this test's marker files, removed when it ends (tests run concurrently). */
function testDir(): string {
  const dir = tempDir('cli');
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js ARGS` (under `wrapper`, e.g. a setpriv command) to its end. */
async function cli(args: string[], wrapper: string[] = []): Promise<Run> {
  const argv = [...wrapper, process.execPath, CLI, ...args];
  const proc = nodeSpawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [status, signal] = (await once(proc, 'close')) as [number | null, NodeJS.Signals | null];
  return { status, signal, stdout, stderr };
}

const show = (run: Run) => `status ${run.status} signal ${run.signal}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;

/** doctor's / inspect's table as `{ row: value }`, continuation lines joined. */
function table(text: string): Record<string, string> {
  const rows: Record<string, string> = {};
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      last = undefined; // the table ends at the first blank line
      if (Object.keys(rows).length > 0) break;
      continue;
    }
    if (/^\s/.test(line) && last !== undefined) {
      rows[last] += ` ${line.trim()}`;
      continue;
    }
    const match = /^(\S+(?: \S+)*?)\s{2,}(.*)$/.exec(line);
    if (!match) throw new Error(`not a table row: ${JSON.stringify(line)}`);
    last = match[1]!;
    rows[last] = match[2]!.trim();
  }
  return rows;
}

/** A capability mask as doctor/inspect list it: `chown dac_override …`, or `(none)`. */
const listed = (mask: bigint) => {
  const names = capNames(mask).map((c) => c.replace(/^CAP_/, '').toLowerCase());
  return names.length === 0 ? '(none)' : names.join(' ');
};

/** `setpriv --dump` output as `{ field: value }`. */
function dumpFields(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  );
}

/** The pid of a running child of `parent` whose command is `comm` (after its exec), or undefined. */
function childNamed(parent: number, comm: string): number | undefined {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${parent}/task`);
  } catch {
    return undefined;
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of text.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return pid;
      } catch {
        // gone meanwhile
      }
    }
  }
  return undefined;
}

/** epoll_wait, epoll_pwait, epoll_pwait2 by architecture, for when /proc/<pid>/wchan is hidden. */
const EPOLL_SYSCALLS: Record<string, number[]> = { x64: [232, 281, 441], arm64: [22, 441] };

/** Whether the main thread of Node process `pid` is blocked in epoll_wait: idle in its event
 * loop, every synchronous step and process.nextTick callback done. */
function inEventLoop(pid: number): boolean {
  try {
    if (fs.readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('epoll')) return true;
    const syscall = Number(fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]);
    return (EPOLL_SYSCALLS[process.arch] ?? []).includes(syscall);
  } catch {
    return false;
  }
}

async function waitFor<T>(probe: () => T | undefined, ms = 5000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const value = probe();
  if (value === undefined) throw new Error(`gave up after ${ms} ms`);
  return value;
}

const ROWS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient', 'no_new_privs', 'securebits'];

// Each cli run is a Node process start (~150 ms): the tests run concurrently, and so do the runs
// within a test where they are independent.
describe.concurrent('capspawn doctor', () => {
  it('as root: the table of this process’s sets, the probe, an OK verdict, exit 0', async (ctx) => {
    requirePrivilege(ctx);
    const run = await cli(['doctor']);
    expect(run.status, show(run)).toBe(0);
    const rows = table(run.stdout);
    for (const row of ROWS) expect(Object.keys(rows)).toContain(row);
    const self = readStatus(); // the same credentials as the cli process
    expect(rows.bounding).toBe(listed(self.capBnd));
    expect(rows.effective).toBe(listed(self.capEff));
    expect(rows.ambient).toBe('(none)');
    expect(rows.no_new_privs).toBe('false');
    expect(rows['bounding-set clear']).toMatch(/^succeeds/);
    expect(run.stdout).toMatch(/^OK: /m);
    expect(run.stdout).not.toContain('REFUSED');
  });

  it('--json: ok true, probe.ok true, the sets as names', async (ctx) => {
    requirePrivilege(ctx);
    const run = await cli(['doctor', '--json']);
    expect(run.status, show(run)).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ ok: true, probe: { ok: true }, fix: null, noNewPrivs: false });
    expect(report.bounding).toEqual(capNames(readStatus().capBnd));
    expect(report.effective).toContain('CAP_SETPCAP');
  });

  describe('agrees with whether exec runs a workload', () => {
    beforeEach((ctx) => requirePrivilege(ctx));

    it.each([
      ['a Podman supervisor without CAP_SETPCAP', PODMAN_WITHOUT_SETPCAP, false],
      ['an unprivileged supervisor with the set raised', UNPRIVILEGED, false],
      ['a supervisor whose bounding set is already empty', EMPTY_BOUNDING_SET, true],
    ])('%s (%j)', async (_name, wrapper, works) => {
      const marker = path.join(testDir(), 'ran');
      // A real spawn under the same wrapper: `exec -- true`, leaving a marker when it runs.
      const [doctor, json, exec] = await Promise.all([
        cli(['doctor'], wrapper),
        cli(['doctor', '--json'], wrapper),
        cli(['exec', '--', '/bin/sh', '-c', `touch '${marker}'; exec true`], wrapper),
      ]);
      const report = JSON.parse(json.stdout);

      if (works) {
        expect(doctor.status, show(doctor)).toBe(0);
        expect(doctor.stdout).toMatch(/^OK: /m);
        expect(json.status).toBe(0);
        expect(report).toMatchObject({ ok: true, probe: { ok: true }, bounding: [] });
        expect(exec.status, show(exec)).toBe(0);
        expect(exec.stderr).toBe('');
        expect(fs.existsSync(marker)).toBe(true);
      } else {
        expect(doctor.status, show(doctor)).toBe(1);
        expect(doctor.stdout).toMatch(/^REFUSED: /m);
        expect(doctor.stdout).not.toMatch(/^OK: /m);
        expect(doctor.stdout).toContain('ERR_CAPSPAWN_BOUNDING_SET');
        // The advice for each deployment is checked in doctor.test.ts; every refusal has some.
        expect(report.advice.length).toBeGreaterThan(0);
        expect(table(doctor.stdout)['bounding-set clear']).toBe('refused: EPERM');
        expect(json.status).toBe(1);
        expect(report).toMatchObject({ ok: false, probe: { ok: false, code: 'EPERM', errno: -1 } });
        expect(report.probe.remaining).toEqual(report.bounding);
        expect(report.probe.remaining).toContain('CAP_SYS_ADMIN');
        expect(report.fix).toBe(report.advice[0]);
        expect(exec.status, show(exec)).toBe(125);
        expect(exec.stderr).toMatch(/^capspawn: ERR_CAPSPAWN_BOUNDING_SET: /);
        expect(fs.existsSync(marker)).toBe(false);
      }
      // The verdict and the outcome agree.
      expect(exec.status === 0).toBe(doctor.status === 0);
      expect(report.ok).toBe(doctor.status === 0);
    });
  });
});

describe.concurrent('capspawn exec', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  it('passes the exit status through, and a signal as 128+n (an unnamed one too)', async () => {
    const [seven, term, kill, realtime] = await Promise.all([
      cli(['exec', '--', 'sh', '-c', 'exit 7']),
      cli(['exec', '--', 'sh', '-c', 'kill -TERM $$']),
      cli(['exec', '--', 'sh', '-c', 'kill -KILL $$']),
      cli(['exec', '--', 'sh', '-c', 'kill -34 $$']),
    ]);
    expect(seven.status, show(seven)).toBe(7);
    expect(term.status, show(term)).toBe(143);
    expect(term.signal).toBeNull();
    expect(kill.status, show(kill)).toBe(137);
    expect(realtime.status, show(realtime)).toBe(162);
  });

  it("its options end at COMMAND: a '--user 0' among the command's arguments changes nothing", async () => {
    const run = await cli(['exec', '--user', 'nobody', 'sh', '-c', 'id -u; echo "$@"', 'sh', '--user', '0']);
    expect(run).toMatchObject({ status: 0, stdout: '65534\n--user 0\n', stderr: '' });
  });

  it('Ctrl-C at a terminal reaches the command once (the terminal sends it to the command too), and exec waits for it', async () => {
    // A pty from script(1): exec runs in its foreground process group, and the workload with it.
    const counter = 'n=0; trap \'n=$((n+1))\' INT; echo ready; i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; echo "ints=$n"';
    const command = `exec ${process.execPath} ${CLI} exec -- sh -c '${counter.replace(/'/g, `'\\''`)}'`;
    const proc = nodeSpawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    try {
      await waitFor(() => (out.includes('ready') ? true : undefined));
      proc.stdin.write('\x03'); // Ctrl-C, through the pty's line discipline
      const [code] = (await once(proc, 'exit')) as [number | null];
      expect(out).toMatch(/ints=1\r?\n/);
      expect(code).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  it('inherits stdio: the workload writes straight to the caller’s stdout and stderr', async () => {
    const run = await cli(['exec', '--', 'sh', '-c', 'echo out; echo err >&2']);
    expect(run).toMatchObject({ status: 0, stdout: 'out\n', stderr: 'err\n' });
  });

  it('--user nobody runs as 65534 with no capability', async () => {
    const [id, cat] = await Promise.all([
      cli(['exec', '--user', 'nobody', '--', 'id', '-u']),
      cli(['exec', '--user', '65534', '--', 'cat', '/proc/self/status']),
    ]);
    expect(id.status, show(id)).toBe(0);
    expect(id.stdout).toBe('65534\n');
    const status = parseStatus(cat.stdout);
    expect(status.uid).toEqual([65534, 65534, 65534, 65534]);
    expect([status.capBnd, status.capEff, status.capPrm, status.capInh, status.capAmb]).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(status.noNewPrivs).toBe(1);
  });

  it('--cap net_bind_service keeps that one capability (setpriv --dump), and it binds port 81', async () => {
    const [run, status] = await Promise.all([
      cli(['exec', '--user', 'nobody', '--cap', 'net_bind_service', '--', 'setpriv', '--dump']),
      cli(['exec', '--user', 'nobody', '--cap', 'NET_BIND_SERVICE', '--', 'cat', '/proc/self/status']),
    ]);
    expect(run.status, show(run)).toBe(0);
    expect(dumpFields(run.stdout)).toMatchObject({
      uid: '65534',
      'Capability bounding set': 'net_bind_service',
      'Ambient capabilities': 'net_bind_service',
      'Inheritable capabilities': 'net_bind_service',
    });
    const s = parseStatus(status.stdout);
    expect([s.capBnd, s.capEff, s.capPrm, s.capInh, s.capAmb]).toEqual(Array(5).fill(1n << 10n));
    // A privileged port (81: hardening.test.ts, maybe running at the same time, binds 80).
    const bound = await cli(['exec', '--user', 'nobody', '--cap', 'NET_BIND_SERVICE', '--', '/usr/bin/python3', '-c',
      "import socket; s=socket.socket(); s.bind(('127.0.0.1',81)); print('bound')"]);
    expect(bound.stdout, show(bound)).toBe('bound\n');
  });

  it('--groups clear leaves no supplementary group; init (the default with --user) gives the user’s', async () => {
    const groups = async (args: string[], wrapper: string[] = []) => {
      const run = await cli(['exec', ...args, '--', 'cat', '/proc/self/status'], wrapper);
      expect(run.status, show(run)).toBe(0);
      return parseStatus(run.stdout).groups.sort((a, b) => a - b);
    };
    // A supervisor with supplementary groups of its own (setpriv --groups): --groups clear drops them.
    const withGroups = ['setpriv', '--groups', '100,4000002'];
    const results = await Promise.all([
      groups(['--user', 'nobody']),
      groups(['--user', 'nobody', '--groups', 'clear']),
      groups(['--user', 'nobody', '--groups', '100,4000001']),
      groups(['--groups', 'clear'], withGroups),
    ]);
    expect(results).toEqual([[65534], [], [100, 4000001], []]);
  });

  it('--securebits locked: root without capabilities, bits set and locked', async () => {
    const [run, cat] = await Promise.all([
      cli(['exec', '--securebits', 'locked', '--', 'setpriv', '--dump']),
      cli(['exec', '--securebits', 'locked', '--inherit-bounding-set', '--keep-new-privs', '--', 'cat', '/proc/self/status']),
    ]);
    expect(run.status, show(run)).toBe(0);
    const fields = dumpFields(run.stdout);
    expect(fields.uid).toBe('0');
    const bits = fields.Securebits!.split(',');
    for (const bit of ['noroot', 'noroot_locked', 'no_setuid_fixup', 'no_setuid_fixup_locked', 'keep_caps_locked']) {
      expect(bits).toContain(bit);
    }
    // Bounding set raised, no_new_privs off, uid 0: the exec still grants nothing.
    const status = parseStatus(cat.stdout);
    expect(status.uid).toEqual([0, 0, 0, 0]);
    expect(status.capBnd).toBe(readStatus().capBnd);
    expect([status.capEff, status.capPrm, status.noNewPrivs]).toEqual([0n, 0n, 0]);
  });

  it('refused drop (setpriv --bounding-set=-setpcap): exit 125, one line on stderr, the command never runs', async () => {
    const dir = testDir();
    const marker = path.join(dir, 'ran');
    const run = await cli(['exec', '--user', 'nobody', '--', '/bin/sh', '-c', `touch '${marker}'; echo ran`], PODMAN_WITHOUT_SETPCAP);
    expect(run.status, show(run)).toBe(125);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^capspawn: ERR_CAPSPAWN_BOUNDING_SET: spawn \/bin\/sh: /);
    // The fix comes first, in the CLI's own flags, not the library's option names.
    const first = lines[0]!.slice(0, lines[0]!.indexOf('. '));
    expect(first).toContain('CAP_SETPCAP');
    expect(first).toContain('--inherit-bounding-set');
    expect(lines[0]).not.toContain('boundingSet');
    expect(fs.existsSync(marker)).toBe(false);
    // The explicit opt-out runs it there.
    const inherit = await cli(['exec', '--inherit-bounding-set', '--', '/bin/sh', '-c', `touch '${marker}'`], PODMAN_WITHOUT_SETPCAP);
    expect(inherit.status, show(inherit)).toBe(0);
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('a missing command exits 127 with ENOENT; an unknown user exits 125 and runs nothing', async () => {
    const dir = testDir();
    const marker = path.join(dir, 'ran');
    const [missing, unknown] = await Promise.all([
      cli(['exec', '--', path.join(dir, 'missing')]),
      cli(['exec', '--user', 'no-such-user-capspawn', '--', '/bin/sh', '-c', `touch '${marker}'`]),
    ]);
    expect(missing.status, show(missing)).toBe(127);
    expect(missing.stderr).toMatch(/^capspawn: ENOENT: /);
    expect(unknown.status, show(unknown)).toBe(125);
    expect(unknown.stderr).toContain('ERR_CAPSPAWN_UNKNOWN_USER');
    expect(unknown.stderr).toContain('no-such-user-capspawn');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('without CAP_KILL over the workload (setpriv --bounding-set=-kill, --user nobody), a signal it cannot forward is reported, and it stays until the command ends', async () => {
    const argv = ['--bounding-set=-kill', process.execPath, CLI, 'exec', '--user', 'nobody', '--', 'sleep', '3'];
    const proc = nodeSpawn('setpriv', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const sleep = await waitFor(() => childNamed(proc.pid!, 'sleep'));
      await waitFor(() => (inEventLoop(proc.pid!) ? true : undefined));
      proc.kill('SIGTERM');
      const [code, signal] = await exited;
      // sleep ran to its end (exit 0) and the cli waited for it.
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stderr).toMatch(/^capspawn: EPERM: .*\n$/);
      expect(fs.existsSync(`/proc/${sleep}`)).toBe(false);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });

  it('forwards SIGTERM to the workload, and exits 143 once it is gone', async () => {
    const proc = nodeSpawn(process.execPath, [CLI, 'exec', '--', 'sleep', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let sleep: number | undefined;
    try {
      // Running: a child of the cli that has exec'd sleep. Then wait for the cli to be idle in
      // its event loop, so the signal is forwarded to a running workload (the forwarders are
      // installed before the spawn; SigCgt cannot tell, as Node catches SIGTERM from startup).
      sleep = await waitFor(() => childNamed(proc.pid!, 'sleep'));
      await waitFor(() => (inEventLoop(proc.pid!) ? true : undefined));
      expect(fs.readFileSync(`/proc/${sleep}/cmdline`, 'utf8')).toBe('sleep\x0030\x00');
      proc.kill('SIGTERM');
      const [code, signal] = await exited;
      expect({ code, signal, stderr }).toEqual({ code: 143, signal: null, stderr: '' });
      // The cli waited for (and reaped) its workload before it exited.
      expect(fs.existsSync(`/proc/${sleep}`)).toBe(false);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      if (sleep !== undefined && fs.existsSync(`/proc/${sleep}`)) {
        try {
          process.kill(sleep, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
});

describe.concurrent('capspawn exec: the usual flags', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  /** Runs `exec FLAGS -- sh -c SCRIPT`, expecting exit 0 and no stderr; its stdout. */
  async function shell(flags: string[], script: string, wrapper: string[] = []): Promise<string> {
    const run = await cli(['exec', ...flags, '--', 'sh', '-c', script], wrapper);
    expect(run.status, show(run)).toBe(0);
    expect(run.stderr).toBe('');
    return run.stdout;
  }

  it('short flags -u -g -G -c are --user --group --groups --cap', async () => {
    const script = 'id -u; id -g; id -G; grep ^CapEff /proc/self/status';
    const [short, long] = await Promise.all([
      shell(['-u', 'nobody', '-g', '100', '-G', '4000001', '-c', 'net_bind_service'], script),
      shell(['--user', 'nobody', '--group', '100', '--groups', '4000001', '--cap', 'net_bind_service'], script),
    ]);
    expect(short).toBe(long);
    expect(short.split('\n').slice(0, 3)).toEqual(['65534', '100', '100 4000001']);
    expect(capNames(BigInt(`0x${short.split('\n')[3]!.split(/\s+/)[1]}`))).toEqual(['CAP_NET_BIND_SERVICE']);
  });

  it("setpriv's spellings: --reuid --regid --init-groups --clear-groups, and the -all that capspawn does anyway", async () => {
    const [setpriv, ours, init] = await Promise.all([
      shell(['--reuid=65534', '--regid=100', '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs'], 'id -u; id -g; id -G; grep -E "^(CapBnd|CapInh|CapAmb|NoNewPrivs)" /proc/self/status'),
      shell(['--user', '65534', '--group', '100', '--groups', 'clear'], 'id -u; id -g; id -G; grep -E "^(CapBnd|CapInh|CapAmb|NoNewPrivs)" /proc/self/status'),
      shell(['--reuid', 'nobody', '--init-groups'], 'id -G'),
    ]);
    expect(setpriv).toBe(ours);
    expect(setpriv).toMatch(/^65534\n100\n100\nCapInh:\s+0+\nCapBnd:\s+0+\nCapAmb:\s+0+\nNoNewPrivs:\s+1\n$/);
    expect(init).toBe('65534\n');
  });

  it.each([
    [['--inh-caps=+net_raw'], '--cap'],
    [['--bounding-set=-net_raw'], '--cap'],
    [['--user', 'nobody', '--reuid', 'nobody'], 'cannot be combined'],
    [['--keep-new-privs', '--no-new-privs'], 'cannot be combined'],
    [['--cwd', '/', '--chdir', '/'], 'cannot be combined'],
    [['--umask', '8'], 'octal'],
    [['--umask', '01777'], 'octal'],
    [['--rlimit', 'nofile'], 'NAME=SOFT[:HARD]'],
    [['--rlimit', 'nofile=many'], "'many'"],
    [['--rlimit', 'nofile=300:200'], 'above the hard one'],
    [['--env', 'NOVALUE'], 'NAME=VALUE'],
    [['--env', '=value'], 'NAME=VALUE'],
  ])('refuses %j with exit 2 and runs nothing', async (flags, message) => {
    const marker = path.join(testDir(), 'ran');
    const run = await cli(['exec', ...flags, '--', '/bin/sh', '-c', `touch '${marker}'`]);
    expect(run.status, show(run)).toBe(2);
    expect(run.stderr).toMatch(/^capspawn: exec: /);
    expect(run.stderr).toContain(message);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("a value the library refuses is reported with the CLI's flag, not the library's option name", async () => {
    const run = await cli(['exec', '-G', '4294967296', '--', 'true']);
    expect(run.status, show(run)).toBe(125);
    expect(run.stderr).toMatch(/^capspawn: ERR_OUT_OF_RANGE: The value of "--groups" is out of range/);
    expect(run.stderr).not.toContain('options.');
  });

  it('--cwd / -C / --chdir set the working directory', async () => {
    const dir = testDir();
    const runs = await Promise.all([shell(['--cwd', dir], 'pwd'), shell(['-C', dir], 'pwd'), shell([`--chdir=${dir}`], 'pwd')]);
    expect(runs).toEqual([`${dir}\n`, `${dir}\n`, `${dir}\n`]);
    const missing = await cli(['exec', '--cwd', path.join(dir, 'none'), '--', 'true']);
    expect(missing.status, show(missing)).toBe(125);
    expect(missing.stderr).toMatch(/^capspawn: ENOENT: .*chdir/);
  });

  it('--umask sets the mask in octal, and a created file gets it', async () => {
    const dir = testDir();
    const out = await shell(['--umask', '027'], `umask; touch '${dir}/f'`);
    expect(out).toBe('0027\n');
    expect(fs.statSync(path.join(dir, 'f')).mode & 0o777).toBe(0o640);
    expect(await shell(['--umask', '0'], 'umask')).toBe('0000\n');
  });

  it('--rlimit NAME=SOFT[:HARD], repeatable; SOFT alone sets both; unlimited', async () => {
    const [out, both, unlimited] = await Promise.all([
      shell(['--rlimit', 'nofile=100:200', '--rlimit', 'core=0'], 'ulimit -Sn; ulimit -Hn; ulimit -c'),
      shell(['--rlimit', 'nofile=150'], 'ulimit -Sn; ulimit -Hn'),
      shell(['--rlimit', 'core=unlimited'], 'ulimit -Sc; ulimit -Hc'),
    ]);
    expect(out).toBe('100\n200\n0\n');
    expect(both).toBe('150\n150\n');
    expect(unlimited).toBe('unlimited\nunlimited\n');
    const unknown = await cli(['exec', '--rlimit', 'bogus=1', '--', 'true']);
    expect(unknown.status, show(unknown)).toBe(125);
    expect(unknown.stderr).toContain('bogus');
  });

  it('--env adds to the inherited environment; --clear-env (-i) starts from an empty one', async () => {
    const [added, cleared, ignore] = await Promise.all([
      shell(['--env', 'CAPSPAWN_A=1', '-e', 'CAPSPAWN_B=x=y'], 'echo "$CAPSPAWN_A $CAPSPAWN_B $HOME"'),
      cli(['exec', '--clear-env', '-e', 'ONLY=1', '--', '/usr/bin/env']),
      cli(['exec', '--ignore-environment', '--', '/usr/bin/env']),
    ]);
    expect(added).toBe(`1 x=y ${process.env.HOME}\n`);
    expect(cleared).toMatchObject({ status: 0, stdout: 'ONLY=1\n', stderr: '' });
    expect(ignore).toMatchObject({ status: 0, stdout: '', stderr: '' });
    // A bare name with no PATH is searched in /bin and /usr/bin, as execvp does.
    expect(await cli(['exec', '-i', '--', 'env'])).toMatchObject({ status: 0, stdout: '' });
  });

  it('--pdeathsig sets the parent-death signal (setpriv --dump shows it)', async () => {
    const [named, short] = await Promise.all([shell(['--pdeathsig', 'SIGKILL'], 'exec setpriv --dump'), shell(['--pdeathsig', 'term'], 'exec setpriv --dump')]);
    expect(dumpFields(named)['Parent death signal']).toBe('KILL');
    expect(dumpFields(short)['Parent death signal']).toBe('TERM');
  });

  it('a program with file capabilities: exit 125 with the flag that runs it; with --cap it runs', async () => {
    const dir = testDir();
    const file = path.join(dir, 'needs-net-raw');
    fs.copyFileSync('/bin/true', file);
    execFileSync('setcap', ['cap_net_raw=ep', file]);
    const [refused, runs] = await Promise.all([
      cli(['exec', '--user', 'nobody', '--', file]),
      cli(['exec', '--user', 'nobody', '--cap', 'net_raw', '--', file]),
    ]);
    expect(refused.status, show(refused)).toBe(125);
    // An exec EPERM is thrown, as child_process throws it: `spawn EPERM`, then the fix.
    expect(refused.stderr).toMatch(/^capspawn: EPERM: spawn EPERM: pass --cap net_raw to run /);
    expect(refused.stderr).toContain('cap_net_raw=ep');
    expect(refused.stderr).not.toContain('capabilities:');
    expect(runs).toMatchObject({ status: 0, stderr: '' });
    // With capabilities already kept, the advice keeps them too.
    const more = await cli(['exec', '--cap', 'net_bind_service', '--', file]);
    expect(more.stderr).toContain('pass --cap net_bind_service,net_raw to run');
  });
});

describe.concurrent('capspawn inspect', () => {
  it('prints a capspawn workload’s sets; --json has them as names', async (ctx) => {
    requirePrivilege(ctx);
    const child = spawn('sleep', ['30'], { user: 'nobody', capabilities: ['NET_BIND_SERVICE'], stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const [run, json] = await Promise.all([cli(['inspect', String(child.pid)]), cli(['inspect', String(child.pid), '--json'])]);
      expect(run.status, show(run)).toBe(0);
      // It names the process first: pid, uid, command line.
      const [first, ...rest] = run.stdout.split('\n');
      expect(first).toBe(`process ${child.pid}, uid 65534: sleep 30`);
      const rows = table(rest.join('\n'));
      for (const row of ROWS) expect(Object.keys(rows)).toContain(row);
      expect(rows).toMatchObject({
        bounding: 'net_bind_service',
        effective: 'net_bind_service',
        permitted: 'net_bind_service',
        inheritable: 'net_bind_service',
        ambient: 'net_bind_service',
        no_new_privs: 'true',
        securebits: 'unknown',
      });
      expect(json.status, show(json)).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({
        pid: child.pid,
        command: 'sleep 30',
        uid: 65534,
        uids: [65534, 65534, 65534, 65534],
        bounding: ['CAP_NET_BIND_SERVICE'],
        effective: ['CAP_NET_BIND_SERVICE'],
        permitted: ['CAP_NET_BIND_SERVICE'],
        inheritable: ['CAP_NET_BIND_SERVICE'],
        ambient: ['CAP_NET_BIND_SERVICE'],
        noNewPrivs: true,
        securebits: null,
      });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('of a plain child_process child: the sets /proc shows for it', async () => {
    const sleep = nodeSpawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await once(sleep, 'spawn');
      const status = parseStatus(fs.readFileSync(`/proc/${sleep.pid}/status`, 'utf8'));
      const [json, text] = await Promise.all([cli(['inspect', '--json', String(sleep.pid)]), cli(['inspect', String(sleep.pid)])]);
      expect(json.status, show(json)).toBe(0);
      const state = JSON.parse(json.stdout);
      expect(Array.isArray(state.bounding)).toBe(true);
      expect(state).toMatchObject({
        bounding: capNames(status.capBnd),
        effective: capNames(status.capEff),
        permitted: capNames(status.capPrm),
        noNewPrivs: false,
      });
      expect(table(text.stdout.slice(text.stdout.indexOf('\n') + 1)).bounding).toBe(listed(status.capBnd));
      expect(text.stdout.split('\n')[0]).toBe(`process ${sleep.pid}, uid ${status.uid[1]}: sleep 30`);
      expect(state).toMatchObject({ pid: sleep.pid, command: 'sleep 30', uid: status.uid[1] });
    } finally {
      sleep.kill('SIGKILL');
    }
  });

  it.each([['abc'], ['0'], ['12abc'], [''], ['99999999999999999999']])(
    'rejects PID %j: exit 2, a message naming PID',
    async (pid) => {
      const run = await cli(['inspect', pid]);
      expect(run.status, show(run)).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('PID');
    },
  );

  it('rejects no PID and two PIDs with exit 2', async () => {
    for (const run of await Promise.all([cli(['inspect']), cli(['inspect', '1', '2'])])) {
      expect(run.status, show(run)).toBe(2);
      expect(run.stderr).toContain('PID');
    }
  });

  it('fails with ESRCH (exit 1) for a PID no process has', async () => {
    const pidMax = fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim(); // pids are < pid_max
    const run = await cli(['inspect', pidMax]);
    expect(run.status, show(run)).toBe(1);
    expect(run.stderr).toContain('ESRCH');
    expect(run.stderr).toContain(pidMax);
  });
});

describe.concurrent('usage', () => {
  it('an unknown command exits 2 and names it', async () => {
    const run = await cli(['bogus']);
    expect(run.status, show(run)).toBe(2);
    expect(run.stderr).toContain("unknown command 'bogus'");
    expect(run.stderr).toContain('--help');
  });

  it.each([
    [['doctor', '--bogus']],
    [['inspect', '--bogus', '1']],
    [['exec', '--bogus', '--']],
  ])('an unknown flag exits 2, names it, and runs nothing: %j', async (args) => {
    const marker = path.join(testDir(), 'ran');
    const command = args[0] === 'exec' ? ['/bin/sh', '-c', `touch '${marker}'`] : [];
    const run = await cli([...args, ...command]);
    expect(run.status, show(run)).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("'--bogus'");
    expect(fs.existsSync(marker)).toBe(false);
  });

  it.each([
    [['exec']],
    [['exec', '--groups', 'some']],
    [['exec', '--securebits', 'on', '--', 'true']],
    [['exec', '--cap', 'net bind', '--', 'true']],
  ])('bad exec usage exits 2: %j', async (args) => {
    const run = await cli(args);
    expect(run.status, show(run)).toBe(2);
    expect(run.stderr).toMatch(/^capspawn: exec: /);
  });

  it.each([['doctor'], ['inspect'], ['exec']])('%s --help exits 0 and prints its Usage', async (command) => {
    const run = await cli([command, '--help']);
    expect(run.status, show(run)).toBe(0);
    expect(run.stdout.startsWith(`Usage: capspawn ${command}`)).toBe(true);
    expect(run.stderr).toBe('');
  });

  it('--version and -V print the version of package.json, exit 0', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(path.dirname(CLI), '..', 'package.json'), 'utf8'));
    for (const run of await Promise.all([cli(['--version']), cli(['-V'])])) {
      expect(run).toMatchObject({ status: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it.each([['doctor'], ['inspect'], ['exec']])('%s -h is %s --help', async (command) => {
    const [short, long] = await Promise.all([cli([command, '-h']), cli([command, '--help'])]);
    expect(short).toEqual(long);
    expect(short.status).toBe(0);
  });

  it('--help and no command print the main Usage, exit 0', async () => {
    for (const run of await Promise.all([cli(['--help']), cli([])])) {
      expect(run.status, show(run)).toBe(0);
      expect(run.stdout).toMatch(/^Usage: capspawn <command>/);
      for (const command of ['doctor', 'inspect', 'exec']) expect(run.stdout).toContain(command);
    }
  });
});
