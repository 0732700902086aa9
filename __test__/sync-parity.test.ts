/**
 * spawnSync, execFileSync, execSync, execFile and exec against child_process's own: each scenario
 * runs through both, and what an observer sees (status, signal, output, the error's fields and
 * message, the order of the result's keys) is compared. Only what differs by nature is normalised:
 * pids (compared as "a pid" or 0) and stack traces.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import * as capspawn from '../dist/index.js';
import { childPids, parseStatus, requirePrivilege, tempDir } from './helpers.js';

type Any = Record<string, any>;

/** The fields of an error an observer looks at, in Node's order, without the stack. */
function errorView(error: unknown): Any | undefined {
  if (error === undefined || error === null) return undefined;
  const e = error as Any;
  const view: Any = { name: e.name, message: e.message, keys: Object.keys(e).filter((k) => k !== 'stage' && k !== 'remaining') };
  for (const key of view.keys as string[]) {
    if (key === 'error') view.error = e.error === e ? '[self]' : errorView(e.error);
    else if (key === 'pid') view.pid = e.pid > 0 ? 'a pid' : e.pid;
    else view[key] = e[key];
  }
  return view;
}

/** A spawnSync result as an observer sees it. */
function resultView(result: Any): Any {
  const view: Any = { keys: Object.keys(result) };
  for (const key of view.keys as string[]) {
    if (key === 'error') view.error = errorView(result.error);
    else if (key === 'pid') view.pid = result.pid > 0 ? 'a pid' : result.pid;
    else view[key] = result[key];
  }
  return view;
}

/** Both libraries' spawnSync on the same arguments. */
function bothSpawnSync(...args: unknown[]): [Any, Any] {
  const node = (cp.spawnSync as (...a: unknown[]) => Any)(...args);
  const ours = (capspawn.spawnSync as (...a: unknown[]) => Any)(...args);
  return [resultView(node), resultView(ours)];
}

function thrownBy(f: () => unknown): Any | undefined {
  try {
    f();
  } catch (error) {
    return errorView(error);
  }
  return undefined;
}

/** Both libraries' function (execFileSync, execSync) on the same arguments: what it returned or threw. */
function bothSync(name: 'execFileSync' | 'execSync', ...args: unknown[]): [Any, Any] {
  const run = (f: (...a: unknown[]) => unknown) => {
    let returned: unknown;
    const thrown = thrownBy(() => (returned = f(...args)));
    return { returned, thrown };
  };
  return [run(cp[name] as never), run(capspawn[name] as never)];
}

/** Both libraries' callback function (execFile, exec): (error, stdout, stderr). */
async function bothCallback(name: 'execFile' | 'exec', ...args: unknown[]): Promise<[Any, Any]> {
  const run = (f: (...a: unknown[]) => unknown) =>
    new Promise<Any>((resolve) => {
      f(...args, (error: unknown, stdout: unknown, stderr: unknown) => resolve({ error: errorView(error), stdout, stderr }));
    });
  return [await run(cp[name] as never), await run(capspawn[name] as never)];
}

/** Both libraries' function through util.promisify: what it resolved or rejected with. */
async function bothPromisified(name: 'execFile' | 'exec', ...args: unknown[]): Promise<[Any, Any]> {
  const run = async (f: (...a: unknown[]) => Promise<unknown> & { child?: { pid?: number } }) => {
    const promise = f(...args);
    const child = !(promise.child instanceof cp.ChildProcess) ? promise.child : promise.child.pid ? 'a child with a pid' : 'a child';
    try {
      return { resolved: await promise, child };
    } catch (error) {
      return { rejected: errorView(error), child };
    }
  };
  return [await run(promisify(cp[name]) as never), await run(promisify(capspawn[name]) as never)];
}

beforeEach((ctx) => requirePrivilege(ctx)); // every capspawn spawn here empties the bounding set

