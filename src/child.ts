/**
 * The child object: `child_process.ChildProcess`'s process semantics (streams, events, kill) on
 * top of the native spawn and the native reaper.
 */
import { ChildProcess, type SendHandle, type Serializable } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { abortError, spawnError, type CodedError, type FailureFacts, type SpawnError } from './errors.js';
import { native, type NativeChildFailure, type NativeSpawnSpec } from './native.js';
import { signalNumber, type Behaviour } from './options.js';
import * as exits from './exits.js';
import { signalName } from './signals.js';


export type { SpawnError } from './errors.js';

/** The error for a child that stopped before exec, with what its message needs to say the fix:
 * for a bounding-set refusal whether CAP_SETPCAP was effective, for an exec EPERM the file
 * capabilities of the program (read here, in the supervisor, after the failure). */
export function failureError(failure: NativeChildFailure, spec: NativeSpawnSpec, args: string[]): SpawnError {
  const env = spec.env;
  let pathVar: string | null = process.env.PATH ?? null;
  if (env !== null) {
    pathVar = null;
    for (let i = 0; i < env.length; i += 2) if (env[i] === 'PATH') pathVar = env[i + 1]!;
  }
  const facts: FailureFacts = {
    file: spec.file,
    stage: failure.stage,
    code: failure.code,
    detail: failure.message,
    setpcapEffective: failure.stage === 'bounding-set' && native.inspectSelf().effective.includes('CAP_SETPCAP'),
    kept: spec.capabilities ?? [],
    fileCapabilities:
      failure.stage === 'exec' && failure.code === 'EPERM' && spec.boundingSet === 'clear'
        ? native.execFileCapabilities(spec.file, pathVar, spec.cwd)
        : null,
  };
  return spawnError(facts, failure.errno, failure.syscall, args, failure.remaining);
}

/** Resumes a readable stream unless someone reads it through 'readable' (as Node's flushStdio). */
function drain(stream: Readable): void {
  if (stream.readable && stream.listenerCount('readable') === 0) stream.resume();
}

/** `ChildProcess['stdio']`: stdin, stdout, stderr, then the descriptors beyond 2. */
export type StdioStreams = ChildProcess['stdio'];

/**
 * The base class: a `ChildProcess` (its prototype is `child_process.ChildProcess.prototype`) that
 * is built as a plain EventEmitter.
 *
 * Why a `ChildProcess` at all: code written for `child_process` takes one (`(child: ChildProcess)
 * => …` in TypeScript, `child instanceof ChildProcess` in JavaScript, as execa and the like check),
 * and a subclass gets `@types/node`'s declaration for free, so the two cannot drift apart.
 * Why not its constructor: Node's allocates a native process handle for each child (about 3 µs,
 * some 20 times an EventEmitter's) that capspawn never uses; and nothing else of it is needed,
 * since every method that would reach that handle (`kill`, `ref`, `unref`, `spawn`) is overridden
 * below. The alternative, a class of our own that only matches the type structurally, would pass
 * TypeScript but not `instanceof`, and would have to copy every member `@types/node` adds.
 */
const ChildProcessBase = function ChildProcessBase(this: EventEmitter) {
  EventEmitter.call(this);
} as unknown as typeof ChildProcess;
ChildProcessBase.prototype = ChildProcess.prototype;

/** A workload started by `spawn()`. A `child_process.ChildProcess`, with its process semantics. */
export class CapspawnChildProcess extends ChildProcessBase {
  override pid: number | undefined = undefined;
  override stdin: Writable | null = null;
  override stdout: Readable | null = null;
  override stderr: Readable | null = null;
  /** stdin, stdout, stderr, then the sockets of `'pipe'` entries beyond 2 (or null). */
  override stdio: StdioStreams = [null, null, null, undefined, undefined];
  /** Always false: capspawn opens no IPC channel. */
  override readonly connected = false;
  override exitCode: number | null = null;
  override signalCode: NodeJS.Signals | null = null;
  override killed = false;
  override readonly spawnfile: string;
  override readonly spawnargs: string[];

  #id = 0;
  #referenced = true;
  #running = false;
  #closesNeeded = 1;
  #timer: NodeJS.Timeout | undefined;
  #behaviour: Behaviour;
  #onAbort: (() => void) | undefined;

