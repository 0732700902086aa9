/**
 * The child's types that depend on `stdio`, as `@types/node` types `child_process.spawn`'s
 * result: streams that are there are not `| null`.
 */
import type { Readable, Stream, Writable } from 'node:stream';
import type { CapspawnChildProcess } from './child.js';
import type { SpawnOptions } from './options.js';

/** A stdio entry that gives the supervisor a stream. */
export type StdioPipe = undefined | null | 'pipe';
/** A stdio entry that gives it none. */
export type StdioNull = 'inherit' | 'ignore' | number | Stream;

/** `spawn()`'s options when every standard descriptor is a pipe (the default). */
export interface SpawnOptionsWithoutStdio extends SpawnOptions {
  stdio?: 'pipe' | StdioPipe[] | undefined;
}

/** `spawn()`'s options with `stdio` a tuple of three. */
export interface SpawnOptionsWithStdioTuple<
  Stdin extends StdioNull | StdioPipe,
  Stdout extends StdioNull | StdioPipe,
  Stderr extends StdioNull | StdioPipe,
> extends SpawnOptions {
  stdio: [Stdin, Stdout, Stderr];
}

/** The child when stdin, stdout and stderr are pipes: `ChildProcessWithoutNullStreams`'s shape. */
export interface CapspawnChildProcessWithoutNullStreams extends CapspawnChildProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  readonly stdio: [Writable, Readable, Readable, Readable | Writable | null | undefined, Readable | Writable | null | undefined];
}

/** The child with the streams `stdio` gives: `ChildProcessByStdio`'s shape. */
export interface CapspawnChildProcessByStdio<I extends null | Writable, O extends null | Readable, E extends null | Readable>
  extends CapspawnChildProcess {
  stdin: I;
  stdout: O;
  stderr: E;
  readonly stdio: [I, O, E, Readable | Writable | null | undefined, Readable | Writable | null | undefined];
}
