/**
 * spawnPty(): a real shell in a real terminal, typed into as a user would, as `nobody` and as
 * root without capabilities. What the shell prints (its own `tty`, `stty size`, /proc/self/status)
 * is the evidence.
 */
import { execFileSync, spawn as cpSpawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnPty, type IExitEvent, type IPty, type PtyOptions } from '../dist/index.js';
import { childPids, fdCount, parseStatus, requirePrivilege, tempDir } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

let dir: string;
beforeAll(() => {
  dir = tempDir('pty');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Resolves once `check()` holds, looking again every few milliseconds (the test's own timeout
 * bounds it: no timing is asserted). */
function until(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const look = (): void => {
      if (check()) resolve();
      else setTimeout(look, 5);
    };
    look();
  });
}

/** An interactive shell in a terminal, and everything it printed so far. */
class Session {
  output = '';
  readonly exited: Promise<IExitEvent>;
  /** What had arrived when the exit was reported. */
  outputAtExit: string | undefined;
  #markers = 0;

  constructor(readonly pty: IPty, readonly marker = 'M') {
    pty.onData((data) => {
      this.output += data;
    });
    this.exited = new Promise((resolve) =>
      pty.onExit((event) => {
        this.outputAtExit = this.output;
        resolve(event);
      }),
    );
  }

  /** Types `line` and waits until the shell has run it: the output between is returned, with
   * the terminal's `\r\n` as `\n`. The marker is computed by the shell, so the echo of the typed
   * line does not contain it. */
  async run(line: string): Promise<string> {
    const n = ++this.#markers;
    // Markers the shell computes, so that the terminal's echo of the typed line (which may come
    // before or after the prompt) holds neither.
    const begin = `@@${n + 2000}@@\n`;
    const end = `@@${n + 1000}@@`;
    const start = this.output.length;
    this.pty.write(`echo @@$((${n} + 2000))@@; ${line}; echo @@$((${n} + 1000))@@\r`);
    await until(() => this.output.indexOf(end, start) >= 0);
    // A terminal's line ends (\r\n, or \r\r\n through two terminals) as \n.
    const text = this.output.slice(start).replace(/\r+\n/g, '\n');
    const from = text.indexOf(begin) + begin.length;
    return text.slice(from, text.indexOf(end, from));
  }
}

const IDENTITIES: { label: string; options: PtyOptions; uid: number }[] = [
  { label: 'as nobody', options: { user: 'nobody', cwd: '/tmp' }, uid: 65534 },
  { label: 'as root without capabilities', options: { cwd: '/tmp' }, uid: 0 },
];

