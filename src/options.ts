/**
 * `spawn()`'s arguments, validated up front: a bad value throws synchronously with Node's error
 * codes and nothing is started.
 */
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { Stream } from 'node:stream';
import { incompatibleOptionPair, invalidArgType, invalidArgValue, invalidSyncForkInput, ipcUnsupported, outOfRange, spawnErrno, unknownSignal } from './errors.js';
import type { NativeSeccomp, NativeSpawnSpec, NativeStdio } from './native.js';
import { withShell } from './shell.js';
import { isNamedSignal, namedSignalNumber } from './signals.js';

export type StdioKind = 'pipe' | 'inherit' | 'ignore';
/** A stdio entry: a kind, a descriptor number, or a stream that has one (as in child_process). */
export type StdioOption = StdioKind | 'overlapped' | Array<StdioKind | 'overlapped' | number | Stream | { fd: number } | null | undefined>;

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
  /** A seccomp filter for the workload: see `SeccompOptions`. */
  seccomp?: SeccompOptions;
  /** Landlock: the workload reaches only these paths and what lies beneath them: `readOnly` to
   * read, list and execute, `readWrite` with every access right the kernel handles. Absolute
   * paths that exist. `compatibility`: `'hard'` (default) refuses the spawn
   * (`ERR_CAPSPAWN_LANDLOCK`) unless the kernel enforces all of it; `'best-effort'` runs with
   * what it enforces and reports the rest (`child.landlock`). Paths must contain no symbolic
   * link. The workload also cannot make Unix sockets (`unixSockets`), connect to an abstract
   * socket or signal a process outside its domain. Implies `noNewPrivs`. */
  filesystem?: FilesystemOption;
  /** `'host'` (default): the supervisor's network namespace; `'none'`: a new one with only a
   * loopback interface; `{ namespace }`: join one, by path (`/run/netns/NAME`,
   * `/proc/PID/ns/net`) or by an open descriptor. */
  network?: NetworkOption;
  /** Run the command line `[command, ...args].join(' ')` with `/bin/sh -c` (`true`) or with that
   * shell, as `child_process` does; the shell runs under the same drop as any workload. */
  shell?: boolean | string;
  /** Not looked at, as `child_process.spawn` does not. */
  encoding?: string;
  /** Accepted and ignored: it only matters with an `'ipc'` channel, which capspawn has not. */
  serialization?: 'json' | 'advanced';
  /** Accepted for `child_process` compatibility; meaningless on Linux. */
  windowsHide?: boolean;
  windowsVerbatimArguments?: boolean;
}
/**
 * The `seccomp` option: a filter the workload starts under, built in the supervisor and loaded
 * by the child as the last step before `execve` (it implies `noNewPrivs: true`). capspawn's own
 * filter checks the architecture (foreign-architecture and x32 system calls kill the workload
 * with `SIGSYS`), fails `socket()`/`socketpair()` of the listed families and the listed system
 * calls with `errno`, and allows everything else; a `program` of your own is loaded as given,
 * before it. An empty object loads nothing.
 */
export interface SeccompOptions {
  /** Socket families `socket()` and `socketpair()` fail for: `'AF_INET'`, `'inet'`, `'PF_INET'`
   * (any case), or a number. */
  denySocketFamilies?: Array<string | number>;
  /** System calls that fail, by the kernel's name (`'unshare'`, `'mkdir'`, `'ptrace'`). Denying
   * anything (a family or a call) also denies io_uring (`io_uring_setup`, `_enter`,
   * `_register`), whose operations the filter never sees. */
  denySyscalls?: string[];
  /** The errno they fail with, by name (default `'EPERM'`). */
  errno?: string;
  /** A classic BPF seccomp program of your own (`struct sock_filter`s in this machine's byte
   * order, 1 to 4096 of them, as libseccomp's `seccomp_export_bpf` writes), loaded as given. */
  program?: Buffer | Uint8Array;
}
/** The `filesystem` option (Landlock). */
export interface FilesystemOption {
  readOnly?: string[];
  readWrite?: string[];
  compatibility?: 'hard' | 'best-effort';
  /** `'deny'` (default): the workload cannot create Unix sockets (`socket(AF_UNIX)` and a
   * datagram `socketpair` fail with `EACCES`; a stream or seqpacket `socketpair`, and sockets it
   * is given, work), since Landlock does not check `connect()` to a pathname socket. `'allow'`:
   * pathname Unix sockets outside the rules (`/run/docker.sock`, say) are then reachable. */
  unixSockets?: 'deny' | 'allow';
}
/** The `network` option. */
export type NetworkOption = 'host' | 'none' | { namespace: string | number };

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
  'serialization', 'seccomp',
  'filesystem', 'network',
]);
/** The options child_process takes `null` (or, for `env` and `stdio`, any falsy value) for
 * "not set"; capspawn's own options, the privilege drop among them, take no `null`. */