describe('spawnSync, as child_process.spawnSync', () => {
  it('status, stdout, stderr and output', () => {
    const [node, ours] = bothSpawnSync('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(ours).toEqual(node);
    expect(ours.status).toBe(3);
  });

  it('input (a string, in the given encoding) and text output', () => {
    const [node, ours] = bothSpawnSync('cat', { input: 'caf\u00e9', encoding: 'latin1' });
    expect(ours).toEqual(node);
    expect(ours.stdout).toBe('caf\u00e9');
  });

  it('a 4 MiB input crossed with its 4 MiB output (far over a pipe buffer), maxBuffer Infinity', () => {
    const input = Buffer.from(Array.from({ length: 4 << 20 }, (_, i) => i % 251));
    const [node, ours] = bothSpawnSync('cat', { input, maxBuffer: Infinity });
    expect(input.equals(ours.stdout)).toBe(true); // Buffer.equals: a deep comparison of 4 MiB is slow
    expect(input.equals(node.stdout)).toBe(true);
    const skip = { output: undefined, stdout: undefined };
    expect({ ...ours, ...skip }).toEqual({ ...node, ...skip });
  });

  it('a typed array input, and an input left unused when stdin is not a pipe', () => {
    let [node, ours] = bothSpawnSync('cat', { input: new Uint8Array([104, 105]) });
    expect(ours).toEqual(node);
    expect(ours.stdout).toEqual(Buffer.from('hi'));
    [node, ours] = bothSpawnSync('cat', { input: 'unused', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(ours).toEqual(node);
  });

  it('a missing program: result.error ENOENT, output null, pid 0', () => {
    const [node, ours] = bothSpawnSync('capspawn-no-such-program', ['a']);
    expect(ours).toEqual(node);
    expect(ours.error.code).toBe('ENOENT');
  });

  it('a file that is not executable: EACCES', () => {
    const dir = tempDir('sync-eacces');
    const file = path.join(dir, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o644 });
    const [node, ours] = bothSpawnSync(file);
    expect(ours).toEqual(node);
    expect(ours.error.code).toBe('EACCES');
    fs.rmSync(dir, { recursive: true });
  });

  it('timeout: ETIMEDOUT, killed with SIGTERM, or killSignal', () => {
    let [node, ours] = bothSpawnSync('sleep', ['30'], { timeout: 100 });
    expect(ours).toEqual(node);
    expect([ours.error.code, ours.signal]).toEqual(['ETIMEDOUT', 'SIGTERM']);
    [node, ours] = bothSpawnSync('sleep', ['30'], { timeout: 100, killSignal: 'SIGKILL' });
    expect(ours).toEqual(node);
    expect(ours.signal).toBe('SIGKILL');
    expect(childPids()).toEqual([]);
  });

  it('a timed-out child that ignores the signal is waited for, as child_process waits', () => {
    // 500 ms: time enough for the shell to set its trap before the timeout, even under load.
    const [node, ours] = bothSpawnSync('sh', ['-c', 'trap "" TERM; sleep 1; exit 4'], { timeout: 500 });
    expect(ours).toEqual(node);
    expect([ours.error.code, ours.status]).toEqual(['ETIMEDOUT', 4]);
  });

  it('output over maxBuffer: ENOBUFS, killed, what was read kept', () => {
    const run = (f: typeof cp.spawnSync) => {
      const r = f('sh', ['-c', 'head -c 1000000 /dev/zero; exec sleep 30'], { maxBuffer: 10 }) as Any;
      return { ...resultView(r), output: undefined, stdout: r.stdout.length > 10 && r.stdout.length < 1000000 };
    };
    const ours = run(capspawn.spawnSync as never);
    expect(ours).toEqual(run(cp.spawnSync));
    expect([ours.error.code, ours.signal, ours.stdout]).toEqual(['ENOBUFS', 'SIGTERM', true]);
  });

  it('output of exactly maxBuffer bytes is no overflow; maxBuffer counts stdout and stderr together', () => {
    let [node, ours] = bothSpawnSync('printf', ['0123456789'], { maxBuffer: 10 });
    expect(ours).toEqual(node);
    expect(ours.error).toBeUndefined();
    // 6 bytes on each: over 10 together. (The child then waits, so that the kill always finds it.)
    [node, ours] = bothSpawnSync('sh', ['-c', 'printf 012345; printf 012345 >&2; exec sleep 30'], { maxBuffer: 10 });
    expect([ours.error?.code, ours.signal]).toEqual([node.error?.code, node.signal]);
    expect([ours.error?.code, ours.signal]).toEqual(['ENOBUFS', 'SIGTERM']);
  });

  it('a child that closes its stdin before reading the input: EPIPE, its status kept', () => {
    const [node, ours] = bothSpawnSync('sh', ['-c', 'exec 0<&-; exit 7'], { input: Buffer.alloc(1 << 20) });
    expect(ours).toEqual(node);
    expect([ours.error.code, ours.status]).toEqual(['EPIPE', 7]);
  });

  it('killed by a signal: status null, the signal named', () => {
    const [node, ours] = bothSpawnSync('sh', ['-c', 'kill -ABRT $$']);
    expect(ours).toEqual(node);
    expect(ours.signal).toBe('SIGABRT');
  });

  it("stdio: 'inherit' gives no output; a 'pipe' beyond 2 has its own", () => {
    let [node, ours] = bothSpawnSync('true', { stdio: 'inherit' });
    expect(ours).toEqual(node);
    [node, ours] = bothSpawnSync('sh', ['-c', 'echo three >&3'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    expect(ours).toEqual(node);
    expect(ours.output[3]).toEqual(Buffer.from('three\n'));
  });

  it('shell, argv0, cwd and env', () => {
    const dir = tempDir('sync-cwd');
    for (const args of [
      ['echo "$0" "$1" "$PWD" "$X"', ['more'], { shell: true, cwd: dir, env: { X: 'y', PATH: process.env.PATH }, encoding: 'utf8' }],
      ['echo "$0" "$BASH_VERSION" | cut -c1-12', { shell: '/bin/bash', encoding: 'utf8' }],
      ['sh', ['-c', 'echo $0'], { argv0: 'custom-argv0', encoding: 'utf8' }],
    ]) {
      const [node, ours] = bothSpawnSync(...args);
      expect(ours).toEqual(node);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('the same errors thrown for bad arguments', () => {
    for (const args of [
      ['cat', { input: 5 }],
      ['cat', { maxBuffer: -1 }],
      ['cat', { killSignal: 'SIGNOPE' }],
      [5],
    ]) {
      const node = thrownBy(() => (cp.spawnSync as (...a: unknown[]) => unknown)(...args));
      const ours = thrownBy(() => (capspawn.spawnSync as (...a: unknown[]) => unknown)(...args));
      expect(ours?.code).toBe(node?.code);
      expect(ours?.name).toBe(node?.name);
    }
  });
});

describe('execFileSync and execSync, as child_process', () => {
  it('return stdout, a Buffer or text', () => {
    for (const args of [['echo', ['a', 'b']], ['echo', ['a'], { encoding: 'utf8' }], ['printf', { encoding: 'hex' }]]) {
      const [node, ours] = bothSync('execFileSync', ...args);
      expect(ours).toEqual(node);
    }
    const [node, ours] = bothSync('execSync', 'echo "$0"', { encoding: 'utf8' });
    expect(ours).toEqual(node);
    expect(ours.returned).toBe('/bin/sh\n');
  });

  it('throw Command failed with status, stdout, stderr and output for a status other than 0', () => {
    let [node, ours] = bothSync('execFileSync', 'sh', ['-c', 'echo out; echo err >&2; exit 2'], { stdio: 'pipe' });
    expect(ours).toEqual(node);
    expect(ours.thrown.message).toBe('Command failed: sh -c echo out; echo err >&2; exit 2\nerr\n');
    [node, ours] = bothSync('execSync', 'exit 5', { stdio: 'pipe', encoding: 'utf8' });
    expect(ours).toEqual(node);
    expect(ours.thrown.status).toBe(5);
  });

  it('throw the spawn error, with the result on it (ENOENT, ETIMEDOUT)', () => {
    let [node, ours] = bothSync('execFileSync', 'capspawn-no-such-program', ['x']);
    expect(ours).toEqual(node);
    expect(ours.thrown.error).toBe('[self]');
    [node, ours] = bothSync('execSync', 'sleep 30', { timeout: 100 });
    expect(ours).toEqual(node);
    expect(ours.thrown.code).toBe('ETIMEDOUT');
  });
});

describe('execFile and exec, as child_process', () => {
  it('call back with the output, as text by default', async () => {
    const [node, ours] = await bothCallback('execFile', 'sh', ['-c', 'echo out; echo err >&2']);
    expect(ours).toEqual(node);
    expect(ours).toEqual({ error: undefined, stdout: 'out\n', stderr: 'err\n' });
  });

  it("as Buffers with encoding 'buffer'", async () => {
    const [node, ours] = await bothCallback('execFile', 'echo', ['x'], { encoding: 'buffer' });
    expect(ours).toEqual(node);
    expect(Buffer.isBuffer(ours.stdout)).toBe(true);
  });

  it('a failure: Command failed, code, killed, signal, cmd', async () => {
    let [node, ours] = await bothCallback('execFile', 'sh', ['-c', 'echo partial; exit 4']);
    expect(ours).toEqual(node);
    expect(ours.error).toMatchObject({ code: 4, killed: false, signal: null, cmd: 'sh -c echo partial; exit 4' });
    [node, ours] = await bothCallback('exec', 'kill -TERM $$');
    expect(ours).toEqual(node);
    expect(ours.error.signal).toBe('SIGTERM');
  });

  it('a missing program: the spawn error with cmd', async () => {
    const [node, ours] = await bothCallback('execFile', 'capspawn-no-such-program', ['a']);
    expect(ours).toEqual(node);
    expect(ours.error.code).toBe('ENOENT');
  });

  it('timeout: killed with killSignal', async () => {
    for (const options of [{ timeout: 100 }, { timeout: 100, killSignal: 'SIGKILL' }]) {
      const [node, ours] = await bothCallback('execFile', 'sleep', ['30'], options);
      expect(ours).toEqual(node);
      expect(ours.error.killed).toBe(true);
    }
  });

  it('maxBuffer: ERR_CHILD_PROCESS_STDIO_MAXBUFFER, the output cut at maxBuffer', async () => {
    for (const encoding of ['utf8', 'buffer']) {
      const [node, ours] = await bothCallback('execFile', 'sh', ['-c', 'head -c 100000 /dev/zero; exec sleep 30'], { maxBuffer: 10, encoding });
      expect(ours).toEqual(node);
      expect(ours.error.code).toBe('ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
      expect(ours.stdout.length).toBe(10);
    }
  });

  it('an aborted signal: AbortError', async () => {
    const run = (f: typeof cp.execFile) =>
      new Promise<Any>((resolve) => {
        const controller = new AbortController();
        f('sleep', ['30'], { signal: controller.signal }, (error) => resolve(errorView(error)!));
        setImmediate(() => controller.abort());
      });
    const ours = await run(capspawn.execFile as never);
    expect({ ...ours, message: undefined }).toEqual({ ...(await run(cp.execFile)), message: undefined });
    expect(ours.name).toBe('AbortError');
  });

  it('util.promisify: { stdout, stderr }, or a rejection carrying them; the child on the promise', async () => {
    for (const args of [
      ['execFile', 'sh', ['-c', 'echo out; echo err >&2']],
      ['execFile', 'sh', ['-c', 'echo out; echo err >&2; exit 1']],
      ['execFile', 'capspawn-no-such-program'],
      ['exec', 'echo "$0"'],
      ['exec', 'echo "$0"; exit 3', { shell: '/bin/bash', encoding: 'buffer' }],
    ] as const) {
      const [node, ours] = await bothPromisified(...(args as unknown as ['execFile', ...unknown[]]));
      expect(ours).toEqual(node);
    }
  });

  it('the same errors thrown for bad arguments', () => {
    for (const args of [
      ['echo', [], { timeout: -1 }],
      ['echo', [], { maxBuffer: 'big' }],
      ['echo', [], { killSignal: 'SIGNOPE' }],
      ['echo', [], {}, 'not a function'],
      ['echo', 5],
    ]) {
      const node = thrownBy(() => (cp.execFile as (...a: unknown[]) => unknown)(...args));
      const ours = thrownBy(() => (capspawn.execFile as (...a: unknown[]) => unknown)(...args));
      expect(ours?.code).toBe(node?.code);
    }
  });
});

describe('the privilege drop and the refusal, in every function', () => {
  it('each runs the workload with the drop: an empty bounding set, as nobody', async () => {
    const cat = ['cat', ['/proc/self/status'], { user: 'nobody', encoding: 'utf8' }] as const;
    const texts = [
      capspawn.spawnSync(...cat).stdout,
      capspawn.execFileSync(...cat),
      capspawn.execSync('cat /proc/self/status', { user: 'nobody', encoding: 'utf8' }),
      (await promisify(capspawn.execFile)(...cat)).stdout,
      (await promisify(capspawn.exec)('cat /proc/self/status', { user: 'nobody', encoding: 'utf8' })).stdout,
    ];
    expect(texts).toHaveLength(5);
    for (const text of texts) {
      const status = parseStatus(text);
      expect(status.capBnd).toBe(0n);
      expect(status.capEff | status.capPrm | status.capInh | status.capAmb).toBe(0n);
      expect(status.uid).toEqual([65534, 65534, 65534, 65534]);
    }
  });

  it('where the bounding set cannot be emptied, none runs the workload: the refusal, as result.error or thrown', () => {
    const dir = tempDir('sync-refusal');
    const marker = path.join(dir, 'ran');
    const script = `
      import { spawnSync, execFileSync, execSync, execFile } from ${JSON.stringify(path.resolve('dist/index.js'))};
      const out = {};
      out.spawnSync = spawnSync('touch', [${JSON.stringify(marker)}]).error?.code;
      try { execFileSync('touch', [${JSON.stringify(marker)}]); } catch (e) { out.execFileSync = e.code; }
      try { execSync('touch ${marker}'); } catch (e) { out.execSync = e.code; }
      execFile('touch', [${JSON.stringify(marker)}], (e) => { out.execFile = e?.code; console.log(JSON.stringify(out)); });
    `;
    // Without CAP_SETPCAP the supervisor cannot empty the bounding set.
    const text = cp.execFileSync('setpriv', ['--bounding-set=-setpcap', process.execPath, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(text)).toEqual({
      spawnSync: 'ERR_CAPSPAWN_BOUNDING_SET',
      execFileSync: 'ERR_CAPSPAWN_BOUNDING_SET',
      execSync: 'ERR_CAPSPAWN_BOUNDING_SET',
      execFile: 'ERR_CAPSPAWN_BOUNDING_SET',
    });
    expect(fs.existsSync(marker)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('a child stopped before exec cannot hold a synchronous call', () => {
  // A workload of the same uid as the next children stops every process it may signal, in a
  // loop (as __test__/security.test.ts does for spawn, with a uid of its own, so that the two
  // storms never reach each other's children). Before exec the lead's watchdog kills a held
  // child (ERR_CAPSPAWN_CHILD_HELD); after exec, a stopped workload is the workload's business,
  // and `timeout` with SIGKILL ends it. Every call must return.
  const STORM_ID = 64_125;
  const asStormUid = { uid: STORM_ID, gid: STORM_ID, stdio: 'ignore' } as const;

  it('spawnSync returns every time: the workload ran, or was held and killed, or timed out', async () => {
    const storm = capspawn.spawn('/bin/sh', ['-c', 'while :; do kill -STOP -1 2>/dev/null; done'], asStormUid);
    await new Promise((resolve) => storm.once('spawn', resolve));
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 150; i++) {
        const result = capspawn.spawnSync('/bin/true', [], { ...asStormUid, timeout: 2000, killSignal: 'SIGKILL' });
        outcomes.push(result.error ? (result.error as Any).code : `status ${result.status}`);
        if (outcomes.filter((o) => o === 'ERR_CAPSPAWN_CHILD_HELD').length >= 3) break;
      }
    } finally {
      storm.kill('SIGKILL');
      await new Promise((resolve) => (storm.exitCode === null && storm.signalCode === null ? storm.once('exit', resolve) : resolve(null)));
    }
    expect(outcomes.filter((o) => !['status 0', 'ERR_CAPSPAWN_CHILD_HELD', 'ETIMEDOUT'].includes(o))).toEqual([]);
    expect(outcomes, 'the storm never caught a child before exec: the test proves nothing').toContain('ERR_CAPSPAWN_CHILD_HELD');
    expect(childPids()).toEqual([]);
  }, 120_000);
});

describe('bad arguments, in every function: the same error thrown (code and name) as child_process', () => {
  type Fn = 'spawnSync' | 'execFileSync' | 'execSync' | 'execFile' | 'exec';
  const noop = () => {};
  const cases: Array<[Fn, unknown[]]> = [
    ['execFileSync', [5]],
    ['execFileSync', ['echo', 5]],
    ['execFileSync', ['echo', [], { timeout: 'soon' }]],
    ['execFileSync', ['echo', [], { maxBuffer: -1 }]],
    ['execFileSync', ['echo', [], { killSignal: 'SIGNOPE' }]],
    ['execFileSync', ['echo', [], { input: 5 }]],
    ['execFileSync', ['echo', [], { cwd: 5 }]],
    ['execFileSync', ['echo\0x', []]],
    ['execSync', [5]],
    ['execSync', ['echo a', { timeout: -1 }]],
    ['execSync', ['echo a', { maxBuffer: 'big' }]],
    ['execSync', ['echo a', { killSignal: 'SIGNOPE' }]],
    ['exec', [5, noop]],
    ['exec', ['echo a', { timeout: -1 }, noop]],
    ['exec', ['echo a', { killSignal: 'SIGNOPE' }, noop]],
    ['exec', ['echo a', { maxBuffer: 'big' }, noop]],
    ['spawnSync', ['cat', { cwd: 5 }]],
    ['spawnSync', ['cat', { stdio: 'nope' }]],
    ['execFile', [null, noop]],
  ];
  it.each(cases)('%s(%j)', (fn, args) => {
    const node = thrownBy(() => (cp[fn] as (...a: unknown[]) => unknown)(...args));
    const ours = thrownBy(() => (capspawn[fn] as (...a: unknown[]) => unknown)(...args));
    expect(node, 'child_process threw nothing: not a bad-argument case').toBeDefined();
    expect({ code: ours?.code, name: ours?.name }).toEqual({ code: node?.code, name: node?.name });
  });
});