describe.each(IDENTITIES)('a shell in a terminal, $label', ({ options, uid }) => {
  const shell = (more: PtyOptions = {}): Session => new Session(spawnPty('/bin/sh', [], { ...options, cols: 100, rows: 30, ...more }));

  it('names its terminal /dev/pts/N, has the size asked for, and never holds the master', async () => {
    const session = shell();
    const tty = (await session.run('tty')).trim();
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    expect((await session.run('stty size')).trim()).toBe('30 100');
    expect((await session.run('echo $TERM')).trim()).toBe(process.env.TERM || 'xterm-256color'); // node-pty's rule
    expect((await session.run('id -u')).trim()).toBe(String(uid));
    // Its descriptors: the terminal on 0, 1, 2 (and ls's own directory); no /dev/ptmx.
    const fds = await session.run('ls -l /proc/self/fd/');
    const targets = fds.trim().split('\n').slice(1).map((line) => line.split(' -> ')[1]); // after "total 0"
    expect(targets.slice(0, 3)).toEqual([tty, tty, tty]);
    expect(targets).toHaveLength(4);
    expect(fds).not.toContain('ptmx');
    // It is the controlling terminal of the shell's own session: /dev/tty opens it.
    expect((await session.run('echo via-dev-tty > /dev/tty && echo ok')).trim()).toBe('via-dev-tty\nok');
    session.pty.write('exit\r');
    expect(await session.exited).toEqual({ exitCode: 0, signal: 0 });
  });

  it('gets SIGWINCH on resize(), and stty size shows the new size', async () => {
    const session = shell();
    await session.run("trap 'echo got-winch' WINCH");
    const before = session.output.length; // the typed trap line's echo holds 'got-winch' too
    session.pty.resize(132, 43);
    expect(session.pty.cols).toBe(132);
    expect(session.pty.rows).toBe(43);
    // An interactive sh runs the trap once it is back from reading a line: between commands.
    const size = await session.run('stty size');
    await session.run('true');
    expect(size.split('\n').filter((line) => line !== 'got-winch' && line !== '')).toEqual(['43 132']);
    expect(session.output.indexOf('got-winch', before)).toBeGreaterThan(0);
    session.pty.kill();
    expect(await session.exited).toEqual({ exitCode: 0, signal: 1 }); // SIGHUP, node-pty's default
  });

  it('^C interrupts a foreground sleep and the shell goes on; ^D ends it and onExit reports', async () => {
    const session = shell();
    session.pty.write('sleep 1000\r');
    await until(() => session.pty.process === 'sleep'); // the sleep is the foreground job
    session.pty.write('\x03');
    await until(() => session.pty.process === '/bin/sh');
    expect((await session.run('echo still-here')).trim()).toBe('still-here');
    session.pty.write('\x04');
    expect(await session.exited).toEqual({ exitCode: 0, signal: 0 });
  });

  it('exit 3 gives exitCode 3, and kill("SIGKILL") signal 9', async () => {
    const first = shell();
    first.pty.write('exit 3\r');
    expect(await first.exited).toEqual({ exitCode: 3, signal: 0 });
    const second = shell();
    await second.run('true');
    second.pty.kill('SIGKILL');
    expect(await second.exited).toEqual({ exitCode: 0, signal: 9 });
  });

  it('has every capability set empty and no_new_privs set, as typed into it', async () => {
    const session = shell({ noNewPrivs: true });
    const status = parseStatus(await session.run('cat /proc/self/status'));
    expect([status.capInh, status.capPrm, status.capEff, status.capBnd, status.capAmb]).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(status.noNewPrivs).toBe(1);
    expect(status.uid).toEqual([uid, uid, uid, uid]);
    session.pty.write('exit\r');
    await session.exited;
  });

  it('regains nothing by running a setuid-root binary', async () => {
    const suidDir = tempDir('pty-suid');
    fs.chmodSync(suidDir, 0o755);
    const suidCat = path.join(suidDir, 'suid-cat');
    fs.copyFileSync('/bin/cat', suidCat);
    fs.chownSync(suidCat, 0, 0);
    fs.chmodSync(suidCat, 0o4755);
    try {
      const session = shell();
      const status = parseStatus(await session.run(`${suidCat} /proc/self/status`));
      expect(status.uid).toEqual([uid, uid, uid, uid]);
      expect([status.capInh, status.capPrm, status.capEff, status.capBnd, status.capAmb]).toEqual([0n, 0n, 0n, 0n, 0n]);
      session.pty.write('exit\r');
      await session.exited;
    } finally {
      fs.rmSync(suidDir, { recursive: true, force: true });
    }
  });
});

describe('isolation between terminals', () => {
  it('a second workload as root without capabilities cannot open the first\'s /dev/pts/N (EACCES), and nothing reaches it', async () => {
    const first = new Session(spawnPty('/bin/sh', [], { cwd: '/tmp' }), 'A');
    const tty = (await first.run('tty')).trim();
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    const second = new Session(spawnPty('/bin/sh', [], { cwd: '/tmp' }), 'B');
    expect((await second.run('id -u; grep CapEff /proc/self/status')).trim()).toBe('0\nCapEff:\t0000000000000000');
    const attempt = await second.run(`printf INJECTED > ${tty} && echo opened-for-writing; /bin/true < ${tty} && echo opened-for-reading`);
    expect(attempt).toContain('Permission denied');
    expect(attempt).not.toContain('opened-for');
    // The first shell still uses its terminal (its descriptors, /dev/tty, stty) and saw nothing.
    expect((await first.run('stty size; echo via-dev-tty > /dev/tty')).trim()).toBe('24 80\nvia-dev-tty');
    expect(first.output).not.toContain('INJECTED');
    // The node: mode 0, so only CAP_DAC_OVERRIDE opens it (the owner check alone passed before).
    expect(fs.statSync(tty).mode & 0o7777).toBe(0);
    second.pty.write('exit\r');
    first.pty.write('exit\r');
    expect(await second.exited).toEqual({ exitCode: 0, signal: 0 });
    expect(await first.exited).toEqual({ exitCode: 0, signal: 0 });
    expect(first.output).not.toContain('INJECTED');
  });
});

