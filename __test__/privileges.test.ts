/**
 * The privilege drop as the workload sees it, from a root supervisor with every capability:
 * each test reads the workload's own /proc/self/status (or what it could and could not do).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type SpawnOptions } from '../dist/index.js';
import { outcome, parseStatus, readStatus, requirePrivilege, runReport, tempDir, type ProcStatus } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

/** Runs `cat /proc/self/status` as the workload and returns what it printed, parsed. */
async function workloadStatus(options: SpawnOptions, command = '/bin/cat'): Promise<ProcStatus> {
  const result = await outcome(spawn(command, ['/proc/self/status'], options));
  expect(result.error).toBeUndefined();
  expect(result.close).toEqual([0, null]);
  return parseStatus(result.stdout.toString('utf8'));
}

function expectNoCapabilities(status: ProcStatus, { bounding = 0n } = {}): void {
  expect({
    CapBnd: status.capBnd,
    CapEff: status.capEff,
    CapPrm: status.capPrm,
    CapInh: status.capInh,
    CapAmb: status.capAmb,
  }).toEqual({ CapBnd: bounding, CapEff: 0n, CapPrm: 0n, CapInh: 0n, CapAmb: 0n });
}

/** Ids from the system's databases, so that no expectation is written in by hand. */
function passwd(name: string): { uid: number; gid: number } {
  const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
function groupId(name: string): number {
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).trim().split(':')[2]);
}
function groupsOf(user: string): number[] {
  return execFileSync('id', ['-G', user], { encoding: 'utf8' }).trim().split(/\s+/).map(Number).sort((a, b) => a - b);
}
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
const four = (id: number) => [id, id, id, id];

describe('to another user', () => {
  it("user: 'nobody' — no capabilities, no_new_privs, nobody's uid, gid and groups", async () => {
    const nobody = passwd('nobody');
    expect(nobody.uid).not.toBe(process.getuid!());
    const status = await workloadStatus({ user: 'nobody' });
    expectNoCapabilities(status);
    expect(status.noNewPrivs).toBe(1);
    expect(status.uid).toEqual(four(nobody.uid));
    expect(status.gid).toEqual(four(nobody.gid));
    expect(sorted(status.groups)).toEqual(groupsOf('nobody'));
  });

  it('uid (the alias) by number resolves the same user and primary group', async () => {
    const nobody = passwd('nobody');
    const status = await workloadStatus({ uid: nobody.uid });
    expectNoCapabilities(status);
    expect(status.uid).toEqual(four(nobody.uid));
    expect(status.gid).toEqual(four(nobody.gid));
  });

  it('a uid missing from the user database runs with the gid given', async () => {
    const uid = 4_000_000;
    const gid = 4_000_001;
    expect(() => execFileSync('getent', ['passwd', String(uid)], { stdio: 'ignore' })).toThrow();
    const status = await workloadStatus({ uid, gid });
    expectNoCapabilities(status);
    expect(status.uid).toEqual(four(uid));
    expect(status.gid).toEqual(four(gid));
    expect(status.groups).toEqual([gid]);
  });
});

