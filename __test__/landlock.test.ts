/**
 * The `filesystem` option (Landlock) against this machine's kernel: what a workload can read,
 * write and execute under the rules, as `nobody` and as root without capabilities, in its own
 * children too; a supervisor whose kernel "has no Landlock" (a seccomp filter answering ENOSYS)
 * refuses 'hard' and runs 'best-effort' with the report; bad input throws before anything runs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeLayers, spawn, spawnSync, type SpawnOptions } from '../dist/index.js';
import { childPids, FIXTURES, outcome, parseStatus, requirePrivilege, runReport, tempDir } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

let ro: string; // listed read-only
let rw: string; // listed read-write
let outside: string; // not listed
beforeEach(() => {
  [ro, rw, outside] = ['ll-ro', 'll-rw', 'll-out'].map(tempDir) as [string, string, string];
  for (const dir of [ro, outside]) {
    fs.writeFileSync(path.join(dir, 'file'), 'content\n', { mode: 0o666 });
    fs.copyFileSync('/usr/bin/true', path.join(dir, 'true'));
    fs.chmodSync(path.join(dir, 'true'), 0o755);
  }
  fs.copyFileSync('/usr/bin/true', path.join(rw, 'true'));
  fs.chmodSync(path.join(rw, 'true'), 0o755);
});
afterEach(() => {
  for (const dir of [ro, rw, outside]) fs.rmSync(dir, { recursive: true, force: true });
});

/** Each line is printed only if its access went the way the rules say; the denials must be
 * Landlock's EACCES ("Permission denied"), not a missing file. */
function script(): string {
  const denied = (what: string, command: string) => `if ${command} 2>err; then echo ${what}-allowed; elif grep -q 'Permission denied' err; then echo ${what}-denied; fi`;
  return [
    `cd ${rw}`,
    `cat ${ro}/file > got && echo read-ro`,
    denied('write-ro', `sh -c 'echo w > ${ro}/new'`),
    denied('read-outside', `cat ${outside}/file`),
    denied('write-outside', `sh -c 'echo w > ${outside}/new'`),
    denied('list-outside', `ls ${outside}`),
    `rm -f ${outside}/file 2>err; test -e ${outside}/file && echo remove-outside-denied`,
    `echo w > ${rw}/new && echo write-rw`,
    `mkdir ${rw}/sub && rmdir ${rw}/sub && echo mkdir-rw`,
    `${ro}/true && echo exec-ro`,
    `${rw}/true && echo exec-rw`,
    denied('exec-outside', `${outside}/true`),
    denied('grandchild-read-outside', `sh -c 'sh -c "cat ${outside}/file"'`),
    `sh -c 'sh -c "echo g > ${rw}/grandchild"' && echo grandchild-write-rw`,
  ].join('\n');
}

const EXPECTED = [
  'read-ro',
  'write-ro-denied',
  'read-outside-denied',
  'write-outside-denied',
  'list-outside-denied',
  'remove-outside-denied',
  'write-rw',
  'mkdir-rw',
  'exec-ro',
  'exec-rw',
  'exec-outside-denied',
  'grandchild-read-outside-denied',
  'grandchild-write-rw',
];

const rules = (extra: Partial<NonNullable<SpawnOptions['filesystem']>> = {}) => ({ readOnly: ['/usr', ro], readWrite: [rw], ...extra });

