/**
 * capspawn under the privileges of real deployments: the fixture supervisor runs under
 * setpriv / unshare and reports what its workload saw, or why it was refused. A refused
 * workload must never run: the marker file it would create must not exist, and the supervisor
 * must have no child left.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from '../dist/index.js';
import { FIXTURES, outcome, parseStatus, requirePrivilege, runReport, tempDir, type ProcStatus, type Report } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

let dir: string;
beforeEach(() => {
  dir = tempDir('deploy');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const PODMAN_WITHOUT_SETPCAP = ['setpriv', '--bounding-set=-setpcap'];
const EMPTY_BOUNDING_SET = ['setpriv', '--bounding-set=-all'];
const ROOTLESS = ['unshare', '-U', '-r'];
const UNPRIVILEGED = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

const touch = (marker: string) => ({ command: '/bin/sh', args: ['-c', `touch '${marker}'`] });
const catStatus = (options: Record<string, unknown> = {}) => ({ command: '/bin/cat', args: ['/proc/self/status'], options });

/** The workload's status from a report of a spawn that ran. */
function workload(report: Report): ProcStatus {
  expect(report.result, JSON.stringify(report.result)).toMatchObject({ ok: true, exitCode: 0, signalCode: null });
  expect(report.events).toEqual(['spawn', 'exit', 'close']);
  expect(report.children).toEqual([]);
  return parseStatus((report.result as { stdout: string }).stdout);
}

function expectDropped(status: ProcStatus, bounding = 0n): void {
  expect([status.capBnd, status.capEff, status.capPrm, status.capInh, status.capAmb]).toEqual([bounding, 0n, 0n, 0n, 0n]);
  expect(status.noNewPrivs).toBe(1);
}

/** A refusal because the bounding set could not be emptied, with nothing left behind. */
function expectBoundingSetRefusal(report: Report, marker: string): Record<string, any> {
  expect(report.result?.ok, JSON.stringify(report.result)).toBe(false);
  const error = (report.result as { error: Record<string, any> }).error;
  expect(error).toMatchObject({
    code: 'ERR_CAPSPAWN_BOUNDING_SET',
    stage: 'bounding-set',
    errno: -1, // EPERM
    syscall: 'prctl(PR_CAPBSET_DROP)',
  });
  // Nothing could be dropped: what is still raised is the supervisor's whole set.
  expect(error.remaining).toEqual(report.inspect.bounding);
  expect(error.remaining).toContain('CAP_SYS_ADMIN');
  // The fix is the first sentence (a log line that truncates keeps it): CAP_SETPCAP, an empty
  // set, or the opt-out; the details come after.
  const first = error.message.slice(0, error.message.indexOf('. '));
  expect(first).toMatch(/^spawn \S+: give the supervisor CAP_SETPCAP or start it with an empty bounding set, /);
  expect(first).toContain("boundingSet: 'inherit'");
  expect(first.length).toBeLessThan(200);
  expect(error.message).toContain('--cap-add SETPCAP');
  expect(error.message).toContain('securityContext.capabilities.add');
  expect(error.message).toContain('still raised: CAP_CHOWN');
  // 'error' then 'close' with the negative errno; never 'spawn' nor 'exit'.
  expect(report.events).toEqual(['error', 'close']);
  expect(report.close).toEqual([-1, null]);
  expect(fs.existsSync(marker)).toBe(false);
  expect(report.children).toEqual([]);
  return error;
}

describe('a Podman supervisor without CAP_SETPCAP (setpriv --bounding-set=-setpcap)', () => {
  it('refuses the spawn, says how to fix it, and the workload never runs', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(PODMAN_WITHOUT_SETPCAP, touch(marker));
    expect(report.inspect.canClearBoundingSet).toBe(false);
    const error = expectBoundingSetRefusal(report, marker);
    expect(error.remaining).not.toContain('CAP_SETPCAP');
  });

  it('refuses it as well for a workload that would run as nobody', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(PODMAN_WITHOUT_SETPCAP, { ...touch(marker), options: { user: 'nobody' } });
    expectBoundingSetRefusal(report, marker);
  });

  it("runs with boundingSet: 'inherit' (the explicit opt-out), the rest still dropped", () => {
    const report = runReport(PODMAN_WITHOUT_SETPCAP, catStatus({ boundingSet: 'inherit' }));
    const supervisor = parseStatus(report.supervisorStatus);
    expectDropped(workload(report), supervisor.capBnd);
    // The same workload as the refused one does its work then.
    const marker = path.join(dir, 'ran');
    expect(runReport(PODMAN_WITHOUT_SETPCAP, { ...touch(marker), options: { boundingSet: 'inherit' } }).result).toMatchObject({ ok: true, exitCode: 0 });
    expect(fs.existsSync(marker)).toBe(true);
  });
});

