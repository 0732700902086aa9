/**
 * A polluted prototype changes nothing about a spawn (issue 9): every option name capspawn
 * accepts, every rlimits name, stdio index, argument index and env key put on
 * `Object.prototype` / `Array.prototype` with the most harmful value it could have, then a
 * default spawn. The child's own account of itself (its /proc/self/status, cwd, session, limits,
 * environment, argv) must be exactly a default spawn's.
 *
 * The prototypes are polluted only around the spawn() call, which reads every option before it
 * returns, and are cleaned up in `finally` whatever happens (the test runner itself reads
 * objects too).
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawn } from '../dist/index.js';
import { outcome, requirePrivilege } from './helpers.js';

/** What a workload would get from each option, if capspawn read it through the prototype. */
const OPTIONS: Record<string, unknown> = {
  boundingSet: 'inherit',
  noNewPrivs: false,
  capabilities: ['CAP_SYS_ADMIN', 'CAP_NET_RAW'],
  securebits: 'locked',
  user: 65534,
  uid: 65534,
  group: 65534,
  gid: 65534,
  supplementaryGroups: [4, 27, 42],
  umask: 0o777,
  rlimits: { nofile: [4096, 4096] },
  parentDeathSignal: 'SIGKILL',
  requireProcfs: false,
  cwd: '/',
  env: { LD_PRELOAD: '/capspawn-polluted.so', PATH: '/capspawn-polluted' },
  argv0: 'capspawn-polluted',
  stdio: ['ignore', 'ignore', 'ignore'],
  detached: true,
  timeout: 1,
  killSignal: 'SIGKILL',
  signal: AbortSignal.abort(),
  shell: '/bin/false',
  encoding: 42,
  serialization: 'xml',
  windowsHide: 'yes',
  windowsVerbatimArguments: 'yes',
  colour: 'red', // an unknown option would throw if it were seen
};
/** Keys of nested objects: rlimits names and env keys. */
const NESTED: Record<string, unknown> = {
  nofile: [4096, 4096],
  core: [0, 0],
  nproc: [1, 1],
  LD_PRELOAD: '/capspawn-polluted.so',
  PATH: '/capspawn-polluted',
  CAPSPAWN_POLLUTED: 'yes',
  // A stdio entry object with no descriptor of its own would otherwise get one.
  fd: 1,
  _handle: { fd: 1 },
};
/** Array indices: stdio entries and arguments. */
const INDICES: unknown[] = ['inherit', 'ignore', 'ignore', 'pipe', 'pipe'];

/** Pollutes the prototypes, runs `start`, and cleans them up again, whatever happens. */
function polluted<T>(start: () => T): T {
  const objectKeys = [...Object.keys(OPTIONS), ...Object.keys(NESTED)];
  try {
    for (const [key, value] of [...Object.entries(OPTIONS), ...Object.entries(NESTED)]) {
      Object.defineProperty(Object.prototype, key, { value, configurable: true, writable: true, enumerable: true });
    }
    INDICES.forEach((value, i) => Object.defineProperty(Array.prototype, i, { value, configurable: true, writable: true, enumerable: true }));
    return start();
  } finally {
    for (const key of objectKeys) delete (Object.prototype as Record<string, unknown>)[key];
    INDICES.forEach((_, i) => delete (Array.prototype as unknown as Record<number, unknown>)[i]);
  }
}

/** The child's account of itself, one fact a line. */
const REPORT = [
  "grep -E '^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs|Uid|Gid|Groups|Umask):' /proc/self/status",
  'echo "cwd=$(pwd)"',
  'test "$(cut -d" " -f6 /proc/$$/stat)" = $$ && echo session=own || echo session=inherited',
  "grep -E '^Max (open files|core file size|processes)' /proc/self/limits",
  'printf "argv=%s\\n" "$(tr "\\0" " " </proc/$$/cmdline)"', // printf: dash's echo would read the \0
  'env | sort',
].join('; ');

