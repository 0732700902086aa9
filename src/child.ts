/**
 * The child object: `child_process.ChildProcess`'s process semantics (streams, events, kill) on
 * top of the native spawn and the native reaper.
 */
import { ChildProcess, type SendHandle, type Serializable } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { abortError, EMITTED_ERRNOS, spawnErrno, spawnError, type CodedError, type FailureFacts, type SpawnError } from './errors.js';
import { native, type LandlockReport, type NativeChildFailure, type NativeSpawnResult, type NativeSpawnSpec } from './native.js';
import { signalNumber, type Behaviour } from './options.js';
import * as exits from './exits.js';
import { signalName } from './signals.js';


export type { SpawnError } from './errors.js';

/** The error for a child that stopped before exec, with what its message needs to say the fix:
 * for a bounding-set refusal whether CAP_SETPCAP was effective, for an exec EPERM the file
 * capabilities of the program (read here, in the supervisor, after the failure). */
export function failureError(failure: NativeChildFailure, spec: NativeSpawnSpec, args: unknown[], thrown = false): SpawnError {
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
    thrown,
    seccompProgram: spec.seccomp?.program != null,
  };
  return spawnError(facts, failure.errno, failure.syscall, args, failure.remaining);
}

/** Whether `code` is an errno's (`EPERM`, `EMFILE`, …), not one of capspawn's own codes. */
export function isErrno(code: unknown): code is string {
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** A setup failure of the supervisor (a pipe, the clone) as the child's failure, for the errnos
 * child_process reports as an event. */
function setupFailure(error: CodedError & { errno?: unknown; syscall?: unknown }): NativeChildFailure {
  return {
    stage: 'setup',
    syscall: String(error.syscall),
    code: error.code,
    errno: typeof error.errno === 'number' ? -error.errno : 1,
    message: error.message,
    remaining: [],
  };
}

/** An options object with every key Node's stream, socket and event constructors read (Node
 * 20's net.Socket, Readable, Writable, Duplex, EventEmitter, addEventListener) as its own
 * property, undefined. An object literal, so that V8 gives it fast properties. */
function blankNodeOptions(): Record<string, unknown> {
  return {
    allowHalfOpen: undefined, autoDestroy: undefined, captureRejections: undefined, capture: undefined,
    construct: undefined, decodeStrings: undefined, defaultEncoding: undefined, destroy: undefined,
    emitClose: undefined, encoding: undefined, fd: undefined, final: undefined, handle: undefined,
    highWaterMark: undefined, keepAlive: undefined, keepAliveInitialDelay: undefined, manualStart: undefined,
    noDelay: undefined, objectMode: undefined, once: undefined, onread: undefined, passive: undefined,
    pauseOnCreate: undefined, read: undefined, readable: undefined, readableHighWaterMark: undefined,
    readableObjectMode: undefined, signal: undefined, timeout: undefined, writable: undefined,
    writableHighWaterMark: undefined, writableObjectMode: undefined, write: undefined, writev: undefined,
  };
}

/** The options for one of Node's constructors: `given`, and every other key they read as an
 * own property (undefined), on no prototype, so that a polluted `Object.prototype.encoding` or
 * `.signal` (an aborted one would destroy the stream) cannot reach a child's streams, nor a key
 * a later Node reads. */
export function nodeOptions<T extends object>(given: T): T {
  return Object.assign(Object.create(null) as object, blankNodeOptions(), given) as T;
}

/** nodeOptions for `net.Socket`, which copies its options into a plain object of its own, so
 * the prototype-less object would buy nothing there, and its copy of that dictionary-mode
 * object cost ~35 µs per socket (three per default spawn) where this literal costs under 1. */
function socketOptions<T extends object>(given: T): T {
  return Object.assign(blankNodeOptions(), given) as T;
}

/** Streams whose descriptor a child got as its stdio: the supervisor no longer reads them. */
const USED_AS_STDIO = new WeakSet<object>();

/** As child_process does with a stream given as a stdio entry (another child's stdout, a
 * socket): it stops reading it, so that it does not take the data the child is to read. */
function useAsStdio(stream: object): void {
  const socket = stream as Readable & { _handle?: { reading?: boolean; readStop?: () => void } | null };
  if (socket._handle) {
    socket._handle.reading = false;
    socket._handle.readStop?.();
  }
  if (socket instanceof Readable) {
    socket.pause();
    (socket as { readableFlowing: boolean | null }).readableFlowing = false;
    (socket as unknown as { _readableState: { reading: boolean } })._readableState.reading = false;
  }
  USED_AS_STDIO.add(stream);
}

/** Resumes a readable stream unless someone reads it through 'readable' or a child has it as
 * its stdio (as Node's flushStdio). */
function drain(stream: Readable): void {
  if (stream.readable && stream.listenerCount('readable') === 0 && !USED_AS_STDIO.has(stream)) stream.resume();
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
  /** With `filesystem`: the kernel's Landlock ABI, whether it restricts the workload, and what it
   * does not enforce (only ever non-empty with `compatibility: 'best-effort'`); also the
   * `'spawn'` event's argument. `undefined` without `filesystem`. */
  landlock: LandlockReport | undefined = undefined;

  #id = 0;
  #referenced = true;
  #running = false;
  #closesNeeded = 1;
  #timer: NodeJS.Timeout | undefined;
  #behaviour: Behaviour;
  #onAbort: (() => void) | undefined;

  /** @internal Use `spawn()`. */
  constructor(spec: NativeSpawnSpec, behaviour: Behaviour, args: unknown[], wrapped: object[] = []) {
    super();
    this.spawnfile = spec.file;
    // As child_process: argv[0], then the arguments as they were given (not converted).
    this.spawnargs = [spec.argv[0]!, ...(args as string[])];
    this.#behaviour = behaviour;
    let result: NativeSpawnResult;
    try {
      exits.listen(); // its first call sets up the exit watch, which takes a descriptor
      result = native.spawn(spec);
    } catch (error) {
      // As child_process: a run-time errno is thrown unless it is one child_process emits
      // (EMFILE, ENFILE, EAGAIN, EACCES, ENOENT), which becomes an 'error' event; out of
      // descriptors, the child has no stdio streams.
      const code = (error as CodedError).code;
      if (!isErrno(code)) throw error;
      if (!EMITTED_ERRNOS.has(code)) throw spawnErrno(code, { cause: error });
      this.#failed(failureError(setupFailure(error as CodedError), spec, args), spec, code !== 'EMFILE' && code !== 'ENFILE');
      return;
    }
    if (result.failure) {
      // The same rule for the child's failures; capspawn's own refusals are always events.
      const error = failureError(result.failure, spec, args);
      if (isErrno(error.code) && !EMITTED_ERRNOS.has(error.code)) throw failureError(result.failure, spec, args, true);
      wrapped.forEach(useAsStdio);
      this.#failed(error, spec);
      return;
    }
    wrapped.forEach(useAsStdio);
    this.#id = result.id;
    this.pid = result.pid;
    this.#running = true;
    exits.register(this.#id, (code, signal) => this.#exited(code, signal));
    this.#openStdio(result.stdio);
    this.landlock = result.landlock;
    const report = result.landlock === undefined ? undefined : { landlock: result.landlock };
    // Before an already-aborted signal's 'error', as child_process; with the layers' report as
    // its argument when there is one (child_process's has none).
    process.nextTick(() => (report === undefined ? this.emit('spawn') : this.emit('spawn', report)));
    this.#armTimeoutAndAbort();
  }

  /** Sends `signal` (default `'SIGTERM'`, as child_process: `killSignal` is for `timeout` and
   * `signal`). False once the child is gone. As `child_process`: a signal that could not be
   * sent (`EPERM`: the supervisor may not signal the workload's uid without `CAP_KILL`) is an
   * `'error'` event and `false`; only `EINVAL` and `ENOSYS` throw. */
  override kill(signal?: NodeJS.Signals | number): boolean {
    const number = signal === 0 ? 0 : signalNumber(signal === undefined ? 'SIGTERM' : signal);
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

  /** Kills the child (`'SIGTERM'`) unless it was already killed, as child_process's. */
  override [Symbol.dispose](): void {
    if (!this.killed) this.kill();
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
    if (stdin !== undefined && stdin >= 0) this.stdin = new Socket(socketOptions({ fd: stdin, readable: false, writable: true }));
    const readable = (fd: number | undefined, writable = false): Socket | null => {
      if (fd === undefined || fd < 0) return null;
      const socket = new Socket(socketOptions({ fd, readable: true, writable }));
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
          this.kill(this.#behaviour.killSignal);
        } catch (error) {
          this.emit('error', error as ChildError);
        }
      }, timeout);
    }
    if (signal) {
      this.#onAbort = () => {
        try {
          if (this.kill(this.#behaviour.killSignal)) this.emit('error', abortError(signal.reason));
        } catch (error) {
          this.emit('error', error as ChildError);
        }
      };
      if (signal.aborted) process.nextTick(this.#onAbort);
      else signal.addEventListener('abort', this.#onAbort, nodeOptions({ once: true }));
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
   * requested pipes exist but are already at their end (none out of descriptors, as there). */
  #failed(error: SpawnError, spec: NativeSpawnSpec, streams = true): void {
    if (streams) {
      const ended = (index: number): Readable | null =>
        spec.stdio[index] === 'pipe' ? new Readable(nodeOptions({ read(this: Readable) { this.push(null); } })) : null;
      this.stdin = spec.stdio[0] === 'pipe' ? new Writable(nodeOptions({ write: (_chunk: unknown, _encoding: unknown, done: () => void) => done() })) : null;
      this.stdout = ended(1);
      this.stderr = ended(2);
      this.stdio = [this.stdin, this.stdout, this.stderr, ...spec.stdio.slice(3).map(() => null)] as StdioStreams;
    } else {
      // Out of descriptors, child_process returns before it sets up any stream: all undefined.
      this.stdin = this.stdout = this.stderr = this.stdio = undefined as never;
    }
    this.exitCode = error.errno;
    process.nextTick(() => {
      this.emit('error', error);
      this.emit('close', error.errno, null);
    });
  }
}

/** The `'spawn'` event's argument when `filesystem` was given: what Landlock enforces. */
export interface SpawnReport {
  landlock: LandlockReport;
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
  emit(event: 'spawn', report: SpawnReport): boolean;
  emit(event: 'message', message: Serializable, sendHandle: SendHandle): boolean;
}