describe('a supervisor whose bounding set is already empty (setpriv --bounding-set=-all)', () => {
  it('runs the workload with every set empty', () => {
    const report = runReport(EMPTY_BOUNDING_SET, catStatus());
    expect(report.inspect.bounding).toEqual([]);
    const status = workload(report);
    expectDropped(status);
    expect(status.uid).toEqual([0, 0, 0, 0]);
  });

  it('lets the workload do its work (the marker is created)', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(EMPTY_BOUNDING_SET, touch(marker));
    expect(report.result).toMatchObject({ ok: true, exitCode: 0 });
    expect(fs.existsSync(marker)).toBe(true);
  });
});

describe('a rootless supervisor (unshare -U -r)', () => {
  it('runs the workload with every set empty', () => {
    const report = runReport(ROOTLESS, catStatus());
    // Inside its user namespace the supervisor holds a full set, CAP_SETPCAP included.
    expect(report.inspect.effective).toContain('CAP_SETPCAP');
    expect(report.inspect.canClearBoundingSet).toBe(true);
    const status = workload(report);
    expectDropped(status);
    expect(status.uid).toEqual([0, 0, 0, 0]);
  });

  it('refuses a user the namespace does not map, before the workload runs', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(ROOTLESS, { ...touch(marker), options: { user: 'nobody' } });
    // setgroups is denied in an unprivileged user namespace: the first step that fails. EPERM
    // is thrown, as child_process throws it (only EACCES, EAGAIN, EMFILE, ENFILE and ENOENT
    // are 'error' events there).
    expect(report.thrown).toMatchObject({ code: 'EPERM', errno: -1, stage: 'setgroups', syscall: 'spawn', message: expect.stringMatching(/^spawn EPERM \(setgroups failed before exec: /) });
    expect(report.result).toBeUndefined();
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });

  it('refuses a gid the namespace does not map, at setresgid (EINVAL)', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(ROOTLESS, { ...touch(marker), options: { group: 65534 } });
    expect(report.thrown).toMatchObject({ code: 'EINVAL', errno: -22, stage: 'setgid', syscall: 'spawn' });
    expect(report.result).toBeUndefined();
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });
});

describe('an unprivileged supervisor with the bounding set still raised (setpriv --reuid=65534 …)', () => {
  it('refuses the spawn with ERR_CAPSPAWN_BOUNDING_SET and the workload never runs', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(UNPRIVILEGED, touch(marker));
    expect(parseStatus(report.supervisorStatus).uid).toEqual([65534, 65534, 65534, 65534]);
    expect(report.inspect.effective).toEqual([]);
    expect(report.inspect.canClearBoundingSet).toBe(false);
    const error = expectBoundingSetRefusal(report, marker);
    // Here CAP_SETPCAP is still in the set, just not held: it stays raised like the others.
    expect(error.remaining).toContain('CAP_SETPCAP');
  });

  it("runs with boundingSet: 'inherit': its own uid, the set as it was, nothing else", () => {
    const report = runReport(UNPRIVILEGED, catStatus({ boundingSet: 'inherit' }));
    const supervisor = parseStatus(report.supervisorStatus);
    expect(supervisor.capBnd).not.toBe(0n);
    const status = workload(report);
    expectDropped(status, supervisor.capBnd);
    expect(status.uid).toEqual(supervisor.uid);
    expect(status.gid).toEqual(supervisor.gid);
    const marker = path.join(dir, 'ran');
    expect(runReport(UNPRIVILEGED, { ...touch(marker), options: { boundingSet: 'inherit' } }).result).toMatchObject({ ok: true, exitCode: 0 });
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('refuses a group it has no right to, at setresgid (EPERM), and the workload never runs', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport(UNPRIVILEGED, { ...touch(marker), options: { group: 0, boundingSet: 'inherit' } });
    // Thrown synchronously, as child_process throws a setgid failure.
    expect(report.thrown).toMatchObject({ code: 'EPERM', errno: -1, stage: 'setgid', syscall: 'spawn' });
    expect(report.result).toBeUndefined();
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });
});