describe('the sandbox layers (filesystem, network, seccomp), as spawn() takes them', () => {
  const shell = (more: PtyOptions): Session => new Session(spawnPty('/bin/sh', [], { user: 'nobody', cwd: '/tmp', ...more }));
  const done = async (session: Session): Promise<void> => {
    session.pty.write('exit\r');
    expect(await session.exited).toEqual({ exitCode: 0, signal: 0 });
  };

  it('filesystem: reads under readOnly, is refused elsewhere (EACCES), typed into the shell', async () => {
    const secret = path.join(dir, 'outside');
    fs.writeFileSync(secret, 'SECRET\n', { mode: 0o644 });
    const session = shell({ filesystem: { readOnly: ['/usr'] } });
    expect((await session.run('ls /usr/bin/env && echo read-ok')).trim()).toBe('/usr/bin/env\nread-ok');
    const refused = await session.run(`cat ${secret} /etc/passwd; echo status=$?`);
    expect(refused).toContain(`cat: ${secret}: Permission denied`);
    expect(refused).toContain('cat: /etc/passwd: Permission denied');
    expect(refused).not.toContain('SECRET');
    expect(refused).not.toContain('root:');
    expect(refused.trim().endsWith('status=1')).toBe(true);
    expect((await session.run('tty; stty size')).trim()).toMatch(/^\/dev\/pts\/\d+\n24 80$/);
    await done(session);
  });

  it("network: 'none' shows only lo", async () => {
    const session = shell({ network: 'none' });
    const devices = (await session.run('tail -n +3 /proc/net/dev')).trim().split('\n').map((line) => line.split(':')[0].trim());
    expect(devices).toEqual(['lo']);
    await done(session);
  });

  it('seccomp: denySocketFamilies inet refuses an inet socket, a unix one still works', async () => {
    const session = shell({ seccomp: { denySocketFamilies: ['inet'] } });
    const script = "import socket\ntry:\n socket.socket(socket.AF_INET); print('inet-made')\nexcept OSError as e: print('inet', e.errno)\nsocket.socket(socket.AF_UNIX); print('unix-made')";
    fs.writeFileSync(path.join(dir, 'sockets.py'), script, { mode: 0o644 });
    const output = (await session.run(`/usr/bin/python3 ${path.join(dir, 'sockets.py')}; grep Seccomp: /proc/self/status`)).trim();
    expect(output).toBe('inet 1\nunix-made\nSeccomp:\t2');
    await done(session);
  });
});