describe('a workload under filesystem rules', () => {
  for (const [who, identity] of [
    ['nobody', { user: 'nobody' }],
    ['root without capabilities', {}],
  ] as const) {
    it(`as ${who}: reads under readOnly, writes and creates only under readWrite, executes only listed files, and its children too`, async () => {
      const child = spawn('/bin/sh', ['-c', script()], { ...identity, filesystem: rules() });
      const result = await outcome(child);
      expect(result.error).toBeUndefined();
      expect(result.stdout.toString().trim().split('\n')).toEqual(EXPECTED);
      expect(result.exit).toEqual([0, null]);
      expect(child.landlock).toEqual({ abi: probeLayers().landlock.abi, enforced: true, unenforced: [] });
      // What was refused did not happen; what was allowed did.
      expect(fs.existsSync(path.join(ro, 'new'))).toBe(false);
      expect(fs.existsSync(path.join(outside, 'new'))).toBe(false);
      expect(fs.readFileSync(path.join(outside, 'file'), 'utf8')).toBe('content\n');
      expect(fs.readFileSync(path.join(rw, 'grandchild'), 'utf8')).toBe('g\n');
    });
  }

  it("the program itself must be listed: one outside the rules is refused with EACCES at exec, as child_process reports it", async () => {
    const result = await outcome(spawn(path.join(outside, 'true'), [], { filesystem: rules() }));
    expect(result.error).toMatchObject({ code: 'EACCES', stage: 'exec', syscall: `spawn ${path.join(outside, 'true')}` });
    expect(result.events).toEqual(['error', 'close']);
    const ran = await outcome(spawn(path.join(ro, 'true'), [], { filesystem: rules() }));
    expect(ran.exit).toEqual([0, null]);
  });

  it('a file can be a rule of its own (read and execute only it), and no rules at all leave nothing to execute', async () => {
    const result = await outcome(
      spawn('/bin/sh', ['-c', `cat ${outside}/file; cat /etc/passwd 2>&1 | head -c0; ${outside}/true && echo ran; ls ${outside} 2>&1`], {
        filesystem: { readOnly: ['/usr', path.join(outside, 'file'), path.join(outside, 'true')] },
      }),
    );
    expect(result.stdout.toString()).toBe(`content\nran\nls: cannot open directory '${outside}': Permission denied\n`);
    const none = await outcome(spawn('/usr/bin/true', [], { filesystem: {} }));
    expect(none.error).toMatchObject({ code: 'EACCES', stage: 'exec' });
  });

  it("the 'spawn' event carries the report, and spawnSync's result has it", async () => {
    const child = spawn('/usr/bin/true', [], { filesystem: rules() });
    const report = await new Promise((resolve) => child.on('spawn', resolve as () => void));
    expect(report).toEqual({ landlock: child.landlock });
    await outcome(child);
    const result = spawnSync('/bin/cat', [path.join(outside, 'file')], { filesystem: rules(), encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Permission denied');
    expect(result.landlock).toEqual(child.landlock);
    // Without filesystem, nothing changes: no report, and 'spawn' has no argument (as child_process).
    const plain = spawn('/usr/bin/true');
    const args = await new Promise<unknown[]>((resolve) => plain.on('spawn', (...a: unknown[]) => resolve(a)));
    expect([args, plain.landlock]).toEqual([[], undefined]);
    await outcome(plain);
  });

  it("with '/' read-only, everything reads and nothing outside readWrite is written (the domain is confirmed by a refused write to /dev/null)", async () => {
    const result = await outcome(
      spawn('/bin/sh', ['-c', `cat /etc/hostname > ${rw}/h && echo read; echo x > ${outside}/new || echo write-denied; echo x > /dev/null || echo null-denied`], {
        user: 'nobody',
        filesystem: { readOnly: ['/'], readWrite: [rw] },
      }),
    );
    expect(result.stdout.toString()).toBe('read\nwrite-denied\nnull-denied\n');
    expect(fs.existsSync(path.join(outside, 'new'))).toBe(false);
  });

  it('a low rlimits.nofile still runs the workload under the layers, and one that leaves no number to check them is refused as EMFILE, the fix first', async () => {
    // The child holds the supervisor's descriptors until exec: the layers' checks need a number below the limit.
    const layers = { filesystem: { readOnly: ['/'] }, network: 'none' } as const;
    const ran = await outcome(spawn('/bin/sh', ['-c', 'ulimit -n; echo ran'], { ...layers, rlimits: { nofile: 8 } }));
    expect([ran.error, ran.stdout.toString(), ran.exit]).toEqual([undefined, '8\nran\n', [0, null]]);
    const marker = path.join(rw, 'low-nofile');
    const refused = await outcome(spawn('/usr/bin/touch', [marker], { filesystem: { readOnly: ['/'], readWrite: [rw] }, rlimits: { nofile: 3 } }));
    // As child_process reports EMFILE: an 'error' event with Node's code; the step and the fix in the message.
    expect(refused.error).toMatchObject({ code: 'EMFILE', stage: 'rlimit', syscall: 'spawn /usr/bin/touch', path: '/usr/bin/touch' });
    expect(refused.error?.message).toMatch(/^spawn \/usr\/bin\/touch EMFILE: raise rlimits\.nofile above the workload's stdio descriptors/);
    expect(refused.events).toEqual(['error', 'close']);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('every layer together: nobody, a kept capability, the bounding set dropped but for it, no network, Landlock', async () => {
    const cat = `cat /proc/self/status; echo --; cat /proc/net/dev; echo --; cat ${outside}/file 2>&1 || true; echo --; ls /proc/self/fd`;
    const result = await outcome(
      spawn('/bin/sh', ['-c', cat], {
        user: 'nobody',
        capabilities: ['NET_BIND_SERVICE'],
        network: 'none',
        filesystem: { readOnly: ['/usr', '/proc'], readWrite: [rw] },
      }),
    );
    expect(result.error).toBeUndefined();
    const text = result.stdout.toString();
    const [statusText, netDev, , fds] = text.split('--\n') as [string, string, string, string];
    // Neither the namespace's descriptor nor the ruleset's reaches the workload: stdio and ls's own.
    expect(fds.trim().split('\n')).toEqual(['0', '1', '2', '3']);
    const status = parseStatus(statusText);
    const bind = 1n << 10n;
    expect([status.capBnd, status.capEff, status.capPrm, status.capInh, status.capAmb]).toEqual([bind, bind, bind, bind, bind]);
    expect(status.uid).toEqual([65534, 65534, 65534, 65534]);
    expect(status.noNewPrivs).toBe(1);
    const interfaces = netDev.split('\n').slice(2).filter((l) => l.includes(':')).map((l) => l.split(':')[0]!.trim());
    expect(interfaces).toEqual(['lo']);
    expect(text).toContain(`${outside}/file: Permission denied`);
    // The child shared the supervisor's memory, not its credentials: the supervisor is not confined.
    expect(fs.readFileSync(path.join(outside, 'file'), 'utf8')).toBe('content\n');
    expect(fs.readFileSync('/proc/self/status', 'utf8')).toMatch(/^NoNewPrivs:\s+0$/m);
  });

  for (const [who, wrapper, extra] of [
    ['a rootless supervisor (unshare -U -r)', ['unshare', '-U', '-r'], {}],
    ['an ordinary user (boundingSet: inherit, as doctor advises there)', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'], { boundingSet: 'inherit' }],
  ] as const) {
    it(`${who} gets the same rules: Landlock needs no privilege`, () => {
      const report = runReport([...wrapper], {
        command: '/bin/sh',
        args: ['-c', `cat ${ro}/file; cat ${outside}/file 2>&1; true`],
        options: { ...extra, filesystem: rules() },
      });
      expect(report.result).toMatchObject({ ok: true, exitCode: 0, stdout: `content\ncat: ${outside}/file: Permission denied\n` });
      expect(report.landlock).toMatchObject({ enforced: true, unenforced: [] });
    });
  }

  it('a Podman supervisor without CAP_SETPCAP is still refused at the bounding set, layers or not', () => {
    const marker = path.join(rw, 'ran');
    const report = runReport(['setpriv', '--bounding-set=-setpcap'], {
      command: '/bin/sh',
      args: ['-c', `touch ${marker}`],
      options: { network: 'none', filesystem: rules() },
    });
    expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_BOUNDING_SET', stage: 'bounding-set' } });
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });
});

describe('Unix sockets and signals outside the rules (Landlock does not check connect() to a pathname socket)', () => {
  // The supervisor listens on a mode-0777 socket in a directory outside the rules (as
  // /run/docker.sock or its own control socket would be) and on an abstract socket.
  const WORKLOAD = `
    const net = require('node:net');
    const attempt = (target) => new Promise((resolve) => {
      const socket = net.connect(target);
      socket.on('connect', () => { socket.destroy(); resolve('connected'); });
      socket.on('error', (e) => resolve(e.code));
    });
    (async () => {
      const [file, abstract, supervisor] = process.argv.slice(1);
      const signal = (() => { try { process.kill(Number(supervisor), 0); return 'signalled'; } catch (e) { return e.code; } })();
      console.log([await attempt(file), await attempt('\\0' + abstract), signal].join(' '));
    })();`;
  let servers: net.Server[] = [];
  let accepted: number[] = [];
  let file: string;
  let abstract: string;
  beforeEach(async () => {
    file = path.join(outside, 'control.sock');
    abstract = `capspawn-ll-${process.pid}-${Math.random().toString(36).slice(2)}`;
    accepted = [0, 0];
    servers = [file, `\0${abstract}`].map((where, i) => net.createServer((socket) => { accepted[i]! += 1; socket.destroy(); }).listen(where));
    await Promise.all(servers.map((server) => new Promise((resolve) => server.once('listening', resolve))));
    fs.chmodSync(file, 0o777);
  });
  afterEach(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });
  // What node needs to start: itself and its OpenSSL configuration.
  const nodeRules = (extra: Partial<NonNullable<SpawnOptions['filesystem']>> = {}) => ({ readOnly: ['/usr', '/etc/ssl'], ...extra });
  const run = async (options: SpawnOptions) => {
    const result = await outcome(spawn(process.execPath, ['-e', WORKLOAD, file, abstract, String(process.pid)], options));
    expect(result.error).toBeUndefined();
    return result.stdout.toString();
  };

  for (const [who, identity] of [
    ['nobody', { user: 'nobody' }],
    ['root without capabilities', {}],
  ] as const) {
    it(`as ${who}: neither socket nor the supervisor can be reached by default; unixSockets: 'allow' opens the pathname one only`, async () => {
      expect(await run({ ...identity, filesystem: nodeRules() })).toBe('EACCES EACCES EPERM\n');
      expect(accepted).toEqual([0, 0]);
      expect(await run({ ...identity, filesystem: nodeRules({ unixSockets: 'allow' }) })).toBe('connected EPERM EPERM\n');
      expect(accepted).toEqual([1, 0]);
      // Without the layer both are there to be reached (root can signal its own uid).
      expect(await run(identity)).toBe(`connected connected ${who === 'nobody' ? 'EPERM' : 'signalled'}\n`);
    });
  }

  it('a Unix socket the workload is given still works, and an explicit seccomp option stacks with the rule (counted right)', async () => {
    const status = (text: string) => Number(/^Seccomp_filters:\s+(\d+)$/m.exec(text)?.[1]);
    const base = status(fs.readFileSync('/proc/self/status', 'utf8'));
    const allowAll = Buffer.alloc(8);
    allowAll.writeUInt16LE(0x06, 0); // BPF_RET | BPF_K
    allowAll.writeUInt32LE(0x7fff0000, 4); // SECCOMP_RET_ALLOW
    const script = 'echo hi >&3; cat /proc/self/status';
    const child = spawn('/bin/sh', ['-c', script], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      filesystem: { readOnly: ['/usr', '/proc'] },
      seccomp: { denySocketFamilies: ['inet'], program: allowAll },
    });
    const got = new Promise<string>((resolve) => (child.stdio[3] as net.Socket).once('data', (data) => resolve(String(data))));
    const result = await outcome(child);
    expect(result.error).toBeUndefined();
    expect(await got).toBe('hi\n');
    // The user's program and capspawn's one filter (its families and the Unix-socket rule).
    expect(status(result.stdout.toString())).toBe(base + 2);
  });

  it('unixSockets takes only deny or allow', () => {
    expect(() => spawn('/usr/bin/true', [], { filesystem: { readOnly: ['/usr'], unixSockets: 'open' } } as unknown as SpawnOptions)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(childPids()).toEqual([]);
  });
});

describe('a rule path through a symbolic link throws before anything is cloned, naming the path to give', () => {
  it('a readWrite workspace replaced by a link (to another directory), a linked parent component, /lib on merged-/usr', () => {
    const marker = path.join(outside, 'ran');
    const link = path.join(rw, 'ws');
    fs.symlinkSync(outside, link);
    fs.mkdirSync(path.join(outside, 'sub'));
    const usrLib = fs.realpathSync('/lib');
    const cases: Array<[SpawnOptions['filesystem'], string]> = [
      [{ readOnly: ['/usr'], readWrite: [link] }, outside],
      [{ readOnly: ['/usr'], readWrite: [path.join(link, 'sub')] }, path.join(outside, 'sub')],
      ...(usrLib !== '/lib' ? [[{ readOnly: ['/usr', '/lib'] }, usrLib] as [SpawnOptions['filesystem'], string]] : []),
    ];
    for (const [filesystem, resolved] of cases) {
      for (const start of [spawn, spawnSync] as const) {
        expect(() => start('/bin/sh', ['-c', `touch ${marker}`], { filesystem })).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(`give ${resolved} instead of`) }),
        );
      }
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(childPids()).toEqual([]);
    // The path it names is taken.
    const result = spawnSync('/bin/sh', ['-c', `touch ${marker}`], { filesystem: { readOnly: ['/usr'], readWrite: [outside] } });
    expect(result.status).toBe(0);
    expect(fs.existsSync(marker)).toBe(true);
  });
});

describe('a supervisor whose kernel has no Landlock (a seccomp filter answers landlock_create_ruleset with ENOSYS)', () => {
  let helper: string;
  const ENOSYS_FILTER = () => [helper, '444', '38', '--']; // x86_64 and aarch64 both number it 444
  beforeAll(() => {
    helper = path.join(tempDir('errno-filter'), 'errno-filter');
    execFileSync('gcc', ['-O2', '-o', helper, path.join(FIXTURES, 'errno-filter.c')], { stdio: 'inherit' });
  });
  afterAll(() => fs.rmSync(path.dirname(helper), { recursive: true, force: true }));

  it("'hard' refuses with ERR_CAPSPAWN_LANDLOCK, the fix first, and the workload never runs", () => {
    const marker = path.join(outside, 'ran');
    const report = runReport(ENOSYS_FILTER(), { command: '/bin/sh', args: ['-c', `touch ${marker}`], options: { filesystem: rules() } });
    const error = (report.result as { error: Record<string, any> }).error;
    expect(error).toMatchObject({ code: 'ERR_CAPSPAWN_LANDLOCK', stage: 'landlock', errno: -38 });
    expect(error.message).toMatch(/^spawn \/bin\/sh: run the supervisor on a kernel with Landlock enabled .* or pass filesystem\.compatibility: 'best-effort' /);
    expect(error.message).toContain('ENOSYS');
    expect(report.events).toEqual(['error', 'close']);
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });

  it('capspawn exec says the fix in its own flags: --landlock best-effort; exit 125', () => {
    const cli = path.join(path.dirname(FIXTURES), '..', 'dist', 'cli.js');
    const marker = path.join(outside, 'ran');
    let failed: { status: number; stderr: string } | undefined;
    try {
      execFileSync(ENOSYS_FILTER()[0]!, [...ENOSYS_FILTER().slice(1), process.execPath, cli, 'exec', '--ro', '/usr', '--', '/bin/sh', '-c', `touch ${marker}`], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    } catch (error) {
      failed = error as { status: number; stderr: string };
    }
    expect(failed?.status).toBe(125);
    expect(failed?.stderr).toMatch(/^capspawn: ERR_CAPSPAWN_LANDLOCK: spawn \/bin\/sh: run the supervisor on a kernel with Landlock .* or pass --landlock best-effort /);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("'best-effort' runs, unrestricted, and says so on the child and in the 'spawn' event", () => {
    const marker = path.join(outside, 'ran');
    const report = runReport(ENOSYS_FILTER(), {
      command: '/bin/sh',
      args: ['-c', `touch ${marker}`],
      options: { filesystem: rules({ compatibility: 'best-effort' }) },
    });
    expect(report.result).toMatchObject({ ok: true, exitCode: 0 });
    expect(report.landlock).toMatchObject({ abi: 0, enforced: false });
    expect(report.landlock!.unenforced).toEqual(expect.arrayContaining(['execute', 'write_file', 'read_file', 'truncate', 'ioctl_dev']));
    expect(report.spawnEvent).toEqual({ landlock: report.landlock });
    expect(fs.existsSync(marker)).toBe(true); // nothing restricted it: what the report says
  });
});

describe('a supervisor whose seccomp filter fakes the layers\' system calls (answers 0, does nothing)', () => {
  let helper: string;
  const x64 = process.arch === 'x64';
  const FAKE = (nr: number) => [helper, String(nr), '0', '--'];
  beforeAll(() => {
    helper = path.join(tempDir('fake-filter'), 'errno-filter');
    execFileSync('gcc', ['-O2', '-o', helper, path.join(FIXTURES, 'errno-filter.c')], { stdio: 'inherit' });
  });
  afterAll(() => fs.rmSync(path.dirname(helper), { recursive: true, force: true }));

  // For setns, a namespace other than the supervisor's (joining its own would change nothing,
  // faked or not): one made here with ip netns, deleted afterwards.
  const made = `cs-fake-${process.pid}`;
  for (const [call, nr, options, code, stage] of [
    ['landlock_restrict_self', 446, { filesystem: { readOnly: ['/usr'] } }, 'ERR_CAPSPAWN_LANDLOCK', 'landlock'],
    ['setns', x64 ? 308 : 268, { network: { namespace: `/run/netns/${made}` } }, 'ERR_CAPSPAWN_NETNS', 'netns'],
    ['unshare', x64 ? 272 : 97, { network: 'none' }, 'ERR_CAPSPAWN_NETNS', 'netns'],
  ] as const) {
    it(`${call}: ${code}, the profile named first, and the workload never runs`, () => {
      const marker = path.join(outside, 'ran');
      if (call === 'setns') execFileSync('ip', ['netns', 'add', made]);
      try {
        const report = runReport(FAKE(nr), { command: '/bin/sh', args: ['-c', `touch ${marker}`], options });
        const error = (report.result as { error: Record<string, any> }).error;
        expect(error).toMatchObject({ code, stage, errno: -1 });
        expect(error.message).toMatch(/^spawn \/bin\/sh: fix the supervisor's seccomp or LSM profile, which fakes /);
        expect(fs.existsSync(marker)).toBe(false);
        expect(report.children).toEqual([]);
      } finally {
        if (call === 'setns') execFileSync('ip', ['netns', 'del', made]);
      }
    });
  }
});

describe('bad filesystem input throws before anything is cloned', () => {
  const cases: Array<[string, unknown, string]> = [
    ['a relative path', { readOnly: ['usr'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a path that does not exist', { readWrite: ['/nonexistent/capspawn'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a path that is not a string', { readOnly: [42] }, 'ERR_INVALID_ARG_TYPE'],
    ['a list that is not an array', { readOnly: '/usr' }, 'ERR_INVALID_ARG_TYPE'],
    ['an unknown key', { readonly: ['/usr'] }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown compatibility', { readOnly: ['/usr'], compatibility: 'soft' }, 'ERR_INVALID_ARG_VALUE'],
    ['a NUL byte', { readOnly: ['/usr\0/x'] }, 'ERR_INVALID_ARG_VALUE'],
    ['not an object', ['/usr'], 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [what, filesystem, code] of cases) {
    it(`${what}: ${code}`, () => {
      const marker = path.join(rw, 'ran');
      expect(() => spawn('/bin/sh', ['-c', `touch ${marker}`], { filesystem } as SpawnOptions)).toThrow(expect.objectContaining({ code }));
      expect(() => spawnSync('/bin/sh', ['-c', `touch ${marker}`], { filesystem } as SpawnOptions)).toThrow(expect.objectContaining({ code }));
      expect(fs.existsSync(marker)).toBe(false);
      expect(childPids()).toEqual([]);
    });
  }

  it("noNewPrivs: false with filesystem is ERR_INCOMPATIBLE_OPTION_PAIR, in Node's words", () => {
    expect(() => spawn('/usr/bin/true', [], { noNewPrivs: false, filesystem: rules() })).toThrow(
      expect.objectContaining({ code: 'ERR_INCOMPATIBLE_OPTION_PAIR', name: 'TypeError', message: 'Option "filesystem" cannot be used in combination with option "noNewPrivs"' }),
    );
    expect(childPids()).toEqual([]);
  });

  it('a polluted Object.prototype adds no rule', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.readWrite = ['/'];
    proto.compatibility = 'best-effort';
    try {
      const result = await outcome(spawn('/bin/sh', ['-c', `echo x > ${outside}/new || echo denied`], { filesystem: { readOnly: ['/usr'] } }));
      expect(result.stdout.toString()).toBe('denied\n');
    } finally {
      delete proto.readWrite;
      delete proto.compatibility;
    }
  });
});

describe('capspawn exec --ro, --rw, --landlock, --net', () => {
  const CLI = path.join(path.dirname(FIXTURES), '..', 'dist', 'cli.js');
  const exec = (args: string[]) => {
    try {
      return { status: 0, stdout: execFileSync(process.execPath, [CLI, 'exec', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
    } catch (error) {
      const failed = error as { status: number; stdout: string; stderr: string };
      return { status: failed.status, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('map to filesystem and network: an agent tool with read-only /usr, a writable workspace, no network', () => {
    const script = `echo done > ${rw}/out; cat ${outside}/file 2>&1; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`;
    const run = exec(['--user', 'nobody', '--ro', '/usr', '--ro', '/proc', '--rw', rw, '--net', 'none', '--', '/bin/sh', '-c', script]);
    expect(run.stdout).toBe(`cat: ${outside}/file: Permission denied\nlo\n`);
    expect(fs.readFileSync(path.join(rw, 'out'), 'utf8')).toBe('done\n');
  });

  it('capspawn doctor reports the Landlock ABI and whether network namespaces can be made, as probeLayers() does', () => {
    const doctor = JSON.parse(execFileSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8' })) as { layers: unknown };
    expect(doctor.layers).toEqual(probeLayers());
    expect(probeLayers().landlock.abi).toBeGreaterThanOrEqual(5); // this machine's kernel: ABI 7
    const text = execFileSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    expect(text).toMatch(/^landlock +ABI \d+$/m);
    expect(text).toMatch(/^network namespaces +can be made/m);
  });

  it('bad use is a usage error (2) or a refusal (125) with the library code, and nothing runs', () => {
    const marker = path.join(rw, 'ran');
    const touch = ['--', '/bin/sh', '-c', `touch ${marker}`];
    expect(exec(['--ro', 'usr', ...touch])).toMatchObject({ status: 2, stderr: expect.stringContaining("--ro takes an absolute path, not 'usr'") });
    expect(exec(['--landlock', 'best-effort', ...touch])).toMatchObject({ status: 2, stderr: expect.stringContaining('--landlock needs rules') });
    expect(exec(['--ro', '/usr', '--landlock', 'soft', ...touch]).status).toBe(2);
    expect(exec(['--ro', '/usr', '--keep-new-privs', ...touch]).status).toBe(2);
    expect(exec(['--net', 'isolated', ...touch]).status).toBe(2);
    expect(exec(['--ro', '/nonexistent/capspawn', ...touch])).toMatchObject({ status: 125, stderr: expect.stringMatching(/^capspawn: ERR_INVALID_ARG_VALUE: .*does not exist/) });
    expect(exec(['--net', '/proc/self/ns/mnt', ...touch])).toMatchObject({ status: 125, stderr: expect.stringContaining('not a network namespace') });
    expect(fs.existsSync(marker)).toBe(false);
  });
});