const NULL_IS_UNSET = new Set([
  'cwd', 'env', 'argv0', 'stdio', 'detached', 'timeout', 'killSignal', 'uid', 'gid', 'shell', 'encoding',
  'windowsHide', 'windowsVerbatimArguments',
]);
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to the kernel, so it is not an id.
const MAX_FD = 0x7fffffff;

/**
 * A snapshot of `value`'s own enumerable properties in an object without a prototype, as
 * child_process copies its options (`{ __proto__: null, ...options }`): a key that only a
 * polluted `Object.prototype` has is not there, and each getter runs once, here, so a value
 * cannot change between its check and its use.
 */
export function own(value: object): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, value);
}

/** An array's elements, each read only if the array has it: a hole is `undefined`, never what a
 * polluted `Array.prototype` has at that index. */
function ownElements(array: readonly unknown[]): unknown[] {
  return Array.from({ length: array.length }, (_, i) => (Object.hasOwn(array, i) ? array[i] : undefined));
}

/** `object[key]` as its own class defines it: own properties and those of its prototypes, but
 * not of the built-in ones a polluted dependency reaches (`Object.prototype`, …). For stdio
 * entries, whose `_handle` is a getter of `net.Socket.prototype`. */
function classProperty(object: object, key: string): unknown {
  const builtIn = [Object.prototype, Array.prototype, Function.prototype];
  for (let o: object | null = object; o !== null && !builtIn.includes(o); o = Object.getPrototypeOf(o) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(o, key);
    if (descriptor) return descriptor.get ? (descriptor.get.call(object) as unknown) : descriptor.value;
  }
  return undefined;
}

function string(name: string, value: unknown, { empty } = { empty: false }): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must be a string without null bytes');
  if (!empty && value.length === 0) throw invalidArgValue(name, value, 'cannot be empty');
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
  throw invalidArgType(name, 'one of type string or number', value);
}

/** A signal name (any case, as child_process's convertToValidSignal takes it), or a number that
 * names one, as its number; throws `ERR_UNKNOWN_SIGNAL` otherwise, as child_process does (so 0
 * and the unnamed real-time numbers are refused). `anyNumber` takes every number from 1 to 64
 * (the kernel's signals, for capspawn's own options). `name` set: a value that is neither a
 * string nor a number is `ERR_INVALID_ARG_TYPE` for that option; unset (`kill()`), it is
 * `ERR_UNKNOWN_SIGNAL`, as child_process throws both. */
export function signalNumber(signal: unknown, name?: string, { anyNumber } = { anyNumber: false }): number {
  if (typeof signal === 'number') {
    const known = anyNumber ? Number.isInteger(signal) && signal >= 1 && signal <= 64 : isNamedSignal(signal);
    if (!known) throw unknownSignal(signal);
    return signal;
  }
  if (typeof signal === 'string') {
    const number = namedSignalNumber(signal.toUpperCase());
    if (number === undefined) throw unknownSignal(signal);
    return number;
  }
  if (name === undefined) throw unknownSignal(signal);
  throw invalidArgType(name, 'one of type string or number', signal);
}

/** The `stdio` option as child_process reads it (getValidStdio), into what the child gets;
 * `wrapped` collects the streams whose handle the child gets (see `useAsStdio`). */
function stdio(value: unknown, wrapped: object[]): NativeStdio[] {
  let entries: unknown[];
  if (typeof value === 'string') {
    // child_process's stdioStringToArray: a kind for all three ('inherit' as descriptors 0-2).
    if (value === 'ignore' || value === 'pipe' || value === 'overlapped') entries = [value, value, value];
    else if (value === 'inherit') entries = [value, value, value]; // child_process: descriptors 0, 1, 2, the same
    else throw invalidArgValue('stdio', value, 'is invalid');
  } else if (Array.isArray(value)) {
    if (value.length > 1024) throw invalidArgValue('stdio', value, 'must have at most 1024 entries');
    entries = ownElements(value);
  } else {
    throw invalidArgValue('stdio', value, 'is invalid');
  }
  while (entries.length < 3) entries.push(undefined);
  return entries.map((entry, index) => stdioEntry(entry, index, wrapped));
}

