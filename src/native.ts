/**
 * The native binding: what it exports, loaded once by `loader.ts`. The binding only marshals
 * values; the logic lives in the Rust core crate.
 */
import type { FileCapabilities } from './errors.js';
import { load } from './loader.js';

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
  /** Alternating keys and values; null: the supervisor's own environment. */
  env: string[] | null;
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
  /** Refuse when the child cannot read its own `/proc/thread-self/status`. */
  requireProcfs: boolean;
  /** The seccomp layer (names resolved by the core); null: none. */
  seccomp: NativeSeccomp | null;
  /** Landlock rules: absolute paths. */
  filesystem: { readOnly: string[]; readWrite: string[]; bestEffort: boolean; allowUnixSockets: boolean } | null;
  /** null: the host's namespace; 'none': a new one; or one to join. */
  network: 'none' | { path: string } | { fd: number } | null;
  /** A terminal's peer: the child's 0, 1, 2 and its controlling terminal (`spawnPty`). */
  terminal?: number | null;
}

/** The `seccomp` option, validated in form (see options.ts). */
export interface NativeSeccomp {
  denySocketFamilies: string[] | null;
  denySyscalls: string[] | null;
  errno: string | null;
  program: Buffer | null;
}

/** What a spawn with `filesystem` got from this kernel's Landlock. */
export interface LandlockReport {
  /** The kernel's Landlock ABI version; 0 when it has none (or a filter hides it). */
  abi: number;
  /** Whether a Landlock domain restricts the workload at all. */
  enforced: boolean;
  /** The access rights the rules ask for that this kernel does not enforce (`'truncate'` before
   * ABI 3, `'ioctl_dev'` before ABI 5, `'scope_abstract_unix_socket'` and `'scope_signal'` before
   * ABI 6; all of them without Landlock). Empty with `'hard'`. */
  unenforced: string[];
}

/** What the sandbox layers can do here (the native part: Landlock and network namespaces). */
export interface NativeLayersProbe {
  /** `abi` 0: no Landlock (or a filter hides it). */
  landlock: { abi: number };
  /** Whether a network namespace could be made here (tried for real, on a throwaway thread). */
  networkNamespaces: boolean;
}

/** What the sandbox layers can do here. */
export interface LayersProbe extends NativeLayersProbe {
  /** Whether the `seccomp` option works here. */
  seccomp: SeccompProbe;
}

/** Why the child stopped before exec (it has been reaped; the workload never ran). */
export interface NativeChildFailure {
  stage: string;
  syscall: string;
  /** The errno's name (`'ENOENT'`), or null when the kernel reported success wrongly. */
  code: string | null;
  /** The failed call's errno, or EPERM (1) for a failure that has none (`Failure::os_errno`). */
  errno: number;
  message: string;
  remaining: string[];
}

export type NativeSpawnResult =
  | { id: number; pid: number; stdio: number[]; landlock?: LandlockReport; failure?: undefined }
  | { failure: NativeChildFailure };

/** How the binding's spawnSync runs the child to its end. */
export interface NativeRunOptions {
  /** Written to the stdin pipe, which is then closed (null: closed at once). */
  input: Buffer | null;
  /** Milliseconds, 0 for none. */
  timeout: number;
  killSignal: number;
  /** Bytes of output over all pipes; null: unlimited. */
  maxBuffer: number | null;
}

/** A run to its end: the child's exit and output, and the first thing that went wrong. */
export type NativeSyncResult =
  | {
      pid: number;
      status: number | null;
      signal: number | null;
      /** Per descriptor: the bytes read from an output pipe, null otherwise. */
      output: Array<Buffer | null>;
      /** The errno's name (`'ETIMEDOUT'`, `'ENOBUFS'`, `'EPIPE'`…), or null. */
      error: string | null;
      errno: number | null;
      landlock?: LandlockReport;
      failure?: undefined;
    }
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

/** Whether the seccomp layer works here: the kernel's answers and a trial in a throwaway child
 * that loads a filter and reads it back (`capspawn::seccomp::probe`). */
export interface SeccompProbe {
  ok: boolean;
  /** The supervisor thread's mode: 0 none, 2 filter (a spawn's filters stack on its own); null
   * when the kernel has no seccomp. */
  mode: number | null;
  /** The supervisor thread's `Seccomp_filters`; null where procfs does not show it. */
  filters: number | null;
  /** Filter actions capspawn uses that the kernel lacks (`kill_process` before Linux 4.14). */
  missingActions: string[];
  /** Why the trial failed: the errno's name (null when the kernel claimed success). */
  code: string | null;
  reason: string | null;
}

export interface NativeBinding {
  inspectSelf(): NativeCaps;
  inspectPid(pid: number): NativeCaps;
  probeBoundingSetClear(): ProbeResult;
  probeSeccomp(): SeccompProbe;
  /** The Landlock ABI and whether network namespaces can be made here. */
  probeLayers(): NativeLayersProbe;
  /** After an exec EPERM: the file the search stopped at and its file capabilities, or null. */
  execFileCapabilities(file: string, path: string | null, cwd: string | null): FileCapabilities | null;
  spawn(spec: NativeSpawnSpec): NativeSpawnResult;
  /** Runs the child to its end on this thread (blocking). */
  spawnSync(spec: NativeSpawnSpec, run: NativeRunOptions): NativeSyncResult;
  /** True if sent, false once the child has been reaped. */
  kill(id: number, signal: number): boolean;
  /** Sets the callback that receives every exit: (id, exit code or null, signal number or null). */
  onExit(callback: (id: number, code: number | null, signal: number | null) => void): void;
  /** Whether the exit callback keeps the event loop alive. */
  refExits(keepAlive: boolean): void;
  /** A new pseudo-terminal of that size: [master (non-blocking), peer], both close-on-exec. */
  openTerminal(cols: number, rows: number): [number, number];
  /** TIOCSWINSZ on the master: the workload's foreground process group gets SIGWINCH. */
  resizeTerminal(master: number, cols: number, rows: number): void;
  /** The terminal's foreground process group (TIOCGPGRP). */
  terminalForeground(master: number): number;
  /** Closes a descriptor openTerminal gave (natively: fs.closeSync warns in a worker). */
  closeTerminal(fd: number): void;
}

/** Where the loaded binding came from. */
const loaded = load();

/** The loaded binding. */
export const native: NativeBinding = loaded.binding;

/** Where the binding was loaded from. */
export const nativeOrigin = loaded.origin;
