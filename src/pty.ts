/**
 * `spawnPty()`: a workload in a pseudo-terminal of its own, under the same drop as every spawn,
 * in node-pty's `IPty` shape (so a node-pty user switches the import).
 *
 * The terminal is made natively before the clone (`openTerminal`); the child takes its peer as
 * descriptors 0, 1, 2 and as the controlling terminal of a new session, then drops privileges
 * as `spawn()`'s child does. The supervisor keeps the master: read by a `tty.ReadStream`,
 * written with `fs.write` (libuv would write a master in blocking mode and stall the event
 * loop while the workload does not read). Exits come through the same reaper as `spawn()`'s.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, readSync, write as fsWrite } from 'node:fs';
import { ReadStream } from 'node:tty';
import { failureError, isErrno, nodeOptions } from './child.js';
import { invalidArgType, invalidArgValue, outOfRange, spawnErrno, type CodedError } from './errors.js';
import * as exits from './exits.js';
import { native, type NativeSpawnSpec } from './native.js';
import { normalize, own, signalNumber, type SpawnOptions } from './options.js';

/** node-pty's: something to stop listening with. */
export interface IDisposable {
  dispose(): void;
}

/** node-pty's: an event as a function that adds a listener. */
export interface IEvent<T> {
  (listener: (e: T) => unknown): IDisposable;
}

/** node-pty's exit event: `signal` is the number of the signal that ended it, or 0. */
export interface IExitEvent {
  exitCode: number;
  signal?: number;
}

/** The privilege options and sandbox layers of `spawn()` that `spawnPty()` takes, validated by
 * the same code. */
type PrivilegeOptions = Pick<
  SpawnOptions,
  | 'cwd' | 'argv0' | 'user' | 'uid' | 'group' | 'gid' | 'supplementaryGroups' | 'boundingSet' | 'noNewPrivs'
  | 'capabilities' | 'securebits' | 'parentDeathSignal' | 'umask' | 'rlimits' | 'requireProcfs'
  | 'filesystem' | 'network' | 'seccomp'
>;

/** `spawnPty()`'s options: node-pty's (`IPtyForkOptions`) and spawn's privilege options. */
export interface PtyOptions extends PrivilegeOptions {
  /** `TERM` of the workload (default: the environment's `TERM`, else `'xterm-256color'`, as
   * node-pty's `name || env.TERM || default`). */
  name?: string;
  /** Size in character cells (default 80 x 24). */
  cols?: number;
  rows?: number;
  /** The whole environment (default `process.env`, less the variables that describe the
   * supervisor's own terminal, as node-pty leaves them out); `TERM` is `name` when given, and
   * `PWD` is `cwd` (or the supervisor's working directory), as node-pty sets them. */
  env?: SpawnOptions['env'];
  /** How `onData` gets the output: a Buffer encoding (default `'utf8'`), or `null` for Buffers. */
  encoding?: BufferEncoding | null;
  /** Writes of `flowControlPause` (default XOFF, `'\x13'`) pause the output and of
   * `flowControlResume` (XON, `'\x11'`) resume it, instead of reaching the workload. */
  handleFlowControl?: boolean;
  flowControlPause?: string;
  flowControlResume?: string;
}

/** node-pty's `IPty`, with the data typed by `encoding` (`string` unless it is `null`). */
export interface IPty<Data extends string | Buffer = string> {
  readonly pid: number;
  readonly cols: number;
  readonly rows: number;
  /** The name of the terminal's foreground process (its `argv[0]`, as node-pty reports it). */
  readonly process: string;
  handleFlowControl: boolean;
  readonly onData: IEvent<Data>;
  readonly onExit: IEvent<IExitEvent>;
  resize(columns: number, rows: number): void;
  /** Nothing to clear on Linux (node-pty's is for Windows). */
  clear(): void;
  write(data: string | Buffer): void;
  /** Sends `signal` (default `'SIGHUP'`, as node-pty) through the child's pidfd. */
  kill(signal?: NodeJS.Signals | number): void;
  pause(): void;
  resume(): void;
  /** Closes the terminal (the kernel hangs up the workload's session) and sends `SIGHUP`; the
   * exit is still reaped and reported. */
  destroy(): void;
  on(event: 'data', listener: (data: Data) => void): void;
  on(event: 'exit', listener: (exitCode: number, signal?: number) => void): void;
}

