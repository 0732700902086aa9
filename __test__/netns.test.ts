/**
 * The `network` option against this machine's kernel: `'none'` gives a namespace with only a
 * loopback interface, up; `{ namespace }` joins one the test made (`ip netns add`, a veth pair
 * into a peer namespace with a TCP listener), by path and by descriptor, and reaches the peer
 * from there only; a rootless supervisor can use `'none'` and is refused (ERR_CAPSPAWN_NETNS,
 * EPERM) the host's namespace; bad input throws before anything runs.
 */
import { execFileSync, spawn as cpSpawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeLayers, spawn, spawnSync, type SpawnOptions } from '../dist/index.js';
import { childPids, outcome, requirePrivilege, runReport, tempDir } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

let dir: string;
beforeEach(() => {
  dir = tempDir('netns');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The interface names in a /proc/net/dev text. */
function interfaces(netDev: string): string[] {
  return netDev
    .split('\n')
    .slice(2)
    .filter((line) => line.includes(':'))
    .map((line) => line.split(':')[0]!.trim());
}

async function run(args: string[], options: SpawnOptions): Promise<string> {
  const result = await outcome(spawn(args[0]!, args.slice(1), options));
  expect(result.error).toBeUndefined();
  expect(result.exit, result.stderr.toString()).toEqual([0, null]);
  return result.stdout.toString();
}

describe("network: 'none'", () => {
  it('shows only lo, which is up, in a namespace of its own', async () => {
    const host = fs.statSync('/proc/self/ns/net').ino;
    const out = await run(['/bin/sh', '-c', 'cat /proc/net/dev; echo --; ip -o link show; echo --; stat -L -c %i /proc/self/ns/net'], {
      user: 'nobody',
      network: 'none',
    });
    const [netDev, links, inode] = out.split('--\n') as [string, string, string];
    expect(interfaces(netDev)).toEqual(['lo']);
    expect(links.trim().split('\n')).toHaveLength(1);
    expect(links).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(Number(inode)).not.toBe(host);
  });

  it('each spawn gets a namespace of its own (two alive at once differ)', async () => {
    const first = spawn('/bin/sh', ['-c', 'stat -L -c %i /proc/self/ns/net; read line'], { network: 'none' });
    const inode = await new Promise<string>((resolve) => first.stdout.once('data', (chunk: Buffer) => resolve(String(chunk).trim())));
    const second = (await run(['/bin/stat', '-L', '-c', '%i', '/proc/self/ns/net'], { network: 'none' })).trim();
    first.stdin.end('\n');
    await outcome(first);
    expect(second).not.toBe(inode);
  });

  it('loopback works inside: a TCP server and client in the workload talk over 127.0.0.1', async () => {
    const script = `const net = require('net'); const s = net.createServer((c) => c.end('pong')).listen(0, '127.0.0.1', () => {
      net.connect(s.address().port, '127.0.0.1').on('data', (d) => { console.log(String(d)); s.close(); }); });`;
    expect(await run([process.execPath, '-e', script], { user: 'nobody', network: 'none' })).toBe('pong\n');
  });

  it("the supervisor stays where it was: every one of its threads (capspawn's namespace maker too) is in the host's namespace afterwards", async () => {
    const host = fs.statSync('/proc/self/ns/net').ino;
    for (let i = 0; i < 3; i++) await run(['/usr/bin/true'], { network: 'none' });
    const threads = fs.readdirSync('/proc/self/task');
    expect(threads.length).toBeGreaterThan(1);
    for (const tid of threads) expect([tid, fs.statSync(`/proc/self/task/${tid}/ns/net`).ino]).toEqual([tid, host]);
  });

  it('with more descriptors than the small table has slots (the child copies the whole table), both layers still apply', async () => {
    const stdio = ['ignore', 'pipe', 'pipe', ...Array.from({ length: 8 }, () => 'pipe' as const)];
    const result = await outcome(
      spawn('/bin/sh', ['-c', 'cat /proc/net/dev; cat /etc/hostname 2>&1; ls /proc/self/fd | wc -l'], {
        stdio,
        network: 'none',
        filesystem: { readOnly: ['/usr', '/proc'] },
      }),
    );
    expect(result.error).toBeUndefined();
    const lines = result.stdout.toString().trim().split('\n');
    expect(interfaces(lines.slice(0, -2).join('\n'))).toEqual(['lo']);
    expect(lines.at(-2)).toBe('cat: /etc/hostname: Permission denied');
    expect(lines.at(-1)).toBe('12'); // 0-10 and ls's own: neither layer's descriptor
  });

  it("'host' and no option leave the supervisor's namespace", async () => {
    const host = String(fs.statSync('/proc/self/ns/net').ino);
    for (const options of [{ network: 'host' as const }, {}]) {
      expect((await run(['/bin/stat', '-L', '-c', '%i', '/proc/self/ns/net'], options)).trim()).toBe(host);
    }
  });

  it('{ namespace: fd } under a polluted Object.prototype.path still joins that descriptor\'s namespace', async () => {
    // A namespace of its own, held by a process the test made: its descriptor is what we pass.
    const holder = cpSpawn('unshare', ['-n', 'sleep', '30'], { stdio: 'ignore' });
    try {
      let fd = -1;
      for (let i = 0; i < 100 && fd < 0; i++) {
        const ns = `/proc/${holder.pid}/ns/net`;
        if (fs.existsSync(ns) && fs.statSync(ns).ino !== fs.statSync('/proc/self/ns/net').ino) fd = fs.openSync(ns, 'r');
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(fd).toBeGreaterThanOrEqual(0);
      const theirs = String(fs.fstatSync(fd).ino);
      const proto = Object.prototype as Record<string, unknown>;
      proto.path = '/proc/self/ns/net'; // the host's, if the binding read it through the prototype
      let child;
      try {
        child = spawn('/bin/stat', ['-L', '-c', '%i', '/proc/self/ns/net'], { network: { namespace: fd } });
      } finally {
        delete proto.path;
      }
      const result = await outcome(child);
      fs.closeSync(fd);
      expect(result.exit, result.stderr.toString()).toEqual([0, null]);
      expect(result.stdout.toString().trim()).toBe(theirs);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('probeLayers() says network namespaces can be made here', () => {
    expect(probeLayers()).toMatchObject({ networkNamespaces: true, landlock: { abi: expect.any(Number) } });
  });
});

describe('network: { namespace }, one the test made with ip netns and a veth pair', () => {
  const tag = `cs${process.pid % 100000}`;
  const joined = `${tag}-a`; // the workload's
  const peer = `${tag}-b`; // the listener's
  const octet = 10 + (process.pid % 200);
  const [ours, theirs] = [`10.213.${octet}.1`, `10.213.${octet}.2`];
  let listener: ChildProcess | undefined;
  let port = 0;

  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  function removeNamespaces(): void {
    for (const name of [joined, peer]) {
      try {
        ip('netns', 'del', name);
      } catch {
        // not there
      }
    }
  }

  beforeAll(async () => {
    if (process.geteuid?.() !== 0) return;
    removeNamespaces();
    ip('netns', 'add', joined);
    ip('netns', 'add', peer);
    ip('-n', joined, 'link', 'add', `${tag}v0`, 'type', 'veth', 'peer', 'name', `${tag}v1`, 'netns', peer);
    ip('-n', joined, 'addr', 'add', `${ours}/24`, 'dev', `${tag}v0`);
    ip('-n', peer, 'addr', 'add', `${theirs}/24`, 'dev', `${tag}v1`);
    for (const [ns, dev] of [[joined, `${tag}v0`], [peer, `${tag}v1`]] as const) {
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // A TCP listener inside the peer namespace, which answers who connected.
    const script = `require('net').createServer((c) => c.end('hello ' + c.remoteAddress)).listen(0, '${theirs}', function () { console.log(this.address().port); });`;
    listener = cpSpawn('ip', ['netns', 'exec', peer, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      listener!.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
      listener!.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
    });
  });
  afterAll(async () => {
    if (listener && listener.exitCode === null && listener.signalCode === null) {
      const exited = new Promise((resolve) => listener!.once('exit', resolve));
      listener.kill('SIGKILL');
      await exited; // reaped, so later tests count no child of ours
    }
    removeNamespaces(); // the veth pair goes with them
  });

  const connect = () => `const c = require('net').connect(${port}, '${theirs}'); c.on('data', (d) => console.log(String(d))); c.on('error', (e) => console.log(e.code));`;
  const bind = `require('net').createServer().listen(0, '${ours}', function () { console.log('bound'); this.close(); }).on('error', (e) => console.log(e.code));`;

  for (const [form, namespace] of [
    ['a path (/run/netns/NAME)', () => `/run/netns/${joined}`],
    ['an open descriptor', () => fs.openSync(`/run/netns/${joined}`, 'r')],
  ] as const) {
    it(`by ${form}: the workload sees the veth, holds its address and reaches the peer`, async () => {
      const ns = namespace();
      try {
        const options: SpawnOptions = { user: 'nobody', network: { namespace: ns } };
        expect(interfaces(await run(['/bin/cat', '/proc/net/dev'], options)).sort()).toEqual([`${tag}v0`, 'lo'].sort());
        expect(await run([process.execPath, '-e', connect()], options)).toBe(`hello ${ours}\n`);
        expect(await run([process.execPath, '-e', bind], options)).toBe('bound\n');
      } finally {
        if (typeof ns === 'number') fs.closeSync(ns);
      }
    });
  }

  it("from the host's namespace that address is not there: no veth, and binding it fails with EADDRNOTAVAIL", async () => {
    expect(interfaces(await run(['/bin/cat', '/proc/net/dev'], { user: 'nobody' }))).not.toContain(`${tag}v0`);
    expect(await run([process.execPath, '-e', bind], { user: 'nobody' })).toBe('EADDRNOTAVAIL\n');
  });

  it('spawnSync joins it the same way', () => {
    const result = spawnSync('/bin/cat', ['/proc/net/dev'], { network: { namespace: `/run/netns/${joined}` }, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(interfaces(result.stdout)).toContain(`${tag}v0`);
  });
});

describe('a rootless supervisor (unshare -U -r)', () => {
  it("runs 'none' (its user namespace owns the new one)", () => {
    const report = runReport(['unshare', '-U', '-r'], { command: '/bin/cat', args: ['/proc/net/dev'], options: { network: 'none' } });
    expect(report.result).toMatchObject({ ok: true, exitCode: 0 });
    expect(interfaces((report.result as { stdout: string }).stdout)).toEqual(['lo']);
  });

  it("is refused the host's namespace, which the initial user namespace owns: ERR_CAPSPAWN_NETNS, EPERM, the fix first", () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(['unshare', '-U', '-r'], {
      command: '/bin/sh',
      args: ['-c', `touch ${marker}`],
      options: { network: { namespace: '/proc/self/ns/net' } },
    });
    const error = (report.result as { error: Record<string, any> }).error;
    expect(error).toMatchObject({ code: 'ERR_CAPSPAWN_NETNS', stage: 'netns', errno: -1, syscall: 'setns' });
    expect(error.message).toMatch(/^spawn \/bin\/sh: give the supervisor CAP_SYS_ADMIN over the namespace .*network: 'none'/);
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });
});

describe('bad network input throws before anything is cloned', () => {
  const notANetwork = () => {
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, '');
    return file;
  };
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['a mount namespace', () => ({ namespace: '/proc/self/ns/mnt' }), 'ERR_INVALID_ARG_VALUE', /is a mount namespace, not a network namespace/],
    ['a regular file', () => ({ namespace: notANetwork() }), 'ERR_INVALID_ARG_VALUE', /is not a namespace/],
    ['a path that does not exist', () => ({ namespace: '/run/netns/capspawn-none' }), 'ERR_INVALID_ARG_VALUE', /does not exist/],
    ['a relative path', () => ({ namespace: 'run/netns/x' }), 'ERR_INVALID_ARG_VALUE', /absolute path/],
    ['a descriptor that is not open', () => ({ namespace: 1_000_000 }), 'ERR_INVALID_ARG_VALUE', /descriptor 1000000/],
    ['a descriptor of a pipe (stdin of this test)', () => ({ namespace: 0 }), 'ERR_INVALID_ARG_VALUE', /is not a namespace/],
    ['a negative descriptor', () => ({ namespace: -1 }), 'ERR_OUT_OF_RANGE', /options\.network\.namespace/],
    ['an unknown word', () => 'isolated', 'ERR_INVALID_ARG_VALUE', /'host', 'none'/],
    ['an unknown key', () => ({ path: '/run/netns/x' }), 'ERR_INVALID_ARG_VALUE', /network\.path/],
    ['a namespace of the wrong type', () => ({ namespace: true }), 'ERR_INVALID_ARG_TYPE', /./],
  ];
  for (const [what, network, code, message] of cases) {
    it(`${what}: ${code}`, () => {
      const marker = path.join(dir, 'ran');
      const value = network();
      expect(() => spawn('/bin/sh', ['-c', `touch ${marker}`], { network: value } as SpawnOptions)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
      expect(() => spawnSync('/bin/sh', ['-c', `touch ${marker}`], { network: value } as SpawnOptions)).toThrow(expect.objectContaining({ code }));
      expect(fs.existsSync(marker)).toBe(false);
      expect(childPids()).toEqual([]);
    });
  }
});
