/**
 * `capspawn doctor` under each deployment it recognises, taken for real with setpriv, unshare and
 * a chroot without a container's marks: its verdict (deployment kind, exit status) must be the
 * one for that deployment, its advice must be correct there (and must not carry another
 * deployment's advice), and its verdict must agree with whether a default spawn runs there.
 */
import { execFileSync, spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { FIXTURES, requirePrivilege, tempDir } from './helpers.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

const WITHOUT_SETPCAP = ['setpriv', '--bounding-set=-setpcap'];
const EMPTY_BOUNDING_SET = ['setpriv', '--bounding-set=-all'];
const ROOTLESS = ['unshare', '-U', '-r'];
const ROOTLESS_WITHOUT_SETPCAP = [...ROOTLESS, ...WITHOUT_SETPCAP];
const ORDINARY_USER = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

/** Runs the rest of the command line in a chroot of this machine's /usr, /etc, /proc, /dev,
 * /sys, /tmp and the directories of the repository and of node, in a mount namespace of its
 * own: the same host without a container runtime's marks (/.dockerenv, /run/.containerenv). */
function onAHost(): string[] {
  const dir = tempDir('host');
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tops = new Set(['usr', 'etc', 'proc', 'dev', 'sys', 'tmp', ROOT.split('/')[1]!, process.execPath.split('/')[1]!]);
  const script = [
    'R="$1"; shift',
    'mount -t tmpfs none "$R"',
    `for d in ${[...tops].join(' ')}; do mkdir -p "$R/$d"; mount --rbind "/$d" "$R/$d"; done`,
    'for l in bin lib lib64 sbin; do [ -e "/$l" ] && [ ! -e "$R/$l" ] && ln -s "usr/$l" "$R/$l"; done',
    'exec chroot "$R" "$@"',
  ].join('\n');
  return ['unshare', '-m', 'sh', '-c', script, 'sh', dir];
}

interface Doctor {
  status: number | null;
  stdout: string;
  stderr: string;
  report: {
    ok: boolean;
    deployment: { kind: string; runtime: string | null; userNamespace: boolean; uid: number };
    verdict: string;
    advice: string[];
    fix: string | null;
  };
  /** The text output: the verdict line and the advice. */
  text: string;
}

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const proc = nodeSpawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [status] = (await once(proc, 'close')) as [number | null];
  return { status, stdout, stderr };
}

