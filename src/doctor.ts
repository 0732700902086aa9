/**
 * `capspawn doctor`'s diagnosis: which deployment this supervisor is in (from its capability
 * state, the probe's result, its uid, its user namespace and the container runtime's marks), and
 * the advice that is correct for that deployment.
 */
import * as fs from 'node:fs';
import type { CapabilityState, ProbeResult } from './index.js';

/** What kind of deployment the supervisor is in, as far as capspawn can tell. */
export type DeploymentKind =
  /** uid 0 with CAP_SETPCAP, outside a user namespace: a host's root, a privileged container. */
  | 'privileged-root'
  /** In a user namespace (rootless Podman, `unshare -U -r`) with CAP_SETPCAP there. */
  | 'rootless'
  /** The bounding set is already empty: nothing left to drop. */
  | 'empty-bounding-set'
  /** CAP_SETPCAP effective for a non-root uid (ambient or file capabilities). */
  | 'can-clear'
  /** CAP_SETPCAP effective, yet the kernel refused the drop: a seccomp or LSM profile. */
  | 'drop-blocked'
  /** Root (or holding capabilities) without CAP_SETPCAP: a container started without it. */
  | 'without-setpcap'
  /** A non-root user holding no capabilities, with the bounding set raised: a login on a host. */
  | 'ordinary-user';

export type Runtime = 'kubernetes' | 'podman' | 'docker' | 'container' | null;

export interface Diagnosis {
  kind: DeploymentKind;
  runtime: Runtime;
  userNamespace: boolean;
  uid: number;
  /** Whether a fail-closed spawn succeeds here. */
  ok: boolean;
  /** One line: the deployment and the verdict. */
  verdict: string;
  /** What to do, most fitting first (empty when nothing needs doing). */
  advice: string[];
}

/** The container runtime whose marks this process carries: Kubernetes sets
 * KUBERNETES_SERVICE_HOST in every container, Podman `container=podman` and /run/.containerenv,
 * Docker /.dockerenv; LXC and systemd-nspawn set `container`. */
export function detectRuntime(env: NodeJS.ProcessEnv = process.env): Runtime {
  if (env.KUBERNETES_SERVICE_HOST !== undefined || fs.existsSync('/var/run/secrets/kubernetes.io')) return 'kubernetes';
  if (env.container === 'podman' || fs.existsSync('/run/.containerenv')) return 'podman';
  if (fs.existsSync('/.dockerenv')) return 'docker';
  if (env.container !== undefined && env.container !== '') return 'container';
  return null;
}

/** Whether this process is in a user namespace other than the initial one: its uid map is not
 * the identity over the whole range. */
