/**
 * The `seccomp` option on the real kernel. The workload is a small C probe
 * (crates/capspawn/tests/fixtures/seccomp-probe.c, built here with gcc) that tries one call per
 * argument and prints "<call> <return> <errno>": a workload whose own start-up needs no socket
 * and no denied call, so what it prints is the filter's doing alone. Each denial is also shown
 * not to happen without the option, so no test here passes by accident.
 */
import { execFileSync, spawnSync as nodeSpawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync as capExecFileSync, spawn, spawnSync, type SpawnOptions } from '../dist/index.js';
import { childPids, FIXTURES, outcome, requirePrivilege, runReport, tempDir } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const PODMAN_WITHOUT_SETPCAP = ['setpriv', '--bounding-set=-setpcap'];
const EACCES = 13;
const EPERM = 1;
const EXDEV = 18;
const ENOSYS = 38;
const EOPNOTSUPP = 95;
const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16 };

let dir: string;
let probe: string;
let answer: string;
beforeAll(() => {
  dir = tempDir('seccomp-layer');
  probe = path.join(dir, 'seccomp-probe');
  answer = path.join(dir, 'seccomp-answer');
  execFileSync('gcc', ['-O2', '-o', probe, path.join(ROOT, 'crates/capspawn/tests/fixtures/seccomp-probe.c')], { stdio: 'inherit' });
  execFileSync('gcc', ['-O2', '-o', answer, path.join(FIXTURES, 'seccomp-answer.c')], { stdio: 'inherit' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Seen {
  /** call -> [return, errno] */
  calls: Record<string, [number, number]>;
  /** Seccomp, Seccomp_filters, NoNewPrivs */
  status: Record<string, string>;
  status_: number | null;
  signal: string | null;
}

function parse(stdout: string, status: number | null, signal: string | null): Seen {
  const seen: Seen = { calls: {}, status: {}, status_: status, signal };
  for (const line of stdout.split('\n').filter(Boolean)) {
    const field = /^([A-Za-z_]+):\t(.*)$/.exec(line);
    if (field) {
      seen.status[field[1]!] = field[2]!.trim();
      continue;
    }
    const [call, ret, errno] = line.split(' ');
    seen.calls[call!] = [Number(ret), Number(errno)];
  }
  return seen;
}

/** Runs the probe with `calls` under `options`, synchronously. */
function run(calls: string[], options: SpawnOptions = {}): Seen {
  const result = spawnSync(probe, calls, { ...options, encoding: 'utf8' });
  if (result.error) throw result.error;
  return parse(result.stdout as string, result.status, result.signal);
}

/** The errno `call` failed with, or null when it succeeded. */
function failed(seen: Seen, call: string): number | null {
  const entry = seen.calls[call];
  if (entry === undefined) throw new Error(`${call} was not tried: ${JSON.stringify(seen)}`);
  return entry[0] === -1 ? entry[1] : null;
}

const SOCKETS = [`socket:${AF.INET}`, `socket:${AF.INET6}`, `socket:${AF.NETLINK}`, `socket:${AF.UNIX}`, `socketpair:${AF.UNIX}`, `socketpair:${AF.INET}`, 'status'];
const PROXY_ONLY = { denySocketFamilies: ['AF_INET', 'inet6', 'NETLINK'], errno: 'EACCES' };

function expectProxyOnly(seen: Seen): void {
  expect(seen.status_).toBe(0);
  for (const call of [`socket:${AF.INET}`, `socket:${AF.INET6}`, `socket:${AF.NETLINK}`, `socketpair:${AF.INET}`]) {
    expect(failed(seen, call), call).toBe(EACCES);
  }
  expect(failed(seen, `socket:${AF.UNIX}`)).toBe(null);
  expect(failed(seen, `socketpair:${AF.UNIX}`)).toBe(null);
  expect(seen.status).toEqual({ NoNewPrivs: '1', Seccomp: '2', Seccomp_filters: '1' });
}

describe('capspawn\'s own filter', () => {
  it('fails socket() and socketpair() of the denied families with the errno; AF_UNIX works', () => {
    // Without the option, the same probe gets every socket (and socketpair(AF_INET) is the
    // kernel's own EOPNOTSUPP): the denials below are the filter's.
    const free = run(SOCKETS);
    for (const family of Object.values(AF)) expect(failed(free, `socket:${family}`)).toBe(null);
    expect(failed(free, `socketpair:${AF.INET}`)).toBe(EOPNOTSUPP);
    expect(free.status.Seccomp).toBe('0');
    expectProxyOnly(run(SOCKETS, { seccomp: PROXY_ONLY }));
  });

  it('does the same through spawn() (the asynchronous path), with the default errno EPERM', async () => {
    const child = spawn(probe, [`socket:${AF.INET}`, `socket:${AF.UNIX}`], { seccomp: { denySocketFamilies: ['inet', 2, 'PF_INET'] } });
    const result = await outcome(child);
    expect(result.events).toEqual(['spawn', 'exit', 'close']);
    const seen = parse(result.stdout.toString(), 0, null);
    expect(failed(seen, `socket:${AF.INET}`)).toBe(EPERM);
    expect(failed(seen, `socket:${AF.UNIX}`)).toBe(null);
  });

  it('holds as nobody, as root without capabilities, with a kept capability and with the bounding set left raised', () => {
    for (const options of [{}, { user: 'nobody' }, { user: 'nobody', capabilities: ['NET_BIND_SERVICE'] }, { boundingSet: 'inherit' as const }]) {
      expectProxyOnly(run(SOCKETS, { ...options, seccomp: PROXY_ONLY }));
    }
  });

  it('fails a denied system call with the errno; a denied call or family takes io_uring too', () => {
    const calls = ['unshare', 'io_uring', 'getpid'];
    const free = run(calls);
    expect([failed(free, 'unshare'), failed(free, 'io_uring')]).toEqual([null, null]);
    // A ring runs operations the filter never sees (IORING_OP_CONNECT past a denied connect).
    const seen = run(calls, { seccomp: { denySyscalls: ['unshare'], errno: 'ENOSYS' } });
    expect([failed(seen, 'unshare'), failed(seen, 'io_uring'), failed(seen, 'getpid')]).toEqual([ENOSYS, ENOSYS, null]);
    const connect = run(calls, { seccomp: { denySyscalls: ['connect'], errno: 'EACCES' } });
    expect([failed(connect, 'io_uring'), failed(connect, 'unshare'), failed(connect, 'getpid')]).toEqual([EACCES, null, null]);
    // IORING_OP_SOCKET makes sockets without socket(2): no ring while a family is denied.
    const rings = run(calls, { seccomp: { denySocketFamilies: ['inet'] } });
    expect([failed(rings, 'unshare'), failed(rings, 'io_uring')]).toEqual([null, EPERM]);
  });

  it.runIf(process.arch === 'x64')('kills the workload at an x32 or an i386 system call (SIGSYS)', () => {
    // Without the option: x32 is ENOSYS on this kernel, i386's getpid (int 0x80) works.
    const free = run(['x32', 'i386']);
    expect([failed(free, 'x32'), failed(free, 'i386')]).toEqual([ENOSYS, null]);
    for (const call of ['x32', 'i386']) {
      const seen = run(['getpid', call], { seccomp: { denySocketFamilies: ['inet'] } });
      expect(failed(seen, 'getpid')).toBe(null);
      expect(seen.calls[call], call).toBeUndefined();
      expect(seen.signal, call).toBe('SIGSYS');
    }
  });

  it('leaves the supervisor alone: its threads still open AF_INET and AF_INET6 sockets', async () => {
    expect(failed(run([`socket:${AF.INET}`], { seccomp: PROXY_ONLY }), `socket:${AF.INET}`)).toBe(EACCES);
    expect(fs.readFileSync('/proc/thread-self/status', 'utf8')).toMatch(/^Seccomp:\t0$/m);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    server.close();
    const udp6 = dgram.createSocket('udp6');
    await new Promise<void>((resolve, reject) => udp6.once('error', reject).bind(0, '::1', resolve));
    udp6.close();
    // And a child_process child of this supervisor has no filter either.
    const other = nodeSpawnSync(probe, [`socket:${AF.INET}`, 'status'], { encoding: 'utf8' });
    expect(other.stdout).toMatch(/^socket:2 [0-9]+ 0$/m);
    expect(other.stdout).toMatch(/^Seccomp:\t0$/m);
  });
});

/** A program of the user's (struct sock_filter, little-endian): `nr` fails with `errno`,
 * everything else is allowed. */
function failing(nr: number, errno: number): Buffer {
  const ops: Array<[number, number, number, number]> = [
    [0x20, 0, 0, 4], // ld arch
    [0x15, 1, 0, 0xc000003e], // x86_64? on
    [0x06, 0, 0, 0x7fff0000], // allow
    [0x20, 0, 0, 0], // ld nr
    [0x15, 0, 1, nr],
    [0x06, 0, 0, 0x00050000 | errno],
    [0x06, 0, 0, 0x7fff0000],
  ];
  const program = Buffer.alloc(ops.length * 8);
  ops.forEach(([code, jt, jf, k], i) => {
    program.writeUInt16LE(code, i * 8);
    program.writeUInt8(jt, i * 8 + 2);
    program.writeUInt8(jf, i * 8 + 3);
    program.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return program;
}

const NR = { getpid: 39, pread64: 17, execve: 59 }; // x86_64

describe.runIf(process.arch === 'x64')('a program of the user\'s', () => {
  it('is loaded as given (getpid fails with EXDEV), and stacks with the deny list', () => {
    const free = run(['getpid']);
    expect(failed(free, 'getpid')).toBe(null);
    const seen = run(['getpid', `socket:${AF.INET}`, 'status'], { seccomp: { program: failing(NR.getpid, EXDEV) } });
    expect([failed(seen, 'getpid'), failed(seen, `socket:${AF.INET}`)]).toEqual([EXDEV, null]);
    expect(seen.status).toMatchObject({ Seccomp: '2', Seccomp_filters: '1' });
    const both = run(['getpid', `socket:${AF.INET}`, `socket:${AF.UNIX}`, 'status'], {
      seccomp: { ...PROXY_ONLY, program: new Uint8Array(failing(NR.getpid, EXDEV)) },
    });
    expect([failed(both, 'getpid'), failed(both, `socket:${AF.INET}`), failed(both, `socket:${AF.UNIX}`)]).toEqual([EXDEV, EACCES, null]);
    expect(both.status).toMatchObject({ Seccomp: '2', Seccomp_filters: '2' });
  });

  it('is copied once checked: user code that runs later (an element getter of another field) cannot change it', async () => {
    const program = failing(NR.getpid, EXDEV);
    const families: string[] = [];
    Object.defineProperty(families, 0, {
      enumerable: true,
      get() {
        program.fill(0); // an invalid program (no return), were it loaded now
        return 'inet';
      },
    });
    const child = spawn(probe, ['getpid'], { seccomp: { program, denySocketFamilies: families } });
    const result = await outcome(child);
    expect(result.events).toEqual(['spawn', 'exit', 'close']);
    expect(program.every((byte) => byte === 0)).toBe(true);
    expect(failed(parse(result.stdout.toString(), 0, null), 'getpid')).toBe(EXDEV);
  });

  it('that denies what capspawn calls after loading it refuses the spawn with a coded error, and nothing runs', async () => {
    const marker = path.join(dir, 'ran-after');
    // The read-back of the filter: ERR_CAPSPAWN_SECCOMP, emitted.
    const readBack = await outcome(spawn('/bin/touch', [marker], { seccomp: { program: failing(NR.pread64, EPERM) } }));
    expect(readBack.events).toEqual(['error', 'close']);
    expect(readBack.error).toMatchObject({ code: 'ERR_CAPSPAWN_SECCOMP', stage: 'seccomp', errno: -EPERM });
    expect(readBack.error!.message).toMatch(/^spawn \/bin\/touch: make seccomp\.program allow seccomp, pread64 and gettid/);
    // execve: EPERM at exec, thrown as child_process throws it, with the fix first.
    let thrown: (Error & { code?: string; stage?: string }) | undefined;
    try {
      spawn('/bin/touch', [marker], { seccomp: { program: failing(NR.execve, EPERM) } });
    } catch (error) {
      thrown = error as Error & { code?: string; stage?: string };
    }
    expect(thrown).toMatchObject({ code: 'EPERM', stage: 'exec' });
    expect(thrown!.message).toMatch(/^spawn EPERM: make seccomp\.program allow execve and rt_sigprocmask/);
    // A program the kernel will not load (a jump past its end): EINVAL, ERR_CAPSPAWN_SECCOMP.
    const bad = failing(NR.getpid, EXDEV);
    bad.writeUInt8(200, 4 * 8 + 3);
    const invalid = await outcome(spawn('/bin/touch', [marker], { seccomp: { program: bad } }));
    expect(invalid.error).toMatchObject({ code: 'ERR_CAPSPAWN_SECCOMP', stage: 'seccomp', errno: -22 });
    expect(invalid.error!.message).toMatch(/^spawn \/bin\/touch: pass a valid classic BPF seccomp program as seccomp\.program/);
    // One that kills at every call: the child dies at its first call after loading it.
    const kill = Buffer.alloc(8);
    kill.writeUInt16LE(0x06, 0);
    kill.writeUInt32LE(0x80000000, 4);
    const killed = await outcome(spawn('/bin/touch', [marker], { seccomp: { program: kill } }));
    expect(killed.error).toMatchObject({ code: 'ERR_CAPSPAWN_CHILD_DIED', stage: 'died' });
    expect(fs.existsSync(marker)).toBe(false);
    expect(childPids()).toEqual([]);
  });
});

describe('bad input throws before anything is cloned', () => {
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 'inet', 'ERR_INVALID_ARG_TYPE'],
    ['null', null, 'ERR_INVALID_ARG_TYPE'],
    ['an unknown key (a typo)', { denySocketFamily: ['inet'] }, 'ERR_INVALID_ARG_VALUE'],
    ['families not an array', { denySocketFamilies: 'inet' }, 'ERR_INVALID_ARG_TYPE'],
    ['an unknown family', { denySocketFamilies: ['inet4'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a family number out of range', { denySocketFamilies: [65536] }, 'ERR_OUT_OF_RANGE'],
    ['an unknown system call', { denySyscalls: ['mkdri'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a system call the child needs after the filter', { denySyscalls: ['execve'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a system call that is not a string', { denySyscalls: [59] }, 'ERR_INVALID_ARG_TYPE'],
    ['an unknown errno', { denySyscalls: ['unshare'], errno: 'EWHAT' }, 'ERR_INVALID_ARG_VALUE'],
    ['an errno that is not a string', { denySyscalls: ['unshare'], errno: 1 }, 'ERR_INVALID_ARG_TYPE'],
    ['a program that is not a Buffer', { program: [6, 0, 0, 0, 0, 0, 0xff, 0x7f] }, 'ERR_INVALID_ARG_TYPE'],
    ['a program given as a string', { program: 'ret allow' }, 'ERR_INVALID_ARG_TYPE'],
    ['an empty program', { program: Buffer.alloc(0) }, 'ERR_INVALID_ARG_VALUE'],
    ['a program not a multiple of 8 bytes', { program: Buffer.alloc(12) }, 'ERR_INVALID_ARG_VALUE'],
    ['a program over 4096 instructions', { program: Buffer.alloc(8 * 4097) }, 'ERR_INVALID_ARG_VALUE'],
  ];
  it.each(cases)('%s', (_, seccomp, code) => {
    const marker = path.join(dir, 'ran-bad');
    for (const call of [
      () => spawn('/bin/touch', [marker], { seccomp } as SpawnOptions),
      () => spawnSync('/bin/touch', [marker], { seccomp } as SpawnOptions),
      () => capExecFileSync('/bin/touch', [marker], { seccomp } as SpawnOptions),
    ]) {
      expect(call).toThrow(expect.objectContaining({ code }));
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(childPids()).toEqual([]);
  });

  it('noNewPrivs: false with seccomp is ERR_INCOMPATIBLE_OPTION_PAIR, in Node\'s words', () => {
    const marker = path.join(dir, 'ran-nnp');
    expect(() => spawn('/bin/touch', [marker], { noNewPrivs: false, seccomp: PROXY_ONLY })).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INCOMPATIBLE_OPTION_PAIR',
        message: 'Option "seccomp" cannot be used in combination with option "noNewPrivs: false"',
      }),
    );
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a polluted Object.prototype adds no rule', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.denySocketFamilies = ['unix'];
    proto.program = failing(NR.getpid, EXDEV);
    try {
      const seen = run([`socket:${AF.UNIX}`, 'getpid', 'status'], { seccomp: { denySyscalls: ['unshare'] } });
      expect([failed(seen, `socket:${AF.UNIX}`), failed(seen, 'getpid')]).toEqual([null, null]);
      expect(seen.status.Seccomp_filters).toBe('1');
    } finally {
      delete proto.denySocketFamilies;
      delete proto.program;
    }
  });
});

describe('deployments', () => {
  const touch = (marker: string, options: Record<string, unknown>) => ({ command: '/bin/touch', args: [marker], options });

  it('the Podman case (no CAP_SETPCAP) is still refused at the bounding set, and nothing runs', () => {
    for (const extra of [{}, { user: 'nobody' }]) {
      const marker = path.join(dir, 'ran-podman');
      const report = runReport(PODMAN_WITHOUT_SETPCAP, touch(marker, { ...extra, seccomp: PROXY_ONLY }));
      expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_BOUNDING_SET', stage: 'bounding-set' } });
      expect(fs.existsSync(marker)).toBe(false);
      expect(report.children).toEqual([]);
    }
  });

  it('works for a rootless supervisor (unshare -U -r) and an ordinary user (no_new_privs is all it needs)', () => {
    const calls = [`socket:${AF.INET}`, `socket:${AF.UNIX}`, 'status'];
    for (const [wrapper, extra] of [
      [['unshare', '-U', '-r'], {}],
      [['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'], { boundingSet: 'inherit' }],
    ] as const) {
      const report = runReport([...wrapper], { command: probe, args: calls, options: { ...extra, seccomp: PROXY_ONLY } });
      expect(report.result, JSON.stringify(report.result)).toMatchObject({ ok: true, exitCode: 0 });
      const seen = parse((report.result as { stdout: string }).stdout, 0, null);
      expect([failed(seen, `socket:${AF.INET}`), failed(seen, `socket:${AF.UNIX}`)]).toEqual([EACCES, null]);
      expect(seen.status).toEqual({ NoNewPrivs: '1', Seccomp: '2', Seccomp_filters: '1' });
    }
  });

  it('a supervisor filter that fakes seccomp() is caught by the read-back: ERR_CAPSPAWN_SECCOMP, fix first, nothing runs', () => {
    const marker = path.join(dir, 'ran-fake');
    const report = runReport([answer, 'seccomp', 'fake', '--'], touch(marker, { seccomp: PROXY_ONLY }));
    expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_SECCOMP', stage: 'seccomp', errno: -1 } });
    const { message } = (report.result as { error: { message: string } }).error;
    expect(message).toMatch(/^spawn \/bin\/touch: fix the supervisor's seccomp or LSM profile, which fakes seccomp\(\)'s success/);
    expect(report.events).toEqual(['error', 'close']);
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
    // Without the option the same supervisor runs workloads.
    const plain = runReport([answer, 'seccomp', 'fake', '--'], touch(marker, {}));
    expect(plain.result).toMatchObject({ ok: true, exitCode: 0 });
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('a supervisor filter that refuses seccomp() refuses the spawn with its errno', () => {
    const marker = path.join(dir, 'ran-eperm');
    const report = runReport([answer, 'seccomp', 'eperm', '--'], touch(marker, { seccomp: PROXY_ONLY }));
    expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_SECCOMP', stage: 'seccomp', errno: -EPERM } });
    expect((report.result as { error: { message: string } }).error.message).toMatch(
      /^spawn \/bin\/touch: allow seccomp\(\) in the supervisor's own seccomp or LSM profile, which refuses it \(EPERM\)/,
    );
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('the command line and doctor', () => {
  it('capspawn exec --deny-socket inet,inet6 --seccomp-errno EACCES', () => {
    const out = execFileSync(process.execPath, [CLI, 'exec', '--deny-socket', 'inet,inet6', '--seccomp-errno', 'EACCES', '--', probe, `socket:${AF.INET}`, `socket:${AF.INET6}`, `socket:${AF.UNIX}`], {
      encoding: 'utf8',
    });
    const seen = parse(out, 0, null);
    expect([failed(seen, `socket:${AF.INET}`), failed(seen, `socket:${AF.INET6}`), failed(seen, `socket:${AF.UNIX}`)]).toEqual([EACCES, EACCES, null]);
  });

  it('capspawn exec --deny-syscall and --seccomp-program', () => {
    const file = path.join(dir, 'getpid.bpf');
    fs.writeFileSync(file, failing(NR.getpid, EXDEV));
    const out = execFileSync(process.execPath, [CLI, 'exec', '--deny-syscall', 'unshare', '--seccomp-program', file, '--', probe, 'unshare', 'getpid', 'status'], {
      encoding: 'utf8',
    });
    const seen = parse(out, 0, null);
    expect([failed(seen, 'unshare'), failed(seen, 'getpid')]).toEqual([EPERM, EXDEV]);
    expect(seen.status.Seccomp_filters).toBe('2');
  });

  it('bad names exit 125 and name the flag', () => {
    const marker = path.join(dir, 'ran-cli');
    const result = nodeSpawnSync(process.execPath, [CLI, 'exec', '--deny-syscall', 'mkdri', '--', '/bin/touch', marker], { encoding: 'utf8' });
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('ERR_INVALID_ARG_VALUE: invalid --deny-syscall: unknown system call "mkdri"');
    const nnp = nodeSpawnSync(process.execPath, [CLI, 'exec', '--keep-new-privs', '--deny-socket', 'inet', '--', '/bin/touch', marker], { encoding: 'utf8' });
    expect(nnp.status).toBe(125);
    expect(nnp.stderr).toContain('ERR_INCOMPATIBLE_OPTION_PAIR');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('doctor reports whether the layer works here, and sees a profile that refuses or fakes seccomp()', () => {
    const json = (wrapper: string[]) =>
      JSON.parse(execFileSync(wrapper[0] ?? process.execPath, [...wrapper.slice(1), ...(wrapper.length > 0 ? [process.execPath] : []), CLI, 'doctor', '--json'], { encoding: 'utf8' })) as {
        seccomp: Record<string, unknown>;
      };
    expect(json([]).seccomp).toEqual({ ok: true, mode: 0, filters: 0, missingActions: [], code: null, reason: null });
    expect(json([answer, 'seccomp', 'fake', '--']).seccomp).toMatchObject({ ok: false, mode: 2, filters: 1, code: null });
    expect(json([answer, 'seccomp', 'eperm', '--']).seccomp).toMatchObject({ ok: false, code: 'EPERM' });
  });
});