/** Clears the marks the test machine's own runtime may have put in the environment. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.container;
  return { ...env, ...extra };
}

/** `capspawn doctor` and `doctor --json` under `wrapper`, with `env` added to the environment. */
async function doctor(wrapper: string[], env: NodeJS.ProcessEnv = {}): Promise<Doctor> {
  const [json, text] = await Promise.all([
    run([...wrapper, process.execPath, CLI, 'doctor', '--json'], cleanEnv(env)),
    run([...wrapper, process.execPath, CLI, 'doctor'], cleanEnv(env)),
  ]);
  expect(json.stderr).toBe('');
  expect(text.status).toBe(json.status);
  const report = JSON.parse(json.stdout) as Doctor['report'];
  // The text output says the same: the verdict, then each piece of advice (wrapped).
  const unwrapped = text.stdout.replace(/\n {2}/g, ' ').replace(/\n(?=[a-z(])/g, ' ');
  expect(unwrapped).toContain(report.verdict);
  for (const advice of report.advice) expect(unwrapped).toContain(`- ${advice}`);
  return { ...json, report, text: text.stdout.slice(text.stdout.indexOf('\n\n')) };
}

/** Whether a default spawn (the library's own) runs a workload under `wrapper`. */
async function spawnRuns(wrapper: string[], env: NodeJS.ProcessEnv = {}): Promise<boolean> {
  const script = `import('${path.join(ROOT, 'dist', 'index.js')}').then(({ spawn }) => spawn('/bin/true').on('error', () => process.exit(3)).on('exit', (c) => process.exit(c)))`;
  const { status } = await run([...wrapper, process.execPath, '-e', script], cleanEnv(env));
  expect([0, 3]).toContain(status);
  return status === 0;
}

const INHERIT = '--inherit-bounding-set';
/** The wrong fallback earlier versions gave: adding capabilities back keeps them in the set. */
const ADD_BACK = /add back only what/;

describe.concurrent('capspawn doctor recognises the deployment and gives advice that fits it', () => {
  beforeEach((ctx) => requirePrivilege(ctx));

  it('privileged root: OK, exit 0, no advice needed', async () => {
    const [d, runs] = await Promise.all([doctor([]), spawnRuns([])]);
    expect(d.status).toBe(0);
    expect(d.report).toMatchObject({ ok: true, deployment: { kind: 'privileged-root', userNamespace: false, uid: 0 }, advice: [], fix: null });
    expect(d.report.verdict).toMatch(/^OK: privileged root/);
    expect(runs).toBe(true);
  });

  it('a Podman container without SETPCAP (container=podman, setpriv --bounding-set=-setpcap): --cap-add SETPCAP', async () => {
    const env = { container: 'podman' };
    const [d, runs] = await Promise.all([doctor(WITHOUT_SETPCAP, env), spawnRuns(WITHOUT_SETPCAP, env)]);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'without-setpcap', runtime: 'podman', userNamespace: false, uid: 0 } });
    expect(d.report.verdict).toMatch(/^REFUSED: a Podman container without CAP_SETPCAP/);
    expect(d.report.verdict).toContain('ERR_CAPSPAWN_BOUNDING_SET');
    expect(d.report.advice[0]).toContain('--cap-add SETPCAP');
    expect(d.report.fix).toBe(d.report.advice[0]);
    // --cap-drop only when the supervisor needs none; adding some back does not help.
    expect(d.text).toContain('--cap-drop ALL');
    expect(d.text).toMatch(/helps only if all are dropped/);
    expect(d.text).not.toMatch(ADD_BACK);
    expect(d.text).not.toContain('securityContext');
    expect(d.text).toContain(INHERIT);
    expect(runs).toBe(false);
  });

  it('a Kubernetes container without SETPCAP (KUBERNETES_SERVICE_HOST): securityContext, not podman flags', async () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };
    const [d, runs] = await Promise.all([doctor(WITHOUT_SETPCAP, env), spawnRuns(WITHOUT_SETPCAP, env)]);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'without-setpcap', runtime: 'kubernetes' } });
    expect(d.report.verdict).toMatch(/^REFUSED: a Kubernetes container without CAP_SETPCAP/);
    expect(d.report.advice[0]).toContain('securityContext.capabilities.add');
    expect(d.report.advice[0]).toContain('SETPCAP');
    expect(d.text).not.toContain('--cap-add');
    expect(d.text).not.toMatch(ADD_BACK);
    expect(runs).toBe(false);
  });

  it('rootless (unshare -U -r): OK in its user namespace', async () => {
    const [d, runs] = await Promise.all([doctor(ROOTLESS), spawnRuns(ROOTLESS)]);
    expect(d.status).toBe(0);
    expect(d.report).toMatchObject({ ok: true, deployment: { kind: 'rootless', userNamespace: true, uid: 0 }, fix: null });
    expect(d.report.verdict).toMatch(/^OK: a rootless supervisor/);
    expect(d.text).toMatch(/the namespace maps/);
    expect(runs).toBe(true);
  });

  it('rootless without SETPCAP (unshare -U -r setpriv --bounding-set=-setpcap): --cap-add SETPCAP works rootless too', async () => {
    const env = { container: 'podman' };
    const [d, runs] = await Promise.all([doctor(ROOTLESS_WITHOUT_SETPCAP, env), spawnRuns(ROOTLESS_WITHOUT_SETPCAP, env)]);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'without-setpcap', runtime: 'podman', userNamespace: true } });
    expect(d.report.verdict).toMatch(/^REFUSED: a Podman container \(rootless\) without CAP_SETPCAP/);
    expect(d.report.advice[0]).toMatch(/--cap-add SETPCAP \(rootless too/);
    expect(runs).toBe(false);
  });

  it('an ordinary user on a host (no container marks, setpriv --reuid=65534): the safe choice, no container flags', async () => {
    const wrapper = [...onAHost(), ...ORDINARY_USER];
    const [d, runs] = await Promise.all([doctor(wrapper), spawnRuns(wrapper)]);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'ordinary-user', runtime: null, userNamespace: false, uid: 65534 } });
    expect(d.report.verdict).toMatch(/^REFUSED: an ordinary user on a host \(uid 65534, no capabilities\)/);
    expect(d.report.verdict).toContain('every spawn()');
    // The safe choice: the opt-out with no_new_privs kept, since this user has nothing to regain.
    expect(d.report.advice[0]).toContain(INHERIT);
    expect(d.report.advice[0]).toContain('no_new_privs');
    expect(d.report.advice[0]).toContain('do not also pass --keep-new-privs');
    // Or an empty bounding set from whoever starts it.
    expect(d.text).toContain('CapabilityBoundingSet=');
    expect(d.text).toContain('--bounding-set=-all');
    // Nothing here is a container, and CAP_SETPCAP cannot be given to this user by a flag.
    for (const wrong of ['--cap-add', '--cap-drop', 'securityContext', 'Podman', 'Kubernetes']) expect(d.text).not.toContain(wrong);
    expect(runs).toBe(false);
  });

  it('an ordinary user in a container (this machine’s own marks, or container=podman): --cap-drop ALL as well', async () => {
    const env = { container: 'podman' };
    const d = await doctor(ORDINARY_USER, env);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'ordinary-user', runtime: 'podman', uid: 65534 } });
    expect(d.report.verdict).toMatch(/^REFUSED: a non-root user in a Podman container/);
    expect(d.report.advice[0]).toContain(INHERIT);
    expect(d.text).toContain('--cap-drop ALL');
    expect(d.text).not.toContain('--cap-add');
  });

  it('a seccomp filter that refuses PR_CAPBSET_DROP although CAP_SETPCAP is effective: fix the profile', async () => {
    const dir = tempDir('doctor-seccomp');
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const helper = path.join(dir, 'seccomp-answer');
    execFileSync('gcc', ['-O2', '-o', helper, path.join(FIXTURES, 'seccomp-answer.c')], { stdio: 'inherit' });
    const wrapper = [helper, 'capbset-drop', 'eperm', '--'];
    const [d, runs] = await Promise.all([doctor(wrapper), spawnRuns(wrapper)]);
    expect(d.status).toBe(1);
    expect(d.report).toMatchObject({ ok: false, deployment: { kind: 'drop-blocked', uid: 0 } });
    expect(d.report.verdict).toMatch(/^REFUSED: CAP_SETPCAP is effective, yet the kernel refused prctl\(PR_CAPBSET_DROP\)/);
    expect(d.report.advice[0]).toMatch(/^Allow prctl\(PR_CAPBSET_DROP\) in the supervisor's seccomp or LSM profile/);
    expect(d.text).not.toContain('--cap-add');
    expect(runs).toBe(false);
  });

  it('an already-empty bounding set (setpriv --bounding-set=-all): OK', async () => {
    const [d, runs] = await Promise.all([doctor(EMPTY_BOUNDING_SET), spawnRuns(EMPTY_BOUNDING_SET)]);
    expect(d.status).toBe(0);
    expect(d.report).toMatchObject({ ok: true, deployment: { kind: 'empty-bounding-set' }, advice: [] });
    expect(runs).toBe(true);
  });
});
