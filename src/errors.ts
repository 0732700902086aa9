/**
 * Errors with Node's codes: synchronous argument errors like Node's own `ERR_INVALID_ARG_TYPE`,
 * `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`, `ERR_UNKNOWN_SIGNAL`, and the spawn failures
 * reported by the child (`ENOENT`, `ERR_CAPSPAWN_BOUNDING_SET`, …).
 */
import { constants } from 'node:os';
import { format, inspect } from 'node:util';

/** An error with a `code`, as thrown or emitted by capspawn. */
export interface CodedError extends Error {
  code: string;
}

function coded<E extends Error>(error: E, code: string): E & CodedError {
  return Object.assign(error, { code });
}

/** What was received, as Node's ERR_INVALID_ARG_TYPE says it (determineSpecificType). */
function describe(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === 'function') return `Received function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name ? `Received an instance of ${name}` : `Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

/** `The "name" argument must be of type X. Received …` (a TypeError, as Node throws it). */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError & CodedError {
  const what = name.includes('.') ? 'property' : 'argument';
  return coded(new TypeError(`The "${name}" ${what} must be ${expected}. ${describe(value)}`), 'ERR_INVALID_ARG_TYPE');
}

/** `The argument 'name' reason. Received …` (a TypeError, as Node throws it). */
export function invalidArgValue(name: string, value: unknown, reason: string): TypeError & CodedError {
  const what = name.includes('.') ? 'property' : 'argument';
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`; // as Node cuts it
  return coded(new TypeError(`The ${what} '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

/** `The value of "name" is out of range. It must be X. Received …` (a RangeError). */
export function outOfRange(name: string, range: string, value: unknown): RangeError & CodedError {
  return coded(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** `Option "a" cannot be used in combination with option "b"` (a TypeError with
 * `ERR_INCOMPATIBLE_OPTION_PAIR`, as Node words it). */
export function incompatibleOptionPair(option1: string, option2: string): TypeError & CodedError {
  return coded(new TypeError(`Option "${option1}" cannot be used in combination with option "${option2}"`), 'ERR_INCOMPATIBLE_OPTION_PAIR');
}

/** `Unknown signal: X` (a TypeError with `ERR_UNKNOWN_SIGNAL`). */
export function unknownSignal(signal: unknown): TypeError & CodedError {
  return coded(new TypeError(format('Unknown signal: %s', signal)), 'ERR_UNKNOWN_SIGNAL'); // as Node formats it
}

/** Node's `AbortError`, emitted when `options.signal` aborts a child. */
export function abortError(cause: unknown): Error & CodedError {
  const error = coded(new Error('The operation was aborted', { cause }), 'ABORT_ERR');
  error.name = 'AbortError';
  return error;
}

/** `ERR_INVALID_SYNC_FORK_INPUT`: a string or bytes as a `stdio` entry (only `spawnSync` takes
 * input), as child_process throws it. */
export function invalidSyncForkInput(value: unknown): TypeError & CodedError {
  return coded(
    new TypeError(`Asynchronous forks do not support Buffer, TypedArray, DataView or string input: ${inspect(value)}`),
    'ERR_INVALID_SYNC_FORK_INPUT',
  );
}

/** `ERR_CAPSPAWN_IPC_UNSUPPORTED`: an `'ipc'` stdio entry. */
export function ipcUnsupported(): Error & CodedError {
  return coded(
    new Error("stdio 'ipc' is not supported by capspawn: there is no IPC channel (use a 'pipe' entry beyond 2, a Unix socket pair, and a protocol of your own)"),
    'ERR_CAPSPAWN_IPC_UNSUPPORTED',
  );
}

/** Node's error numbers, negative, by name (`os.constants.errno` has them positive). */
const ERRNOS = constants.errno as Record<string, number>;

/** The error child_process throws when a spawn fails at run time with an errno it does not
 * report as an event (`spawn EPERM`: `code`, negative `errno`, `syscall: 'spawn'`). */
export function spawnErrno(
  code: string,
  extra: Record<string, unknown> = {},
  detail?: string,
): Error & CodedError & { errno: number; syscall: string } {
  const message = detail === undefined ? `spawn ${code}` : `spawn ${code} (${detail})`;
  return Object.assign(new Error(message), { errno: -(ERRNOS[code] ?? 1), code, syscall: 'spawn', ...extra });
}

/** The errnos child_process reports as an `'error'` event; it throws every other one. */
export const EMITTED_ERRNOS: ReadonlySet<string> = new Set(['EACCES', 'EAGAIN', 'EMFILE', 'ENFILE', 'ENOENT']);

/** A program's file capabilities (its `security.capability` attribute, as `getcap` shows it). */
export interface FileCapabilities {
  /** The file the exec stopped at (a PATH search resolved). */
  path: string;
  /** The `vfs_cap_data` revision: 1, 2 or 3 (namespaced, with `rootId`). */
  revision: number;
  /** The effective flag (`=ep`): the kernel refuses the exec unless the workload can have every
   * permitted capability. */
  effective: boolean;
  permitted: string[];
  inheritable: string[];
  rootId: number | null;
}

/** The error emitted when the child stopped before exec: Node's errno codes, or
 * `ERR_CAPSPAWN_BOUNDING_SET` when the bounding set could not be emptied. */
export interface SpawnError extends CodedError {
  errno: number;
  syscall: string;
  path: string;
  spawnargs: string[];
  /** The step of the child's sequence that failed (`'exec'`, `'setuid'`, `'bounding-set'`, …). */
  stage: string;
  /** Capabilities still raised, for the bounding set and the verification. */
  remaining: string[];
  /** For an exec `EPERM` of a program with file capabilities: what the file asks for. */
  fileCapabilities?: FileCapabilities;
}

/** Who reads a message: a library user (option names) or a `capspawn` command user (flags). */
export type Dialect = 'library' | 'cli';

/** What a failure message is made of; kept on the error so the CLI can say it in its flags. */
export interface FailureFacts {
  file: string;
  stage: string;
  code: string | null;
  /** The core's description of the failed step. */
  detail: string;
  /** Whether CAP_SETPCAP was effective in the supervisor (for a bounding-set refusal). */
  setpcapEffective: boolean;
  /** The capabilities the spawn asked to keep, as given. */
  kept: string[];
  fileCapabilities: FileCapabilities | null;
  /** Thrown synchronously (an errno child_process throws), not emitted. */
  thrown?: boolean;
  /** The spawn loaded a seccomp program of the user's (`seccomp.program`). */
  seccompProgram?: boolean;
}

const FACTS = Symbol.for('capspawn.failureFacts');

/** `cap_net_raw=ep`, as `getcap` prints it. */
function getcapText(caps: FileCapabilities): string {
  const lower = (names: string[]) => names.map((c) => c.toLowerCase()).join(',');
  const parts = [];
  if (caps.permitted.length > 0) parts.push(`${lower(caps.permitted)}=${caps.effective ? 'e' : ''}p`);
  if (caps.inheritable.length > 0) parts.push(`${lower(caps.inheritable)}+i`);
  return parts.join(' ');
}

/** The capabilities to keep so that a program with file capabilities `caps` can be executed:
 * those already kept, and every one the file lists as permitted. */
function toKeep(kept: string[], caps: FileCapabilities): string[] {
  const canonical = (name: string) => (/^[0-9]+$/.test(name) ? name : `CAP_${name.toUpperCase().replace(/^CAP_/, '')}`);
  const keep = kept.map(canonical);
  for (const cap of caps.permitted) if (!keep.includes(cap)) keep.push(cap);
  return keep.map((c) => c.replace(/^CAP_/, ''));
}

/** The fix for a failure, in the reader's words, as the first sentence of its message. */
function fix(facts: FailureFacts, dialect: Dialect): string | null {
  const cli = dialect === 'cli';
  if (facts.stage === 'bounding-set') {
    const inherit = cli ? '--inherit-bounding-set' : "boundingSet: 'inherit'";
    if (facts.setpcapEffective) {
      return (
        "allow prctl(PR_CAPBSET_DROP) in the supervisor's seccomp or LSM (AppArmor, SELinux) profile, which refuses it " +
        `although CAP_SETPCAP is effective, or pass ${inherit} to run the workload with the bounding set raised`
      );
    }
    return (
      'give the supervisor CAP_SETPCAP or start it with an empty bounding set, ' +
      `or pass ${inherit} to run the workload with the set raised`
    );
  }
  if (facts.stage === 'rlimit' && facts.code === 'EMFILE') {
    const nofile = cli ? '--rlimit nofile=N' : 'rlimits.nofile';
    return (
      `raise ${nofile} above the workload's stdio descriptors: with filesystem or network, the child opens one more ` +
      'descriptor before exec to check the layer, and the limit leaves it no number to take'
    );
  }
  if (facts.stage === 'landlock') {
    const bestEffort = cli ? '--landlock best-effort' : "filesystem.compatibility: 'best-effort'";
    if (facts.code === 'ENOSYS' || facts.code === 'EOPNOTSUPP') {
      return (
        'run the supervisor on a kernel with Landlock enabled and ABI 6 or later (Linux 6.12; `capspawn doctor` shows this ' +
        "kernel's ABI), allow landlock_create_ruleset in its seccomp profile, " +
        `or pass ${bestEffort} to run with what this kernel enforces (reported on the child)`
      );
    }
    if (facts.code === null) return "fix the supervisor's seccomp or LSM profile, which fakes landlock_restrict_self's success";
    return "allow landlock_restrict_self in the supervisor's seccomp or LSM profile";
  }
  if (facts.stage === 'netns') {
    if (facts.code === 'EPERM') {
      return (
        'give the supervisor CAP_SYS_ADMIN over the namespace (a rootless supervisor can join only a namespace its own user ' +
        `namespace owns: use ${cli ? '--net none' : "network: 'none'"}, which it can make, or one made inside its user namespace)`
      );
    }
    if (facts.code === null) return "fix the supervisor's seccomp or LSM profile, which fakes the success of setns or unshare";
    if (facts.code === 'ENOENT') return 'mount procfs at /proc: the child checks its network namespace in /proc/thread-self/ns/net';
    return 'give the supervisor CAP_SYS_ADMIN and allow unshare and setns in its seccomp or LSM profile';
  }
  const caps = facts.fileCapabilities;
  if (facts.stage === 'exec' && facts.code === 'EPERM' && caps !== null && caps.effective && caps.permitted.length > 0) {
    const keep = toKeep(facts.kept, caps);
    const option = cli ? `--cap ${keep.map((c) => c.toLowerCase()).join(',')}` : `capabilities: [${keep.map((c) => `'${c}'`).join(', ')}]`;
    return `pass ${option} to run ${caps.path}, whose file capabilities (${getcapText(caps)}) ask for ${caps.permitted.join(', ')}`;
  }
  return null;
}

/** The message of a failure: the fix first, then what happened. */
export function failureMessage(facts: FailureFacts, dialect: Dialect): string {
  const remedy = fix(facts, dialect);
  if (facts.stage === 'bounding-set') {
    return (
      `spawn ${facts.file}: ${remedy}. Podman/Docker: --cap-add SETPCAP; Kubernetes: add SETPCAP to the ` +
      "container's securityContext.capabilities.add; `capspawn doctor` tells which fix fits this deployment. " +
      `The workload was not started: the capability bounding set could not be emptied: ${facts.detail}.`
    );
  }
  if (facts.stage === 'seccomp') return seccompMessage(facts, dialect);
  // child_process's words for an errno: `spawn <file> ENOENT` emitted, `spawn EPERM` thrown.
  const head = facts.thrown ? `spawn ${facts.code}` : `spawn ${facts.file} ${facts.code}`;
  if (facts.seccompProgram && (facts.stage === 'exec' || facts.stage === 'signal-mask') && facts.code !== 'ENOENT' && facts.code !== 'EACCES') {
    const program = dialect === 'cli' ? '--seccomp-program' : 'seccomp.program';
    return (
      `${head}: make ${program} allow execve and rt_sigprocmask, which capspawn calls after loading it to start the ` +
      `workload (${facts.stage} failed before exec: ${facts.detail}); the workload did not run`
    );
  }
  if (facts.stage === 'exec' || facts.stage === 'setup') {
    if (remedy === null) return head;
    return (
      `${head}: ${remedy}. The kernel refuses to execute a program with the effective ` +
      'file-capability flag unless the workload can hold all its capabilities, and the drop left it none of them.'
    );
  }
  if (facts.stage === 'landlock' || facts.stage === 'netns') {
    const layer = facts.stage === 'landlock' ? 'the Landlock rules (filesystem)' : 'the network namespace (network)';
    return `spawn ${facts.file}: ${remedy}. The workload was not started: ${layer} could not be applied: ${facts.detail}.`;
  }
  if (facts.stage === 'terminal') {
    return (
      `spawn ${facts.file}: allow ioctl(TIOCSCTTY) in the supervisor's seccomp or LSM profile, or give the workload a ` +
      `terminal that no other session controls. The workload was not started: its terminal could not be made its ` +
      `controlling terminal: ${facts.detail}.`
    );
  }
  if (facts.stage === 'held' || facts.stage === 'died') return `spawn ${facts.file}: ${facts.detail}; the workload did not run`;
  // Any other step that failed with an errno: Node's words, the fix when there is one, then
  // which step it was.
  if (isErrnoFailure(facts)) return `${head}${remedy === null ? '' : `: ${remedy}`} (${facts.stage} failed before exec: ${facts.detail})`;
  return `spawn ${facts.file}: ${facts.stage} failed before exec: ${facts.detail}`;
}

/** A failed seccomp step (`ERR_CAPSPAWN_SECCOMP`), fix first. */
function seccompMessage(facts: FailureFacts, dialect: Dialect): string {
  const program = dialect === 'cli' ? '--seccomp-program' : 'seccomp.program';
  let remedy: string;
  if (facts.code === null) {
    remedy =
      "fix the supervisor's seccomp or LSM profile, which fakes seccomp()'s success: the kernel does not show the filter " +
      'loaded (Seccomp: 2 and one more Seccomp_filters per filter in /proc/thread-self/status)';
  } else if (facts.code === 'EINVAL' && facts.seccompProgram) {
    remedy = `pass a valid classic BPF seccomp program as ${program}: the kernel refused it (EINVAL)`;
  } else if (facts.code === 'ENOMEM') {
    remedy = `shorten ${program} or the deny lists: the filters the workload would run under exceed the kernel's 32768 instructions (ENOMEM)`;
  } else {
    remedy =
      `${facts.seccompProgram ? `make ${program} allow seccomp, pread64 and gettid (capspawn loads its own filter after it and reads them back with these), and ` : ''}` +
      `allow seccomp() in the supervisor's own seccomp or LSM profile, which refuses it (${facts.code})`;
  }
  return `spawn ${facts.file}: ${remedy}. The workload was not started: the seccomp filter could not be loaded and verified: ${facts.detail}.`;
}

/** The stages whose failure has a code of capspawn's own, whatever the errno. */
const STAGE_CODES: Record<string, string> = {
  __proto__: null as unknown as string,
  'bounding-set': 'ERR_CAPSPAWN_BOUNDING_SET',
  died: 'ERR_CAPSPAWN_CHILD_DIED',
  held: 'ERR_CAPSPAWN_CHILD_HELD',
  procfs: 'ERR_CAPSPAWN_PROCFS',
  seccomp: 'ERR_CAPSPAWN_SECCOMP',
  landlock: 'ERR_CAPSPAWN_LANDLOCK',
  netns: 'ERR_CAPSPAWN_NETNS',
  terminal: 'ERR_CAPSPAWN_TERMINAL',
};

/** Whether a failure is reported with its errno's code (not one of capspawn's own). */
function isErrnoFailure(facts: FailureFacts): boolean {
  return facts.code !== null && STAGE_CODES[facts.stage] === undefined;
}

/** The error for a child that stopped before exec. An errno failure looks as child_process
 * reports it, whichever step it came from (`stage` names it): emitted with `syscall:
 * 'spawn <file>'`, `path` and `spawnargs`; thrown (`facts.thrown`) as `spawn EPERM` with
 * `syscall: 'spawn'` and neither. capspawn's own refusals keep the failed call as `syscall`. */
export function spawnError(facts: FailureFacts, errno: number, syscall: string, args: unknown[], remaining: string[]): SpawnError {
  const byErrno = isErrnoFailure(facts);
  const fields = facts.thrown
    ? { errno: -errno, code: facts.code!, syscall: 'spawn' }
    : {
        errno: -errno, // errno, code, syscall, path, spawnargs: child_process's order
        code: STAGE_CODES[facts.stage] ?? facts.code ?? 'ERR_CAPSPAWN_VERIFY',
        syscall: byErrno ? `spawn ${facts.file}` : syscall,
        path: facts.file,
        spawnargs: args as string[],
      };
  const error = Object.assign(new Error(failureMessage(facts, 'library')), fields, { stage: facts.stage, remaining }) as SpawnError;
  if (facts.fileCapabilities !== null) error.fileCapabilities = facts.fileCapabilities;
  Object.defineProperty(error, FACTS, { value: facts, enumerable: false });
  return error;
}

/** The message of a spawn error in the reader's words: the CLI names its own flags. Errors that
 * were not made by `spawnError` keep their message. */
export function messageFor(error: Error, dialect: Dialect): string {
  const facts = (error as Error & { [FACTS]?: FailureFacts })[FACTS];
  return facts === undefined ? error.message : failureMessage(facts, dialect);
}
