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
