#!/usr/bin/env node
/**
 * The `capspawn` command: `doctor` (can a fail-closed spawn succeed here?), `inspect` (one
 * process's capability state) and `exec` (setpriv done right: run a command with the drop).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { inspectPid, inspectSelf, probeBoundingSetClear, probeLayers, spawn, spawnPty, type CapabilityState, type IPty, type LayersProbe, type SpawnOptions } from './index.js';
import { detectRuntime, diagnose, inUserNamespace } from './doctor.js';
import { messageFor } from './errors.js';
import type { SeccompProbe } from './native.js';
import { reportedSignalNumber } from './signals.js';

const USAGE = {
  main: `Usage: capspawn <command> [options]

Commands:
  doctor [--json]                     Can a fail-closed spawn succeed here? Which deployment is this,
                                      and what to do. Exit status 0 only if it can.
  inspect PID [--json]                One process's capability sets.
  exec [options] [--] COMMAND [ARG...]  Run COMMAND with capspawn's privilege drop.

Options:
  -h, --help                          Print this help (or a command's, after it).
  -V, --version                       Print capspawn's version.

Run 'capspawn <command> --help' for a command's options.`,
  doctor: `Usage: capspawn doctor [--json]

Prints this process's capability state, tries the fail-closed bounding-set clear in a throwaway
child, recognises the deployment (privileged root, rootless, a container without SETPCAP under
Podman, Docker or Kubernetes, an ordinary user) and says whether spawn() will run workloads here,
with the advice that fits this deployment when it will not. It also tries the seccomp option's
filter in a throwaway child (load and read back) and says whether that layer works here.
Exit status: 0 if a fail-closed spawn succeeds here, 1 if it would be refused.`,
  inspect: `Usage: capspawn inspect PID [--json]

Prints process PID's command, uid and capability sets (from /proc/PID).`,
  exec: `Usage: capspawn exec [options] [--] COMMAND [ARG...]

Runs COMMAND like setpriv, but refuses to run it when the bounding set cannot be emptied.
stdio is inherited, signals are forwarded, and the exit status is COMMAND's (128+n for signal n),
or 125 when capspawn refused or failed to start it, 126 when it is not executable, 127 when it
was not found. Options end at COMMAND (or --).

Options (setpriv's spelling in brackets is accepted too):
  -u, --user U              user name or uid to run as [--reuid]
  -g, --group G             group name or gid (default: the user's primary group) [--regid]
  -G, --groups init|clear|GID,...
                            supplementary groups (default: init with --user, else clear)
                            [--init-groups, --clear-groups]
  -c, --cap CAP,...         capabilities COMMAND keeps (e.g. net_bind_service); all others dropped
  -C, --cwd DIR             working directory [env's --chdir]
  -e, --env NAME=VALUE      set a variable (repeatable)
  -i, --clear-env           start from an empty environment, not capspawn's [env's --ignore-environment]
      --umask MODE          file mode creation mask, in octal (e.g. 077)
      --rlimit NAME=SOFT[:HARD]
                            resource limit, set before the drop (repeatable; e.g. nofile=1024:4096,
                            core=0; SOFT alone sets both; unlimited for no limit)
      --pdeathsig SIGNAL    signal COMMAND gets when capspawn exits (e.g. KILL) [setpriv]
      --securebits locked   lock the securebits, so not even an exec as uid 0 regains capabilities
      --deny-socket FAMILY,...  seccomp: socket() and socketpair() of these families fail
                            (e.g. inet,inet6,netlink; repeatable); implies no_new_privs
      --deny-syscall NAME,...   seccomp: these system calls fail (e.g. unshare,ptrace; repeatable)
      --seccomp-errno ERRNO     the errno they fail with (default EPERM)
      --seccomp-program FILE    a classic BPF seccomp program (struct sock_filter array, e.g.
                            from libseccomp's seccomp_export_bpf), loaded as given
      --inherit-bounding-set  leave the bounding set raised (an explicit opt-out)
      --keep-new-privs      do not set no_new_privs (--no-new-privs, the default, is accepted)
      --pty                 run COMMAND in a new terminal of its own, relaying this one (raw mode
                            when stdin is a terminal, size changes); end of a piped stdin is ^D
      --bounding-set=-all, --inh-caps=-all, --ambient-caps=-all
                            accepted for setpriv command lines: capspawn does this anyway
                            (other values are refused: use --cap)
      --ro PATH             Landlock: COMMAND may read, list and execute beneath PATH (repeatable)
      --rw PATH             Landlock: COMMAND may do anything Landlock handles beneath PATH
                            (repeatable); with --ro or --rw, nothing else is reachable
      --landlock hard|best-effort
                            hard (default): refuse unless the kernel enforces all of the rules;
                            best-effort: run with what it enforces
      --net none|host|PATH  none: a new network namespace with only lo; PATH: join that one
                            (/run/netns/NAME, /proc/PID/ns/net); host (default): unchanged`,
};

class UsageError extends Error {}

/** Exit statuses of `exec` when COMMAND did not run, as env(1) and timeout(1) use them. */
const EXIT_REFUSED = 125;
const EXIT_NOT_EXECUTABLE = 126;
const EXIT_NOT_FOUND = 127;

