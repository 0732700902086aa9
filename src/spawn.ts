import type { Readable, Writable } from 'node:stream';
import { CapspawnChildProcess } from './child.js';
import { normalize, type SpawnOptions } from './options.js';
import type {
  CapspawnChildProcessByStdio as ByStdio,
  CapspawnChildProcessWithoutNullStreams,
  SpawnOptionsWithStdioTuple as Tuple,
  SpawnOptionsWithoutStdio,
  StdioNull as N,
  StdioPipe as P,
} from './types.js';

type Args = readonly string[];

/**
 * Starts `command` like `child_process.spawn`, but the child drops its privileges in a fixed,
 * verified order before exec: the capability bounding set emptied (or the spawn refused),
 * ambient, effective, permitted and inheritable sets emptied, the requested user and groups,
 * `no_new_privs`. Bad arguments throw synchronously and start nothing. A spawn that fails at run
 * time does as in child_process: `EACCES`, `EAGAIN`, `EMFILE`, `ENFILE`, `ENOENT` are `'error'`
 * events, every other errno is thrown; capspawn's own refusals (`ERR_CAPSPAWN_BOUNDING_SET`, …)
 * are `'error'` events. Either way the workload never runs. Arguments are converted with
 * `String()`, as child_process converts them (typed `string[]`, as `@types/node` types them).
 *
 * Typed as `@types/node` types `child_process.spawn`: the streams `stdio` makes are not `| null`.
 */
export function spawn(command: string, options?: SpawnOptionsWithoutStdio): CapspawnChildProcessWithoutNullStreams;
export function spawn(command: string, options: Tuple<P, P, P>): ByStdio<Writable, Readable, Readable>;
export function spawn(command: string, options: Tuple<P, P, N>): ByStdio<Writable, Readable, null>;
export function spawn(command: string, options: Tuple<P, N, P>): ByStdio<Writable, null, Readable>;
export function spawn(command: string, options: Tuple<N, P, P>): ByStdio<null, Readable, Readable>;
export function spawn(command: string, options: Tuple<P, N, N>): ByStdio<Writable, null, null>;
export function spawn(command: string, options: Tuple<N, P, N>): ByStdio<null, Readable, null>;
export function spawn(command: string, options: Tuple<N, N, P>): ByStdio<null, null, Readable>;
export function spawn(command: string, options: Tuple<N, N, N>): ByStdio<null, null, null>;
export function spawn(command: string, options: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, args?: Args, options?: SpawnOptionsWithoutStdio): CapspawnChildProcessWithoutNullStreams;
export function spawn(command: string, args: Args, options: Tuple<P, P, P>): ByStdio<Writable, Readable, Readable>;
export function spawn(command: string, args: Args, options: Tuple<P, P, N>): ByStdio<Writable, Readable, null>;
export function spawn(command: string, args: Args, options: Tuple<P, N, P>): ByStdio<Writable, null, Readable>;
export function spawn(command: string, args: Args, options: Tuple<N, P, P>): ByStdio<null, Readable, Readable>;
export function spawn(command: string, args: Args, options: Tuple<P, N, N>): ByStdio<Writable, null, null>;
export function spawn(command: string, args: Args, options: Tuple<N, P, N>): ByStdio<null, Readable, null>;
export function spawn(command: string, args: Args, options: Tuple<N, N, P>): ByStdio<null, null, Readable>;
export function spawn(command: string, args: Args, options: Tuple<N, N, N>): ByStdio<null, null, null>;
export function spawn(command: string, args: Args, options: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, argsOrOptions?: unknown, options?: SpawnOptions): CapspawnChildProcess {
  const { spec, behaviour, args, wrapped } = normalize(command, argsOrOptions, options);
  return new CapspawnChildProcess(spec, behaviour, args, wrapped);
}
