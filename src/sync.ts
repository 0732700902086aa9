/**
 * `spawnSync`, `execFileSync` and `execSync`: `child_process`'s, run by the core's `Command::run`
 * (through the binding's `spawnSync`) on this thread. The child is started by the same native
 * spawn as `spawn()`'s, so it gets the same privilege drop, the same refusal, and the same
 * protection against a child that stops before exec. What Node's spawnSync returns is returned
 * here, the same way: `{ pid, output, stdout, stderr, status, signal, error? }`, `error` an
 * errno error (`ETIMEDOUT` for a timeout, `ENOBUFS` for output over `maxBuffer`, or the
 * spawn's: `ENOENT`, `ERR_CAPSPAWN_BOUNDING_SET`…); `execFileSync` and `execSync` throw it.
 */
import { failureError } from './child.js';
import { invalidArgType } from './errors.js';
import { execArgs, MAX_BUFFER } from './exec.js';
import { native, type LandlockReport, type NativeSyncResult } from './native.js';
import { normalize, type SpawnOptions } from './options.js';
import { fileArgs, maxBuffer as validMaxBuffer, ownOptions, withShell } from './shell.js';
import { signalName } from './signals.js';

/** Options of `spawnSync`: `spawn`'s, and these. */
export interface SpawnSyncOptions extends Omit<SpawnOptions, 'shell' | 'encoding'> {
  /** Written to the child's stdin (when it is a pipe), which is then closed. */
  input?: string | NodeJS.ArrayBufferView | undefined;
  /** Most bytes of output, all pipes together; more kills the child and is `ENOBUFS` (default 1 MiB). */
  maxBuffer?: number | undefined;
  /** The encoding of `input` (a string) and of the output; `'buffer'` (the default): Buffers. */
  encoding?: BufferEncoding | 'buffer' | null | undefined;
  /** Run the command line through `/bin/sh -c` (`true`) or this shell (default false). */
  shell?: boolean | string | undefined;
}
export interface SpawnSyncOptionsWithStringEncoding extends SpawnSyncOptions {
  encoding: BufferEncoding;
}
export interface SpawnSyncOptionsWithBufferEncoding extends SpawnSyncOptions {
  encoding?: 'buffer' | null | undefined;
}
export type ExecFileSyncOptions = SpawnSyncOptions;
export type ExecFileSyncOptionsWithStringEncoding = SpawnSyncOptionsWithStringEncoding;
export type ExecFileSyncOptionsWithBufferEncoding = SpawnSyncOptionsWithBufferEncoding;
/** Options of `execSync`: `shell` is a shell's path (default `/bin/sh`). */
export interface ExecSyncOptions extends Omit<SpawnSyncOptions, 'shell'> {
  shell?: string | undefined;
}
export interface ExecSyncOptionsWithStringEncoding extends ExecSyncOptions {
  encoding: BufferEncoding;
}
export interface ExecSyncOptionsWithBufferEncoding extends ExecSyncOptions {
  encoding?: 'buffer' | null | undefined;
}

/** What `spawnSync` returns, as child_process's. */
export interface SpawnSyncReturns<T> {
  pid: number;
  /** One entry per descriptor: what was read from an output pipe, null for the others and stdin. */
  output: Array<T | null>;
  stdout: T;
  stderr: T;
  status: number | null;
  signal: NodeJS.Signals | null;
  error?: Error | undefined;
  /** With `filesystem`: what Landlock enforces (as `child.landlock`). */
  landlock?: LandlockReport;
}

type Args = readonly string[];

function toText(output: Array<Buffer | null>, encoding: unknown): Array<Buffer | string | null> {
  if (!encoding || encoding === 'buffer') return output;
  return output.map((chunk) => (chunk ? chunk.toString(encoding as BufferEncoding) : chunk));
}

/** An errno error as Node's spawnSync makes it: `spawnSync <file> <CODE>`. */
function runError(code: string, errno: number, file: string, args: string[]): Error {
  return Object.assign(new Error(`spawnSync ${file} ${code}`), {
    errno: -errno,
    code,
    syscall: `spawnSync ${file}`,
    path: file,
    spawnargs: args,
  });
}

function inputBytes(input: unknown, encoding: unknown): Buffer | null {
  if (!input) return null; // as child_process: '' and no input are the same
  if (ArrayBuffer.isView(input)) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (typeof input === 'string') return Buffer.from(input, (encoding ?? undefined) as BufferEncoding | undefined);
  throw invalidArgType('options.stdio[0]', 'of type string or an instance of Buffer, TypedArray, or DataView', input);
}