describe('node-pty parity: TERM, PWD, resize()', () => {
  /** What `/usr/bin/printenv NAME` prints in a terminal of `options`. */
  const printenv = (name: string, options: PtyOptions): Promise<string> => {
    const pty = spawnPty('/usr/bin/printenv', [name], { user: 'nobody', ...options });
    let output = '';
    pty.onData((data) => {
      output += data;
    });
    return new Promise((resolve) => pty.onExit(() => resolve(output.trim())));
  };
  const PATH = process.env.PATH ?? '/usr/bin:/bin';

  it('TERM is name || env.TERM || xterm-256color', async () => {
    expect(await printenv('TERM', { env: { PATH, TERM: 'vt100' } })).toBe('vt100');
    expect(await printenv('TERM', { env: { PATH } })).toBe('xterm-256color');
    expect(await printenv('TERM', { env: { PATH, TERM: 'vt100' }, name: 'screen' })).toBe('screen');
    const saved = process.env.TERM;
    process.env.TERM = 'linux';
    try {
      expect(await printenv('TERM', {})).toBe('linux'); // the supervisor's environment, as node-pty
    } finally {
      if (saved === undefined) delete process.env.TERM;
      else process.env.TERM = saved;
    }
  });

  it('PWD is cwd || process.cwd()', async () => {
    expect(await printenv('PWD', { env: { PATH } })).toBe(process.cwd());
    expect(await printenv('PWD', { env: { PATH, PWD: '/elsewhere' }, cwd: '/tmp' })).toBe('/tmp');
  });

  it('resize() without numbers throws, as node-pty\'s does, and the size stays', async () => {
    const session = new Session(spawnPty('/bin/sh', [], { user: 'nobody', cwd: '/tmp', cols: 90, rows: 33 }));
    const resize = session.pty.resize.bind(session.pty) as (...args: unknown[]) => void;
    expect(() => resize()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => resize(100)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => resize(0, 10)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => resize(Number.NaN, 10)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(session.pty.cols).toBe(90);
    expect((await session.run('stty size')).trim()).toBe('33 90');
    session.pty.write('exit\r');
    expect(await session.exited).toEqual({ exitCode: 0, signal: 0 });
  });
});

describe('the data path', () => {
  const TEN_MB = 10 * 1024 * 1024;
  let file: string;
  let digest: string;
  beforeAll(() => {
    const bytes = randomBytes(TEN_MB);
    file = path.join(dir, 'ten-mb');
    fs.writeFileSync(file, bytes, { mode: 0o644 });
    digest = createHash('sha256').update(bytes).digest('hex');
  });

  it('delivers 10 MB the workload writes, complete and in order, all before onExit', async () => {
    // Raw and without echo, the terminal passes every byte through (no \n -> \r\n).
    const pty = spawnPty('/bin/sh', ['-c', `stty raw -echo; printf START; cat '${file}'`], { user: 'nobody', encoding: null });
    const chunks: Buffer[] = [];
    pty.onData((chunk) => chunks.push(chunk));
    const exit = await new Promise<IExitEvent & { received: number }>((resolve) =>
      pty.onExit((event) => resolve({ ...event, received: chunks.reduce((n, c) => n + c.length, 0) })),
    );
    expect(exit).toEqual({ exitCode: 0, signal: 0, received: TEN_MB + 5 });
    const all = Buffer.concat(chunks);
    expect(all.subarray(0, 5).toString()).toBe('START');
    expect(createHash('sha256').update(all.subarray(5)).digest('hex')).toBe(digest);
  });

  it('delivers 10 MB written to the terminal, complete and in order, to a workload that reads slowly', async () => {
    const pty = spawnPty('/bin/sh', ['-c', 'stty raw -echo; printf READY; head -c 10485760 | sha256sum'], { user: 'nobody' });
    let output = '';
    pty.onData((data) => {
      output += data;
    });
    const exited = new Promise<IExitEvent>((resolve) => pty.onExit(resolve));
    await until(() => output.includes('READY'));
    const bytes = fs.readFileSync(file);
    pty.write(bytes.subarray(0, 4096)); // several writes, queued in order
    pty.write(bytes.subarray(4096));
    expect(await exited).toEqual({ exitCode: 0, signal: 0 });
    expect(output).toContain(digest);
  });

  it('delivers a background job\'s terminal to its end, and reports the exit though the job keeps the terminal open', async () => {
    // The job ignores SIGHUP and holds the terminal after the shell exits: the exit comes once
    // the grace has passed and the terminal is closed (which hangs the job up).
    const pty = spawnPty('/bin/sh', ['-c', '(trap "" HUP; exec sleep 1000) & echo "job $!"; echo bye'], { user: 'nobody' });
    let output = '';
    pty.onData((data) => {
      output += data;
    });
    const exit = await new Promise<IExitEvent>((resolve) => pty.onExit(resolve));
    expect(exit).toEqual({ exitCode: 0, signal: 0 });
    expect(output).toContain('bye');
    const job = Number(/job (\d+)/.exec(output)![1]);
    // The job was hung up (its terminal is gone) but ignores it: still there, to be cleaned up.
    expect(fs.existsSync(`/proc/${job}`)).toBe(true);
    process.kill(job, 'SIGKILL');
  });

  it('delivers the last output of a workload whole, exit after exit (libuv would end the master early)', async () => {
    // A master hands over at most 4095 bytes per read; libuv takes the kernel's hangup after a
    // short read for the end, while the terminal still holds data. 45 000 bytes, 20 times.
    const source = path.join(dir, 'short');
    const bytes = randomBytes(45_000);
    fs.writeFileSync(source, bytes, { mode: 0o644 });
    for (let i = 0; i < 20; i++) {
      const pty = spawnPty('/bin/sh', ['-c', `stty raw -echo; cat '${source}'`], { user: 'nobody', encoding: null });
      const chunks: Buffer[] = [];
      pty.onData((chunk) => chunks.push(chunk));
      await new Promise((resolve) => pty.onExit(resolve));
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    }
  });

  it.each(['pause()', 'XOFF'])('a reader paused (%s) past the reap gets every byte after resuming, and onExit after the last', async (how) => {
    const bytes = randomBytes(10000);
    const source = path.join(dir, 'paused-source');
    fs.writeFileSync(source, bytes, { mode: 0o644 });
    const pty = spawnPty('/bin/sh', ['-c', `stty raw -echo; printf READY; head -c 1 >/dev/null; cat '${source}'`], { user: 'nobody', encoding: null, handleFlowControl: true });
    const chunks: Buffer[] = [];
    pty.onData((data) => chunks.push(data));
    let atExit = -1;
    const exited = new Promise<IExitEvent>((resolve) => pty.onExit((event) => {
      atExit = Buffer.concat(chunks).length;
      resolve(event);
    }));
    await until(() => Buffer.concat(chunks).toString('latin1').includes('READY'));
    if (how === 'XOFF') pty.write('\x13');
    else pty.pause();
    pty.write('g');
    // The workload writes everything and is reaped; the grace after the reap then runs out
    // while the reader is still paused (the delay is what makes it run out, nothing is timed).
    await until(() => !fs.existsSync(`/proc/${pty.pid}`));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(atExit).toBe(-1);
    if (how === 'XOFF') pty.write('\x11');
    else pty.resume();
    expect(await exited).toEqual({ exitCode: 0, signal: 0 });
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(5 + bytes.length);
    expect(all.subarray(5).equals(bytes)).toBe(true);
    expect(atExit).toBe(all.length);
  });

  it('with handleFlowControl, XOFF and XON pause and resume the output instead of reaching the workload', async () => {
    const pty = spawnPty('/bin/sh', ['-c', 'stty raw -echo; printf READY; head -c 1 | od -An -tx1'], { user: 'nobody', handleFlowControl: true });
    let output = '';
    pty.onData((data) => {
      output += data;
    });
    await until(() => output.includes('READY'));
    pty.write('\x13');
    pty.write('\x11');
    pty.write('z');
    expect(await new Promise((resolve) => pty.onExit(resolve))).toEqual({ exitCode: 0, signal: 0 });
    expect(output.replace('READY', '').trim()).toBe('7a'); // the 'z', not the XOFF
  });

  it('delivers output split in any place into whole characters (utf8 by default)', async () => {
    const text = 'é€😀'.repeat(5000);
    const source = path.join(dir, 'utf8');
    fs.writeFileSync(source, text, { mode: 0o644 });
    const pty = spawnPty('/bin/sh', ['-c', `stty raw -echo; cat '${source}'`], { user: 'nobody' });
    let output = '';
    pty.onData((data) => {
      expect(typeof data).toBe('string');
      output += data;
    });
    await new Promise((resolve) => pty.onExit(resolve));
    expect(output).toBe(text);
  });
});

describe('resources', () => {
  it('100 terminals opened and closed leave no descriptor and no zombie in the supervisor', async () => {
    const warm = spawnPty('/bin/true');
    await new Promise((resolve) => warm.onExit(resolve)); // sets up the exit channel, which takes descriptors
    const before = fdCount();
    const exits: Promise<IExitEvent>[] = [];
    for (let i = 0; i < 100; i++) {
      // Half end by themselves, half are closed by the supervisor while they run.
      const pty = spawnPty('/bin/sleep', [i % 2 === 0 ? '0' : '1000'], { user: 'nobody' });
      exits.push(new Promise((resolve) => pty.onExit(resolve)));
      if (i % 2 === 1) pty.destroy();
    }
    const results = await Promise.all(exits);
    expect(results.filter((r) => r.exitCode === 0 && r.signal === 0)).toHaveLength(50);
    expect(results.filter((r) => r.signal === 1)).toHaveLength(50); // hung up: SIGHUP
    expect(fdCount()).toBe(before);
    expect(childPids()).toEqual([]);
  });

  it('works in a worker thread: its own exits, its own terminal, no warning', () => {
    const index = path.resolve(__dirname, '../dist/index.js');
    const script = `
      const { Worker } = require('node:worker_threads');
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        import(\${JSON.stringify(${JSON.stringify(index)})}).then(({ spawnPty }) => {
          const pty = spawnPty('/bin/sh', ['-c', 'tty; id -u'], { user: 'nobody' });
          let out = '';
          pty.onData((d) => { out += d; });
          pty.onExit((e) => parentPort.postMessage({ ...e, out }));
        });\`, { eval: true });
      worker.on('message', (m) => { console.log(JSON.stringify(m)); worker.terminate(); });`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout.trim());
    expect(report).toMatchObject({ exitCode: 0, signal: 0 });
    expect(report.out).toMatch(/^\/dev\/pts\/\d+\r\n65534\r\n$/);
  });

  it('a workload that reads nothing does not stall the supervisor while it is written to', async () => {
    // Raw, so the terminal keeps what it is given (a canonical one drops a line past 4095 bytes)
    // and refuses more once its buffer is full.
    const pty = spawnPty('/bin/sh', ['-c', 'stty raw -echo; printf READY; exec sleep 1000'], { user: 'nobody' });
    let output = '';
    pty.onData((data) => {
      output += data;
    });
    await until(() => output.includes('READY'));
    pty.write(Buffer.alloc(1 << 20, 'x')); // far more than the terminal's input buffer holds
    let ticks = 0;
    await until(() => ++ticks >= 20); // the loop keeps running timers
    pty.kill('SIGKILL');
    expect(await new Promise((resolve) => pty.onExit(resolve))).toEqual({ exitCode: 0, signal: 9 });
  });
});