/** `TERM` when neither `name` nor the environment gives one. */
const DEFAULT_NAME = 'xterm-256color';
const PTY_OPTIONS = new Set(['name', 'cols', 'rows', 'env', 'encoding', 'handleFlowControl', 'flowControlPause', 'flowControlResume']);
const PRIVILEGE_OPTIONS = new Set([
  'cwd', 'argv0', 'user', 'uid', 'group', 'gid', 'supplementaryGroups', 'boundingSet', 'noNewPrivs', 'capabilities',
  'securebits', 'parentDeathSignal', 'umask', 'rlimits', 'requireProcfs',
  // The sandbox layers (issue 14), as every spawn function takes them.
  'filesystem', 'network', 'seccomp',
]);
/** What node-pty removes from `process.env` for a terminal of its own: they describe the
 * supervisor's terminal (multiplexer, size). */
const SUPERVISOR_TERMINAL_VARIABLES = ['TMUX', 'TMUX_PANE', 'STY', 'WINDOW', 'WINDOWID', 'TERMCAP', 'COLUMNS', 'LINES'];

/** How long the exit waits for the terminal's end-of-file once the workload has been reaped:
 * node-pty's `DESTROY_SOCKET_TIMEOUT_MS`. The end comes when the last descriptor of the
 * workload's side closes; a background job that keeps it open would hold the exit forever. */
const HANGUP_GRACE_MS = 200;

/** A size in cells; with no `fallback`, `undefined` is refused too (`resize()` without numbers
 * throws, as node-pty's does). */
function dimension(name: string, value: unknown, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 1 || value > 0xffff) throw outOfRange(name, 'an integer >= 1 && <= 65535', value);
  return value;
}

function text(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.length === 0) throw invalidArgValue(name, value, 'cannot be empty');
  return value;
}

interface Parsed {
  spec: NativeSpawnSpec;
  args: unknown[];
  cols: number;
  rows: number;
  encoding: BufferEncoding | null;
  handleFlowControl: boolean;
  flowControlPause: string;
  flowControlResume: string;
}

/** The options, read once as own properties: node-pty's here, the rest by `spawn()`'s own
 * `normalize`, so that they are checked and refused exactly as `spawn()` checks them. */
function parse(file: unknown, args: unknown, options: unknown): Parsed {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidArgType('options', 'of type object', options);
  if (args !== undefined && args !== null && !Array.isArray(args)) throw invalidArgType('args', 'an instance of Array', args);
  const opts = own(options);
  const privileges = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(opts)) {
    if (PRIVILEGE_OPTIONS.has(key)) privileges[key] = opts[key];
    else if (!PTY_OPTIONS.has(key) && opts[key] !== undefined) {
      throw invalidArgValue(`options.${key}`, opts[key], 'is not a spawnPty option');
    }
  }
  const name = opts.name === undefined ? undefined : text('options.name', opts.name, DEFAULT_NAME);
  const cols = dimension('options.cols', opts.cols, 80);
  const rows = dimension('options.rows', opts.rows, 24);
  let encoding: BufferEncoding | null = 'utf8';
  if (opts.encoding === null) encoding = null;
  else if (opts.encoding !== undefined) {
    if (typeof opts.encoding !== 'string') throw invalidArgType('options.encoding', 'of type string or null', opts.encoding);
    if (!Buffer.isEncoding(opts.encoding)) throw invalidArgValue('options.encoding', opts.encoding, 'is not a Buffer encoding');
    encoding = opts.encoding;
  }
  const handleFlowControl = opts.handleFlowControl === undefined ? false : opts.handleFlowControl;
  if (typeof handleFlowControl !== 'boolean') throw invalidArgType('options.handleFlowControl', 'of type boolean', handleFlowControl);
  const flowControlPause = text('options.flowControlPause', opts.flowControlPause, '\x13');
  const flowControlResume = text('options.flowControlResume', opts.flowControlResume, '\x11');
  // The environment: node-pty's rules, then spawn's checks of it (own keys, no NUL, no '=').
  let env: Record<string, unknown>;
  if (opts.env === undefined || opts.env === null) {
    env = own(process.env);
    for (const variable of SUPERVISOR_TERMINAL_VARIABLES) delete env[variable];
  } else {
    if (typeof opts.env !== 'object') throw invalidArgType('options.env', 'of type object', opts.env);
    env = own(opts.env);
  }
  // node-pty's `opt.name || env.TERM || DEFAULT_NAME`: the environment's TERM (the given one's,
  // or the supervisor's) is kept when no name is given; spawn's normalize checks it as any value.
  if (name !== undefined || !env.TERM) env.TERM = name ?? DEFAULT_NAME;
  privileges.env = env;
  const { spec, args: given } = normalize(file, args ?? [], privileges);
  setVariable(spec, 'PWD', spec.cwd ?? process.cwd()); // as node-pty sets it: `opt.cwd || process.cwd()`
  return { spec, args: given, cols, rows, encoding, handleFlowControl, flowControlPause, flowControlResume };
}

