#!/usr/bin/env node
/**
 * The `capspawn` command: `doctor` (can a fail-closed spawn succeed here?), `inspect` (one
 * process's capability state) and `exec` (setpriv done right: run a command with the drop).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { inspectPid, inspectSelf, probeBoundingSetClear, spawn, type CapabilityState, type SpawnOptions } from './index.js';
import { reportedSignalNumber } from './signals.js';

const USAGE = {
  main: `Usage: capspawn <command> [options]

Commands:
  doctor [--json]     Can a fail-closed spawn succeed here? Exit status 0 only if it can.
  inspect PID [--json]  One process's capability sets.
  exec [options] -- COMMAND [ARG...]  Run COMMAND with capspawn's privilege drop.

Run 'capspawn <command> --help' for a command's options.`,
  doctor: `Usage: capspawn doctor [--json]

Prints this process's capability state, tries the fail-closed bounding-set clear in a throwaway
child, and says whether spawn() will run workloads here, with the fix when it will not.
Exit status: 0 if a fail-closed spawn succeeds here, 1 if it would be refused.`,
  inspect: `Usage: capspawn inspect PID [--json]

Prints process PID's capability sets (from /proc/PID/status).`,
  exec: `Usage: capspawn exec [options] -- COMMAND [ARG...]

Runs COMMAND like setpriv, but refuses to run it when the bounding set cannot be emptied.
stdio is inherited, signals are forwarded, and the exit status is COMMAND's (128+n for signal n),
or 125 when capspawn refused or failed to start it, 126 when it is not executable, 127 when it
was not found.

Options:
  --user U                 user name or uid to run as
  --group G                group name or gid (default: the user's primary group)
  --groups init|clear|GID,...  supplementary groups (default: init with --user, else clear)
  --cap CAP,...            capabilities COMMAND keeps (e.g. NET_BIND_SERVICE); all others are dropped
  --securebits locked      lock the securebits, so not even an exec as uid 0 regains capabilities
  --inherit-bounding-set   leave the bounding set raised (an explicit opt-out)
  --keep-new-privs         do not set no_new_privs`,
};

class UsageError extends Error {}

/** Exit statuses of `exec` when COMMAND did not run, as env(1) and timeout(1) use them. */
const EXIT_REFUSED = 125;
const EXIT_NOT_EXECUTABLE = 126;
const EXIT_NOT_FOUND = 127;

