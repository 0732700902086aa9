/**
 * The child object: `child_process.ChildProcess`'s process semantics (streams, events, kill) on
 * top of the native spawn and the native reaper.
 */
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
function failureError(failure: NativeChildFailure, spec: NativeSpawnSpec, args: string[]): SpawnError {
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
  kill(signal?: NodeJS.Signals | number): boolean {
    const number = signal === 0 ? 0 : signalNumber(signal ?? this.#behaviour.killSignal);
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
    this.stdio = [this.stdin, this.stdout, this.stderr, ...extra.map((fd) => readable(fd, true))];
  }

  #armTimeoutAndAbort(): void {
    const { timeout, signal } = this.#behaviour;
    // Neither may throw out of a timer or an event listener (as child_process: an 'error').
    if (timeout > 0) {
      this.#timer = setTimeout(() => {
        try {
          this.kill();
        } catch (error) {
          this.emit('error', error);
        }
      }, timeout);
    }
    if (signal) {
      this.#onAbort = () => {
        try {
          if (this.kill()) this.emit('error', abortError(signal.reason));
        } catch (error) {
          this.emit('error', error);
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
      for (const stream of this.stdio) if (stream instanceof Readable) drain(stream);
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
    this.stdio = [this.stdin, this.stdout, this.stderr];
    this.exitCode = error.errno;
    process.nextTick(() => {
      this.emit('error', error);
      this.emit('close', error.errno, null);
    });
  }
}
