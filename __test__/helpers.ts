/**
 * Shared helpers for the capspawn tests: reading the kernel's view of a process
 * (`/proc/<pid>/status`), the privilege gate, collecting a child's events and output, and
 * running the fixture scripts under `setpriv` / `unshare`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CapabilityState, CapspawnChildProcess } from '../dist/index.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/**
 * Capability names by number, as in the kernel's `include/uapi/linux/capability.h`. Written out
 * here (not taken from capspawn) so that decoding a mask is independent of the code under test.
 */
export const CAP_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export const CAP_SETPCAP_BIT = 8;

/** The names of the bits set in a 64-bit capability mask, lowest first (`CAP_<n>` past the table). */
export function capNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(CAP_NAMES[bit] ?? `CAP_${bit}`);
  }
  return names;
}

/** The fields of `/proc/<pid>/status` the tests look at. */
export interface ProcStatus {
  capBnd: bigint;
  capEff: bigint;
  capPrm: bigint;
  capInh: bigint;
  capAmb: bigint;
  noNewPrivs: number;
  /** Real, effective, saved, filesystem. */
  uid: number[];
  gid: number[];
  groups: number[];
  sigIgn: bigint;
  sigBlk: bigint;
  text: string;
}

/** Parses a `/proc/<pid>/status` text; throws if a field the tests need is missing. */
export function parseStatus(text: string): ProcStatus {
  const field = (key: string): string => {
    const line = text.split('\n').find((l) => l.startsWith(`${key}:`));
    if (line === undefined) throw new Error(`no ${key} line in status:\n${text}`);
    return line.slice(key.length + 1).trim();
  };
  const hex = (key: string): bigint => {
    const value = field(key);
    if (!/^[0-9a-f]{16}$/.test(value)) throw new Error(`bad ${key}: ${JSON.stringify(value)}`);
    return BigInt(`0x${value}`);
  };
  const numbers = (key: string): number[] => {
    const value = field(key);
    return value === '' ? [] : value.split(/\s+/).map(Number);
  };
  return {
    capBnd: hex('CapBnd'),
    capEff: hex('CapEff'),
    capPrm: hex('CapPrm'),
    capInh: hex('CapInh'),
    capAmb: hex('CapAmb'),
    noNewPrivs: Number(field('NoNewPrivs')),
    uid: numbers('Uid'),
    gid: numbers('Gid'),
    groups: numbers('Groups'),
    sigIgn: hex('SigIgn'),
    sigBlk: hex('SigBlk'),
    text,
  };
}

export function readStatus(file = '/proc/self/status'): ProcStatus {
  return parseStatus(fs.readFileSync(file, 'utf8'));
}

/** Whether this process is root with CAP_SETPCAP in its effective set (a privileged supervisor). */
export function isPrivileged(): boolean {
  const status = readStatus();
  return status.uid[1] === 0 && ((status.capEff >> BigInt(CAP_SETPCAP_BIT)) & 1n) === 1n;
}

interface SkippableContext {
  skip: (note?: string) => never;
}

/**
 * Gate for tests that need a privileged supervisor (uid 0 with CAP_SETPCAP). Without it: a
 * failure when `CI` is set (a privileged test that skips in CI proves nothing), a skip with the
 * reason otherwise.
 */
export function requirePrivilege(ctx: SkippableContext): void {
  if (isPrivileged()) return;
  const reason = 'needs uid 0 with CAP_SETPCAP in the effective set (run as root in a privileged container)';
  if (process.env.CI) throw new Error(`${reason}; CI is set, so this is a failure, not a skip`);
  ctx.skip(reason);
}

/** The pids of this process's children, running or zombie, from every thread's `children`. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const task of fs.readdirSync('/proc/self/task')) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/self/task/${task}/children`, 'utf8');
    } catch {
      continue; // the thread exited meanwhile
    }
    pids.push(...text.split(/\s+/).filter(Boolean).map(Number));
  }
  return pids;
}

/** The number of this process's open descriptors, once it stops moving: a spawn whose child
 * had not yet closed its exit watch when spawn() returned leaves that pipe (and the watchdog's
 * copy) open until the watchdog thread sees it close, microseconds later, or later on a loaded
 * machine. Waits for two equal counts 15 ms apart (at most about 2 s); asserts nothing. */
