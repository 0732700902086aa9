/**
 * Bad arguments throw synchronously with Node's error codes and start nothing; and, as a
 * property, no option object whatsoever crashes the process or leaves a child unaccounted for.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from '../dist/index.js';
import { native, type NativeSpawnSpec } from '../dist/native.js';
import { childPids, fdCount, outcome, tempDir } from './helpers.js';

/** The codes spawn() documents for errors it throws. */
const THROWN_CODES = [
  'EBADF', // a stdio descriptor number the supervisor does not have open, thrown as child_process does
  'EINVAL', // uid or gid -1, thrown as child_process does
  'ERR_INVALID_SYNC_FORK_INPUT',
  'ERR_CAPSPAWN_IPC_UNSUPPORTED',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_OUT_OF_RANGE',
  'ERR_UNKNOWN_SIGNAL',
  'ERR_CAPSPAWN_UNKNOWN_USER',
  'ERR_CAPSPAWN_UNKNOWN_GROUP',
];
/** …and for errors a child emits: an errno name, the bounding-set refusal, a failed verification, an abort. */
const EMITTED_CODE = /^(E[A-Z0-9]+|ERR_CAPSPAWN_BOUNDING_SET|ERR_CAPSPAWN_VERIFY|ABORT_ERR)$/;

type Call = [command: unknown, args?: unknown, options?: unknown];

function thrownBy([command, args, options]: Call): (Error & { code?: string }) | undefined {
  try {
    // A call that does not throw started a child: stop it (the test fails on the missing throw).
    const child = (spawn as (...a: unknown[]) => ReturnType<typeof spawn>)(command, args, options);
    child.on('error', () => {});
    child.kill('SIGKILL');
    return undefined;
  } catch (error) {
    return error as Error & { code?: string };
  }
}