function table(state: CapabilityState, probe?: ReturnType<typeof probeBoundingSetClear>): string {
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
  const width = Math.max(...rows.map(([k]) => k.length));
  const wrap = (text: string) => text.replace(/(.{1,70})(\s|$)/g, `$1\n${' '.repeat(width + 2)}`).trimEnd();
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${wrap(v)}`).join('\n');
}

function doctor(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) return help('doctor');
  const state = inspectSelf();
  const probe = probeBoundingSetClear();
  const fix = probe.ok
    ? null
    : state.effective.includes('CAP_SETPCAP')
      ? 'CAP_SETPCAP is effective, yet the kernel refused the drop: an LSM (AppArmor, SELinux) or a seccomp ' +
        "profile blocks prctl(PR_CAPBSET_DROP). Allow it in the container's profile, or drop the remaining " +
        'capabilities where the container is created (--cap-drop).'
      : 'The supervisor lacks CAP_SETPCAP. Podman/Docker: add --cap-add SETPCAP. Kubernetes: add SETPCAP to ' +
        "the container's securityContext.capabilities.add. Or drop the remaining capabilities where the " +
        'container is created (--cap-drop ALL and add back only what the supervisor needs).';
  if (values.json) {
    console.log(JSON.stringify({ ...state, probe, ok: probe.ok, fix }, null, 2));
  } else {
    console.log(table(state, probe));
    console.log();
    console.log(
      probe.ok
        ? 'OK: spawn() can empty the bounding set here; workloads will not be able to regain these capabilities.'
        : `REFUSED: spawn() will refuse to run workloads here (ERR_CAPSPAWN_BOUNDING_SET).\n${fix}`,
    );
  }
  return probe.ok ? 0 : 1;
}

function inspect(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) return help('inspect');
  if (positionals.length !== 1 || !/^[1-9][0-9]*$/.test(positionals[0]!) || Number(positionals[0]) > 0x7fffffff) throw new UsageError('inspect: PID must be one positive number');
  const state = inspectPid(Number(positionals[0]));
  console.log(values.json ? JSON.stringify(state, null, 2) : table(state));
  return 0;
}

function execOptions(values: Record<string, string | boolean | undefined>): SpawnOptions {
  const options: SpawnOptions = { stdio: 'inherit' };
  const idOrName = (flag: string, text: string) => {
    if (text === '') throw new UsageError(`exec: --${flag} needs a value`);
    return /^[0-9]+$/.test(text) ? Number(text) : text;
  };
  if (typeof values.user === 'string') options.user = idOrName('user', values.user);
  if (typeof values.group === 'string') options.group = idOrName('group', values.group);
  if (typeof values.groups === 'string') {
    const groups = values.groups;
    if (groups === 'init' || groups === 'clear') options.supplementaryGroups = groups;
    else if (/^[0-9]+(,[0-9]+)*$/.test(groups)) options.supplementaryGroups = groups.split(',').map(Number);
    else throw new UsageError(`exec: --groups must be init, clear or a comma-separated list of gids, not '${groups}'`);
  }
  if (typeof values.cap === 'string') {
    if (!/^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$/.test(values.cap)) throw new UsageError(`exec: --cap must be a comma-separated list of capabilities, not '${values.cap}'`);
    options.capabilities = values.cap.split(',');
  }
  if (typeof values.securebits === 'string') {
    if (values.securebits !== 'locked') throw new UsageError(`exec: --securebits takes 'locked', not '${values.securebits}'`);
    options.securebits = 'locked';
  }
  if (values['inherit-bounding-set']) options.boundingSet = 'inherit';
  if (values['keep-new-privs']) options.noNewPrivs = false;
  return options;
}

const EXEC_OPTIONS = {
  user: { type: 'string' },
  group: { type: 'string' },
  groups: { type: 'string' },
  cap: { type: 'string' },
  securebits: { type: 'string' },
  'inherit-bounding-set': { type: 'boolean' },
  'keep-new-privs': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function exec(args: string[]): Promise<number> | number {
  // Our options end at COMMAND (or `--`): everything after it is the command's, so a later
  // `--user 0` among its arguments can never change the drop.
  const { tokens } = parseArgs({ args, options: EXEC_OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const end = tokens.find((token) => token.kind === 'positional' || token.kind === 'option-terminator');
  const ours = end === undefined ? args : args.slice(0, end.index);
  const theirs = end === undefined ? [] : args.slice(end.kind === 'option-terminator' ? end.index + 1 : end.index);
  const { values } = parseArgs({ args: ours, options: EXEC_OPTIONS });
  if (values.help) return help('exec');
  const [command, ...rest] = theirs;
  if (command === undefined) throw new UsageError('exec: no COMMAND given (capspawn exec [options] -- COMMAND [ARG...])');
  const options = execOptions(values);
  // Forward from before the spawn: a signal that arrives while the child starts must reach it
  // (or stop us before it runs), never leave it running without us.
  const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
  let child: ReturnType<typeof spawn> | undefined;
  const pending: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => {
    // Typed at our terminal, SIGINT and SIGQUIT went to its whole foreground process group, the
    // workload (which shares our group) included: forwarding would deliver them twice.
    if ((signal === 'SIGINT' || signal === 'SIGQUIT') && inTerminalForeground()) return;
    if (child) child.kill(signal);
    else pending.push(signal);
  };
  forwarded.forEach((s) => process.on(s, forward));
  const stopForwarding = () => forwarded.forEach((s) => process.off(s, forward));
  try {
    child = spawn(command, rest, options);
  } catch (error) {
    stopForwarding();
    const { code, message } = error as NodeJS.ErrnoException;
    console.error(`capspawn: ${code}: ${message}`);
    return EXIT_REFUSED;
  }
  const started = child;
  const done = new Promise<number>((resolve) => {
    started.on('error', (error) => {
      const { code, message, syscall } = error as NodeJS.ErrnoException;
      console.error(`capspawn: ${code}: ${message}`);
      // A signal that could not be forwarded (EPERM: no CAP_KILL over the workload's uid): the
      // command still runs, and we stay until it ends.
      if (syscall === 'kill') return;
      stopForwarding();
      resolve(code === 'ENOENT' ? EXIT_NOT_FOUND : code === 'EACCES' ? EXIT_NOT_EXECUTABLE : EXIT_REFUSED);
    });
    started.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? 128 + (signal === null ? 0 : reportedSignalNumber(signal)));
    });
  });
  pending.forEach((signal) => started.kill(signal)); // after the listeners: a failure is an 'error'
  return done;
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