function setVariable(spec: NativeSpawnSpec, key: string, value: string): void {
  const env = spec.env!;
  for (let i = 0; i < env.length; i += 2) {
    if (env[i] === key) {
      env[i + 1] = value;
      return;
    }
  }
  env.push(key, value);
}

/** Starts the child in terminal `peer`. A refusal is thrown (node-pty throws when it cannot
 * start one): the error `spawn()` would emit, with the same code and message. */
function start(spec: NativeSpawnSpec, args: unknown[]): { id: number; pid: number } {
  let result;
  try {
    exits.listen();
    result = native.spawn(spec);
  } catch (error) {
    const code = (error as CodedError).code;
    throw isErrno(code) ? spawnErrno(code, { cause: error }) : error;
  }
  if (result.failure) throw failureError(result.failure, spec, args);
  return result;
}

/** A write that is waiting for room in the terminal's input buffer. */
interface Pending {
  bytes: Buffer;
  offset: number;
}

class Pty<Data extends string | Buffer> extends EventEmitter implements IPty<Data> {
  readonly pid: number;
  handleFlowControl: boolean;
  #cols: number;
  #rows: number;
  #file: string;
  #master: number;
  #masterOpen = true;
  #socket: ReadStream;
  #encoding: BufferEncoding | null;
  #pause: string;
  #resume: string;
  #id: number;
  #running = true;
  #ended = false;
  /** The end was seen and the master read dry; 'end' follows once everything is emitted. */
  #hangup = false;
  #status: { exitCode: number; signal: number } | undefined;
  #grace: NodeJS.Timeout | undefined;
  /** The grace after the reap ran out while the reader was paused: `resume()` ends it. */
  #graceDue = false;
  #push: ((chunk: Buffer | null) => boolean) | undefined;
  #queue: Pending[] = [];
  #writing = false;
  #retry: NodeJS.Timeout | undefined;
  #backoff = 0;

