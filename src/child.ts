/**
 * The child object: `child_process.ChildProcess`'s process semantics (streams, events, kill) on
 * top of the native spawn and the native reaper.
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { abortError, EMITTED_ERRNOS, spawnErrno, type CodedError } from './errors.js';
import { native, type NativeChildFailure, type NativeSpawnResult, type NativeSpawnSpec } from './native.js';
import { signalNumber, type Behaviour } from './options.js';
import * as exits from './exits.js';
import { signalName } from './signals.js';


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
}

const BOUNDING_SET_FIX =
  'Grant the supervisor CAP_SETPCAP (Podman/Docker: --cap-add SETPCAP; Kubernetes: add SETPCAP to the ' +
  "container's securityContext.capabilities), or drop these capabilities where the container is created " +
  "(--cap-drop). To run the workload with the set raised anyway, pass boundingSet: 'inherit'.";

/** The stages whose failure has a code of capspawn's own, whatever the errno. */
const STAGE_CODES: Record<string, string> = {
  __proto__: null as unknown as string,
  'bounding-set': 'ERR_CAPSPAWN_BOUNDING_SET',
  died: 'ERR_CAPSPAWN_CHILD_DIED',
  held: 'ERR_CAPSPAWN_CHILD_HELD',
  procfs: 'ERR_CAPSPAWN_PROCFS',
};

/** The error of a child that stopped before exec. An errno failure looks as child_process
 * reports it (`spawn <file> ENOENT`, `syscall: 'spawn <file>'`), whichever step it came from;
 * `stage` names that step. capspawn's own refusals have their own codes. */
function spawnError(failure: NativeChildFailure, file: string, args: unknown[]): SpawnError {
  const bounding = failure.stage === 'bounding-set';
  const code = STAGE_CODES[failure.stage] ?? failure.code ?? 'ERR_CAPSPAWN_VERIFY';
  const errno = code === failure.code;
  const message = bounding
    ? `spawn ${file}: the capability bounding set could not be emptied, so the workload was not started: ` +
      `${failure.message}. ${BOUNDING_SET_FIX}`
    : failure.stage === 'exec' || failure.stage === 'setup'
      ? `spawn ${file} ${code}`
      : failure.stage === 'held' || failure.stage === 'died'
        ? `spawn ${file}: ${failure.message}; the workload did not run`
        : errno
          ? `spawn ${file} ${code} (${failure.stage} failed before exec: ${failure.message})`
          : `spawn ${file}: ${failure.stage} failed before exec: ${failure.message}`;
  return Object.assign(new Error(message), {
    code,
    errno: -failure.errno,
    syscall: errno ? `spawn ${file}` : failure.syscall,
    path: file,
    spawnargs: args as string[],
    stage: failure.stage,
    remaining: failure.remaining,
  });
}

