/**
 * `spawn()`'s arguments, validated up front: a bad value throws synchronously with Node's error
 * codes and nothing is started.
 */
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { Stream } from 'node:stream';
import { invalidArgType, invalidArgValue, outOfRange, unknownSignal } from './errors.js';
import type { NativeSpawnSpec, NativeStdio } from './native.js';
import { isNamedSignal, namedSignalNumber } from './signals.js';

export type StdioKind = 'pipe' | 'inherit' | 'ignore';
/** A stdio entry: a kind, a descriptor number, or a stream that has one (as in child_process). */
export type StdioOption = StdioKind | Array<StdioKind | number | Stream | null | undefined>;

/** Options of `spawn()`: `child_process.spawn`'s where they overlap, plus the privilege drop. */
export interface SpawnOptions {
  /** Working directory of the child. */
  cwd?: string | URL;
  /** The child's environment (default `process.env`); `undefined` values are left out. */
  env?: NodeJS.ProcessEnv | Record<string, string | number | boolean | undefined>;
  /** `argv[0]` of the child (default: the command). */
  argv0?: string;
  /** Descriptors 0, 1, 2 and beyond: `'pipe'` (a Unix socket pair beyond 2), `'inherit'`,
   * `'ignore'` (closed beyond 2), or a supervisor fd. Every other descriptor is closed. */
  stdio?: StdioOption;
  /** Start the child in a new session (`setsid`). */
  detached?: boolean;
  /** Milliseconds after which the child is sent `killSignal`. */
  timeout?: number;
  /** Signal sent by `timeout`, `signal` and a bare `kill()` (default `'SIGTERM'`). */
  killSignal?: NodeJS.Signals | number;
  /** Aborting it kills the child and emits an `AbortError`. */
  signal?: AbortSignal;
  /** User to run as: a name or a uid. `uid` is an alias, as in `child_process`. */
  user?: string | number;
  uid?: number;
  /** Group to run as (default: the user's primary group). `gid` is an alias. */
  group?: string | number;
  gid?: number;
  /** `'init'`: the user's groups (default with a user); `'clear'`: none (default otherwise); or gids. */
  supplementaryGroups?: 'init' | 'clear' | number[];
  /** `'clear'` (default): empty it or refuse to run; `'inherit'`: leave it (an explicit opt-out). */
  boundingSet?: 'clear' | 'inherit';
  /** Set `no_new_privs` (default true). */
  noNewPrivs?: boolean;
  /** Capabilities the workload keeps, and no others (default none): `'CAP_NET_BIND_SERVICE'`,
   * `'NET_BIND_SERVICE'`, `'net_bind_service'`, or a number for one capspawn does not name. */
  capabilities?: Array<string | number>;
  /** `'locked'`: set and lock NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED (and NO_CAP_AMBIENT_RAISE
   * unless capabilities are kept), so not even an exec as uid 0 regains capabilities. */
  securebits?: 'locked';
  /** Signal the child gets when the supervisor exits (`PR_SET_PDEATHSIG`). */
  parentDeathSignal?: NodeJS.Signals | number;
  /** The child's file mode creation mask, e.g. `0o077`. */
  umask?: number;
  /** Resource limits: `{ nofile: [soft, hard], core: 0, … }` (a number sets both; `Infinity` is
   * unlimited). Names are those of `setrlimit(2)` without `RLIMIT_`. */
  rlimits?: Record<string, number | [number, number]>;
  /** Refuse the spawn when `/proc/thread-self/status` cannot be read for the child's cross-check
   * of its own state (default true). `false` cross-checks when procfs is there and skips it
   * otherwise (a container without `/proc`). */
  requireProcfs?: boolean;
  /** Accepted for `child_process` compatibility: only `false` (run a shell explicitly). */
  shell?: false;
  /** Accepted and ignored, as `child_process.spawn` ignores it. */
  encoding?: string;
  /** Accepted and ignored: it only matters with an `'ipc'` channel, which capspawn has not. */
  serialization?: 'json' | 'advanced';
  /** Accepted for `child_process` compatibility; meaningless on Linux. */
  windowsHide?: boolean;
  windowsVerbatimArguments?: boolean;
}