function stdioEntry(value: unknown, index: number, wrapped: object[]): NativeStdio {
  if (value === null || value === undefined) return index < 3 ? 'pipe' : 'ignore';
  if (value === 'ignore' || value === 'pipe' || value === 'inherit') return value;
  if (value === 'overlapped') return 'pipe'; // as child_process, outside Windows
  if (value === 'ipc') throw ipcUnsupported();
  if (typeof value === 'number') return value < 0 ? 'pipe' : descriptor(value); // a negative one is a pipe, as in child_process
  if (typeof value === 'string' || ArrayBuffer.isView(value)) throw invalidSyncForkInput(value);
  if (typeof value === 'object') {
    // As child_process: an object with a numeric `fd` (an fs stream once open, process.stdout
    // to a file), or one whose handle is a pipe, socket or TTY (a net.Socket, another child's
    // stdout).
    const fd = classProperty(value, 'fd');
    if (typeof fd === 'number') return descriptor(fd);
    const handle = classProperty(value, '_handle');
    const handleFd = handle !== null && typeof handle === 'object' ? classProperty(handle, 'fd') : undefined;
    if (typeof handleFd === 'number' && handleFd >= 0) {
      wrapped.push(value);
      return descriptor(handleFd);
    }
  }
  throw invalidArgValue('stdio', value, 'is invalid');
}

/** A descriptor number for the child. child_process passes any number on after a 32-bit
 * conversion (NaN is descriptor 0, 2 ** 32 + 1 is 1, 1.5 is 1); capspawn refuses what that would
 * turn into another descriptor. */
function descriptor(value: number, name = 'stdio'): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FD) throw outOfRange(name, `a file descriptor >= 0 && <= ${MAX_FD}`, value);
  return value;
}

/** `{ KEY: value }` into alternating keys and values; `null` asks for the supervisor's own. */
function environment(value: unknown): string[] | null {
  // The supervisor's own environment is read natively (environ), which is what process.env is
  // on the main thread: copying it through JavaScript was the largest cost of a spawn. A
  // worker has its own copy of process.env, so it passes it.
  if (value === undefined && isMainThread) return null;
  // Own keys only, unlike child_process (for…in): a PATH or LD_PRELOAD that a polluted
  // Object.prototype has must not reach the workload. Like child_process, a primitive is taken
  // as the object it boxes (a string's characters become variables, a number has none).
  const source = own(Object(value === undefined ? process.env : value) as object);
  const pairs: string[] = [];
  for (const key of Object.keys(source)) {
    const raw = source[key];
    if (raw === undefined) continue;
    if (key.includes('\0')) throw invalidArgValue(`options.env['${key}']`, key, 'must be a string without null bytes');
    const entry = `${raw as string}`;
    if (entry.includes('\0')) throw invalidArgValue(`options.env['${key}']`, entry, 'must be a string without null bytes');
    if (key.length === 0 || key.includes('=')) {
      throw invalidArgValue('options.env', key, 'must have keys that are non-empty and without "="');
    }
    pairs.push(key, entry);
  }
  return pairs;
}