/** The seccomp probe in one line, for doctor's table. */
function seccompRow(probe: SeccompProbe): string {
  if (!probe.ok) {
    const missing = probe.missingActions.length > 0 ? `the kernel lacks the actions ${probe.missingActions.join(', ')}` : '';
    return `unavailable: ${missing || `${probe.code ?? 'not shown loaded'} (${probe.reason ?? ''})`}`;
  }
  const own = probe.mode === 2 ? `, stacked on the supervisor's ${probe.filters ?? 'own'} filter(s)` : '';
  return `available (a filter loaded and read back in a throwaway child${own})`;
}

function table(state: CapabilityState, probe?: ReturnType<typeof probeBoundingSetClear>, layers?: LayersProbe): string {
  const list = (caps: string[]) => (caps.length === 0 ? '(none)' : caps.map((c) => c.replace(/^CAP_/, '').toLowerCase()).join(' '));
  const rows: Array<[string, string]> = [
    ['bounding', list(state.bounding)],
    ['effective', list(state.effective)],
    ['permitted', list(state.permitted)],
    ['inheritable', list(state.inheritable)],
    ['ambient', list(state.ambient)],
    ['no_new_privs', String(state.noNewPrivs)],
    ['securebits', state.securebits === null ? 'unknown' : `0x${state.securebits.toString(16)}`],
    ['last_cap', String(state.lastCap)],
  ];
  if (probe) rows.push(['bounding-set clear', probe.ok ? 'succeeds (tried in a throwaway child)' : `refused: ${probe.code ?? 'state not as asked'}`]);
  if (layers) {
    const { abi } = layers.landlock;
    rows.push(['landlock', abi === 0 ? "none (filesystem needs compatibility: 'best-effort' here)" : `ABI ${abi}${abi < 6 ? " (below 6: filesystem needs compatibility: 'best-effort' here)" : ''}`]);
    rows.push(['network namespaces', layers.networkNamespaces ? "can be made (network: 'none' works)" : "cannot be made here (network: 'none' is refused)"]);
    rows.push(['seccomp', seccompRow(layers.seccomp)]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const wrap = (text: string) => text.replace(/(.{1,70})(\s|$)/g, `$1\n${' '.repeat(width + 2)}`).trimEnd();
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${wrap(v)}`).join('\n');
}

/** Wraps `text` to lines of at most `width` characters, each after the first indented. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

function doctor(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return help('doctor');
  const state = inspectSelf();
  const probe = probeBoundingSetClear();
  const layers = probeLayers();
  const diagnosis = diagnose(state, probe, process.geteuid?.() ?? -1, detectRuntime(), inUserNamespace());
  const { kind, runtime, userNamespace, uid, verdict, advice } = diagnosis;
  if (values.json) {
    const deployment = { kind, runtime, userNamespace, uid };
    console.log(JSON.stringify({ ...state, probe, layers, ok: probe.ok, deployment, verdict, advice, fix: probe.ok ? null : advice[0], seccomp: layers.seccomp }, null, 2));
  } else {
    console.log(table(state, probe, layers));
    console.log();
    console.log(wrap(verdict, 100, ''));
    for (const line of advice) console.log(wrap(`- ${line}`, 100, '  '));
  }
  return probe.ok ? 0 : 1;
}

/** The command line of process `pid` (its argv joined), or its comm in brackets for a kernel
 * thread or a zombie, as ps shows them. */
function commandOf(pid: number): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    if (argv.length > 0) return argv.join(' ');
    return `[${fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`;
  } catch {
    return '?';
  }
}

/** The real, effective, saved and filesystem uids of process `pid`, from its status. */
function uidsOf(pid: number): number[] | null {
  try {
    const line = /^Uid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? line[1]!.trim().split(/\s+/).map(Number) : null;
  } catch {
    return null;
  }
}

function inspect(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return help('inspect');
  if (positionals.length !== 1 || !/^[1-9][0-9]*$/.test(positionals[0]!) || Number(positionals[0]) > 0x7fffffff) throw new UsageError('inspect: PID must be one positive number');
  const pid = Number(positionals[0]);
  const state = inspectPid(pid);
  // Read after the sets: a process that ended in between shows '?' rather than another's name.
  const command = commandOf(pid);
  const uids = uidsOf(pid);
  const uid = uids?.[1] ?? null;
  if (values.json) {
    console.log(JSON.stringify({ pid, command, uid, uids, ...state }, null, 2));
  } else {
    const user = uids === null ? 'uid ?' : uids.every((u) => u === uids[0]) ? `uid ${uid}` : `uids ${uids.join(' ')} (real effective saved fs)`;
    console.log(`process ${pid}, ${user}: ${command}`);
    console.log(table(state));
  }
  return 0;
}

/** `--rlimit NAME=SOFT[:HARD]` values: `{ NAME: [soft, hard] }`. */
function rlimits(specs: string[]): Record<string, [number, number]> {
  const limits: Record<string, [number, number]> = {};
  const number = (spec: string, text: string) => {
    if (text === 'unlimited' || text === 'infinity') return Infinity;
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`exec: --rlimit ${spec}: '${text}' is not a number or 'unlimited'`);
    return Number(text);
  };
  for (const spec of specs) {
    const match = /^([a-z_]+)=([^:]+)(?::([^:]+))?$/.exec(spec);
    if (!match) throw new UsageError(`exec: --rlimit takes NAME=SOFT[:HARD] (e.g. nofile=1024:4096), not '${spec}'`);
    const soft = number(spec, match[2]!);
    const hard = match[3] === undefined ? soft : number(spec, match[3]);
    if (soft > hard) throw new UsageError(`exec: --rlimit ${spec}: the soft limit is above the hard one`);
    limits[match[1]!] = [soft, hard];
  }
  return limits;
}

/** `--deny-socket`, `--deny-syscall`, `--seccomp-errno`, `--seccomp-program`: the `seccomp`
 * option, or undefined when none is given. */
function seccompOptions(values: ExecValues): SpawnOptions['seccomp'] {
  const list = (flag: 'deny-socket' | 'deny-syscall') => {
    const given = values[flag];
    if (given === undefined) return undefined;
    const names = given.join(',');
    if (!/^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$/.test(names)) throw new UsageError(`exec: --${flag} takes a comma-separated list of names, not '${names}'`);
    return names.split(','); // a family's number as text too: the core reads it
  };
  const denySocketFamilies = list('deny-socket');
  const denySyscalls = list('deny-syscall');
  const errno = values['seccomp-errno'];
  const file = values['seccomp-program'];
  if (denySocketFamilies === undefined && denySyscalls === undefined && errno === undefined && file === undefined) return undefined;
  if (errno !== undefined && denySocketFamilies === undefined && denySyscalls === undefined) {
    throw new UsageError('exec: --seccomp-errno needs --deny-socket or --deny-syscall');
  }
  let program: Buffer | undefined;
  if (file !== undefined) {
    if (file === '') throw new UsageError('exec: --seccomp-program needs a file');
    try {
      program = fs.readFileSync(file);
    } catch (error) {
      throw new UsageError(`exec: --seccomp-program ${file}: ${(error as Error).message}`);
    }
  }
  return { denySocketFamilies, denySyscalls, errno, program };
}

function execOptions(values: ExecValues): SpawnOptions {
  const options: SpawnOptions = { stdio: 'inherit' };
  const idOrName = (flag: string, text: string) => {
    if (text === '') throw new UsageError(`exec: --${flag} needs a value`);
    return /^[0-9]+$/.test(text) ? Number(text) : text;
  };
  const one = (flags: Array<keyof ExecValues>) => {
    const given = flags.filter((flag) => values[flag] !== undefined);
    if (given.length > 1) throw new UsageError(`exec: --${given[0]} and --${given[1]} cannot be combined`);
    return given.length === 0 ? undefined : values[given[0]!];
  };
  const user = one(['user', 'reuid']) as string | undefined;
  if (user !== undefined) options.user = idOrName('user', user);
  const group = one(['group', 'regid']) as string | undefined;
  if (group !== undefined) options.group = idOrName('group', group);
  let groups = one(['groups', 'init-groups', 'clear-groups']);
  if (values['init-groups']) groups = 'init';
  if (values['clear-groups']) groups = 'clear';
  if (typeof groups === 'string') {
    if (groups === 'init' || groups === 'clear') options.supplementaryGroups = groups;
    else if (/^[0-9]+(,[0-9]+)*$/.test(groups)) options.supplementaryGroups = groups.split(',').map(Number);
    else throw new UsageError(`exec: --groups must be init, clear or a comma-separated list of gids, not '${groups}'`);
  }
  if (values.cap !== undefined) {
    const caps = values.cap.join(',');
    if (!/^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$/.test(caps)) throw new UsageError(`exec: --cap must be a comma-separated list of capabilities, not '${caps}'`);
    options.capabilities = caps.split(',');
  }
  for (const flag of ['bounding-set', 'inh-caps', 'ambient-caps'] as const) {
    const value = values[flag];
    if (value !== undefined && value !== '-all') {
      throw new UsageError(`exec: --${flag} takes only -all here (what capspawn does anyway), not '${value}'; to keep capabilities, use --cap`);
    }
  }
  if (values.cwd !== undefined) {
    if (values.cwd === '') throw new UsageError('exec: --cwd needs a directory');
    options.cwd = values.cwd;
  }
  if (values['clear-env'] || values.env !== undefined) {
    const env: Record<string, string> = values['clear-env'] ? {} : { ...process.env } as Record<string, string>;
    for (const pair of values.env ?? []) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new UsageError(`exec: --env takes NAME=VALUE, not '${pair}'`);
      env[pair.slice(0, at)] = pair.slice(at + 1);
    }
    options.env = env;
  }
  if (values.umask !== undefined) {
    if (!/^0?[0-7]{1,3}$/.test(values.umask)) throw new UsageError(`exec: --umask takes an octal mode such as 077, not '${values.umask}'`);
    options.umask = parseInt(values.umask, 8);
  }
  if (values.rlimit !== undefined) options.rlimits = rlimits(values.rlimit);
  if (values.pdeathsig !== undefined) {
    const name = values.pdeathsig.toUpperCase().replace(/^(SIG)?/, 'SIG');
    options.parentDeathSignal = /^[0-9]+$/.test(values.pdeathsig) ? Number(values.pdeathsig) : (name as NodeJS.Signals);
  }
  if (values.securebits !== undefined) {
    if (values.securebits !== 'locked') throw new UsageError(`exec: --securebits takes 'locked', not '${values.securebits}'`);
    options.securebits = 'locked';
  }
  const seccomp = seccompOptions(values);
  if (seccomp !== undefined) options.seccomp = seccomp;
  if (values['inherit-bounding-set']) options.boundingSet = 'inherit';
  if (values['keep-new-privs'] && values['no-new-privs']) throw new UsageError('exec: --keep-new-privs and --no-new-privs cannot be combined');
  if (values['keep-new-privs']) options.noNewPrivs = false;
  if (values.ro !== undefined || values.rw !== undefined || values.landlock !== undefined) {
    if (values.ro === undefined && values.rw === undefined) throw new UsageError('exec: --landlock needs rules: give --ro or --rw paths');
    if (values.landlock !== undefined && values.landlock !== 'hard' && values.landlock !== 'best-effort') {
      throw new UsageError(`exec: --landlock takes hard or best-effort, not '${values.landlock}'`);
    }
    if (values['keep-new-privs']) throw new UsageError('exec: --keep-new-privs cannot be combined with --ro or --rw: Landlock needs no_new_privs');
    for (const [flag, list] of [['ro', values.ro], ['rw', values.rw]] as const) {
      for (const entry of list ?? []) if (!path.isAbsolute(entry)) throw new UsageError(`exec: --${flag} takes an absolute path, not '${entry}'`);
    }
    options.filesystem = { readOnly: values.ro ?? [], readWrite: values.rw ?? [], compatibility: (values.landlock ?? 'hard') as 'hard' | 'best-effort' };
  }
  if (values.net !== undefined) {
    if (values.net === 'none' || values.net === 'host') options.network = values.net;
    else if (path.isAbsolute(values.net)) options.network = { namespace: values.net };
    else throw new UsageError(`exec: --net takes none, host or the absolute path of a network namespace, not '${values.net}'`);
  }
  return options;
}

const EXEC_OPTIONS = {
  user: { type: 'string', short: 'u' },
  reuid: { type: 'string' },
  group: { type: 'string', short: 'g' },
  regid: { type: 'string' },
  groups: { type: 'string', short: 'G' },
  'init-groups': { type: 'boolean' },
  'clear-groups': { type: 'boolean' },
  cap: { type: 'string', short: 'c', multiple: true },
  cwd: { type: 'string', short: 'C' },
  chdir: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  'clear-env': { type: 'boolean', short: 'i' },
  'ignore-environment': { type: 'boolean' },
  umask: { type: 'string' },
  rlimit: { type: 'string', multiple: true },
  pdeathsig: { type: 'string' },
  securebits: { type: 'string' },
  'inherit-bounding-set': { type: 'boolean' },
  'deny-socket': { type: 'string', multiple: true },
  'deny-syscall': { type: 'string', multiple: true },
  'seccomp-errno': { type: 'string' },
  'seccomp-program': { type: 'string' },
  'keep-new-privs': { type: 'boolean' },
  'no-new-privs': { type: 'boolean' },
  'bounding-set': { type: 'string' },
  'inh-caps': { type: 'string' },
  'ambient-caps': { type: 'string' },
  ro: { type: 'string', multiple: true },
  rw: { type: 'string', multiple: true },
  landlock: { type: 'string' },
  net: { type: 'string' },
  pty: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ExecValues = {
  -readonly [K in keyof typeof EXEC_OPTIONS]?: (typeof EXEC_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof EXEC_OPTIONS)[K]['type'] extends 'string' ? string : boolean;
};

function exec(args: string[]): Promise<number> | number {
  // Our options end at COMMAND (or `--`): everything after it is the command's, so a later
  // `--user 0` among its arguments can never change the drop.
  const { tokens } = parseArgs({ args, options: EXEC_OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const end = tokens.find((token) => token.kind === 'positional' || token.kind === 'option-terminator');
  const ours = end === undefined ? args : args.slice(0, end.index);
  const theirs = end === undefined ? [] : args.slice(end.kind === 'option-terminator' ? end.index + 1 : end.index);
  const { values: parsed } = parseArgs({ args: ours, options: EXEC_OPTIONS });
  const values: ExecValues = { ...parsed };
  if (values.help) return help('exec');
  // env(1)'s spellings.
  if (values.chdir !== undefined) {
    if (values.cwd !== undefined) throw new UsageError('exec: --cwd and --chdir cannot be combined');
    values.cwd = values.chdir;
  }
  if (values['ignore-environment']) values['clear-env'] = true;
  const [command, ...rest] = theirs;
  if (command === undefined) throw new UsageError('exec: no COMMAND given (capspawn exec [options] -- COMMAND [ARG...])');
  const options = execOptions(values);
  if (values.pty) return execPty(command, rest, options);
  // Forward from before the spawn: a signal that arrives while the child starts must reach it
  // (or stop us before it runs), never leave it running without us.
  let child: ReturnType<typeof spawn> | undefined;
  const pending: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => {
    // Typed at our terminal, SIGINT and SIGQUIT went to its whole foreground process group, the
    // workload (which shares our group) included: forwarding would deliver them twice.
    if ((signal === 'SIGINT' || signal === 'SIGQUIT') && inTerminalForeground()) return;
    if (child) child.kill(signal);
    else pending.push(signal);
  };
  FORWARDED.forEach((s) => process.on(s, forward));
  const stopForwarding = () => FORWARDED.forEach((s) => process.off(s, forward));
  try {
    child = spawn(command, rest, options);
  } catch (error) {
    stopForwarding();
    // A spawn failure child_process throws (an exec EPERM, …) says its fix in the CLI's flags.
    const { code } = error as NodeJS.ErrnoException;
    console.error(`capspawn: ${code}: ${inFlags(messageFor(error as Error, 'cli'))}`);
    return EXIT_REFUSED;
  }
  const started = child;
  const done = new Promise<number>((resolve) => {
    started.on('error', (error) => {
      const { code, syscall, stage } = error as NodeJS.ErrnoException & { stage?: string };
      console.error(`capspawn: ${code}: ${messageFor(error, 'cli')}`);
      // A signal that could not be forwarded (EPERM: no CAP_KILL over the workload's uid): the
      // command still runs, and we stay until it ends.
      if (syscall === 'kill') return;
      stopForwarding();
      // 127 and 126 are about COMMAND itself (as env(1)): not a --cwd that does not exist.
      const exec = stage === 'exec';
      resolve(exec && code === 'ENOENT' ? EXIT_NOT_FOUND : exec && code === 'EACCES' ? EXIT_NOT_EXECUTABLE : EXIT_REFUSED);
    });
    started.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? 128 + (signal === null ? 0 : reportedSignalNumber(signal)));
    });
  });
  pending.forEach((signal) => started.kill(signal)); // after the listeners: a failure is an 'error'
  return done;
}

/** The exit status for a spawnPty error, as exec's 'error' handler gives it for spawn's: 127 and
 * 126 are about COMMAND itself (as env(1)), not a --cwd that does not exist; 125 otherwise. */
function refusedStatus(error: NodeJS.ErrnoException & { stage?: string }): number {
  const exec = error.stage === 'exec';
  return exec && error.code === 'ENOENT' ? EXIT_NOT_FOUND : exec && error.code === 'EACCES' ? EXIT_NOT_EXECUTABLE : EXIT_REFUSED;
}

/** `exec --pty`: COMMAND in a terminal of its own (spawnPty, the same drop), relaying ours:
 * our stdin in raw mode when it is a terminal (so ^C, ^Z, … reach the workload's terminal as
 * bytes, and its line discipline makes the signals), its size at the start and at each
 * SIGWINCH, its output to our stdout with backpressure; a piped stdin's end becomes ^D. The
 * exit status is COMMAND's (128+n for signal n). */
function execPty(command: string, args: string[], options: SpawnOptions): Promise<number> | number {
  const { stdin, stdout } = process;
  const { stdio: _stdio, ...privileges } = options;
  // Our terminal's size, when it has one (a new terminal may say 0 x 0 until someone sets it).
  const sized = () => stdout.isTTY === true && stdout.columns > 0 && stdout.rows > 0;
  const size = sized() ? { cols: stdout.columns, rows: stdout.rows } : {};
  // Signals sent to us (not typed: those reach the workload as bytes in raw mode) go to it,
  // forwarded from before the spawn as without --pty: one that arrives meanwhile waits for it.
  let pty: IPty<Buffer> | undefined;
  const pending: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => (pty ? pty.kill(signal) : pending.push(signal));
  FORWARDED.forEach((s) => process.on(s, forward));
  try {
    pty = spawnPty(command, args, { ...privileges, ...size, name: process.env.TERM || 'xterm-256color', encoding: null });
  } catch (error) {
    FORWARDED.forEach((s) => process.off(s, forward));
    const { code } = error as NodeJS.ErrnoException;
    console.error(`capspawn: ${code}: ${inFlags(messageFor(error as Error, 'cli'))}`);
    return refusedStatus(error as NodeJS.ErrnoException);
  }
  const raw = stdin.isTTY === true;
  const restore = () => {
    if (raw && stdin.isRaw) stdin.setRawMode(false);
  };
  if (raw) stdin.setRawMode(true);
  process.on('exit', restore); // however we leave, the user's terminal is given back as it was
  const input = (data: Buffer) => pty.write(data);
  const ended = () => pty.write('\x04'); // a piped stdin's end, as a terminal user's ^D
  stdin.on('data', input);
  stdin.on('end', ended);
  pty.onData((data) => {
    if (!stdout.write(data)) {
      pty.pause();
      stdout.once('drain', () => pty.resume());
    }
  });
  const resize = () => {
    if (sized()) pty.resize(stdout.columns, stdout.rows);
  };
  if (stdout.isTTY) process.on('SIGWINCH', resize);
  const started = pty;
  pending.forEach((signal) => started.kill(signal));
  return new Promise<number>((resolve) => {
    started.onExit(({ exitCode, signal }) => {
      FORWARDED.forEach((s) => process.off(s, forward));
      process.off('SIGWINCH', resize);
      stdin.off('data', input);
      stdin.off('end', ended);
      restore();
      stdin.pause();
      stdin.unref?.();
      resolve(signal ? 128 + signal : exitCode);
    });
  });
}

/** The signals `exec` passes on to the workload (with `--pty` too). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** The library's option names in a thrown error's message, as the flags that set them. */
const FLAG_OF: Record<string, string> = {
  __proto__: null as unknown as string, // no inherited key (`constructor`) is a flag
  user: '--user', uid: '--user', group: '--group', gid: '--group', supplementaryGroups: '--groups',
  capabilities: '--cap', cwd: '--cwd', env: '--env', umask: '--umask', rlimits: '--rlimit',
  parentDeathSignal: '--pdeathsig', securebits: '--securebits', boundingSet: '--inherit-bounding-set',
  noNewPrivs: '--keep-new-privs', filesystem: '--ro/--rw', network: '--net',
};

/** The seccomp option's fields, as the flags that set them. */
const SECCOMP_FLAG_OF: Record<string, string> = {
  __proto__: null as unknown as string,
  denySocketFamilies: '--deny-socket', denySyscalls: '--deny-syscall', errno: '--seccomp-errno', program: '--seccomp-program',
};

function inFlags(message: string): string {
  return message
    .replace(/(?:options\.)?seccomp\.([A-Za-z]+)(?:\[[0-9]+\])?/g, (whole, name: string) => SECCOMP_FLAG_OF[name] ?? whole)
    .replace(/Option "seccomp" cannot be used in combination with option "noNewPrivs: false"/, '--keep-new-privs cannot be combined with the seccomp flags (a filter needs no_new_privs)')
    .replace(/options\.filesystem\.readOnly\[[0-9]+\]/g, '--ro')
    .replace(/options\.filesystem\.readWrite\[[0-9]+\]/g, '--rw')
    .replace(/options\.network\.namespace/g, '--net')
    .replace(/options\.rlimits\.([A-Za-z_]+)/g, '--rlimit $1')
    .replace(/options\.([A-Za-z]+)(?:\[[0-9]+\])?/g, (whole, name: string) => FLAG_OF[name] ?? whole);
}

/** Whether this process is in the foreground process group of its controlling terminal
 * (`/proc/self/stat`: tty_nr set, and tpgid equal to our pgrp). */
function inTerminalForeground(): boolean {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …
    const [, , pgrp, , ttyNr, tpgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(ttyNr) !== 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

/** capspawn's version, from its package.json (this file is dist/cjs/cli.js). */
function version(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

function help(command: keyof typeof USAGE): number {
  console.log(USAGE[command]);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'doctor':
      return doctor(args);
    case 'inspect':
      return inspect(args);
    case 'exec':
      return exec(args);
    case '--version':
    case '-V':
      console.log(version());
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return help('main');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: Error & { code?: string }) => {
    const usage = error instanceof UsageError || error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || error.code?.startsWith('ERR_PARSE_ARGS');
    console.error(`capspawn: ${error.code && !usage ? `${error.code}: ` : ''}${error.message}`);
    if (usage) console.error("Run 'capspawn --help' for usage.");
    process.exitCode = usage ? 2 : 1;
  },
);