function expectDefault(result: Awaited<ReturnType<typeof outcome>>, env: NodeJS.ProcessEnv = process.env): void {
  expect(result.events).toEqual(['spawn', 'exit', 'close']);
  expect(result.close).toEqual([0, null]);
  const lines = result.stdout.toString().split('\n');
  const field = (name: string): string | undefined => lines.find((l) => l.startsWith(`${name}:`))?.split(':')[1]?.trim();
  expect(field('CapBnd')).toBe('0000000000000000');
  expect(field('CapEff')).toBe('0000000000000000');
  expect(field('CapPrm')).toBe('0000000000000000');
  expect(field('CapAmb')).toBe('0000000000000000');
  expect(field('NoNewPrivs')).toBe('1');
  expect(field('Uid')!.split(/\s+/)).toEqual(['0', '0', '0', '0']);
  expect(field('Gid')!.split(/\s+/)).toEqual(['0', '0', '0', '0']);
  expect(field('Groups')).toBe('');
  const umask = process.umask();
  expect(field('Umask')).toBe(umask.toString(8).padStart(4, '0'));
  expect(lines).toContain(`cwd=${process.cwd()}`);
  expect(lines).toContain('session=inherited');
  // The limits are the supervisor's own.
  const ours = fs.readFileSync('/proc/self/limits', 'utf8').split('\n');
  for (const name of ['Max open files', 'Max core file size', 'Max processes']) {
    expect(lines.find((l) => l.startsWith(name))).toBe(ours.find((l) => l.startsWith(name)));
  }
  expect(lines).toContain(`argv=sh -c ${REPORT} `);
  // The environment is exactly the one asked for, without a polluted key.
  const childEnv = lines.filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l) && !l.startsWith('cwd=') && !l.startsWith('session=') && !l.startsWith('argv='));
  for (const key of ['LD_PRELOAD', 'CAPSPAWN_POLLUTED']) expect(childEnv.some((l) => l.startsWith(`${key}=`))).toBe(false);
  expect(childEnv).toContain(`PATH=${env.PATH}`);
  expect(result.stderr.toString()).toBe('');
}

describe('a polluted Object.prototype and Array.prototype change nothing about a spawn', () => {
  it('a default spawn, without options', async (ctx) => {
    requirePrivilege(ctx);
    const child = polluted(() => spawn('sh', ['-c', REPORT]));
    expect(child.spawnfile).toBe('sh');
    expect(child.spawnargs).toEqual(['sh', '-c', REPORT]);
    expectDefault(await outcome(child));
  });

  it('a spawn with an empty options object', async (ctx) => {
    requirePrivilege(ctx);
    expectDefault(await outcome(polluted(() => spawn('sh', ['-c', REPORT], {}))));
  });

  it('spawn(command, options) (no args array)', async (ctx) => {
    requirePrivilege(ctx);
    // spawn('sh', options) has no arguments to run the report with, so it runs one that
    // reads them from its environment instead: the options are still empty.
    const child = polluted(() => spawn('/bin/sh', { env: { PATH: process.env.PATH, REPORT } }));
    child.stdin!.end('eval "$REPORT"\n');
    const result = await outcome(child);
    expect(result.close).toEqual([0, null]);
    const text = result.stdout.toString();
    expect(text).toContain('NoNewPrivs:\t1');
    expect(text).toContain('CapBnd:\t0000000000000000');
    expect(text).toContain(`cwd=${process.cwd()}`);
    expect(text).not.toContain('CAPSPAWN_POLLUTED');
    expect(text).not.toContain('LD_PRELOAD');
  });

  it('nested options: an empty rlimits, an env of its own, stdio and args with holes', async (ctx) => {
    requirePrivilege(ctx);
    const env = { PATH: process.env.PATH!, HOME: '/root' };
    // Holes at every index: what Array.prototype has there must not be read.
    const stdio = new Array(5) as never;
    const child = polluted(() => spawn('sh', ['-c', REPORT], { rlimits: {}, env, stdio }));
    expect(child.stdio.slice(0, 3).every((s) => s !== null)).toBe(true); // pipes, not 'inherit'/'ignore'
    expect(child.stdio.slice(3)).toEqual([null, null]); // holes beyond 2 are 'ignore'
    const result = await outcome(child);
    expectDefault(result, env);
    const childEnv = result.stdout.toString().split('\n').filter((l) => /^(HOME|PATH|LD_PRELOAD|CAPSPAWN_POLLUTED)=/.test(l));
    expect(childEnv.sort()).toEqual(['HOME=/root', `PATH=${env.PATH}`]);
  });

  it('argument holes are "undefined", as String(undefined), not what Array.prototype has', async () => {
    const args = new Array(3) as string[];
    args[1] = 'given';
    const result = await outcome(polluted(() => spawn('/bin/echo', args, { boundingSet: 'inherit' })));
    expect(result.stdout.toString()).toBe('undefined given undefined\n');
  });

  it('a stdio entry object without a descriptor of its own is refused, not given the polluted one', () => {
    expect(() => polluted(() => spawn('/bin/true', [], { stdio: ['pipe', {} as never, 'pipe'] }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  it('every value a polluted prototype was given is refused or harmful when given for real (the test can fail)', async (ctx) => {
    requirePrivilege(ctx);
    // The same values as own properties do take effect: the drop is switched off, the limits set.
    const child = spawn('sh', ['-c', REPORT], { boundingSet: 'inherit', noNewPrivs: false, rlimits: { nofile: [4096, 4096] } });
    const text = (await outcome(child)).stdout.toString();
    expect(text).toContain('NoNewPrivs:\t0');
    expect(text).not.toContain('CapBnd:\t0000000000000000');
    expect(text).toMatch(/Max open files\s+4096\s+4096/);
    for (const [name, value] of Object.entries({ serialization: 'xml', windowsHide: 'yes', colour: 'red', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })) {
      expect(() => spawn('/bin/true', [], { [name]: value } as never), name).toThrow();
    }
  });
});