/** Whether `error` is an errno error (`EPERM`, `EMFILE`, …), not one of capspawn's own codes. */
function isErrno(error: { code?: unknown }): error is { code: string } {
  return typeof error.code === 'string' && /^E[A-Z0-9]+$/.test(error.code);
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

/** Every option Node's stream, socket and event constructors read (Node 20's net.Socket,
 * Readable, Writable, Duplex, EventEmitter, addEventListener). */
const NODE_OPTION_KEYS = [
  'allowHalfOpen', 'autoDestroy', 'captureRejections', 'capture', 'construct', 'decodeStrings', 'defaultEncoding',
  'destroy', 'emitClose', 'encoding', 'fd', 'final', 'handle', 'highWaterMark', 'keepAlive', 'keepAliveInitialDelay',
  'manualStart', 'noDelay', 'objectMode', 'once', 'onread', 'passive', 'pauseOnCreate', 'read', 'readable',
  'readableHighWaterMark', 'readableObjectMode', 'signal', 'timeout', 'writable', 'writableHighWaterMark',
  'writableObjectMode', 'write', 'writev',
];

/** An options object for Node's constructors with every key they read as its own property
 * (undefined unless given): net.Socket copies its options into a plain object, so a
 * prototype-less one is not enough to keep a polluted `Object.prototype.encoding` or `.signal`
 * (an aborted one would destroy the stream) out of a child's streams. */
function nodeOptions<T extends object>(given: T): T {
  const options = Object.create(null) as Record<string, unknown>;
  for (const key of NODE_OPTION_KEYS) options[key] = undefined;
  return Object.assign(options, given) as T;
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

/** A workload started by `spawn()`. Mirrors `child_process.ChildProcess` where they overlap. */
export class CapspawnChildProcess extends EventEmitter {
  pid: number | undefined = undefined;
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  /** stdin, stdout, stderr, then the sockets of `'pipe'` entries beyond 2 (or null). */
  stdio: Array<Writable | Readable | null> = [null, null, null];
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  readonly spawnfile: string;
  readonly spawnargs: string[];

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
      if (!isErrno(error as CodedError)) throw error;
      const code = (error as CodedError).code;
      if (!EMITTED_ERRNOS.has(code)) throw spawnErrno(code, { cause: error });
      this.#failed(spawnError(setupFailure(error as CodedError), spec.file, args), spec, code !== 'EMFILE' && code !== 'ENFILE');
      return;
    }
    if (result.failure) {
      const error = spawnError(result.failure, spec.file, args);
      // The same rule for the child's failures; capspawn's own refusals are always events.
      if (isErrno(error) && !EMITTED_ERRNOS.has(error.code)) {
        // child_process's message is `spawn EPERM`; capspawn says which step it was.
        const { stage, message } = result.failure;
        throw spawnErrno(error.code, { stage, remaining: error.remaining }, stage === 'exec' ? undefined : `${stage} failed before exec: ${message}`);
      }
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
    process.nextTick(() => this.emit('spawn')); // before an already-aborted signal's 'error', as child_process
    this.#armTimeoutAndAbort();
  }

  /** Sends `signal` (default `'SIGTERM'`, as child_process: `killSignal` is for `timeout` and
   * `signal`). False once the child is gone. As `child_process`: a signal that could not be
   * sent (`EPERM`: the supervisor may not signal the workload's uid without `CAP_KILL`) is an
   * `'error'` event and `false`; only `EINVAL` and `ENOSYS` throw. */
  kill(signal?: NodeJS.Signals | number): boolean {
    const number = signal === 0 ? 0 : signalNumber(signal === undefined ? 'SIGTERM' : signal);
    if (!this.#running) return false;
    let sent: boolean;
    try {
      sent = native.kill(this.#id, number);
    } catch (error) {
      const code = (error as CodedError).code;
      if (code === 'ESRCH') return false; // already gone
      if (code === 'EINVAL' || code === 'ENOSYS') throw error;
      this.emit('error', error);
      return false;
    }
    if (sent) this.killed = true; // for signal 0 too, as child_process
    return sent;
  }

  /** Kills the child (`'SIGTERM'`) unless it was already killed, as child_process's. */
  [Symbol.dispose](): void {
    if (!this.killed) this.kill();
  }

  /** Lets the event loop keep running while the child does (the default). */
  ref(): void {
    if (!this.#referenced && this.#running) exits.retain();
    this.#referenced = true;
  }

  /** Lets the event loop exit while the child still runs. */
  unref(): void {
    if (this.#referenced && this.#running) exits.release();
    this.#referenced = false;
  }

  /** Whether the child keeps the event loop alive. */
  get referenced(): boolean {
    return this.#referenced;
  }

  #openStdio(fds: number[]): void {
    const [stdin, stdout, stderr, ...extra] = fds;
    if (stdin !== undefined && stdin >= 0) this.stdin = new Socket(nodeOptions({ fd: stdin, readable: false, writable: true }));
    const readable = (fd: number | undefined, writable = false): Socket | null => {
      if (fd === undefined || fd < 0) return null;
      const socket = new Socket(nodeOptions({ fd, readable: true, writable }));
      this.#closesNeeded++;
      socket.once('close', () => this.#maybeClose());
      return socket;
    };
    this.stdout = readable(stdout);
    this.stderr = readable(stderr);
    this.stdio = [this.stdin, this.stdout, this.stderr, ...extra.map((fd) => readable(fd, true))];
  }

  #armTimeoutAndAbort(): void {
    const { timeout, signal } = this.#behaviour;
    // Neither may throw out of a timer or an event listener (as child_process: an 'error').
    if (timeout > 0) {
      this.#timer = setTimeout(() => {
        try {
          this.kill(this.#behaviour.killSignal);
        } catch (error) {
          this.emit('error', error);
        }
      }, timeout);
    }
    if (signal) {
      this.#onAbort = () => {
        try {
          if (this.kill(this.#behaviour.killSignal)) this.emit('error', abortError(signal.reason));
        } catch (error) {
          this.emit('error', error);
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
      for (const stream of this.stdio) if (stream instanceof Readable) drain(stream);
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
      this.stdio = [this.stdin, this.stdout, this.stderr, ...spec.stdio.slice(3).map(() => null)];
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
