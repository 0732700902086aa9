/**
 * Exits are reaped and delivered on each JS environment's own event loop (a uv_poll on its
 * reaper's epoll), with no reaper thread and no threadsafe function: in a worker too, with the
 * worker ending while a child still runs (no abort, no zombie), with an 'exit' listener that
 * throws (an uncaught exception, the other exits still delivered), and with nextTick and promise
 * jobs run right after the callback, as after any of Node's own I/O callbacks.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, requirePrivilege } from './helpers.js';

beforeEach((ctx) => requirePrivilege(ctx));

const run = (mode: string, impl = 'capspawn'): unknown =>
  JSON.parse(execFileSync(process.execPath, [path.join(FIXTURES, 'loop-exits.mjs'), mode, impl], { encoding: 'utf8', timeout: 20_000 }));

describe('exits on the event loop', () => {
  it('a worker gets its child exit; ending with a child running, nothing aborts and no zombie is left', () => {
    expect(run('worker')).toEqual({ workerExit: 0, code: 7, left: [] });
  });

  it("an 'exit' listener that throws is an uncaught exception, and the other exits still come", () => {
    expect(run('throw')).toEqual(['exit:1', 'exit:2', 'exit:3', 'uncaught:from the exit listener']);
    expect(run('throw', 'child_process')).toEqual(run('throw'));
  });

  it("nextTick and promise jobs queued in an 'exit' listener run before the next phase", () => {
    expect(run('tick')).toEqual(['exit', 'tick', 'promise', 'immediate']);
    expect(run('tick', 'child_process')).toEqual(run('tick'));
  });

  it('no reaper thread and no thread per child: only the watchdog', () => {
    expect(run('threads')).toEqual(['capspawn-watchd']); // comm is cut at 15 characters
  });
});