export function inUserNamespace(): boolean {
  try {
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

const RUNTIME_NAME = { kubernetes: 'a Kubernetes container', podman: 'a Podman container', docker: 'a Docker container', container: 'a container' };

const INHERIT_OPT_OUT =
  'To run workloads anyway with the bounding set raised, pass --inherit-bounding-set (boundingSet: ' +
  "'inherit' in the library): an explicit opt-out, which keeps every other step of the drop.";

/** Diagnoses the deployment from the supervisor's state and the probe's result. */
export function diagnose(state: CapabilityState, probe: ProbeResult, uid: number, runtime: Runtime, userNamespace: boolean): Diagnosis {
  const setpcap = state.effective.includes('CAP_SETPCAP');
  const full = state.bounding.length === state.lastCap + 1;
  const base = { runtime, userNamespace, uid, ok: probe.ok };
  if (probe.ok) {
    if (state.bounding.length === 0) {
      return { ...base, kind: 'empty-bounding-set', verdict: 'OK: the bounding set is already empty; workloads cannot regain any capability.', advice: [] };
    }
    if (userNamespace) {
      return {
        ...base,
        kind: 'rootless',
        verdict: 'OK: a rootless supervisor (in a user namespace); spawn() empties the bounding set, so workloads cannot regain the capabilities it holds there.',
        advice: [
          'Only uids and gids the namespace maps can be given as user and group; the default clear of the supplementary groups is skipped where the namespace denies setgroups.',
        ],
      };
    }
    if (uid === 0 && setpcap) {
      return { ...base, kind: 'privileged-root', verdict: 'OK: privileged root (uid 0 with CAP_SETPCAP); spawn() empties the bounding set, so workloads cannot regain these capabilities.', advice: [] };
    }
    return { ...base, kind: 'can-clear', verdict: 'OK: CAP_SETPCAP is effective; spawn() empties the bounding set, so workloads cannot regain these capabilities.', advice: [] };
  }

  if (setpcap) {
    return {
      ...base,
      kind: 'drop-blocked',
      verdict: 'REFUSED: CAP_SETPCAP is effective, yet the kernel refused prctl(PR_CAPBSET_DROP): a seccomp filter or an LSM (AppArmor, SELinux) blocks it.',
      advice: [
        "Allow prctl(PR_CAPBSET_DROP) in the supervisor's seccomp or LSM profile (Podman/Docker: --security-opt seccomp=<profile>, apparmor=<profile>).",
        INHERIT_OPT_OUT,
      ],
    };
  }

  if (uid !== 0 && state.permitted.length === 0) {
    const where = userNamespace ? 'a non-root user in a user namespace' : runtime === null ? 'an ordinary user on a host' : `a non-root user in ${RUNTIME_NAME[runtime]}`;
    const advice = [
      'This user holds no capabilities, so a workload has none of the supervisor to regain; what the raised bounding set still allows is gaining privileges through setuid-root and file-capability programs (sudo, ping), and no_new_privs, which spawn() sets by default, already stops execve from granting any. ' +
        'So the safe choice here is --inherit-bounding-set (boundingSet: \'inherit\') with no_new_privs kept on: do not also pass --keep-new-privs.',
      'To have the bounding set emptied instead, start the supervisor with an empty one: a systemd service with User= and an empty CapabilityBoundingSet=, or, as root, setpriv --reuid=USER --regid=GROUP --init-groups --bounding-set=-all -- node supervisor.js.',
    ];
    if (runtime === 'kubernetes') advice.splice(1, 0, "Or drop every capability from the container: securityContext.capabilities.drop: [\"ALL\"] (a non-root supervisor cannot use them anyway).");
    else if (runtime !== null) advice.splice(1, 0, 'Or create the container with --cap-drop ALL: a non-root supervisor cannot use those capabilities anyway.');
    return {
      ...base,
      kind: 'ordinary-user',
      verdict: `REFUSED: ${where} (uid ${uid}, no capabilities) cannot empty its bounding set, which is ${full ? 'the whole set' : 'still raised'}: every spawn() with the default boundingSet is refused (ERR_CAPSPAWN_BOUNDING_SET).`,
      advice,
    };
  }

  const dropAll =
    "Dropping capabilities where the container is created helps only if all are dropped: a capability the supervisor keeps (NET_ADMIN, SETUID, SETGID, …) stays in its bounding set, and without SETPCAP it cannot be dropped for the workload.";
  const advice: string[] = [];
  if (runtime === 'kubernetes') {
    advice.push(
      'Add SETPCAP to the container\'s securityContext.capabilities.add (the baseline Pod Security Standard allows it; restricted does not, but there capabilities.drop: ["ALL"] leaves the bounding set empty, and spawns succeed).',
      dropAll.replace('where the container is created', 'in the securityContext'),
    );
  } else if (runtime === 'podman' || runtime === 'docker' || runtime === 'container') {
    advice.push(
      `Start the container with --cap-add SETPCAP${userNamespace ? ' (rootless too: the capability is the user namespace\'s)' : ''}, beside the capabilities the supervisor needs.`,
      `Or, if the supervisor needs no capability at all, --cap-drop ALL, which leaves the bounding set empty. ${dropAll}`,
    );
  } else {
    advice.push(
      'Give the supervisor CAP_SETPCAP: a systemd service lists it in CapabilityBoundingSet= (and AmbientCapabilities= for a non-root User=); a container runtime takes --cap-add SETPCAP.',
      'Or start the supervisor with an empty bounding set (setpriv --bounding-set=-all, an empty CapabilityBoundingSet=), if it needs no capability.',
    );
  }
  advice.push(INHERIT_OPT_OUT);
  const where = runtime === null ? 'a supervisor' : RUNTIME_NAME[runtime];
  return {
    ...base,
    kind: 'without-setpcap',
    verdict: `REFUSED: ${where}${userNamespace ? ' (rootless)' : ''} without CAP_SETPCAP cannot empty the bounding set: every spawn() with the default boundingSet is refused (ERR_CAPSPAWN_BOUNDING_SET).`,
    advice,
  };
}
