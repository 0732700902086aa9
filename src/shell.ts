/**
 * What `execFile`, `exec` and the synchronous functions share: their options read as
 * `child_process` reads them (own properties only, a polluted `Object.prototype` adds nothing),
 * validated with Node's errors, and `shell`.
 */
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js';

/** The options object's own enumerable properties, in a null-prototype copy, as Node's
 * `{ __proto__: null, ...options }`. */
export function ownOptions(name: string, options: unknown): Record<string, unknown> {
  if (options === undefined || options === null) return Object.create(null) as Record<string, unknown>;
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgType(name, 'of type object', options);
  return Object.assign(Object.create(null) as Record<string, unknown>, options);
}

/** `options.maxBuffer`, as Node's validateMaxBuffer: a number >= 0 (Infinity: unlimited). */
export function maxBuffer(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw outOfRange('options.maxBuffer', 'a positive number', value);
  return value;
}

/** `command` run by a shell, as `child_process` does it with `shell`: `/bin/sh -c 'file args…'`
 * (the args joined with spaces, unquoted), or the named shell. */
export function withShell(file: string, args: readonly string[], shell: unknown): [string, string[]] {
  if (shell === undefined || shell === null) return [file, [...args]];
  if (typeof shell !== 'boolean' && typeof shell !== 'string') {
    throw invalidArgType('options.shell', 'one of type boolean or string', shell); // Node's words
  }
  if (typeof shell === 'string' && shell.includes('\0')) {
    throw invalidArgValue('options.shell', shell, 'must be a string without null bytes');
  }
  if (shell === false || shell === '') return [file, [...args]]; // '' is falsy to child_process: no shell
  const command = [file, ...args].join(' ');
  return [shell === true ? '/bin/sh' : shell, ['-c', command]];
}

/** `(file, args?, options?)` with `args` optional, as Node's normalizeExecFileArgs and
 * normalizeSpawnArguments read them. `args` is copied. */
export function fileArgs(
  argsOrOptions: unknown,
  maybeOptions: unknown,
): { args: string[]; options: unknown } {
  if (Array.isArray(argsOrOptions)) return { args: [...(argsOrOptions as string[])], options: maybeOptions };
  if (argsOrOptions === undefined || argsOrOptions === null) return { args: [], options: maybeOptions };
  if (typeof argsOrOptions !== 'object') throw invalidArgType('args', 'an instance of Array', argsOrOptions);
  return { args: [], options: argsOrOptions };
}