  constructor(file: string, parsed: Parsed) {
    super();
    this.#file = file;
    this.#cols = parsed.cols;
    this.#rows = parsed.rows;
    this.#encoding = parsed.encoding;
    this.handleFlowControl = parsed.handleFlowControl;
    this.#pause = parsed.flowControlPause;
    this.#resume = parsed.flowControlResume;
    const [master, peer] = native.openTerminal(parsed.cols, parsed.rows);
    this.#master = master;
    let started: { id: number; pid: number };
    try {
      parsed.spec.stdio = [peer, peer, peer];
      parsed.spec.terminal = peer;
      started = start(parsed.spec, parsed.args);
    } catch (error) {
      native.closeTerminal(master);
      throw error;
    } finally {
      // The workload has its own copies: the master reads its end once they are all closed.
      native.closeTerminal(peer);
    }
    this.pid = started.pid;
    this.#id = started.id;
    exits.register(this.#id, (code, signal) => this.#reaped(code, signal));
    // tty.ReadStream spreads its options over its own (handle, manualStart, high-water mark):
    // every other key Node reads is given as an own undefined, so a polluted Object.prototype
    // (an `encoding`, an aborted `signal`) cannot reach the stream.
    const options = nodeOptions({}) as Record<string, unknown>;
    for (const key of ['handle', 'manualStart', 'readableHighWaterMark']) delete options[key];
    try {
      this.#socket = new ReadStream(master, options);
    } catch (error) {
      // Nobody could ever read or end this terminal: stop the workload (the reaper still reaps it).
      native.kill(this.#id, 9);
      native.closeTerminal(master);
      throw error;
    }
    if (this.#encoding !== null) this.#socket.setEncoding(this.#encoding);
    this.#socket.on('data', (chunk: Data) => this.emit('data', chunk));
    // The end of the workload's side, kept whole. libuv gets it wrong twice for a master: on
    // the kernel's POLLHUP after a short read it reports end-of-file although the terminal
    // still holds data (a master hands it over at most 4095 bytes per read), and the EIO that
    // marks the real end makes Node destroy the stream with what it has not emitted yet. So
    // either becomes: read the master dry here (synchronously, non-blocking, until EIO, which
    // the kernel gives only once every byte written before was handed over), then end.
    const push = this.#socket.push.bind(this.#socket);
    this.#push = push;
    const destroy = this.#socket.destroy.bind(this.#socket);
    this.#socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk === null && !this.#hangup) {
        this.#hangup = true;
        this.#drain(push);
      }
      return push(chunk, encoding);
    };
    this.#socket.destroy = (error?: Error) => {
      if ((error as CodedError | undefined)?.code !== 'EIO' || this.#hangup) return destroy(error);
      this.#socket.push(null);
      return this.#socket;
    };
    this.#socket.on('error', (error: CodedError) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    this.#socket.on('end', () => {
      destroy();
      this.#hungUp();
    });
    this.#socket.on('close', () => this.#hungUp());
  }

  /** Reads what the master still holds and pushes it, until the end (EIO: `true`) or nothing
   * more for now (EAGAIN, `false`: a background job holds the terminal). */
  #drain(push: (chunk: Buffer) => boolean): boolean {
    const buffer = Buffer.allocUnsafe(65536);
    for (;;) {
      let count: number;
      try {
        count = readSync(this.#master, buffer, 0, buffer.length, null);
      } catch (error) {
        return (error as CodedError).code !== 'EAGAIN';
      }
      if (count === 0) return true;
      push(Buffer.from(buffer.subarray(0, count)));
    }
  }

  get cols(): number {
    return this.#cols;
  }

  get rows(): number {
    return this.#rows;
  }

  /** The foreground process group's leader, by its `argv[0]` (`/proc/<pgrp>/cmdline`, as
   * node-pty reads it; its `comm` when that is empty); the file spawned once it cannot tell. */
  get process(): string {
    if (!this.#masterOpen) return this.#file;
    try {
      const pgrp = native.terminalForeground(this.#master);
      const argv0 = readFileSync(`/proc/${pgrp}/cmdline`, 'latin1').split('\0')[0];
      if (argv0) return argv0;
      return readFileSync(`/proc/${pgrp}/comm`, 'latin1').trim() || this.#file;
    } catch {
      return this.#file;
    }
  }

  readonly onData: IEvent<Data> = (listener) => this.#subscribe('data', listener);
  readonly onExit: IEvent<IExitEvent> = (listener) =>
    this.#subscribe('exit', (exitCode: number, signal: number) => listener({ exitCode, signal }));

  // `any[]`: EventEmitter's own listener type.
  #subscribe(event: string, listener: (...args: any[]) => unknown): IDisposable {
    this.on(event, listener);
    return { dispose: () => this.off(event, listener) };
  }

  resize(columns: number, rows: number): void {
    const cols = dimension('columns', columns);
    const lines = dimension('rows', rows);
    if (!this.#masterOpen) return;
    native.resizeTerminal(this.#master, cols, lines);
    this.#cols = cols;
    this.#rows = lines;
  }

  clear(): void {}

  write(data: string | Buffer): void {
    if (typeof data !== 'string' && !Buffer.isBuffer(data)) throw invalidArgType('data', 'of type string or an instance of Buffer', data);
    if (this.handleFlowControl && typeof data === 'string') {
      if (data === this.#pause) return this.pause();
      if (data === this.#resume) return this.resume();
    }
    if (!this.#masterOpen) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, this.#encoding ?? 'utf8') : Buffer.from(data);
    if (bytes.length === 0) return;
    this.#queue.push({ bytes, offset: 0 });
    if (!this.#writing && this.#retry === undefined) this.#flush();
  }

  /** Writes the queue in order with `fs.write` on the non-blocking master; when the terminal's
   * input buffer is full (`EAGAIN`, the workload is not reading), tries again after a delay
   * that grows to 50 ms, so the event loop never waits for the workload. */
  #flush(): void {
    this.#retry = undefined;
    const next = this.#queue[0];
    if (next === undefined || !this.#masterOpen) return;
    this.#writing = true;
    fsWrite(this.#master, next.bytes, next.offset, next.bytes.length - next.offset, null, (error, written) => {
      this.#writing = false;
      if (!this.#masterOpen) return this.#closeMaster(); // destroy() waited for this write
      if (error) {
        if ((error as CodedError).code === 'EAGAIN') {
          this.#backoff = Math.min(this.#backoff === 0 ? 1 : this.#backoff * 2, 50);
          this.#retry = setTimeout(() => this.#flush(), this.#backoff);
          return;
        }
        this.#queue.length = 0; // EIO: the workload's side is gone
        return;
      }
      this.#backoff = 0;
      next.offset += written;
      if (next.offset >= next.bytes.length) this.#queue.shift();
      this.#flush();
    });
  }

  kill(signal?: NodeJS.Signals | number): void {
    const number = signalNumber(signal === undefined ? 'SIGHUP' : signal);
    if (!this.#running) return;
    try {
      native.kill(this.#id, number);
    } catch (error) {
      if ((error as CodedError).code !== 'ESRCH') throw error;
    }
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
    if (this.#graceDue) this.#graceEnded();
  }

  destroy(): void {
    this.#ended = true;
    this.#closeMaster();
    this.kill('SIGHUP');
  }

  /** Closes the master once no write is using its descriptor number. */
  #closeMaster(): void {
    this.#masterOpen = false;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#queue.length = 0;
    if (this.#writing) return; // the write's callback closes it
    if (!this.#socket.destroyed) this.#socket.destroy();
  }

  #hungUp(): void {
    this.#ended = true;
    this.#maybeExit();
  }

  #reaped(code: number | null, signal: number | null): void {
    this.#running = false;
    exits.release();
    // As node-pty reports it: the exit code (0 when a signal ended it), the signal's number or 0.
    this.#status = { exitCode: code ?? 0, signal: signal ?? 0 };
    if (!this.#ended) {
      this.#grace = setTimeout(() => this.#graceEnded(), HANGUP_GRACE_MS);
    }
    this.#maybeExit();
  }

  /** The grace after the reap is over and the terminal has not ended. A paused reader (libuv
   * then reads nothing, so the end cannot come) defers this to `resume()`: closing now would
   * drop what the stream and the kernel still hold. Otherwise the master is read dry first: at
   * its end (EIO) the terminal ends as usual, after every byte; only when something else still
   * holds the workload's side (EAGAIN: a background job) is the master closed, which hangs
   * that job up. */
  #graceEnded(): void {
    this.#graceDue = false;
    if (this.#hangup || this.#ended) return; // the end is there, or the terminal is closed
    if (this.#socket.isPaused()) {
      this.#graceDue = true;
      return;
    }
    if (this.#masterOpen && this.#drain(this.#push!)) {
      this.#socket.push(null); // the end, as the kernel's: 'end' comes after the data
      return;
    }
    this.#ended = true;
    this.#closeMaster(); // hangs up whatever still holds the workload's side
    this.#maybeExit();
  }

  /** The exit, once the workload was reaped and the master is closed (its descriptor too: a
   * supervisor counting descriptors at the exit sees none left). */
  #maybeExit(): void {
    const status = this.#status;
    if (!this.#ended || status === undefined) return;
    if (!this.#socket.closed) {
      this.#closeMaster(); // 'close' comes back here
      return;
    }
    this.#status = undefined;
    clearTimeout(this.#grace);
    this.#closeMaster();
    this.emit('exit', status.exitCode, status.signal);
  }
}

/**
 * Starts `file` in a new pseudo-terminal, as node-pty's `spawn` does, but the workload drops its
 * privileges in the same fixed, verified order as `spawn()`'s, or does not run: the terminal is
 * made before the clone; the child starts a session whose controlling terminal it is, puts it
 * on 0, 1 and 2, and runs the drop. Bad options throw as `spawn()`'s do, and nothing is started;
 * a refused drop (`ERR_CAPSPAWN_BOUNDING_SET`, …) or a missing program (`ENOENT`) is thrown too.
 *
 * `onExit` comes after every byte the workload's terminal was given before the end (the kernel's
 * end-of-file of the master), or, if something else keeps the terminal open after the workload
 * was reaped (a background job), 200 ms after that, when the terminal is closed (which hangs that
 * job up, as closing a terminal window does).
 */
export function spawnPty(file: string, args: readonly string[] | undefined, options: PtyOptions & { encoding: null }): IPty<Buffer>;
export function spawnPty(file: string, args?: readonly string[], options?: PtyOptions): IPty<string>;
export function spawnPty(file: string, args?: readonly string[], options?: PtyOptions): IPty<string> | IPty<Buffer> {
  const parsed = parse(file, args, options);
  return new Pty<string>(parsed.spec.file, parsed);
}