function supplementaryGroups(value: unknown): NativeSpawnSpec['supplementaryGroups'] {
  if (value === undefined) return null;
  if (value === 'init' || value === 'clear') return value;
  if (Array.isArray(value)) {
    return ownElements(value).map((gid, i) => {
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
  return ownElements(value).map((cap, i) => {
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
  return Object.entries(own(value)).map(([resource, setting]) => {
    const name = `options.rlimits.${resource}`;
    const pair = Array.isArray(setting) ? ownElements(setting) : [setting, setting];
    if (Array.isArray(setting) && pair.length !== 2) throw invalidArgValue(name, setting, 'must be [soft, hard]');
    const limits: [string, number, number] = [resource, limit(name, pair[0]), limit(name, pair[1])];
    if (limits[1] > limits[2]) throw invalidArgValue(name, setting, 'must not have a soft limit above the hard one');
    return limits;
  });
}

const SECCOMP_KEYS = new Set(['denySocketFamilies', 'denySyscalls', 'errno', 'program']);
const MAX_BPF_INSTRUCTIONS = 4096; // BPF_MAXINSNS

/** A list of names for the seccomp option (numbers too, for families). Only their form is
 * checked here; the core resolves them, and an unknown one throws ERR_INVALID_ARG_VALUE before
 * anything is cloned. */
function seccompNames(name: string, value: unknown, numbers: boolean): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value);
  return ownElements(value).map((entry, i) => {
    if (numbers && typeof entry === 'number') {
      if (!Number.isInteger(entry) || entry < 0 || entry > 0xffff) throw outOfRange(`${name}[${i}]`, 'an integer >= 0 && <= 65535', entry);
      return String(entry);
    }
    return string(`${name}[${i}]`, entry);
  });
}

/** The `seccomp` option, own properties only; `program` is copied, so a change to the caller's
 * buffer after this cannot change what is loaded. */
function seccomp(value: unknown, noNewPrivs: unknown): NativeSeccomp | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType('options.seccomp', 'of type object', value);
  const opts = own(value);
  for (const key of Object.keys(opts)) {
    if (!SECCOMP_KEYS.has(key) && opts[key] !== undefined) throw invalidArgValue(`options.seccomp.${key}`, opts[key], 'is not a seccomp option');
  }
  // Without CAP_SYS_ADMIN the kernel loads a filter only under no_new_privs.
  if (noNewPrivs === false) throw incompatibleOptionPair('seccomp', 'noNewPrivs: false');
  let program: Buffer | null = null;
  if (opts.program !== undefined) {
    if (!(opts.program instanceof Uint8Array)) throw invalidArgType('options.seccomp.program', 'an instance of Buffer or Uint8Array', opts.program);
    const bytes = opts.program.byteLength;
    if (bytes === 0 || bytes % 8 !== 0 || bytes / 8 > MAX_BPF_INSTRUCTIONS) {
      throw invalidArgValue('options.seccomp.program', opts.program, `must be 1 to ${MAX_BPF_INSTRUCTIONS} instructions of 8 bytes (struct sock_filter)`);
    }
    program = Buffer.from(opts.program);
  }
  const errno = opts.errno === undefined ? null : string('options.seccomp.errno', opts.errno);
  return Object.assign(Object.create(null) as NativeSeccomp, {
    denySocketFamilies: seccompNames('options.seccomp.denySocketFamilies', opts.denySocketFamilies, true),
    denySyscalls: seccompNames('options.seccomp.denySyscalls', opts.denySyscalls, false),
    errno,
    program,
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

/** The `filesystem` option: own properties only, absolute paths without NUL bytes. Whether each
 * exists is checked by the core, before anything is cloned. */
function filesystem(value: unknown): NativeSpawnSpec['filesystem'] {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType('options.filesystem', 'of type object', value);
  const given = own(value);
  for (const key of Object.keys(given)) {
    if (!['readOnly', 'readWrite', 'compatibility', 'unixSockets'].includes(key) && given[key] !== undefined) {
      throw invalidArgValue(`options.filesystem.${key}`, given[key], 'is not a filesystem option');
    }
  }
  const paths = (key: 'readOnly' | 'readWrite'): string[] => {
    const list = given[key];
    if (list === undefined) return [];
    if (!Array.isArray(list)) throw invalidArgType(`options.filesystem.${key}`, 'an instance of Array', list);
    return ownElements(list).map((entry, i) => {
      const name = `options.filesystem.${key}[${i}]`;
      const path = string(name, entry);
      if (!isAbsolute(path)) throw invalidArgValue(name, path, 'must be an absolute path');
      return path;
    });
  };
  const compatibility = oneOf('options.filesystem.compatibility', given.compatibility, ['hard', 'best-effort'] as const, 'hard');
  const unixSockets = oneOf('options.filesystem.unixSockets', given.unixSockets, ['deny', 'allow'] as const, 'deny');
  return { readOnly: paths('readOnly'), readWrite: paths('readWrite'), bestEffort: compatibility === 'best-effort', allowUnixSockets: unixSockets === 'allow' };
}

/** The `network` option: `null` for the host's namespace. */
function network(value: unknown): NativeSpawnSpec['network'] {
  if (value === undefined || value === 'host') return null;
  if (value === 'none') return 'none';
  if (typeof value === 'string') throw invalidArgValue('options.network', value, "must be 'host', 'none' or { namespace }");
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType('options.network', "'host', 'none' or an object with a namespace", value);
  }
  const given = own(value);
  for (const key of Object.keys(given)) {
    if (key !== 'namespace' && given[key] !== undefined) throw invalidArgValue(`options.network.${key}`, given[key], 'is not a network option');
  }
  const namespace = given.namespace;
  if (typeof namespace === 'number') return { fd: descriptor(namespace, 'options.network.namespace') };
  if (typeof namespace !== 'string') throw invalidArgType('options.network.namespace', 'one of type string or number', namespace);
  const path = string('options.network.namespace', namespace);
  if (!isAbsolute(path)) throw invalidArgValue('options.network.namespace', path, 'must be an absolute path');
  return { path };
}

/** child_process's isInt32. */
/** child_process's `isInt32`, but a number first: `value | 0` would call an object's `valueOf`
 * (user code, which may throw, as a prototype-less object's missing one does). */
function isInt32(value: unknown): value is number {
  return typeof value === 'number' && value === (value | 0);
}

/** `user`/`uid` (or `group`/`gid`): capspawn's name-or-id option, or child_process's int32 one. */
function identity(opts: Record<string, unknown>, name: 'user' | 'group', alt: 'uid' | 'gid'): string | number | null {
  if (opts[name] === null) throw invalidArgType(`options.${name}`, 'one of type string or number', null);
  if (opts[name] !== undefined && opts[alt] !== undefined) {
    throw invalidArgValue(`options.${alt}`, opts[alt], `cannot be combined with options.${name}`);
  }
  if (opts[name] !== undefined) return nameOrId(`options.${name}`, opts[name]);
  if (opts[alt] === undefined) return null;
  // As child_process: an int32, and a negative one is taken as the uid_t it converts to; -1 is
  // no id (the kernel's "unchanged"), and setuid(-1) fails with EINVAL there, thrown.
  const value = (opts[alt] as number) >>> 0;
  if (value > MAX_ID) throw spawnErrno('EINVAL');
  return value;
}

/** Normalises `spawn(command, args?, options?)`'s arguments in child_process's order
 * (normalizeSpawnArguments, then spawn's own checks), then capspawn's own options. Every option
 * is read once, as an own property, before anything else happens. */
export function normalize(
  command: unknown,
  argsOrOptions?: unknown,
  maybeOptions?: unknown,
): { spec: NativeSpawnSpec; behaviour: Behaviour; args: unknown[]; wrapped: object[] } {
  let file = string('file', command);
  let args: unknown[];
  let options: unknown = maybeOptions;
  if (Array.isArray(argsOrOptions)) args = ownElements(argsOrOptions);
  else if (argsOrOptions === undefined || argsOrOptions === null) args = [];
  else if (typeof argsOrOptions !== 'object') throw invalidArgType('args', 'of type object', argsOrOptions);
  else {
    options = argsOrOptions;
    args = [];
  }
  args.forEach((arg, i) => {
    if (typeof arg === 'string' && arg.includes('\0')) throw invalidArgValue(`args[${i}]`, arg, 'must be a string without null bytes');
  });
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidArgType('options', 'of type object', options);
  const opts = own(options);
  for (const key of Object.keys(opts)) {
    const value = opts[key];
    // An unknown option could be a typo of a security option (`usr: 'nobody'`): refuse it,
    // unless it is undefined, which asks for nothing (spread defaults often carry such keys).
    if (!KNOWN.has(key) && value !== undefined) {
      throw invalidArgValue(`options.${key}`, value, 'is not a capspawn option');
    }
    if (value === null && NULL_IS_UNSET.has(key)) opts[key] = undefined;
  }
  // child_process takes any falsy env or stdio for the default.
  if (!opts.env) opts.env = undefined;
  if (!opts.stdio) opts.stdio = undefined;

  // normalizeSpawnArguments's order.
  let cwd: string | null = null;
  if (opts.cwd !== undefined) {
    const path = opts.cwd instanceof URL ? fileURLToPath(opts.cwd) : opts.cwd;
    if (typeof path !== 'string' && !(path instanceof Uint8Array)) throw invalidArgType('options.cwd', 'of type string or an instance of Buffer or URL', path);
    if (typeof path === 'string' ? path.includes('\0') : path.includes(0)) throw invalidArgValue('options.cwd', path, 'must be a string, Uint8Array, or URL without null bytes');
    // As child_process: an empty cwd, or one given as bytes, is not changed to.
    if (typeof path === 'string' && path.length > 0) cwd = path;
  }
  const detached = boolean('options.detached', opts.detached, false);
  if (opts.uid !== undefined && !isInt32(opts.uid)) throw invalidArgType('options.uid', 'int32', opts.uid);
  if (opts.gid !== undefined && !isInt32(opts.gid)) throw invalidArgType('options.gid', 'int32', opts.gid);
  const shell = opts.shell;
  if (shell !== undefined && typeof shell !== 'boolean' && typeof shell !== 'string') {
    throw invalidArgType('options.shell', 'one of type boolean or string', shell);
  }
  const argv0 = opts.argv0 === undefined ? undefined : string('options.argv0', opts.argv0, { empty: true });
  boolean('options.windowsHide', opts.windowsHide, false);
  boolean('options.windowsVerbatimArguments', opts.windowsVerbatimArguments, false);
  if (shell) {
    // As child_process: the command and its arguments joined with spaces, run by `sh -c`
    // (under the same drop as any workload).
    // One join for spawn, execFile and the synchronous functions (shell.ts).
    if (typeof shell === 'string') string('options.shell', shell, { empty: true });
    [file, args] = withShell(file, args as string[], shell);
  }
  // As child_process (in its binding): every argument is converted with String().
  const argv = args.map((arg, i) => {
    const text = String(arg);
    if (text.includes('\0')) throw invalidArgValue(`args[${i}]`, text, 'must be a string without null bytes');
    return text;
  });
  const env = environment(opts.env);

  // spawn()'s own checks.
  const timeout = opts.timeout ?? 0;
  if (!Number.isInteger(timeout) || (timeout as number) < 0) throw outOfRange('timeout', 'an unsigned integer', timeout);
  // Past 2 ** 31 - 1 ms, Node's setTimeout fires after 1 ms instead (child_process kills the
  // child at once); capspawn refuses it.
  if ((timeout as number) > 0x7fffffff) throw outOfRange('timeout', 'an unsigned integer <= 2147483647', timeout);
  // Any object with `aborted`, as child_process's validateAbortSignal takes it.
  const signal = opts.signal as AbortSignal | undefined;
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  const killSignal = signalNumber(opts.killSignal ?? 'SIGTERM', 'options.killSignal');

  // ChildProcess.prototype.spawn's.
  const wrapped: object[] = [];
  const fds = opts.stdio === undefined ? (['pipe', 'pipe', 'pipe'] as NativeStdio[]) : stdio(opts.stdio, wrapped);
  if (opts.serialization !== undefined && opts.serialization !== 'json' && opts.serialization !== 'advanced') {
    throw invalidArgValue('options.serialization', opts.serialization, "must be one of: undefined, 'json', 'advanced'");
  }
  // `encoding` is not looked at, as child_process.spawn does not.

  // capspawn's own.
  const user = identity(opts, 'user', 'uid');
  const group = identity(opts, 'group', 'gid');
  // Without a prototype: the binding reads each field by name, and a field this object lacked
  // must not come from a polluted Object.prototype.
  const spec: NativeSpawnSpec = Object.assign(Object.create(null) as NativeSpawnSpec, {
    file,
    argv: [argv0 ?? file, ...argv],
    env,
    cwd,
    stdio: fds,
    detached,
    user,
    group,
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
    seccomp: seccomp(opts.seccomp, opts.noNewPrivs),
    filesystem: filesystem(opts.filesystem),
    network: network(opts.network),
  });
  // Landlock's restrict_self needs no_new_privs (the workload holds no CAP_SYS_ADMIN then).
  if (spec.filesystem !== null && opts.noNewPrivs === false) throw incompatibleOptionPair('filesystem', 'noNewPrivs');
  const behaviour: Behaviour = { timeout: timeout as number, killSignal, signal };
  // `args` as given (a number stays a number in spawnargs, as in child_process).
  return { spec, behaviour, args, wrapped };
}
