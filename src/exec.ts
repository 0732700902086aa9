/**
 * `execFile` and `exec`: `child_process`'s, on top of capspawn's `spawn`, so every child goes
 * through the same privilege drop and the same refusal. The logic is Node's (lib/child_process.js):
 * output collected up to `maxBuffer`, `timeout` and overflow kill with `killSignal`, the same
 * error (`Command failed: …` with `code`, `killed`, `signal`, `cmd`), and `util.promisify`
 * giving `{ stdout, stderr }` or rejecting with that error carrying `stdout` and `stderr`.
 *
 * Differences: `killSignal` is also the signal an aborted `signal` sends (child_process sends
 * SIGTERM there); and as in every capspawn function, an unknown option is refused, not ignored.
 */
import { promisify } from 'node:util';
import type { CapspawnChildProcess } from './child.js';
import { invalidArgType, outOfRange, type CodedError } from './errors.js';
import { signalNumber, type SpawnOptions } from './options.js';
import { fileArgs, maxBuffer as validMaxBuffer, ownOptions, withShell } from './shell.js';
import { spawn } from './spawn.js';
import type { CapspawnChildProcessWithoutNullStreams } from './types.js';

/** child_process's default `maxBuffer`: 1 MiB. */
export const MAX_BUFFER = 1024 * 1024;

/** Options of `execFile`: `spawn`'s (without `stdio`: the output is collected), and these. */
export interface ExecFileOptions extends Omit<SpawnOptions, 'stdio' | 'shell' | 'encoding'> {
  /** Largest number of bytes of stdout or of stderr; more kills the child (default 1 MiB). */
  maxBuffer?: number | undefined;
  /** `'buffer'` or `null` for Buffers; otherwise a Buffer encoding (default `'utf8'`). */
  encoding?: BufferEncoding | 'buffer' | null | undefined;
  /** Run the command line through `/bin/sh -c` (`true`) or this shell (default false). */
  shell?: boolean | string | undefined;
}
export interface ExecFileOptionsWithStringEncoding extends ExecFileOptions {
  encoding?: BufferEncoding | undefined;
}
export interface ExecFileOptionsWithBufferEncoding extends ExecFileOptions {
  encoding: 'buffer' | null;
}
/** Options of `exec`: those of `execFile`; `shell` is a shell's path (default `/bin/sh`). */
export interface ExecOptions extends Omit<ExecFileOptions, 'shell'> {
  shell?: string | undefined;
}
export interface ExecOptionsWithStringEncoding extends ExecOptions {
  encoding?: BufferEncoding | undefined;
}
export interface ExecOptionsWithBufferEncoding extends ExecOptions {
  encoding: 'buffer' | null;
}

/** The error of a command that failed, as child_process gives it. */
export interface ExecFileException extends Error {
  /** The exit code, or the error code of a spawn that failed (`'ENOENT'`, `'ERR_CAPSPAWN_BOUNDING_SET'`…). */
  code?: number | string | undefined | null;
  killed?: boolean | undefined;
  signal?: NodeJS.Signals | null | undefined;
  /** The command line: the file and its arguments, joined with spaces. */
  cmd?: string | undefined;
  errno?: number | undefined;
  syscall?: string | undefined;
  path?: string | undefined;
  spawnargs?: string[] | undefined;
  /** Set on the error a promisified `execFile` rejects with. */
  stdout?: string | Buffer | undefined;
  stderr?: string | Buffer | undefined;
}
export type ExecException = ExecFileException;

/** What a promisified `execFile`/`exec` returns: the promise, and the child it waits for. */
export interface PromiseWithChild<T> extends Promise<T> {
  child: CapspawnChildProcess;
}

type Callback<T> = (error: ExecFileException | null, stdout: T, stderr: T) => void;
type Args = readonly string[] | undefined | null;
type Child = CapspawnChildProcessWithoutNullStreams;

function isEncoding(encoding: unknown): encoding is BufferEncoding {
  return typeof encoding === 'string' && encoding !== 'buffer' && Buffer.isEncoding(encoding);
}

/**
 * Runs `file` with `args` (no shell unless `shell` is given), collects its output and calls
 * `callback(error, stdout, stderr)` once it has ended, as `child_process.execFile`.
 */