describe('staying root', () => {
  it('keeps uid 0 but no capability, no_new_privs set, the supervisor’s gid', async () => {
    const supervisor = readStatus();
    const status = await workloadStatus({});
    expectNoCapabilities(status);
    expect(status.noNewPrivs).toBe(1);
    expect(status.uid).toEqual(four(0));
    expect(status.gid).toEqual(supervisor.gid);
    expect(status.groups).toEqual([]);
  });

  it('clears supplementary groups the supervisor has (setpriv --groups)', () => {
    const adm = groupId('adm');
    const sudo = groupId('sudo');
    const report = runReport(['setpriv', `--groups=${adm},${sudo}`], {
      command: '/bin/cat',
      args: ['/proc/self/status'],
    });
    expect(sorted(parseStatus(report.supervisorStatus).groups)).toEqual(sorted([adm, sudo]));
    expect(report.result).toMatchObject({ ok: true, exitCode: 0 });
    const status = parseStatus((report.result as { stdout: string }).stdout);
    expect(status.groups).toEqual([]);
    expect(status.uid).toEqual(four(0));
  });

  it('cannot bypass file permissions: without CAP_DAC_OVERRIDE root is just an owner', async () => {
    const dir = tempDir('dac');
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, 'not for the workload\n', { mode: 0o600 });
    fs.chownSync(secret, 12345, 12345);
    try {
      // The supervisor itself can read it: that is CAP_DAC_OVERRIDE at work.
      expect(fs.readFileSync(secret, 'utf8')).toBe('not for the workload\n');
      const result = await outcome(spawn('/bin/cat', [secret]));
      expect(result.exit).toEqual([1, null]);
      expect(result.stdout.length).toBe(0);
      expect(result.stderr.toString()).toContain('Permission denied');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('groups', () => {
  it('group by name, without a user: that gid, uid 0, no supplementary groups', async () => {
    const adm = groupId('adm');
    const status = await workloadStatus({ group: 'adm' });
    expectNoCapabilities(status);
    expect(status.uid).toEqual(four(0));
    expect(status.gid).toEqual(four(adm));
    expect(status.groups).toEqual([]);
  });

  it('group by number (gid alias) with a user overrides the primary group', async () => {
    const nobody = passwd('nobody');
    const adm = groupId('adm');
    const status = await workloadStatus({ user: 'nobody', gid: adm, supplementaryGroups: 'clear' });
    expect(status.uid).toEqual(four(nobody.uid));
    expect(status.gid).toEqual(four(adm));
    expect(status.groups).toEqual([]);
  });

  it('supplementaryGroups: [gids] sets exactly those', async () => {
    const wanted = [groupId('sudo'), groupId('audio'), 4_000_002];
    const status = await workloadStatus({ user: 'nobody', supplementaryGroups: wanted });
    expect(sorted(status.groups)).toEqual(sorted(wanted));
    const asRoot = await workloadStatus({ supplementaryGroups: wanted });
    expect(sorted(asRoot.groups)).toEqual(sorted(wanted));
    expect(asRoot.uid).toEqual(four(0));
  });
});

describe('boundingSet and noNewPrivs', () => {
  it("boundingSet: 'inherit' leaves the supervisor's bounding set, nothing else", async () => {
    const supervisor = readStatus();
    expect(supervisor.capBnd).not.toBe(0n);
    for (const options of [{}, { user: 'nobody' }]) {
      const status = await workloadStatus({ ...options, boundingSet: 'inherit' });
      expectNoCapabilities(status, { bounding: supervisor.capBnd });
      expect(status.noNewPrivs).toBe(1);
    }
  });

  it('noNewPrivs: false leaves no_new_privs unset, and the sets still empty', async () => {
    expect(readStatus().noNewPrivs).toBe(0);
    const status = await workloadStatus({ user: 'nobody', noNewPrivs: false });
    expect(status.noNewPrivs).toBe(0);
    expectNoCapabilities(status);
  });

  describe('a setuid-root binary run by the workload', () => {
    let dir: string;
    let suidCat: string;
    beforeAll(() => {
      dir = tempDir('suid');
      fs.chmodSync(dir, 0o755);
      suidCat = path.join(dir, 'suid-cat');
      fs.copyFileSync('/bin/cat', suidCat);
      fs.chownSync(suidCat, 0, 0);
      fs.chmodSync(suidCat, 0o4755);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('gains nothing with no_new_privs (the default): euid stays the user', async () => {
      const nobody = passwd('nobody');
      const status = await workloadStatus({ user: 'nobody' }, suidCat);
      expect(status.uid).toEqual(four(nobody.uid));
      expectNoCapabilities(status);
    });

    it('without no_new_privs gets euid 0, but the empty bounding set keeps it without capabilities', async () => {
      const nobody = passwd('nobody');
      const status = await workloadStatus({ user: 'nobody', noNewPrivs: false }, suidCat);
      expect(status.uid).toEqual([nobody.uid, 0, 0, 0]);
      expectNoCapabilities(status);
    });

    it("with boundingSet: 'inherit' and no_new_privs off regains every capability (why both are the default)", async () => {
      const supervisor = readStatus();
      const status = await workloadStatus({ user: 'nobody', noNewPrivs: false, boundingSet: 'inherit' }, suidCat);
      expect(status.uid[1]).toBe(0);
      expect(status.capEff).toBe(supervisor.capBnd);
      expect(status.capPrm).toBe(supervisor.capBnd);
    });
  });
});

describe('the supervisor', () => {
  /** Identity and capabilities of every thread of this process, by tid. */
  function threads(): Map<string, Omit<ProcStatus, 'text' | 'sigBlk' | 'sigIgn'>> {
    const result = new Map();
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let text: string;
      try {
        text = fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      } catch {
        continue; // the thread exited meanwhile
      }
      const { text: _text, sigBlk: _sigBlk, sigIgn: _sigIgn, ...state } = parseStatus(text);
      result.set(tid, state);
    }
    return result;
  }

  it('keeps uid 0 and its capabilities on every thread while and after a workload runs as nobody', async () => {
    const before = threads();
    expect(before.size).toBeGreaterThan(1);
    const main = before.get(String(process.pid))!;
    expect(main.uid).toEqual(four(0));
    expect(main.capEff).not.toBe(0n);

    const child = spawn('/bin/sleep', ['30'], { user: 'nobody', stdio: 'ignore' });
    const done = outcome(child);
    try {
      // The workload is exec'd when spawn() returns: check it really is nobody, then the threads.
      expect(parseStatus(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8')).uid).toEqual(four(passwd('nobody').uid));
      const during = threads();
      expect(during.size).toBeGreaterThan(1);
      for (const [tid, state] of during) expect(state, `thread ${tid}`).toEqual(main);
    } finally {
      child.kill('SIGKILL');
    }
    expect((await done).exit).toEqual([null, 'SIGKILL']);
    const after = threads();
    expect(after.size).toBeGreaterThan(1);
    for (const [tid, state] of after) expect(state, `thread ${tid}`).toEqual(main);
  });
});
