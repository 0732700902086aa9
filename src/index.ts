export { spawn } from './spawn.js';
export { CapspawnChildProcess, type SpawnError } from './child.js';
export type { SpawnOptions, StdioOption, StdioKind } from './options.js';
export { inspectSelf, inspectPid, probeBoundingSetClear, type CapabilityState } from './inspect.js';
export type { ProbeResult } from './native.js';
export type { CodedError } from './errors.js';