/** What the JavaScript side keeps from the options. */
export interface Behaviour {
  timeout: number;
  killSignal: number;
  signal: AbortSignal | undefined;
}

const KNOWN = new Set([
  'cwd', 'env', 'argv0', 'stdio', 'detached', 'timeout', 'killSignal', 'signal', 'user', 'uid', 'group',
  'gid', 'supplementaryGroups', 'boundingSet', 'noNewPrivs', 'windowsHide', 'windowsVerbatimArguments',
  'capabilities', 'securebits', 'parentDeathSignal', 'umask', 'rlimits', 'requireProcfs', 'shell', 'encoding',
  'serialization',
]);
const NULL_IS_UNSET = new Set([
  'cwd', 'env', 'argv0', 'stdio', 'detached', 'timeout', 'killSignal', 'uid', 'gid', 'shell', 'encoding',
  'serialization', 'windowsHide', 'windowsVerbatimArguments',
]);
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to the kernel, so it is not an id.

function string(name: string, value: unknown, { empty = false } = {}): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must be a string without null bytes');
  if (!empty && value.length === 0) throw invalidArgValue(name, value, 'must not be empty');
  return value;
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

function id(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_ID) {
    throw outOfRange(name, `an integer >= 0 && <= ${MAX_ID}`, value);
  }
  return value;
}

function nameOrId(name: string, value: unknown): string | number {
  if (typeof value === 'number') return id(name, value);
  if (typeof value === 'string') return string(name, value);
  throw invalidArgType(name, 'of type string or number', value);
}

/** A signal name, or a number that names one, as its number; throws `ERR_UNKNOWN_SIGNAL`
 * otherwise, as child_process does (so 0 and the unnamed real-time numbers are refused).
 * `anyNumber` takes every number from 1 to 64 (the kernel's signals, for our own options). */
export function signalNumber(signal: unknown, name = 'signal', { anyNumber = false } = {}): number {
  if (typeof signal === 'number') {
    const known = anyNumber ? Number.isInteger(signal) && signal >= 1 && signal <= 64 : isNamedSignal(signal);
    if (!known) throw unknownSignal(signal);
    return signal;
  }
  if (typeof signal === 'string') {
    const number = namedSignalNumber(signal);
    if (number === undefined) throw unknownSignal(signal);
    return number;
  }
  throw invalidArgType(name, 'of type string or number', signal);
}

function stdioEntry(value: unknown, index: number): NativeStdio {
  const name = `options.stdio[${index}]`;
  if (value === null || value === undefined) return index < 3 ? 'pipe' : 'ignore';
  if (value === 'pipe' || value === 'inherit' || value === 'ignore') return value;
  if (value === 'overlapped') return 'pipe'; // as child_process, outside Windows
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw outOfRange(name, 'a file descriptor', value);
    return value;
  }
  if (typeof value === 'string') throw invalidArgValue(name, value, "must be 'pipe', 'inherit', 'ignore' or a file descriptor");
  if (value instanceof Stream) return streamFd(name, value);
  throw invalidArgType(name, "one of 'pipe', 'inherit', 'ignore', a file descriptor number or a stream", value);
}

/** The descriptor under a stream, as child_process takes it: a socket's, pipe's or TTY's handle,
 * or an fs stream's `fd` (which it has only once it is open). */
function streamFd(name: string, stream: Stream): number {
  const { _handle: handle, fd } = stream as Stream & { _handle?: { fd?: unknown }; fd?: unknown };
  const found = handle?.fd ?? fd;
  if (typeof found === 'number' && Number.isInteger(found) && found >= 0) return found;
  throw invalidArgValue(name, stream, 'must be a stream with an underlying file descriptor (an fs stream has one only once it is open)');
}

function stdio(value: unknown): NativeStdio[] {
  if (value === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof value === 'string') {
    const kind = stdioEntry(value, 0);
    return [kind, kind, kind];
  }
  if (!Array.isArray(value)) throw invalidArgType('options.stdio', 'a string or an array', value);
  if (value.length > 1024) throw invalidArgValue('options.stdio', value, 'must have at most 1024 entries');
  return Array.from({ length: Math.max(3, value.length) }, (_, i) => stdioEntry(value[i], i));
}

