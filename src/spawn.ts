import { CapspawnChildProcess } from './child.js';
import { normalize, type SpawnOptions } from './options.js';

/**
 * Starts `command` like `child_process.spawn`, but the child drops its privileges in a fixed,
 * verified order before exec: the capability bounding set emptied (or the spawn refused),
 * ambient, effective, permitted and inheritable sets emptied, the requested user and groups,
 * `no_new_privs`. Bad arguments throw synchronously and start nothing. A spawn that fails at run
 * time does as in child_process: `EACCES`, `EAGAIN`, `EMFILE`, `ENFILE`, `ENOENT` are `'error'`
 * events, every other errno is thrown; capspawn's own refusals (`ERR_CAPSPAWN_BOUNDING_SET`, …)
 * are `'error'` events. Either way the workload never runs. Arguments are converted with
 * `String()`, as child_process converts them.
 */
export function spawn(command: string, args?: readonly unknown[], options?: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, options?: SpawnOptions): CapspawnChildProcess;
export function spawn(command: string, argsOrOptions?: unknown, options?: SpawnOptions): CapspawnChildProcess {
  const { spec, behaviour, args, wrapped } = normalize(command, argsOrOptions, options);
  return new CapspawnChildProcess(spec, behaviour, args, wrapped);
}