describe('a supervisor without CAP_KILL (setpriv --bounding-set=-kill)', () => {
  it('cannot signal a workload running as nobody: timeout, abort and kill() each emit EPERM, and nothing throws', () => {
    const out = execFileSync('setpriv', ['--bounding-set=-kill', process.execPath, path.join(FIXTURES, 'kill-denied.mjs')], {
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const results = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    const denied = { errors: [['EPERM', 'kill']], close: [0, null], killed: false };
    expect(results).toEqual({ timeout: denied, abort: denied, kill: { ...denied, returned: false } });
  });
});

describe('a supervisor under a seccomp filter (a helper built here with gcc)', () => {
  let helper: string;
  beforeAll(() => {
    helper = path.join(tempDir('seccomp'), 'seccomp-answer');
    execFileSync('gcc', ['-O2', '-o', helper, path.join(FIXTURES, 'seccomp-answer.c')], { stdio: 'inherit' });
  });
  afterAll(() => fs.rmSync(path.dirname(helper), { recursive: true, force: true }));

  it('that kills the child at setresuid: ERR_CAPSPAWN_CHILD_DIED, close(-1), the workload never ran', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport([helper, 'setresuid', 'kill', '--'], { ...touch(marker), options: { user: 'nobody' } });
    expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_CHILD_DIED', stage: 'died', errno: -1 } });
    expect(report.events).toEqual(['error', 'close']);
    expect(report.close).toEqual([-1, null]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });

  it('that refuses PR_CAPBSET_DROP although CAP_SETPCAP is effective: the refusal says to fix the profile, first', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport([helper, 'capbset-drop', 'eperm', '--'], touch(marker));
    expect(report.inspect.effective).toContain('CAP_SETPCAP');
    const error = (report.result as { error: Record<string, any> }).error;
    expect(error).toMatchObject({ code: 'ERR_CAPSPAWN_BOUNDING_SET', stage: 'bounding-set' });
    expect(error.message).toMatch(/^spawn \/bin\/sh: allow prctl\(PR_CAPBSET_DROP\) in the supervisor's seccomp or LSM \(AppArmor, SELinux\) profile, /);
    expect(error.message.slice(0, error.message.indexOf('. '))).toContain("boundingSet: 'inherit'");
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });

  it('that fakes capset: ERR_CAPSPAWN_VERIFY names what is still held, and the workload never ran', () => {
    const marker = path.join(dir, 'ran');
    const report = runReport([helper, 'capset', 'fake', '--'], touch(marker));
    expect(report.result).toMatchObject({ ok: false, error: { code: 'ERR_CAPSPAWN_VERIFY', stage: 'verify', errno: -1 } });
    expect((report.result as { error: { remaining: string[] } }).error.remaining).toContain('CAP_SYS_ADMIN');
    expect(report.close).toEqual([-1, null]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(report.children).toEqual([]);
  });
});

describe('a program with file capabilities (setcap cap_net_raw=ep, as Debian ships ping)', () => {
  let bin: string;
  let file: string;
  beforeAll(() => {
    bin = tempDir('filecaps');
    file = path.join(bin, 'needs-net-raw');
    fs.copyFileSync('/bin/true', file);
    execFileSync('setcap', ['cap_net_raw=ep', file]);
    expect(execFileSync('getcap', [file], { encoding: 'utf8' })).toContain('cap_net_raw=ep');
  });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  const FILE_CAPS = { revision: 2, effective: true, permitted: ['CAP_NET_RAW'], inheritable: [], rootId: null };

  /** What spawn() throws: an exec EPERM is thrown synchronously, as child_process throws it. */
  const thrown = (run: () => unknown): Error & Record<string, unknown> => {
    try {
      run();
    } catch (error) {
      return error as Error & Record<string, unknown>;
    }
    throw new Error('spawn() did not throw');
  };

  it('an exec EPERM names the capability the file asks for and the option that runs it, first', () => {
    const error = thrown(() => spawn(file, [], { user: 'nobody' }));
    expect(error).toMatchObject({ code: 'EPERM', errno: -1, stage: 'exec', syscall: 'spawn', fileCapabilities: { path: file, ...FILE_CAPS } });
    expect(error.message).toBe(
      `spawn EPERM: pass capabilities: ['NET_RAW'] to run ${file}, whose file capabilities (cap_net_raw=ep) ask for CAP_NET_RAW. ` +
        'The kernel refuses to execute a program with the effective file-capability flag unless the workload can hold all its capabilities, and the drop left it none of them.',
    );
  });

  it('found through PATH and a relative cwd entry too, the advice keeping what is already kept', () => {
    const viaPath = thrown(() => spawn('needs-net-raw', [], { env: { PATH: `/nonexistent:${bin}` }, capabilities: ['net_bind_service'] }));
    expect(viaPath).toMatchObject({ code: 'EPERM', fileCapabilities: { path: file } });
    expect(viaPath.message).toContain("pass capabilities: ['NET_BIND_SERVICE', 'NET_RAW'] to run");
    const relative = thrown(() => spawn('./needs-net-raw', [], { cwd: bin }));
    expect(relative).toMatchObject({ code: 'EPERM', fileCapabilities: { path: path.join(bin, 'needs-net-raw') } });
  });

  it('runs with the option the message names, and with the bounding set left raised', async () => {
    for (const options of [{ user: 'nobody', capabilities: ['NET_RAW'] }, { boundingSet: 'inherit' as const }]) {
      const result = await outcome(spawn(file, [], options));
      expect(result.events, JSON.stringify(options)).toEqual(['spawn', 'exit', 'close']);
      expect(result.exit).toEqual([0, null]);
    }
  });

  it('another exec failure keeps Node\'s bare message and has no fileCapabilities', async () => {
    const result = await outcome(spawn(path.join(bin, 'missing')));
    expect(result.error).toMatchObject({ code: 'ENOENT', message: `spawn ${path.join(bin, 'missing')} ENOENT` });
    expect(result.error).not.toHaveProperty('fileCapabilities');
  });
});
