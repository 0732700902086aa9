/**
 * inspectSelf() reads the calling thread's state with syscalls, inspectPid() reads /proc: both
 * are checked against this file's own decoding of /proc/<pid>/status (with the kernel's names
 * written out in helpers.ts), so neither is compared with itself.
 */
import { execFileSync, spawn as nodeSpawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspectPid, inspectSelf, spawn } from '../dist/index.js';
import { CAP_NAMES, capNames, outcome, parseStatus, readStatus, requirePrivilege, runReport } from './helpers.js';

/** What a status text says, in the shape of a CapabilityState (without securebits). */
function decoded(text: string) {
  const status = parseStatus(text);
  return {
    bounding: capNames(status.capBnd),
    effective: capNames(status.capEff),
    permitted: capNames(status.capPrm),
    inheritable: capNames(status.capInh),
    ambient: capNames(status.capAmb),
    noNewPrivs: status.noNewPrivs === 1,
  };
}

function capLastCap(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
}

/** securebits from `capsh --print` ("Securebits: 01/0x1/1'b1 …"), of a process that inherited ours. */
function securebitsOfCapsh(wrapper: string[] = []): number {
  const argv = [...wrapper, 'capsh', '--print'];
  const text = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const match = /^Securebits: \d+\/0x([0-9a-f]+)\//m.exec(text);
  if (!match) throw new Error(`no Securebits line in capsh output:\n${text}`);
  return Number.parseInt(match[1]!, 16);
}

const SECBIT_KEEP_CAPS = 1 << 4; // cleared by execve, so a child never shows it

describe('inspectSelf()', () => {
  it("agrees with the kernel's /proc/self/status, set by set", () => {
    const self = inspectSelf();
    const status = decoded(fs.readFileSync('/proc/self/status', 'utf8'));
    expect({
      bounding: self.bounding,
      effective: self.effective,
      permitted: self.permitted,
      inheritable: self.inheritable,
      ambient: self.ambient,
      noNewPrivs: self.noNewPrivs,
    }).toEqual(status);
  });

  it('reports lastCap as /proc/sys/kernel/cap_last_cap and no capability above it', () => {
    const self = inspectSelf();
    const lastCap = capLastCap();
    expect(self.lastCap).toBe(lastCap);
    const known = CAP_NAMES.slice(0, lastCap + 1) as readonly string[];
    for (const name of [...self.bounding, ...self.effective, ...self.permitted]) {
      expect(known).toContain(name);
    }
  });

  it('reports the securebits that a child of this process inherits', () => {
    const self = inspectSelf();
    expect(typeof self.securebits).toBe('number');
    expect(self.securebits! & ~SECBIT_KEEP_CAPS).toBe(securebitsOfCapsh());
  });

  it('reports securebits set by the supervisor (setpriv --securebits=+noroot)', (ctx) => {
    requirePrivilege(ctx);
    const wrapper = ['setpriv', '--securebits=+noroot'];
    const report = runReport(wrapper);
    expect(report.inspect.securebits).toBe(securebitsOfCapsh(wrapper));
    expect(report.inspect.securebits! & 1).toBe(1); // SECBIT_NOROOT, as requested
  });

  it('under setpriv --bounding-set=-setpcap: CAP_SETPCAP is gone and the set cannot be cleared', (ctx) => {
    requirePrivilege(ctx);
    const report = runReport(['setpriv', '--bounding-set=-setpcap']);
    const status = decoded(report.supervisorStatus);
    expect(report.inspect.bounding).toEqual(status.bounding);
    expect(report.inspect.effective).toEqual(status.effective);
    expect(report.inspect.bounding).not.toContain('CAP_SETPCAP');
    expect(report.inspect.effective).not.toContain('CAP_SETPCAP');
    expect(report.inspect.bounding).toContain('CAP_SYS_ADMIN');
    expect(report.inspect.canClearBoundingSet).toBe(false);
  });

  it('under setpriv --bounding-set=-all: the set is empty and counts as clearable', (ctx) => {
    requirePrivilege(ctx);
    const report = runReport(['setpriv', '--bounding-set=-all']);
    expect(parseStatus(report.supervisorStatus).capBnd).toBe(0n);
    expect(report.inspect.bounding).toEqual([]);
    expect(report.inspect.canClearBoundingSet).toBe(true);
  });

  it('for an unprivileged supervisor with the set raised: cannot clear it', (ctx) => {
    requirePrivilege(ctx);
    const report = runReport([
      'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
    ]);
    const status = decoded(report.supervisorStatus);
    expect(report.inspect.bounding).toEqual(status.bounding);
    expect(report.inspect.bounding.length).toBeGreaterThan(0);
    expect(report.inspect.effective).toEqual([]);
    expect(report.inspect.canClearBoundingSet).toBe(false);
  });
});

describe('inspectPid()', () => {
  it('of this process reads /proc, with securebits null', () => {
    const state = inspectPid(process.pid);
    const status = decoded(fs.readFileSync(`/proc/${process.pid}/status`, 'utf8'));
    expect(state).toEqual({ ...status, securebits: null, lastCap: capLastCap(), canClearBoundingSet: expect.any(Boolean) });
    expect(state.canClearBoundingSet).toBe(inspectSelf().canClearBoundingSet);
  });

  it('of a capspawn child shows its emptied sets, of a child_process child the supervisor’s', async (ctx) => {
    requirePrivilege(ctx);
    const dropped = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const plain = nodeSpawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const droppedDone = outcome(dropped);
    try {
      const droppedState = inspectPid(dropped.pid!);
      expect(droppedState).toMatchObject(decoded(fs.readFileSync(`/proc/${dropped.pid}/status`, 'utf8')));
      expect(droppedState).toMatchObject({
        bounding: [], effective: [], permitted: [], inheritable: [], ambient: [], noNewPrivs: true, securebits: null,
      });
      const plainState = inspectPid(plain.pid!);
      expect(plainState).toMatchObject(decoded(fs.readFileSync(`/proc/${plain.pid}/status`, 'utf8')));
      expect(plainState.bounding).toEqual(capNames(readStatus().capBnd));
      expect(plainState.bounding).toContain('CAP_SYS_ADMIN');
    } finally {
      dropped.kill('SIGKILL');
      plain.kill('SIGKILL');
      await Promise.all([droppedDone, once(plain, 'close')]);
    }
  });

  it('rejects a pid that is not a number', () => {
    for (const pid of ['1', null, undefined, 1n, {}, [1]]) {
      expect(() => inspectPid(pid as never), String(pid)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
      );
    }
  });

  it('rejects a pid out of range', () => {
    for (const pid of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => inspectPid(pid), String(pid)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
  });

  it('throws ESRCH for a process that does not exist', () => {
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
    expect(() => inspectPid(pidMax + 1)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });
});