/** Runs `command` to its end, blocking, as `child_process.spawnSync`. */
export function spawnSync(command: string): SpawnSyncReturns<Buffer>;
export function spawnSync(command: string, options: SpawnSyncOptionsWithStringEncoding): SpawnSyncReturns<string>;
export function spawnSync(command: string, options: SpawnSyncOptionsWithBufferEncoding): SpawnSyncReturns<Buffer>;
export function spawnSync(command: string, options?: SpawnSyncOptions): SpawnSyncReturns<string | Buffer>;
export function spawnSync(command: string, args: Args): SpawnSyncReturns<Buffer>;
export function spawnSync(command: string, args: Args, options: SpawnSyncOptionsWithStringEncoding): SpawnSyncReturns<string>;
export function spawnSync(command: string, args: Args, options: SpawnSyncOptionsWithBufferEncoding): SpawnSyncReturns<Buffer>;
export function spawnSync(command: string, args?: Args, options?: SpawnSyncOptions): SpawnSyncReturns<string | Buffer>;
export function spawnSync(command: string, argsOrOptions?: unknown, maybeOptions?: unknown): SpawnSyncReturns<string | Buffer> {
  if (typeof command !== 'string') throw invalidArgType('file', 'of type string', command);
  const { args, options } = fileArgs(argsOrOptions, maybeOptions);
  const { input, maxBuffer, shell, ...rest } = ownOptions('options', options);
  const limit = validMaxBuffer(maxBuffer, MAX_BUFFER);
  const [file, fileArgv] = withShell(command, args, shell);
  const { spec, behaviour, args: spawnargs } = normalize(file, fileArgv, rest);
  const bytes = inputBytes(input, rest.encoding);
  const result: NativeSyncResult = native.spawnSync(spec, {
    input: spec.stdio[0] === 'pipe' ? bytes : null,
    timeout: behaviour.timeout,
    killSignal: behaviour.killSignal,
    // child_process's maxBuffer 0 is no limit too (its runner checks `max_buffer > 0`).
    maxBuffer: limit === Infinity || limit === 0 ? null : limit,
  });
  if (result.failure) {
    const error = failureError(result.failure, spec, spawnargs);
    // The same error spawn() emits, named as spawnSync's: `spawnSync <file> …`.
    error.message = error.message.replace(/^spawn /, 'spawnSync ');
    if (result.failure.stage === 'exec') error.syscall = `spawnSync ${file}`;
    return { error, status: null, signal: null, output: null, pid: 0, stdout: null, stderr: null } as unknown as SpawnSyncReturns<Buffer>;
  }
  const output = toText(result.output, rest.encoding);
  const returns: SpawnSyncReturns<string | Buffer> = {
    status: result.status,
    signal: result.signal === null ? null : signalName(result.signal),
    output,
    pid: result.pid,
    stdout: output[1] as Buffer,
    stderr: output[2] as Buffer,
  };
  if (result.landlock !== undefined) returns.landlock = result.landlock; // with `filesystem` only
  if (result.error !== null) {
    // Node puts `error` first.
    return { error: runError(result.error, result.errno ?? 0, file, spawnargs as string[]), ...returns };
  }
  return returns;
}

/** Node's checkExecSyncError: the run's error, or `Command failed` for a status other than 0. */
function checkExecSyncError(ret: SpawnSyncReturns<string | Buffer>, args: string[] | undefined, cmd?: string): Error | undefined {
  if (ret.error) return Object.assign(ret.error, ret);
  if (ret.status !== 0) {
    let message = `Command failed: ${cmd || (args ?? []).join(' ')}`;
    if (ret.stderr && ret.stderr.length > 0) message += `\n${ret.stderr.toString()}`;
    return Object.assign(new Error(message), ret);
  }
  return undefined;
}

/** Runs `file` to its end and returns its stdout; throws if it failed, as `child_process.execFileSync`. */
export function execFileSync(file: string): Buffer;
export function execFileSync(file: string, options: ExecFileSyncOptionsWithStringEncoding): string;
export function execFileSync(file: string, options: ExecFileSyncOptionsWithBufferEncoding): Buffer;
export function execFileSync(file: string, options?: ExecFileSyncOptions): string | Buffer;
export function execFileSync(file: string, args: Args): Buffer;
export function execFileSync(file: string, args: Args, options: ExecFileSyncOptionsWithStringEncoding): string;
export function execFileSync(file: string, args: Args, options: ExecFileSyncOptionsWithBufferEncoding): Buffer;
export function execFileSync(file: string, args?: Args, options?: ExecFileSyncOptions): string | Buffer;
export function execFileSync(file: string, argsOrOptions?: unknown, maybeOptions?: unknown): string | Buffer {
  const { args, options } = fileArgs(argsOrOptions, maybeOptions);
  const own = ownOptions('options', options);
  const inheritStderr = !own.stdio;
  const ret = spawnSync(file, args, own as SpawnSyncOptions);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const error = checkExecSyncError(ret, [(own.argv0 as string | undefined) || file, ...args]);
  if (error) throw error;
  return ret.stdout;
}

/** Runs `command` with `/bin/sh -c` (or `options.shell`) to its end and returns its stdout, as
 * `child_process.execSync`. */
export function execSync(command: string): Buffer;
export function execSync(command: string, options: ExecSyncOptionsWithStringEncoding): string;
export function execSync(command: string, options: ExecSyncOptionsWithBufferEncoding): Buffer;
export function execSync(command: string, options?: ExecSyncOptions): string | Buffer;
export function execSync(command: string, options?: unknown): string | Buffer {
  const { file, options: own } = execArgs(command, options);
  const inheritStderr = !own.stdio;
  const ret = spawnSync(file, own as SpawnSyncOptions);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const error = checkExecSyncError(ret, undefined, command);
  if (error) throw error;
  return ret.stdout;
}