function environment(value: unknown): string[] | null {
  // The supervisor's own environment is read natively (environ), which is what process.env is
  // on the main thread: copying it through JavaScript was the largest cost of a spawn. A
  // worker has its own copy of process.env, so it passes it.
  if (value === undefined && isMainThread) return null;
  const source = value === undefined ? process.env : value;
  if (source === null || typeof source !== 'object') throw invalidArgType('options.env', 'of type object', value);
  const pairs: string[] = [];
  // for…in, as child_process: the keys an env object inherits (Object.create(process.env)) count.
  for (const key in source as Record<string, unknown>) {
    const raw = (source as Record<string, unknown>)[key];
    if (raw === undefined) continue;
    const entry = `${raw as string}`;
    if (key.length === 0 || key.includes('=') || key.includes('\0')) {
      throw invalidArgValue('options.env', key, 'must have keys that are non-empty and without "=" or null bytes');
    }
    if (entry.includes('\0')) throw invalidArgValue(`options.env.${key}`, entry, 'must be a string without null bytes');
    pairs.push(key, entry);
  }
  return pairs;
}

function supplementaryGroups(value: unknown): NativeSpawnSpec['supplementaryGroups'] {
  if (value === undefined) return null;
  if (value === 'init' || value === 'clear') return value;
  if (Array.isArray(value)) {
    return value.map((gid, i) => {
      if (typeof gid !== 'number') throw invalidArgType(`options.supplementaryGroups[${i}]`, 'of type number', gid);
      return id(`options.supplementaryGroups[${i}]`, gid);
    });
  }
  if (typeof value === 'string') throw invalidArgValue('options.supplementaryGroups', value, "must be 'init', 'clear' or an array of gids");
  throw invalidArgType('options.supplementaryGroups', "'init', 'clear' or an array of numbers", value);
}

function umask(value: unknown): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number') throw invalidArgType('options.umask', 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 0o777) throw outOfRange('options.umask', 'an integer >= 0 && <= 0o777', value);
  return value;
}

function capabilities(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) throw invalidArgType('options.capabilities', 'an instance of Array', value);
  return value.map((cap, i) => {
    const name = `options.capabilities[${i}]`;
    if (typeof cap === 'number') {
      if (!Number.isInteger(cap) || cap < 0 || cap > 63) throw outOfRange(name, 'an integer >= 0 && <= 63', cap);
      return String(cap);
    }
    return string(name, cap);
  });
}

function limit(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (value !== Infinity && (!Number.isSafeInteger(value) || value < 0)) {
    throw outOfRange(name, 'a non-negative integer or Infinity', value);
  }
  return value;
}

function rlimits(value: unknown): Array<[string, number, number]> | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType('options.rlimits', 'of type object', value);
  }
  return Object.entries(value as Record<string, unknown>).map(([resource, setting]) => {
    const name = `options.rlimits.${resource}`;
    const [soft, hard] = Array.isArray(setting) ? setting : [setting, setting];
    if (Array.isArray(setting) && setting.length !== 2) throw invalidArgValue(name, setting, 'must be [soft, hard]');
    const pair: [string, number, number] = [resource, limit(name, soft), limit(name, hard)];
    if (pair[1] > pair[2]) throw invalidArgValue(name, setting, 'must not have a soft limit above the hard one');
    return pair;
  });
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(name, value, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return value as T;
}

function alias(options: SpawnOptions, name: 'user' | 'group', alt: 'uid' | 'gid'): unknown {
  if ((options[name] as unknown) === null) throw invalidArgType(`options.${name}`, 'of type string or number', null);
  if (options[name] !== undefined && options[alt] !== undefined) {
    throw invalidArgValue(`options.${alt}`, options[alt], `cannot be combined with options.${name}`);
  }
  if (options[alt] !== undefined && typeof options[alt] !== 'number') {
    throw invalidArgType(`options.${alt}`, 'of type number', options[alt]);
  }
  return options[name] ?? options[alt];
}

