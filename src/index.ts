export { spawn } from './spawn.js';
export { spawnPty, type IPty, type PtyOptions, type IDisposable, type IEvent, type IExitEvent } from './pty.js';
export { spawnSync, execFileSync, execSync } from './sync.js';
export { execFile, exec } from './exec.js';
export { CapspawnChildProcess, type ChildError, type SpawnError, type SpawnReport, type StdioStreams } from './child.js';
export type { SpawnOptions, StdioOption, StdioKind, FilesystemOption, NetworkOption } from './options.js';
export type {
  CapspawnChildProcessWithoutNullStreams,
  CapspawnChildProcessByStdio,
  SpawnOptionsWithoutStdio,
  SpawnOptionsWithStdioTuple,
  StdioNull,
  StdioPipe,
} from './types.js';
export type {
  ExecFileOptions,
  ExecFileOptionsWithStringEncoding,
  ExecFileOptionsWithBufferEncoding,
  ExecOptions,
  ExecOptionsWithStringEncoding,
  ExecOptionsWithBufferEncoding,
  ExecFileException,
  ExecException,
  PromiseWithChild,
} from './exec.js';
export type {
  SpawnSyncOptions,
  SpawnSyncOptionsWithStringEncoding,
  SpawnSyncOptionsWithBufferEncoding,
  SpawnSyncReturns,
  ExecFileSyncOptions,
  ExecFileSyncOptionsWithStringEncoding,
  ExecFileSyncOptionsWithBufferEncoding,
  ExecSyncOptions,
  ExecSyncOptionsWithStringEncoding,
  ExecSyncOptionsWithBufferEncoding,
} from './sync.js';
export { inspectSelf, inspectPid, probeBoundingSetClear, probeLayers, type CapabilityState } from './inspect.js';
export type { ProbeResult, LandlockReport, LayersProbe } from './native.js';
export type { CodedError } from './errors.js';