export function execFile(file: string, callback?: Callback<string>): Child;
export function execFile(file: string, args: Args, callback?: Callback<string>): Child;
export function execFile(file: string, options: ExecFileOptionsWithBufferEncoding, callback?: Callback<Buffer>): Child;
export function execFile(file: string, args: Args, options: ExecFileOptionsWithBufferEncoding, callback?: Callback<Buffer>): Child;
export function execFile(file: string, options: ExecFileOptionsWithStringEncoding, callback?: Callback<string>): Child;
export function execFile(file: string, args: Args, options: ExecFileOptionsWithStringEncoding, callback?: Callback<string>): Child;
export function execFile(file: string, options: ExecFileOptions | undefined | null, callback?: Callback<string | Buffer>): Child;
export function execFile(file: string, args: Args, options: ExecFileOptions | undefined | null, callback?: Callback<string | Buffer>): Child;
export function execFile(file: string, ...rest: unknown[]): Child {
  // As normalizeExecFileArgs: (file, args?, options?, callback?), any of the three left out.
  let [args, options, callback] = rest;
  if (Array.isArray(args)) args = [...(args as string[])];
  else if (args !== undefined && args !== null && typeof args === 'object') [args, options, callback] = [null, args, options];
  else if (typeof args === 'function') [args, options, callback] = [null, null, args];
  if (typeof options === 'function') [options, callback] = [null, options];
  else if (options !== undefined && options !== null) ownOptions('options', options); // validates
  if (callback !== undefined && callback !== null && typeof callback !== 'function') {
    throw invalidArgType('callback', 'of type function', callback);
  }
  const split = fileArgs(args, options);
  return run(file, split.args, split.options, callback as Callback<string | Buffer> | undefined);
}

function run(file: string, args: string[], given: unknown, callback: Callback<string | Buffer> | undefined): Child {
  const { encoding: givenEncoding, timeout: givenTimeout, maxBuffer, killSignal, shell, stdio: _ignored, ...rest } =
    ownOptions('options', given);
  const encoding = givenEncoding === undefined ? 'utf8' : givenEncoding;
  const timeout = givenTimeout ?? 0;
  if (!(Number.isInteger(timeout) && (timeout as number) >= 0)) throw outOfRange('timeout', 'an unsigned integer', timeout);
  const limit = validMaxBuffer(maxBuffer, MAX_BUFFER);
  const signal = killSignal === undefined || killSignal === null ? 'SIGTERM' : killSignal;
  signalNumber(signal, 'options.killSignal');
  const [spawnFile, spawnArgs] = withShell(file, args, shell);

  const child = spawn(spawnFile, spawnArgs, {
    ...(rest as SpawnOptions),
    killSignal: signal as NodeJS.Signals | number,
  }) as Child;

  const textEncoding = isEncoding(encoding) ? encoding : null;
  const stdoutChunks: Array<string | Buffer> = [];
  const stderrChunks: Array<string | Buffer> = [];
  let stdoutLength = 0;
  let stderrLength = 0;
  let killed = false;
  let exited = false;
  let timer: NodeJS.Timeout | undefined;
  let ex: ExecFileException | null = null;
  let cmd = file;

  const joined = (chunks: Array<string | Buffer>, stream: { readableEncoding: BufferEncoding | null } | null) =>
    textEncoding || stream?.readableEncoding ? chunks.join('') : Buffer.concat(chunks as Buffer[]);

  function exithandler(code?: number | null, signalCode?: NodeJS.Signals | null): void {
    if (exited) return;
    exited = true;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (!callback) return;
    const stdout = joined(stdoutChunks, child.stdout);
    const stderr = joined(stderrChunks, child.stderr);
    if (!ex && code === 0 && signalCode === null) {
      callback(null, stdout, stderr);
      return;
    }
    if (args.length) cmd += ` ${args.join(' ')}`;
    if (!ex) {
      ex = Object.assign(new Error(`Command failed: ${cmd}\n${stderr.toString()}`), {
        code,
        killed: child.killed || killed,
        signal: signalCode,
      });
    }
    ex.cmd = cmd;
    callback(ex, stdout, stderr);
  }

  function errorhandler(error: Error): void {
    ex = error as ExecFileException;
    child.stdout?.destroy();
    child.stderr?.destroy();
    exithandler();
  }

  function kill(): void {
    child.stdout?.destroy();
    child.stderr?.destroy();
    killed = true;
    try {
      child.kill(signal as NodeJS.Signals | number);
    } catch (error) {
      ex = error as ExecFileException;
      exithandler();
    }
  }

  if ((timeout as number) > 0) {
    timer = setTimeout(() => {
      kill();
      timer = undefined;
    }, timeout as number);
  }

  const collect = (stream: Child['stdout'] | null, chunks: Array<string | Buffer>, which: 'stdout' | 'stderr') => {
    if (!stream) return;
    if (textEncoding) stream.setEncoding(textEncoding);
    stream.on('data', (chunk: string | Buffer) => {
      if (limit === Infinity) {
        chunks.push(chunk);
        return;
      }
      const streamEncoding = stream.readableEncoding;
      const length = streamEncoding ? Buffer.byteLength(chunk as string, streamEncoding) : chunk.length;
      const total = (which === 'stdout' ? (stdoutLength += length) : (stderrLength += length));
      if (total > limit) {
        const truncated = limit - (total - length);
        chunks.push(chunk.slice(0, truncated));
        ex = Object.assign(new RangeError(`${which} maxBuffer length exceeded`), {
          code: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
        }) as ExecFileException & CodedError;
        // As Node's internal errors: the name shows the code (RangeError [ERR_…]: …).
        Object.defineProperty(ex, 'name', { value: 'RangeError', enumerable: false, configurable: true, writable: true });
        kill();
      } else {
        chunks.push(chunk);
      }
    });
  };
  collect(child.stdout, stdoutChunks, 'stdout');
  collect(child.stderr, stderrChunks, 'stderr');

  child.addListener('close', exithandler);
  child.addListener('error', errorhandler);
  return child;
}