const cases: [string, Call, string, (typeof TypeError | typeof RangeError)?][] = [
  ['a command that is not a string', [42], 'ERR_INVALID_ARG_TYPE', TypeError],
  ['an empty command', [''], 'ERR_INVALID_ARG_VALUE', TypeError],
  ['a command with a NUL byte', ['/bin/true\0x'], 'ERR_INVALID_ARG_VALUE'],
  ['args that are a string', ['/bin/true', 'x'], 'ERR_INVALID_ARG_TYPE'],
  ['args that are a function', ['/bin/true', () => {}], 'ERR_INVALID_ARG_TYPE'],
  ['an arg with a NUL byte', ['/bin/true', ['a\0b']], 'ERR_INVALID_ARG_VALUE'],
  ['options that are a number', ['/bin/true', [], 5], 'ERR_INVALID_ARG_TYPE'],
  ['options that are an array', ['/bin/true', [], []], 'ERR_INVALID_ARG_TYPE'],
  ['an unknown option', ['/bin/true', [], { colour: 'red' }], 'ERR_INVALID_ARG_VALUE'],
  ['shell that is a number', ['/bin/true', [], { shell: 1 }], 'ERR_INVALID_ARG_TYPE'],
  ["a stdio entry 'ipc' (not supported)", ['/bin/true', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }], 'ERR_CAPSPAWN_IPC_UNSUPPORTED'],
  ['cwd that is a number', ['/bin/true', [], { cwd: 5 }], 'ERR_INVALID_ARG_TYPE'],
  ['a cwd with a NUL byte', ['/bin/true', [], { cwd: '/tmp\0x' }], 'ERR_INVALID_ARG_VALUE'],
  ['an env key with a NUL byte', ['/bin/true', [], { env: { 'A\0B': '1' } }], 'ERR_INVALID_ARG_VALUE'],
  ['an env key with "="', ['/bin/true', [], { env: { 'A=B': '1' } }], 'ERR_INVALID_ARG_VALUE'],
  ['an empty env key', ['/bin/true', [], { env: { '': '1' } }], 'ERR_INVALID_ARG_VALUE'],
  ['an env value with a NUL byte', ['/bin/true', [], { env: { A: 'x\0y' } }], 'ERR_INVALID_ARG_VALUE'],
  ['argv0 that is a number', ['/bin/true', [], { argv0: 1 }], 'ERR_INVALID_ARG_TYPE'],
  ['an unknown stdio kind', ['/bin/true', [], { stdio: 'pipes' }], 'ERR_INVALID_ARG_VALUE'],
  ['stdio that is a number', ['/bin/true', [], { stdio: 1 }], 'ERR_INVALID_ARG_VALUE'],
  ['a stdio descriptor past 2**31-1', ['/bin/true', [], { stdio: ['pipe', 2 ** 31] }], 'ERR_OUT_OF_RANGE', RangeError],
  ['a stdio entry that is a string', ['/bin/true', [], { stdio: ['pipe', 'pipes'] }], 'ERR_INVALID_SYNC_FORK_INPUT', TypeError],
  ['a fractional stdio descriptor', ['/bin/true', [], { stdio: [1.5] }], 'ERR_OUT_OF_RANGE'],
  ['a stdio entry that is an object', ['/bin/true', [], { stdio: [{}] }], 'ERR_INVALID_ARG_VALUE'],
  ['detached that is a string', ['/bin/true', [], { detached: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
  ['timeout that is a string', ['/bin/true', [], { timeout: '100' }], 'ERR_OUT_OF_RANGE', RangeError],
  ['uid -1 (EINVAL, as setuid(-1) fails in child_process)', ['/bin/true', [], { uid: -1 }], 'EINVAL', Error],
  ['uid that is not an int32', ['/bin/true', [], { uid: 2 ** 31 }], 'ERR_INVALID_ARG_TYPE'],
  ['serialization null', ['/bin/true', [], { serialization: null }], 'ERR_INVALID_ARG_VALUE'],
  ['options null', ['/bin/true', [], null], 'ERR_INVALID_ARG_TYPE'],
  ['a negative timeout', ['/bin/true', [], { timeout: -1 }], 'ERR_OUT_OF_RANGE', RangeError],
  ['a fractional timeout', ['/bin/true', [], { timeout: 1.5 }], 'ERR_OUT_OF_RANGE'],
  ['an unknown killSignal', ['/bin/true', [], { killSignal: 'SIGNOPE' }], 'ERR_UNKNOWN_SIGNAL'],
  ['killSignal out of range', ['/bin/true', [], { killSignal: 65 }], 'ERR_UNKNOWN_SIGNAL'],
  ['killSignal 0 (as child_process: not a signal that kills)', ['/bin/true', [], { killSignal: 0 }], 'ERR_UNKNOWN_SIGNAL'],
  ['a killSignal number Node has no name for', ['/bin/true', [], { killSignal: 34 }], 'ERR_UNKNOWN_SIGNAL'],
  ['signal that is null (child_process refuses it too)', ['/bin/true', [], { signal: null }], 'ERR_INVALID_ARG_TYPE'],
  ['user that is null (the privilege options take no null)', ['/bin/true', [], { user: null }], 'ERR_INVALID_ARG_TYPE'],
  ['a serialization other than json or advanced', ['/bin/true', [], { serialization: 'xml' }], 'ERR_INVALID_ARG_VALUE'],
  ['killSignal that is an object', ['/bin/true', [], { killSignal: {} }], 'ERR_INVALID_ARG_TYPE'],
  ['signal that is not an AbortSignal', ['/bin/true', [], { signal: {} }], 'ERR_INVALID_ARG_TYPE'],
  ['user that is an object', ['/bin/true', [], { user: {} }], 'ERR_INVALID_ARG_TYPE'],
  ['a negative user id', ['/bin/true', [], { user: -1 }], 'ERR_OUT_OF_RANGE'],
  ['user id (uid_t)-1', ['/bin/true', [], { user: 0xffffffff }], 'ERR_OUT_OF_RANGE'],
  ['an empty user name', ['/bin/true', [], { user: '' }], 'ERR_INVALID_ARG_VALUE'],
  ['uid that is a string', ['/bin/true', [], { uid: '0' }], 'ERR_INVALID_ARG_TYPE'],
  ['both user and uid', ['/bin/true', [], { user: 'nobody', uid: 0 }], 'ERR_INVALID_ARG_VALUE'],
  ['a fractional group id', ['/bin/true', [], { group: 1.5 }], 'ERR_OUT_OF_RANGE'],
  ['gid that is a string', ['/bin/true', [], { gid: '0' }], 'ERR_INVALID_ARG_TYPE'],
  ['both group and gid', ['/bin/true', [], { group: 'root', gid: 0 }], 'ERR_INVALID_ARG_VALUE'],
  ['an unknown supplementaryGroups word', ['/bin/true', [], { supplementaryGroups: 'all' }], 'ERR_INVALID_ARG_VALUE'],
  ['supplementaryGroups that is a number', ['/bin/true', [], { supplementaryGroups: 5 }], 'ERR_INVALID_ARG_TYPE'],
  ['a supplementary gid that is a string', ['/bin/true', [], { supplementaryGroups: ['0'] }], 'ERR_INVALID_ARG_TYPE'],
  ['a negative supplementary gid', ['/bin/true', [], { supplementaryGroups: [-1] }], 'ERR_OUT_OF_RANGE'],
  ["supplementaryGroups 'init' without a user", ['/bin/true', [], { supplementaryGroups: 'init' }], 'ERR_INVALID_ARG_VALUE'],
  ['a uid not in the user database, without a group', ['/bin/true', [], { uid: 4_000_000 }], 'ERR_INVALID_ARG_VALUE'],
  ['an unknown boundingSet policy', ['/bin/true', [], { boundingSet: 'drop' }], 'ERR_INVALID_ARG_VALUE'],
  ['boundingSet that is a boolean', ['/bin/true', [], { boundingSet: false }], 'ERR_INVALID_ARG_TYPE'],
  ['noNewPrivs that is a string', ['/bin/true', [], { noNewPrivs: 'no' }], 'ERR_INVALID_ARG_TYPE'],
  ['windowsHide that is a string', ['/bin/true', [], { windowsHide: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
  ['an unknown user name', ['/bin/true', [], { user: 'capspawn-no-such-user' }], 'ERR_CAPSPAWN_UNKNOWN_USER'],
  ['an unknown group name', ['/bin/true', [], { group: 'capspawn-no-such-group' }], 'ERR_CAPSPAWN_UNKNOWN_GROUP'],
];

describe('what child_process accepts, capspawn accepts too', () => {
  it.each([
    ['null for its options (not set)', { cwd: null, env: null, argv0: null, stdio: null, detached: null, timeout: null, killSignal: null, uid: null, gid: null }],
    ['shell: false, an encoding, a serialization (no effect on spawn)', { shell: false, encoding: 'utf8', serialization: 'json' }],
    ["stdio 'overlapped' (a pipe outside Windows)", { stdio: ['ignore', 'overlapped', 'ignore'] }],
    ['an AbortSignal-like object', { signal: { aborted: false, addEventListener() {}, removeEventListener() {} } }],
  ] as Array<[string, Record<string, unknown>]>)('%s', async (_label, options) => {
    const result = await outcome(spawn('/bin/echo', ['ran'], options as never));
    expect(result.close).toEqual([0, null]);
    if (result.stdout.length > 0) expect(result.stdout.toString()).toBe('ran\n');
  });

  it('env keys an env object inherits do not count, unlike child_process (a polluted prototype must not reach the workload)', async () => {
    const env = Object.assign(Object.create({ INHERITED: 'yes' }), { OWN: '1', PATH: process.env.PATH }) as Record<string, string>;
    const result = await outcome(spawn('/bin/sh', ['-c', 'echo "$INHERITED/$OWN"'], { env }));
    expect(result.stdout.toString()).toBe('/1\n');
  });
});

describe('spawn() throws synchronously', () => {
  it.each(cases)('for %s: %s', (_label, call, code, kind) => {
    const error = thrownBy(call);
    expect(error, 'spawn() returned instead of throwing').toBeInstanceOf(Error);
    expect(error!.code).toBe(code);
    if (kind) expect(error).toBeInstanceOf(kind);
  });

  it("says that 'ipc' is not supported", () => {
    expect(thrownBy(['/bin/true', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }])!.message).toContain('not supported');
  });

  it('names the unknown user and group in the error', () => {
    expect(thrownBy(['/bin/true', [], { user: 'capspawn-no-such-user' }])).toMatchObject({
      user: 'capspawn-no-such-user',
      message: expect.stringContaining('capspawn-no-such-user'),
    });
    expect(thrownBy(['/bin/true', [], { group: 'capspawn-no-such-group' }])).toMatchObject({
      group: 'capspawn-no-such-group',
      message: expect.stringContaining('capspawn-no-such-group'),
    });
  });

  it('starts nothing for an unknown user or group: no marker, no child, no descriptor', () => {
    const dir = tempDir('validation');
    try {
      const marker = path.join(dir, 'ran');
      const before = fdCount();
      for (const options of [{ user: 'capspawn-no-such-user' }, { group: 'capspawn-no-such-group' }, { user: 'nobody', group: 'capspawn-no-such-group' }]) {
        const error = thrownBy(['/bin/sh', ['-c', `touch '${marker}'`], options]);
        expect(error?.code).toMatch(/^ERR_CAPSPAWN_UNKNOWN_(USER|GROUP)$/);
        expect(childPids()).toEqual([]);
      }
      expect(fdCount()).toBe(before);
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('uid and gid that are objects', () => {
  it("throw ERR_INVALID_ARG_TYPE without calling their valueOf (a prototype-less one has none)", () => {
    let called = false;
    const sneaky = { valueOf: () => ((called = true), 0) };
    for (const value of [Object.create(null), sneaky]) {
      expect(() => spawn('/bin/true', [], { uid: value })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => spawn('/bin/true', [], { gid: value })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    }
    expect(called).toBe(false);
  });
});

describe('any options object (property)', () => {
  const anything = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 70_000 }),
    fc.double(),
    fc.string({ maxLength: 6 }),
    fc.array(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.string({ maxLength: 3 })), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
  );

  /** Options of the right types and ranges (some still fail at run time: a missing cwd, a closed fd). */
  const plausible = fc.record(
    {
      cwd: fc.constantFrom('/', '/tmp', '/capspawn-missing-dir'),
      env: fc.dictionary(
        fc.constantFrom('A', 'PATH', 'HOME', 'LANG'),
        fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(undefined)),
        { maxKeys: 3 },
      ),
      argv0: fc.string({ maxLength: 4 }),
      stdio: fc.oneof(
        fc.constantFrom('pipe', 'inherit', 'ignore'),
        fc.array(fc.oneof(fc.constantFrom('pipe', 'inherit', 'ignore', null, undefined), fc.integer({ min: 0, max: 300 })), {
          maxLength: 3,
        }),
      ),
      detached: fc.boolean(),
      timeout: fc.integer({ min: 0, max: 200 }),
      killSignal: fc.constantFrom<unknown>('SIGTERM', 'SIGKILL', 'SIGINT', 9, 15, 0),
      signal: fc.constantFrom('live', 'aborted'),
      user: fc.constantFrom<unknown>('root', 'nobody', 0, 65534),
      group: fc.constantFrom<unknown>('root', 'nogroup', 0, 65534, 4_000_001),
      supplementaryGroups: fc.oneof(fc.constantFrom('init', 'clear'), fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 3 })),
      boundingSet: fc.constantFrom('clear', 'inherit'),
      noNewPrivs: fc.boolean(),
      windowsHide: fc.boolean(),
    },
    { requiredKeys: [] },
  );

  /** One thing wrong: any value for any key, a known-bad value, an unknown key, both spellings. */
  const keys = ['cwd', 'env', 'argv0', 'stdio', 'detached', 'timeout', 'killSignal', 'signal', 'user', 'uid', 'group', 'gid',
    'supplementaryGroups', 'boundingSet', 'noNewPrivs', 'windowsHide', 'windowsVerbatimArguments', 'shell', 'colour'];
  const fault = fc.oneof(
    fc.tuple(fc.constantFrom(...keys), anything),
    fc.constantFrom<[string, unknown]>(
      ['cwd', ''],
      ['cwd', 'a\0b'],
      ['env', { 'B=C': '1' }],
      ['env', { A: 'x\0y' }],
      ['stdio', ['pipe', -1]],
      ['killSignal', 'SIGNOPE'],
      ['killSignal', 65],
      ['user', 'capspawn-nope'],
      ['user', 4_000_000],
      ['user', 2 ** 32],
      ['uid', 0],
      ['gid', 0],
      ['group', 'capspawn-nope'],
      ['supplementaryGroups', [-1]],
      ['boundingSet', 'drop'],
      ['shell', true],
    ),
  );
  const options = fc.tuple(plausible, fc.option(fault, { freq: 2 }));

  /** Only /bin/true is ever run; the AbortSignals are made fresh for each run. */
  function materialize([base, wrong]: [Record<string, unknown>, [string, unknown] | null]): Record<string, unknown> {
    const result = { ...base };
    if (result.signal === 'live') result.signal = new AbortController().signal;
    else if (result.signal === 'aborted') result.signal = AbortSignal.abort();
    if (wrong) result[wrong[0]] = wrong[1];
    return result;
  }

  const before = { fds: 0 };
  afterAll(() => {
    // Whatever was thrown at spawn(), every child has been reaped and every pipe closed.
    expect(childPids()).toEqual([]);
    expect(fdCount()).toBe(before.fds);
  });

  it('either throws a documented code at once, or ends in exit or error, then close', async () => {
    const seen = { thrown: 0, ran: 0, failed: 0 };
    await outcome(spawn('/bin/true', [], { boundingSet: 'inherit' })); // set up the reaper first
    before.fds = fdCount();
    await fc.assert(
      fc.asyncProperty(options, async (generated) => {
        const opts = materialize(generated);
        let child;
        try {
          child = spawn('/bin/true', [], opts as never);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect(THROWN_CODES).toContain((error as { code?: string }).code);
          expect(childPids()).toEqual([]); // nothing was started
          seen.thrown++;
          return;
        }
        const result = await outcome(child);
        expect(result.events[result.events.length - 1]).toBe('close');
        expect(result.events.filter((e) => e === 'close')).toHaveLength(1);
        if (result.events.includes('spawn')) {
          expect(result.events[0]).toBe('spawn');
          expect(result.events).toContain('exit');
          seen.ran++;
        } else {
          // A child that never ran never exits: 'error' then 'close', with the negative errno.
          expect(result.events).toEqual(['error', 'close']);
          expect(result.close[0]).toBeLessThan(0);
          seen.failed++;
        }
        if (result.error) expect(result.error.code).toMatch(EMITTED_CODE);
      }),
      { numRuns: 150 },
    );
    // The runs covered all three outcomes, not only the synchronous throws.
    expect(seen.thrown).toBeGreaterThan(15);
    expect(seen.ran).toBeGreaterThan(15);
    expect(seen.failed).toBeGreaterThan(0);
  });
});

describe('the native binding checks numbers itself (for callers that skip the TypeScript layer)', () => {
  const spec = (overrides: Partial<NativeSpawnSpec>): NativeSpawnSpec => ({
    file: '/bin/true',
    argv: ['/bin/true'],
    env: null,
    cwd: null,
    stdio: ['ignore', 'ignore', 'ignore'],
    detached: false,
    user: null,
    group: null,
    supplementaryGroups: null,
    boundingSet: 'clear',
    noNewPrivs: true,
    capabilities: null,
    lockSecurebits: false,
    umask: null,
    parentDeathSignal: null,
    rlimits: null,
    requireProcfs: true,
    ...overrides,
  });

  it.each([
    ['a descriptor past i32', { stdio: ['ignore', 'ignore', 'ignore', 2 ** 32 - 1] }],
    ['a signal past i32', { parentDeathSignal: 2 ** 32 + 15 }],
    ['a negative resource limit', { rlimits: [['nofile', -Infinity, 100]] }],
    ['a NaN resource limit', { rlimits: [['nofile', NaN, 100]] }],
  ] as Array<[string, Partial<NativeSpawnSpec>]>)('spawn refuses %s with ERR_OUT_OF_RANGE, starting nothing', (_, overrides) => {
    expect(() => native.spawn(spec(overrides))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(childPids()).toEqual([]);
  });

  it('kill refuses a signal past i32 instead of truncating it to another signal', () => {
    expect(() => native.kill(1, 2 ** 32 + 15)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});