export function fdCount(): number {
  const count = () => fs.readdirSync('/proc/self/fd').length;
  const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15);
  let last = count();
  for (let i = 0; i < 130; i++) {
    pause();
    const now = count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** Everything a child did, in order. */
export interface Outcome {
  /** Event names in the order they were emitted. */
  events: string[];
  exit: [number | null, string | null] | undefined;
  close: [number | null, string | null];
  error: (Error & Record<string, any>) | undefined;
  stdout: Buffer;
  stderr: Buffer;
}

/** Collects a child's events and output until 'close'. */
export function outcome(child: CapspawnChildProcess): Promise<Outcome> {
  return new Promise((resolve) => {
    const events: string[] = [];
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let exit: Outcome['exit'];
    let error: Outcome['error'];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('spawn', () => events.push('spawn'));
    child.on('exit', (code, signal) => {
      events.push('exit');
      exit = [code, signal];
    });
    child.on('error', (e) => {
      events.push('error');
      error ??= e;
    });
    child.on('close', (code, signal) => {
      events.push('close');
      resolve({ events, exit, close: [code, signal], error, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

/** A new private directory (mode 0777 so that any user's workload can write a marker there). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `capspawn-${prefix}-`));
  fs.chmodSync(dir, 0o777);
  return dir;
}

/** What `fixtures/spawn-report.mjs` prints. */
export interface Report {
  /** `inspectSelf()` of the fixture (the supervisor), before spawning. */
  inspect: CapabilityState;
  /** The fixture's own `/proc/self/status`. */
  supervisorStatus: string;
  /** The fixture's descriptors, and whether each is close-on-exec. */
  fds: { fd: number; cloexec: boolean }[];
  events?: string[];
  close?: [number | null, string | null];
  result?:
    | { ok: true; stdout: string; stderr: string; exitCode: number | null; signalCode: string | null }
    | { ok: false; error: Record<string, any> };
  thrown?: { code: string; message: string; errno?: number; syscall?: string; stage?: string };
  /** The fixture's children after everything closed. */
  children?: number[];
  /** `child.landlock`, and the `'spawn'` event's argument, with `filesystem`. */
  landlock?: { abi: number; enforced: boolean; unenforced: string[] };
  spawnEvent?: { landlock: { abi: number; enforced: boolean; unenforced: string[] } };
}

export interface SpawnRequest {
  command: string;
  args?: string[];
  options?: Record<string, unknown>;
}

/**
 * Runs `fixtures/spawn-report.mjs` under `wrapper` (e.g. `['setpriv', '--bounding-set=-setpcap']`,
 * or `[]` for none) and returns its report. Without a request the fixture only reports on itself.
 * `inheritedFd` gives the fixture one more descriptor, a pipe at that number, as a supervisor
 * started by another program may have (Node marks low inherited descriptors close-on-exec at
 * startup, so pick a high one).
 */
export function runReport(wrapper: string[], request?: SpawnRequest, { inheritedFd }: { inheritedFd?: number } = {}): Report {
  const argv = [...wrapper, process.execPath, path.join(FIXTURES, 'spawn-report.mjs')];
  if (request) argv.push(JSON.stringify(request));
  const stdio: ('ignore' | 'pipe' | 'inherit')[] = ['ignore', 'pipe', 'inherit'];
  if (inheritedFd !== undefined) {
    while (stdio.length < inheritedFd) stdio.push('ignore');
    stdio.push('pipe');
  }
  const stdout = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: slow(20_000), stdio });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Report;
}

/** The README's JavaScript and TypeScript examples, each with its line in README.md, and the
 * reason it is not run when the line before its fence says `<!-- not run by …: REASON -->`. */
export function readmeExamples(readme: string): { line: number; lang: string; code: string; notRun: string | null }[] {
  const examples: { line: number; lang: string; code: string; notRun: string | null }[] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(js|javascript|mjs|cjs|ts|typescript)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const notRun = /^<!-- not run by [^:]+: (.+) -->$/.exec(lines[i - 1] ?? '')?.[1] ?? null;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    examples.push({ line: start + 1, lang: open[1]!, code: body.join('\n'), notRun });
  }
  return examples;
}

/**
 * How many times slower than this machine the tests run: CAPSPAWN_TEST_SLOWDOWN, which
 * scripts/arm64-test sets in its emulated arm64 VM (where `node -e 0` alone takes seconds); 1
 * when unset. Hard-coded time limits go through `slow()` so they hold there too, rather than
 * being dropped: a limit is still a limit, only a longer one.
 */
export const SLOWDOWN = Math.max(1, Number(process.env.CAPSPAWN_TEST_SLOWDOWN) || 1);

/** A time limit in milliseconds, stretched by SLOWDOWN. */
export function slow(ms: number): number {
  return ms * SLOWDOWN;
}

/**
 * A stress test's iteration count, scaled by CAPSPAWN_TEST_SCALE (a fraction in (0, 1]; 1 when
 * unset), never below `min`: scripts/arm64-test's default run uses 0.1, so the emulated VM runs
 * the same scenarios, fewer times. The full size runs everywhere else.
 */
export function scaled(count: number, min = 1): number {
  const scale = Number(process.env.CAPSPAWN_TEST_SCALE);
  if (!(scale > 0 && scale < 1)) return count;
  return Math.max(min, Math.round(count * scale));
}
