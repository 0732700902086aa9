/**
 * Routes the native reaper's exit reports to the child objects, and keeps the event loop alive
 * exactly while a referenced child runs.
 */
import { native } from './native.js';

type OnExit = (code: number | null, signal: number | null) => void;

interface Routing {
  running: Map<number, OnExit>;
  referenced: number;
  listening: boolean;
}

/** The routing lives on the binding, not in this module: two copies of this module in one
 * process (two installs of one version, say) load the same `.node` file, get the same binding
 * object and share its one exit channel, so they must share the routing too. */
const ROUTING = Symbol.for('capspawn.exits');
const holder = native as unknown as { [ROUTING]?: Routing };
const routing: Routing = (holder[ROUTING] ??= { running: new Map(), referenced: 0, listening: false });

/** Sets up the native exit callback; must happen before the first spawn. */
export function listen(): void {
  if (routing.listening) return;
  native.onExit((id, code, signal) => {
    const onExit = routing.running.get(id);
    routing.running.delete(id);
    onExit?.(code, signal);
  });
  routing.listening = true;
}

/** Routes child `id`'s exit to `onExit`, and counts it as referenced. */
export function register(id: number, onExit: OnExit): void {
  routing.running.set(id, onExit);
  retain();
}

/** One more referenced running child. */
export function retain(): void {
  if (routing.referenced++ === 0) native.refExits(true);
}

/** One referenced running child fewer. */
export function release(): void {
  if (--routing.referenced === 0) native.refExits(false);
}
