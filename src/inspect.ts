import { invalidArgType, outOfRange } from './errors.js';
import { native, type LayersProbe, type NativeCaps, type ProbeResult } from './native.js';

/** A process's capability state, with capability names (`'CAP_CHOWN'`, or `'CAP_<n>'` for one
 * capspawn does not name). */
export type CapabilityState = NativeCaps;

/** The calling thread's capability sets, `no_new_privs`, securebits, the kernel's last
 * capability, and whether a fail-closed clear of the bounding set can succeed here. */
export function inspectSelf(): CapabilityState {
  return native.inspectSelf();
}

/** The same for process `pid`, from `/proc/<pid>/status` (securebits are not shown there: null). */
export function inspectPid(pid: number): CapabilityState {
  if (typeof pid !== 'number') throw invalidArgType('pid', 'of type number', pid);
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) throw outOfRange('pid', 'an integer > 0', pid);
  return native.inspectPid(pid);
}

/** Tries the fail-closed bounding-set clear for real, in a throwaway child that clears, reports
 * and exits: `ok` is whether `spawn()`'s default drop can succeed here. Unlike
 * `canClearBoundingSet`, it also catches an LSM or seccomp profile that refuses the drop although
 * `CAP_SETPCAP` is effective. */
export function probeBoundingSetClear(): ProbeResult {
  return native.probeBoundingSetClear();
}

/** What the sandbox layers can do here: the kernel's Landlock ABI (`landlock.abi`, 0 for none),
 * whether network namespaces can be made (`networkNamespaces`, tried for real), and whether a
 * seccomp filter loads and reads back (`seccomp`, in a throwaway child). */
export function probeLayers(): LayersProbe {
  return { ...native.probeLayers(), seccomp: native.probeSeccomp() };
}