  /** @internal Use `spawn()`. */
  constructor(spec: NativeSpawnSpec, behaviour: Behaviour, args: string[]) {
    super();
    this.spawnfile = spec.file;
    this.spawnargs = spec.argv;
    this.#behaviour = behaviour;
    exits.listen();
    const result = native.spawn(spec);
    if (result.failure) {
      this.#failed(failureError(result.failure, spec, args), spec);
      return;
    }
    this.#id = result.id;
    this.pid = result.pid;
    this.#running = true;
    exits.register(this.#id, (code, signal) => this.#exited(code, signal));
    this.#openStdio(result.stdio);
    process.nextTick(() => this.emit('spawn')); // before an already-aborted signal's 'error', as child_process
    this.#armTimeoutAndAbort();
  }

  /** Sends `signal` (default: `killSignal`, `'SIGTERM'`). False once the child is gone. As
   * `child_process`: a signal that could not be sent (`EPERM`: the supervisor may not signal
   * the workload's uid without `CAP_KILL`) is an `'error'` event and `false`; only `EINVAL` and
   * `ENOSYS` throw. */
  override kill(signal?: NodeJS.Signals | number): boolean {
    const number = signal === 0 ? 0 : signalNumber(signal ?? this.#behaviour.killSignal);
    if (!this.#running) return false;
    let sent: boolean;
    try {
      sent = native.kill(this.#id, number);
    } catch (error) {
      const code = (error as CodedError).code;
      if (code === 'ESRCH') return false; // already gone
      if (code === 'EINVAL' || code === 'ENOSYS') throw error;
      this.emit('error', error as ChildError);
      return false;
    }
    if (sent) this.killed = true; // for signal 0 too, as child_process
    return sent;
  }

  /** Lets the event loop keep running while the child does (the default). */
  override ref(): void {
    if (!this.#referenced && this.#running) exits.retain();
    this.#referenced = true;
  }

  /** Lets the event loop exit while the child still runs. */
  override unref(): void {
    if (this.#referenced && this.#running) exits.release();
    this.#referenced = false;
  }

  /** `ChildProcess.prototype.spawn` would start a process through libuv, without the
   * privilege drop: refused. */
  spawn(): never {
    throw Object.assign(new Error('a capspawn child cannot be spawned again: call capspawn.spawn()'), {
      code: 'ERR_CAPSPAWN_RESPAWN',
    });
  }

  /** Whether the child keeps the event loop alive. */
  get referenced(): boolean {
    return this.#referenced;
  }

  #openStdio(fds: number[]): void {
    const [stdin, stdout, stderr, ...extra] = fds;
    if (stdin !== undefined && stdin >= 0) this.stdin = new Socket({ fd: stdin, readable: false, writable: true });
    const readable = (fd: number | undefined, writable = false): Socket | null => {
      if (fd === undefined || fd < 0) return null;
      const socket = new Socket({ fd, readable: true, writable });
      this.#closesNeeded++;
      socket.once('close', () => this.#maybeClose());
      return socket;
    };
    this.stdout = readable(stdout);
    this.stderr = readable(stderr);
    this.stdio = [this.stdin, this.stdout, this.stderr, ...extra.map((fd) => readable(fd, true))] as StdioStreams;
  }

  #armTimeoutAndAbort(): void {
    const { timeout, signal } = this.#behaviour;
    // Neither may throw out of a timer or an event listener (as child_process: an 'error').
    if (timeout > 0) {
      this.#timer = setTimeout(() => {
        try {
          this.kill();
        } catch (error) {
          this.emit('error', error as ChildError);
        }
      }, timeout);
    }
    if (signal) {
      this.#onAbort = () => {
        try {
          if (this.kill()) this.emit('error', abortError(signal.reason));
        } catch (error) {
          this.emit('error', error as ChildError);
        }
      };
      if (signal.aborted) process.nextTick(this.#onAbort);
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  #exited(code: number | null, signal: number | null): void {
    this.#running = false;
    if (this.#referenced) exits.release();
    clearTimeout(this.#timer);
    if (this.#onAbort) this.#behaviour.signal?.removeEventListener('abort', this.#onAbort);
    this.stdin?.destroy(); // as child_process does: nothing reads it any more, and it holds a descriptor
    this.exitCode = code;
    this.signalCode = signal === null ? null : signalName(signal);
    this.emit('exit', this.exitCode, this.signalCode);
    // As child_process: output nobody reads is drained after 'exit' (on the next tick, the last
    // chance to start reading), so those streams reach their end and 'close' is emitted.
    process.nextTick(() => {
      for (const stream of this.stdio as unknown[]) if (stream instanceof Readable) drain(stream);
    });
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (--this.#closesNeeded === 0) this.emit('close', this.exitCode, this.signalCode);
  }

  /** The child never ran: 'error', then 'close', asynchronously, as `child_process` does. The
   * requested pipes exist but are already at their end. */
  #failed(error: SpawnError, spec: NativeSpawnSpec): void {
    const ended = (index: number): Readable | null => (spec.stdio[index] === 'pipe' ? Readable.from([]) : null);
    this.stdin = spec.stdio[0] === 'pipe' ? new Writable({ write: (_chunk, _encoding, done) => done() }) : null;
    this.stdout = ended(1);
    this.stderr = ended(2);
    this.stdio = [this.stdin, this.stdout, this.stderr, undefined, undefined];
    this.exitCode = error.errno;
    process.nextTick(() => {
      this.emit('error', error);
      this.emit('close', error.errno, null);
    });
  }
}

type ExitListener = (code: number | null, signal: NodeJS.Signals | null) => void;

/** What `'error'` carries: a `SpawnError` when the child never ran, Node's `AbortError` for
 * `signal`, an errno error when a signal could not be sent; each has a `code`. */
export type ChildError = CodedError & Partial<Omit<SpawnError, keyof CodedError>>;

/**
 * The events, typed as `@types/node` types `ChildProcess`'s, minus its catch-all `string`
 * overload, so a misspelt event (`'exitt'`) does not compile. `'message'` and `'disconnect'`
 * stay (a `ChildProcess` must accept them) but are never emitted: capspawn opens no IPC
 * channel. (`removeListener` and `off` stay EventEmitter's, which take any name, as in
 * `@types/node`.)
 */
export interface CapspawnChildProcess {
  addListener(event: 'close' | 'exit', listener: ExitListener): this;
  addListener(event: 'error', listener: (err: ChildError) => void): this;
  addListener(event: 'spawn' | 'disconnect', listener: () => void): this;
  addListener(event: 'message', listener: (message: Serializable, sendHandle: SendHandle) => void): this;
  on(event: 'close' | 'exit', listener: ExitListener): this;
  on(event: 'error', listener: (err: ChildError) => void): this;
  on(event: 'spawn' | 'disconnect', listener: () => void): this;
  on(event: 'message', listener: (message: Serializable, sendHandle: SendHandle) => void): this;
  once(event: 'close' | 'exit', listener: ExitListener): this;
  once(event: 'error', listener: (err: ChildError) => void): this;
  once(event: 'spawn' | 'disconnect', listener: () => void): this;
  once(event: 'message', listener: (message: Serializable, sendHandle: SendHandle) => void): this;
  prependListener(event: 'close' | 'exit', listener: ExitListener): this;
  prependListener(event: 'error', listener: (err: ChildError) => void): this;
  prependListener(event: 'spawn' | 'disconnect', listener: () => void): this;
  prependListener(event: 'message', listener: (message: Serializable, sendHandle: SendHandle) => void): this;
  prependOnceListener(event: 'close' | 'exit', listener: ExitListener): this;
  prependOnceListener(event: 'error', listener: (err: ChildError) => void): this;
  prependOnceListener(event: 'spawn' | 'disconnect', listener: () => void): this;
  prependOnceListener(event: 'message', listener: (message: Serializable, sendHandle: SendHandle) => void): this;
  emit(event: 'close' | 'exit', code: number | null, signal: NodeJS.Signals | null): boolean;
  emit(event: 'error', err: ChildError): boolean;
  emit(event: 'spawn' | 'disconnect'): boolean;
  emit(event: 'message', message: Serializable, sendHandle: SendHandle): boolean;
}
