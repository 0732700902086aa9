/**
 * Loads the native binding and declares what it exports. The binding only marshals values; the
 * logic lives in the Rust core crate.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A capability state as the binding reports it. */
export interface NativeCaps {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
  noNewPrivs: boolean;
  securebits: number | null;
  lastCap: number;
  canClearBoundingSet: boolean;
}

/** Where a child's descriptor comes from: 'pipe', 'inherit', 'ignore', or a supervisor fd. */
export type NativeStdio = 'pipe' | 'inherit' | 'ignore' | number;

/** A validated spawn request (see options.ts). */
export interface NativeSpawnSpec {
  file: string;
  /** argv, argv[0] included. */
  argv: string[];
  /** Alternating keys and values. */
  env: string[];
  cwd: string | null;
  stdio: NativeStdio[];
  detached: boolean;
  user: string | number | null;
  group: string | number | null;
  supplementaryGroups: 'init' | 'clear' | number[] | null;
  boundingSet: 'clear' | 'inherit';
  noNewPrivs: boolean;
  /** Capability names or numbers to keep. */
  capabilities: string[] | null;
  lockSecurebits: boolean;
  umask: number | null;
  parentDeathSignal: number | null;
  /** [resource name, soft, hard]; Infinity is unlimited. */
  rlimits: Array<[string, number, number]> | null;
}

/** Why the child stopped before exec (it has been reaped; the workload never ran). */
export interface NativeChildFailure {
  stage: string;
  syscall: string;
  /** The errno's name (`'ENOENT'`), or null when the kernel reported success wrongly. */
  code: string | null;
  errno: number;
  message: string;
  remaining: string[];
}

export type NativeSpawnResult =
  | { id: number; pid: number; stdio: number[]; failure?: undefined }
  | { failure: NativeChildFailure };

/** The outcome of a real bounding-set clear in a throwaway child. */
export interface ProbeResult {
  ok: boolean;
  /** Why it was refused: the errno's name (null when the kernel claimed success). */
  code?: string | null;
  errno?: number | null;
  remaining?: string[];
  reason?: string;
}

export interface NativeBinding {
  inspectSelf(): NativeCaps;
  inspectPid(pid: number): NativeCaps;
  probeBoundingSetClear(): ProbeResult;
  spawn(spec: NativeSpawnSpec): NativeSpawnResult;
  /** True if sent, false once the child has been reaped. */
  kill(id: number, signal: number): boolean;
  /** Sets the callback that receives every exit: (id, exit code or null, signal number or null). */
  onExit(callback: (id: number, code: number | null, signal: number | null) => void): void;
  /** Whether the exit callback keeps the event loop alive. */
  refExits(keepAlive: boolean): void;
}

const PLATFORM_BINARY = 'capspawn.linux-x64-gnu.node';

function load(): NativeBinding {
  if (process.platform !== 'linux') {
    const error = new Error(
      `capspawn works on Linux only (capabilities are a Linux kernel feature); this is ${process.platform}`,
    );
    throw Object.assign(error, { code: 'ERR_CAPSPAWN_UNSUPPORTED_PLATFORM' });
  }
  const require = createRequire(import.meta.url);
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [process.env.CAPSPAWN_NATIVE_LIBRARY_PATH, join(root, PLATFORM_BINARY)].filter(
    (p): p is string => Boolean(p),
  );
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      return require(path) as NativeBinding;
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  const error = new Error(`capspawn: could not load its native binding. Tried:\n  ${failures.join('\n  ')}`);
  throw Object.assign(error, { code: 'ERR_CAPSPAWN_NATIVE_LOAD' });
}

export const native: NativeBinding = load();
