/**
 * Routes the native reaper's exit reports to the child objects, and keeps the event loop alive
 * exactly while a referenced child runs.
 */
import { native } from './native.js';

type OnExit = (code: number | null, signal: number | null) => void;

const running = new Map<number, OnExit>();
let referenced = 0;
let listening = false;

/** Sets up the native exit callback; must happen before the first spawn. */
export function listen(): void {
  if (listening) return;
  native.onExit((id, code, signal) => {
    const onExit = running.get(id);
    running.delete(id);
    onExit?.(code, signal);
  });
  listening = true;
}

/** Routes child `id`'s exit to `onExit`, and counts it as referenced. */
export function register(id: number, onExit: OnExit): void {
  running.set(id, onExit);
  retain();
}

/** One more referenced running child. */
export function retain(): void {
  if (referenced++ === 0) native.refExits(true);
}

/** One referenced running child fewer. */
export function release(): void {
  if (--referenced === 0) native.refExits(false);
}