/** As child_process's: the promisified function resolves `{ stdout, stderr }`; it rejects with the
 * error, `stdout` and `stderr` set on it. The promise carries the child as `child`. */
function promisified(original: (...args: unknown[]) => Child) {
  return (...args: unknown[]): PromiseWithChild<{ stdout: string | Buffer; stderr: string | Buffer }> => {
    let child!: Child;
    const promise = new Promise<{ stdout: string | Buffer; stderr: string | Buffer }>((resolve, reject) => {
      child = original(...args, (error: ExecFileException | null, stdout: string | Buffer, stderr: string | Buffer) => {
        if (error !== null) {
          error.stdout = stdout;
          error.stderr = stderr;
          reject(error);
        } else {
          resolve({ stdout, stderr });
        }
      });
    }) as PromiseWithChild<{ stdout: string | Buffer; stderr: string | Buffer }>;
    promise.child = child;
    return promise;
  };
}

Object.defineProperty(execFile, promisify.custom, {
  enumerable: false,
  value: promisified(execFile as (...args: unknown[]) => Child),
});

/** What `util.promisify(execFile)` is, for TypeScript (as `@types/node` declares it). */
export declare namespace execFile {
  function __promisify__(file: string): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(file: string, args: Args): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(file: string, options: ExecFileOptionsWithBufferEncoding): PromiseWithChild<{ stdout: Buffer; stderr: Buffer }>;
  function __promisify__(file: string, args: Args, options: ExecFileOptionsWithBufferEncoding): PromiseWithChild<{ stdout: Buffer; stderr: Buffer }>;
  function __promisify__(file: string, options: ExecFileOptionsWithStringEncoding): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(file: string, args: Args, options: ExecFileOptionsWithStringEncoding): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(file: string, options: ExecFileOptions | undefined | null): PromiseWithChild<{ stdout: string | Buffer; stderr: string | Buffer }>;
  function __promisify__(file: string, args: Args, options: ExecFileOptions | undefined | null): PromiseWithChild<{ stdout: string | Buffer; stderr: string | Buffer }>;
}

/** Runs `command` with `/bin/sh -c` (or `options.shell`), as `child_process.exec`. */
export function exec(command: string, callback?: Callback<string>): Child;
export function exec(command: string, options: ExecOptionsWithBufferEncoding, callback?: Callback<Buffer>): Child;
export function exec(command: string, options: ExecOptionsWithStringEncoding, callback?: Callback<string>): Child;
export function exec(command: string, options: ExecOptions | undefined | null, callback?: Callback<string | Buffer>): Child;
export function exec(command: string, options?: unknown, callback?: unknown): Child {
  const { file, options: withShellOption, callback: cb } = execArgs(command, options, callback);
  return execFile(file, withShellOption as ExecFileOptions, cb as Callback<string | Buffer>);
}

/** Node's normalizeExecArgs: `shell` is the given shell's path, or true. */
export function execArgs(command: unknown, options: unknown, callback?: unknown) {
  if (typeof command !== 'string') throw invalidArgType('command', 'of type string', command);
  if (typeof options === 'function') [options, callback] = [undefined, options];
  const own = ownOptions('options', options);
  own.shell = typeof own.shell === 'string' ? own.shell : true;
  return { file: command, options: own, callback };
}

Object.defineProperty(exec, promisify.custom, {
  enumerable: false,
  value: promisified(exec as (...args: unknown[]) => Child),
});

/** What `util.promisify(exec)` is, for TypeScript. */
export declare namespace exec {
  function __promisify__(command: string): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(command: string, options: ExecOptionsWithBufferEncoding): PromiseWithChild<{ stdout: Buffer; stderr: Buffer }>;
  function __promisify__(command: string, options: ExecOptionsWithStringEncoding): PromiseWithChild<{ stdout: string; stderr: string }>;
  function __promisify__(command: string, options: ExecOptions | undefined | null): PromiseWithChild<{ stdout: string | Buffer; stderr: string | Buffer }>;
}