/** Normalises `spawn(command, args?, options?)`'s arguments, as `child_process.spawn` does. */
export function normalize(
  command: unknown,
  argsOrOptions?: unknown,
  maybeOptions?: unknown,
): { spec: NativeSpawnSpec; behaviour: Behaviour; args: string[] } {
  const file = string('file', command);
  let args: unknown = argsOrOptions;
  let options: unknown = maybeOptions;
  if (args !== undefined && args !== null && !Array.isArray(args)) {
    if (typeof args !== 'object') throw invalidArgType('args', 'an instance of Array', args);
    options = args;
    args = [];
  }
  const argv = ((args ?? []) as unknown[]).map((arg, i) => string(`args[${i}]`, arg, { empty: true }));
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgType('options', 'of type object', options);
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    // An unknown option could be a typo of a security option (`usr: 'nobody'`): refuse it,
    // unless it is undefined, which asks for nothing (spread defaults often carry such keys).
    if (!KNOWN.has(key) && value !== undefined) {
      throw invalidArgValue(`options.${key}`, value, 'is not a capspawn option');
    }
    // null is "not set" for child_process's own options, as it takes them (not for `signal`,
    // which it refuses); capspawn's options, the privilege drop among them, take no null.
    given[key] = value === null && NULL_IS_UNSET.has(key) ? undefined : value;
  }
  if (given.shell !== undefined && given.shell !== false) {
    throw invalidArgValue('options.shell', given.shell, 'is not supported; run a shell explicitly, e.g. spawn("sh", ["-c", script])');
  }
  if (given.encoding !== undefined) string('options.encoding', given.encoding); // ignored by spawn, as by child_process's
  oneOf('options.serialization', given.serialization, ['json', 'advanced'] as const, 'json'); // only for 'ipc', which is not supported
  const opts = given as SpawnOptions;

  const cwd = opts.cwd instanceof URL ? fileURLToPath(opts.cwd) : opts.cwd;
  const user = alias(opts, 'user', 'uid');
  const group = alias(opts, 'group', 'gid');
  const timeout = opts.timeout ?? 0;
  if (typeof timeout !== 'number') throw invalidArgType('options.timeout', 'of type number', timeout);
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 0x7fffffff) {
    throw outOfRange('options.timeout', 'an integer >= 0 && <= 2147483647', timeout);
  }
  // Any object with `aborted`, as child_process's validateAbortSignal takes it.
  const signal = opts.signal as AbortSignal | undefined;
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  const spec: NativeSpawnSpec = {
    file,
    argv: [opts.argv0 === undefined ? file : string('options.argv0', opts.argv0, { empty: true }), ...argv],
    env: environment(opts.env),
    cwd: cwd === undefined ? null : string('options.cwd', cwd),
    stdio: stdio(opts.stdio),
    detached: boolean('options.detached', opts.detached, false),
    user: user === undefined ? null : nameOrId(opts.user !== undefined ? 'options.user' : 'options.uid', user),
    group: group === undefined ? null : nameOrId(opts.group !== undefined ? 'options.group' : 'options.gid', group),
    supplementaryGroups: supplementaryGroups(opts.supplementaryGroups),
    boundingSet: oneOf('options.boundingSet', opts.boundingSet, ['clear', 'inherit'] as const, 'clear'),
    noNewPrivs: boolean('options.noNewPrivs', opts.noNewPrivs, true),
    capabilities: capabilities(opts.capabilities),
    lockSecurebits: opts.securebits !== undefined && oneOf('options.securebits', opts.securebits, ['locked'] as const, 'locked') === 'locked',
    umask: umask(opts.umask),
    parentDeathSignal:
      opts.parentDeathSignal === undefined
        ? null
        : signalNumber(opts.parentDeathSignal, 'options.parentDeathSignal', { anyNumber: true }),
    rlimits: rlimits(opts.rlimits),
    requireProcfs: boolean('options.requireProcfs', opts.requireProcfs, true),
  };
  boolean('options.windowsHide', opts.windowsHide, false);
  boolean('options.windowsVerbatimArguments', opts.windowsVerbatimArguments, false);
  const behaviour: Behaviour = {
    timeout,
    killSignal: signalNumber(opts.killSignal ?? 'SIGTERM', 'options.killSignal'),
    signal,
  };
  return { spec, behaviour, args: argv };
}
