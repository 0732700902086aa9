import { CapspawnChildProcess } from './child.js';
import { normalize, type SpawnOptions } from './options.js';

/**
 * Starts `command` like `child_process.spawn`, but the child drops its privileges in a fixed,
 * verified order before exec: the capability bounding set emptied (or the spawn refused),
 * ambient, effective, permitted and inheritable sets emptied, the requested user and groups,
 * `no_new_privs`. Bad arguments throw synchronously and start nothing; a child that cannot drop
 * its privileges or exec emits `'error'` and the workload never runs.
 */
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, options?: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, argsOrOptions?: unknown, options?: SpawnOptions): CapspawnChildProcess {
  const { spec, behaviour, args, wrapped } = normalize(command, argsOrOptions, options);
  return new CapspawnChildProcess(spec, behaviour, args, wrapped);
}