describe('refusals', () => {
  it('the Podman case (setpriv --bounding-set=-setpcap) refuses the shell and runs nothing', () => {
    const marker = path.join(dir, 'podman-ran');
    const index = path.resolve(__dirname, '../dist/index.js');
    const script = `
      import { spawnPty } from ${JSON.stringify(index)};
      import { readdirSync, readFileSync } from 'node:fs';
      let report;
      try {
        spawnPty('/bin/sh', ['-c', 'touch ${marker}'], { user: 'nobody' });
        report = { started: true };
      } catch (error) {
        report = { code: error.code, stage: error.stage, message: error.message, remaining: error.remaining };
      }
      const children = readdirSync('/proc/self/task').flatMap((t) => readFileSync('/proc/self/task/' + t + '/children', 'utf8').split(' ').filter(Boolean));
      console.log(JSON.stringify({ ...report, children }));
    `;
    const out = execFileSync('setpriv', ['--bounding-set=-setpcap', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const report = JSON.parse(out.trim().split('\n').pop()!);
    expect(report.code).toBe('ERR_CAPSPAWN_BOUNDING_SET');
    expect(report.stage).toBe('bounding-set');
    expect(report.message).toContain("boundingSet: 'inherit'");
    expect(report.children).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  describe('under a seccomp profile', () => {
    let helper: string;
    beforeAll(() => {
      helper = path.join(dir, 'errno-filter');
      execFileSync('gcc', ['-O2', '-o', helper, path.join(__dirname, 'fixtures', 'errno-filter.c')], { stdio: 'inherit' });
    });
    const SYS_IOCTL = process.arch === 'arm64' ? 29 : 16;
    const TIOCSCTTY = 0x540e;
    const TIOCGPTPEER = 0x5441;
    const EPERM = 1;
    const EINVAL = 22;
    const index = path.resolve(__dirname, '../dist/index.js');
    /** Runs `body` (an ES module's code, with spawnPty imported) in a node under the filter;
     * returns the JSON it printed last. */
    const under = (request: number, errno: number, body: string) => {
      const script = `import { spawnPty } from ${JSON.stringify(index)};\n${body}`;
      const args = [String(SYS_IOCTL), String(errno), `1=${request}`, '--', process.execPath, '--input-type=module', '-e', script];
      const out = execFileSync(helper, args, { encoding: 'utf8' });
      return JSON.parse(out.trim().split('\n').pop()!);
    };

    it('that refuses TIOCSCTTY, refuses the shell with ERR_CAPSPAWN_TERMINAL, the fix first, and runs nothing', () => {
      const marker = path.join(dir, 'tiocsctty-ran');
      const report = under(TIOCSCTTY, EPERM, `
        try { spawnPty('/bin/sh', ['-c', 'touch ${marker}'], { user: 'nobody' }); console.log('{"started":true}'); }
        catch (error) { console.log(JSON.stringify({ code: error.code, stage: error.stage, syscall: error.syscall, message: error.message })); }`);
      expect(report).toMatchObject({ code: 'ERR_CAPSPAWN_TERMINAL', stage: 'terminal', syscall: 'ioctl(TIOCSCTTY)' });
      expect(report.message).toMatch(/^spawn \/bin\/sh: allow ioctl\(TIOCSCTTY\)/);
      expect(fs.existsSync(marker)).toBe(false);
    });

    it('that answers TIOCGPTPEER as a kernel before 4.13 does, on this newer kernel, refuses the shell with ERR_CAPSPAWN_TERMINAL and opens nothing by name', () => {
      const marker = path.join(dir, 'tiocgptpeer-ran');
      const report = under(TIOCGPTPEER, EINVAL, `
        try { spawnPty('/bin/sh', ['-c', 'touch ${marker}'], { user: 'nobody' }); console.log('{"started":true}'); }
        catch (error) { console.log(JSON.stringify({ code: error.code, stage: error.stage, syscall: error.syscall, errno: error.errno, message: error.message })); }`);
      expect(report).toMatchObject({ code: 'ERR_CAPSPAWN_TERMINAL', stage: 'terminal', syscall: 'ioctl(TIOCGPTPEER)', errno: -EINVAL });
      expect(report.message).toContain('Allow ioctl(TIOCGPTPEER)');
      expect(fs.existsSync(marker)).toBe(false);
    });
  });

  const BAD: { options: Record<string, unknown>; code: string }[] = [
    { options: { user: 1.5 }, code: 'ERR_OUT_OF_RANGE' },
    { options: { user: null }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { user: 'no-such-user-here' }, code: 'ERR_CAPSPAWN_UNKNOWN_USER' },
    { options: { uid: 'root' }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { user: 'nobody', uid: 0 }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { boundingSet: 'off' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { noNewPrivs: 'yes' }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { capabilities: 'NET_RAW' }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { capabilities: [64] }, code: 'ERR_OUT_OF_RANGE' },
    { options: { securebits: 'on' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { umask: 0o1000 }, code: 'ERR_OUT_OF_RANGE' },
    { options: { rlimits: { nofile: [10, 5] } }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { parentDeathSignal: 'SIGNOPE' }, code: 'ERR_UNKNOWN_SIGNAL' },
    { options: { supplementaryGroups: 'some' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { cwd: 'a\0b' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { env: { A: 'x\0y' } }, code: 'ERR_INVALID_ARG_VALUE' },
  ];

  it.each(BAD)('$options throws $code synchronously, as spawn() does, and starts nothing', ({ options, code }) => {
    const before = fdCount();
    let ptyError: (Error & { code?: string }) | undefined;
    let spawnError: (Error & { code?: string }) | undefined;
    try {
      spawnPty('/bin/true', [], options as PtyOptions);
    } catch (error) {
      ptyError = error as Error;
    }
    try {
      spawn('/bin/true', [], options);
    } catch (error) {
      spawnError = error as Error;
    }
    expect(ptyError?.code).toBe(code);
    expect(ptyError?.code).toBe(spawnError?.code);
    expect(ptyError?.message).toBe(spawnError?.message);
    expect(fdCount()).toBe(before);
    expect(childPids()).toEqual([]);
  });

  const PTY_BAD: { options: Record<string, unknown>; code: string }[] = [
    { options: { cols: 0 }, code: 'ERR_OUT_OF_RANGE' },
    { options: { rows: 65536 }, code: 'ERR_OUT_OF_RANGE' },
    { options: { cols: '80' }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { name: '' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { name: 5 }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { encoding: 'klingon' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { handleFlowControl: 1 }, code: 'ERR_INVALID_ARG_TYPE' },
    { options: { stdio: 'pipe' }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { detached: true }, code: 'ERR_INVALID_ARG_VALUE' },
    { options: { usr: 'nobody' }, code: 'ERR_INVALID_ARG_VALUE' },
  ];

  it.each(PTY_BAD)('$options throws $code synchronously and starts nothing', ({ options, code }) => {
    const before = fdCount();
    expect(() => spawnPty('/bin/true', [], options as PtyOptions)).toThrow(expect.objectContaining({ code }));
    expect(fdCount()).toBe(before);
  });

  it('a polluted Object.prototype changes nothing about the drop', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.boundingSet = 'inherit';
    proto.noNewPrivs = false;
    proto.encoding = 'hex';
    try {
      const session = new Session(spawnPty('/bin/sh', [], { user: 'nobody' }));
      const status = parseStatus(await session.run('cat /proc/self/status'));
      expect(status.capBnd).toBe(0n);
      expect(status.noNewPrivs).toBe(1);
      session.pty.write('exit\r');
      await session.exited;
    } finally {
      delete proto.boundingSet;
      delete proto.noNewPrivs;
      delete proto.encoding;
    }
  });

  it('a program that is not there is thrown as ENOENT, as spawn() emits it', () => {
    expect(() => spawnPty('/no/such/program')).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/no/such/program' }));
    expect(childPids()).toEqual([]);
  });
});

describe('capspawn exec --pty', () => {
  const CLI = path.resolve(__dirname, '../dist/cli.js');

  it('runs the command in a terminal of its own, relaying ours raw, with its size and size changes', async () => {
    // Our terminal (the outer one, made by spawnPty) runs the CLI, which makes the inner one;
    // the CLI keeps what it needs to drop to nobody in turn.
    const argv = [CLI, 'exec', '--pty', '--user', 'nobody', '--', '/bin/sh'];
    const outer = new Session(spawnPty(process.execPath, argv, { cols: 90, rows: 20, capabilities: ['SETUID', 'SETGID', 'SETPCAP'] }));
    const tty = (await outer.run('tty')).trim();
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    expect((await outer.run('stty size')).trim()).toBe('20 90');
    expect((await outer.run('id -u')).trim()).toBe('65534');
    const status = parseStatus(await outer.run('cat /proc/self/status'));
    expect([status.capInh, status.capPrm, status.capEff, status.capBnd, status.capAmb]).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(status.noNewPrivs).toBe(1);
    // Ours is raw: what is typed is echoed once, by the inner terminal, not twice.
    const start = outer.output.length;
    await outer.run('echo once-$((40 + 2))');
    expect(outer.output.slice(start).split('echo once-$((40 + 2))').length - 1).toBe(1);
    // A resize of ours reaches the command as SIGWINCH and a new size.
    await outer.run("trap 'echo got-winch' WINCH");
    const before = outer.output.length; // the typed trap line's echo holds 'got-winch' too
    outer.pty.resize(120, 40);
    // The CLI relays the resize asynchronously (its SIGWINCH, then the inner terminal's): let it
    // land while the shell is in the foreground, not while `stty` is, which would take the
    // signal instead (at most 2 s; the assertions below decide).
    await Promise.race([until(() => outer.output.indexOf('got-winch', before) >= 0), new Promise((r) => setTimeout(r, 2000))]);
    const size = await outer.run('stty size');
    await outer.run('true');
    expect(size.split('\n').filter((line) => line !== 'got-winch' && line !== '')).toEqual(['40 120']);
    expect(outer.output.indexOf('got-winch', before)).toBeGreaterThan(0);
    // ^C typed interrupts the command's foreground job, not the CLI.
    outer.pty.write('sleep 1000\r');
    await until(() => outer.output.lastIndexOf('sleep 1000') > start);
    await until(() => execFileSync('ps', ['-o', 'comm=', '-t', tty.replace('/dev/', '')], { encoding: 'utf8' }).includes('sleep'));
    outer.pty.write('\x03');
    expect((await outer.run('echo after-interrupt')).trim()).toBe('after-interrupt');
    outer.pty.write('exit 5\r');
    expect(await outer.exited).toEqual({ exitCode: 5, signal: 0 });
  });

  const cli = (args: string[], input: string, wrapper: string[] = []) => {
    const argv = [...wrapper, process.execPath, CLI, 'exec', '--pty', ...args];
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, timeout: 20_000 });
  };

  it('works without a terminal on stdin: a pipe is relayed, its end is ^D, the status is the command\'s', () => {
    const sized = cli(['--user', 'nobody', '--', 'sh', '-c', 'tty; stty size; exit 4'], '');
    expect(sized.status).toBe(4);
    expect(sized.stdout).toMatch(/^\/dev\/pts\/\d+\r\n24 80\r\n$/);
    const typed = cli(['--user', 'nobody', '--', '/bin/sh'], 'echo piped-$((2 + 3))\nexit 6\n');
    expect(typed.status).toBe(6);
    expect(typed.stdout).toContain('piped-5');
    const ended = cli(['--user', 'nobody', '--', '/bin/sh'], 'echo ended-$((1 + 1))\n'); // no exit: ^D ends it
    expect(ended.status).toBe(0);
    expect(ended.stdout).toContain('ended-2');
    const killed = cli(['--', 'sh', '-c', 'kill -TERM $$'], '');
    expect(killed.status).toBe(128 + 15);
  });

  it('passes a signal sent to it on to the command (SIGUSR1, trapped: the status is the trap\'s)', async () => {
    const argv = [CLI, 'exec', '--pty', '--', 'sh', '-c', 'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.05; done'];
    const child = cpSpawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await until(() => out.includes('ready'));
    child.kill('SIGUSR1');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(out).toContain('got-usr1');
    expect(code).toBe(7);
  });

  it('takes the sandbox layers\' flags (--net none here), which it refused with 125 before', () => {
    const result = cli(['--user', 'nobody', '--net', 'none', '--', 'sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1; exit 5'], '');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(5);
    expect(result.stdout.replace(/\r\n/g, '\n').split('\n').map((line) => line.trim())).toEqual(['lo', '']);
  });

  it('refuses the command in the Podman case with the bounding-set code, in its flags, and runs nothing', () => {
    const marker = path.join(dir, 'cli-pty-ran');
    const result = cli(['--user', 'nobody', '--', 'touch', marker], '', ['setpriv', '--bounding-set=-setpcap']);
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('capspawn: ERR_CAPSPAWN_BOUNDING_SET');
    expect(result.stderr).toContain('--inherit-bounding-set');
    expect(fs.existsSync(marker)).toBe(false);
    expect(cli(['--', '/no/such/command'], '').status).toBe(127);
  });
});
