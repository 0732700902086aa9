/**
 * Finds and loads the native binding. Where it comes from, in this order (the first that loads wins):
 * 1. `CAPSPAWN_NATIVE_LIBRARY_PATH`, if set: that file and nothing else.
 * 2. The local build, `capspawn.<platform>.node` at the package root (`npm run build` in a clone).
 * 3. The platform package `capspawn-<platform>` (`capspawn-linux-x64-gnu`, ...), which npm
 *    installs from capspawn's `optionalDependencies`, the one whose os, cpu and libc fit.
 * `<platform>` is `linux-<process.arch>-<gnu|musl>`, the libc detected the way napi-rs does.
 * When nothing loads, one `ERR_CAPSPAWN_NATIVE_LOAD` error lists every attempt and why it failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import type { NativeBinding } from './native.js';

export interface NativeOrigin {
  /** `'env'`: CAPSPAWN_NATIVE_LIBRARY_PATH; `'local-build'`: beside the package; `'package'`: the platform package. */
  source: 'env' | 'local-build' | 'package';
  /** The absolute path of the `.node` file. */
  path: string;
  /** napi-rs's platform name for this machine, e.g. `'linux-x64-gnu'`. */
  platform: string;
}

/** One failed attempt, as listed in an `ERR_CAPSPAWN_NATIVE_LOAD` error's `attempts`. */
export interface NativeLoadAttempt {
  source: NativeOrigin['source'];
  /** A file path, or the platform package's name. */
  what: string;
  reason: string;
}

const BINARY_NAME = 'capspawn';
const PACKAGE_NAME = 'capspawn';
/** The platform packages that are published (package.json `napi.targets`, folders in npm/). */
const PREBUILT = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl'];

type Libc = 'gnu' | 'musl';

interface LibcGuess {
  libc: Libc;
  /** How it was decided, for error messages. */
  how: string;
}

interface ReportLike {
  header?: { glibcVersionRuntime?: string };
  sharedObjects?: unknown[];
}

/**
 * glibc or musl, decided the way napi-rs's generated loaders do: the process report's
 * `glibcVersionRuntime` (present only when this node runs on glibc) and its list of loaded shared
 * objects; then `/usr/bin/ldd`, which is musl's loader on musl systems and a script naming
 * "GNU C Library" on glibc ones; then the output of `ldd --version`. glibc when nothing says musl.
 */
function detectLibc(): LibcGuess {
  const report = process.report as unknown as
    | { getReport?: () => unknown; excludeNetwork?: boolean }
    | undefined;
  if (report && typeof report.getReport === 'function') {
    // Without network details the report is cheaper (no DNS look-ups of open sockets). The
    // setting is process-wide (Node >= 20.13), so it is put back as it was.
    const excludeNetwork = report.excludeNetwork;
    const toggle = typeof excludeNetwork === 'boolean' && !excludeNetwork;
    let header: ReportLike | undefined;
    try {
      if (toggle) report.excludeNetwork = true;
      header = report.getReport() as ReportLike;
    } catch {
      header = undefined;
    } finally {
      if (toggle) report.excludeNetwork = false;
    }
    const glibc = header?.header?.glibcVersionRuntime;
    if (glibc) return { libc: 'gnu', how: `process.report: glibc ${glibc}` };
    const objects = Array.isArray(header?.sharedObjects) ? header.sharedObjects : [];
    const musl = objects.find((o) => typeof o === 'string' && /libc\.musl-|ld-musl-/.test(o));
    if (musl) return { libc: 'musl', how: `process.report: ${String(musl)} is loaded` };
  }
  try {
    const ldd = readFileSync('/usr/bin/ldd', 'latin1');
    if (ldd.includes('musl')) return { libc: 'musl', how: '/usr/bin/ldd is musl' };
    if (ldd.includes('GNU C Library') || ldd.includes('GLIBC')) {
      return { libc: 'gnu', how: '/usr/bin/ldd is glibc' };
    }
  } catch {
    // No /usr/bin/ldd: ask the one on PATH.
  }
  try {
    // musl's ldd prints its version to stderr and exits with status 1.
    const run = spawnSync('ldd', ['--version'], { encoding: 'utf8', timeout: 5000 });
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    if (output.includes('musl')) return { libc: 'musl', how: '`ldd --version` says musl' };
    if (/GNU|GLIBC/i.test(output)) return { libc: 'gnu', how: '`ldd --version` says glibc' };
  } catch {
    // Fall through to the default.
  }
  return { libc: 'gnu', how: 'no sign of musl found, assumed glibc' };
}

/** napi-rs's name for the platform: `linux-x64-gnu`, `linux-arm64-musl`, `linux-arm-gnueabihf`. */
function platformName(arch: string, libc: Libc): string {
  const abi = arch === 'arm' ? `${libc}eabihf` : libc;
  return `linux-${arch}-${abi}`;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${specifier}`);
}

function readVersion(file: string): string | undefined {
  try {
    const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

function loadError(text: string, props: Record<string, unknown>): Error {
  return Object.assign(new Error(text), { code: 'ERR_CAPSPAWN_NATIVE_LOAD', ...props });
}

export function load(): { binding: NativeBinding; origin: NativeOrigin } {
  if (process.platform !== 'linux') {
    const error = new Error(
      `capspawn works on Linux only (capabilities are a Linux kernel feature); this is ${process.platform}`,
    );
    throw Object.assign(error, { code: 'ERR_CAPSPAWN_UNSUPPORTED_PLATFORM', platform: process.platform });
  }
  // This module is CommonJS (dist/cjs/loader.js; the ES module entry re-exports it), so it has
  // `require` and `__dirname`; the package root is two levels up.
  const root = join(__dirname, '..', '..');
  const attempts: NativeLoadAttempt[] = [];
  const { libc, how } = detectLibc();
  const platform = platformName(process.arch, libc);

  // 1. The override: exactly that file. Falling back to another binary would hide the mistake.
  const override = process.env.CAPSPAWN_NATIVE_LIBRARY_PATH;
  if (override) {
    const path = resolve(override);
    try {
      const binding = require(path) as NativeBinding;
      return { binding, origin: { source: 'env', path, platform } };
    } catch (error) {
      throw loadError(
        `capspawn: could not load its native binding from CAPSPAWN_NATIVE_LIBRARY_PATH=${override}: ` +
          `${message(error)}\n  (with CAPSPAWN_NATIVE_LIBRARY_PATH set, nothing else is tried; unset it to use ` +
          `the installed binding)`,
        { attempts: [{ source: 'env', what: path, reason: message(error) }], cause: error },
      );
    }
  }

  // 2. A local build beside the package (development; not part of the published tarball).
  const local = join(root, `${BINARY_NAME}.${platform}.node`);
  if (existsSync(local)) {
    try {
      return { binding: require(local) as NativeBinding, origin: { source: 'local-build', path: local, platform } };
    } catch (error) {
      attempts.push({ source: 'local-build', what: local, reason: message(error) });
    }
  } else {
    attempts.push({ source: 'local-build', what: local, reason: 'not found (only a clone built with `npm run build` has one)' });
  }

  // 3. The platform package.
  const pkg = `${PACKAGE_NAME}-${platform}`;
  if (!PREBUILT.includes(platform)) {
    attempts.push({
      source: 'package',
      what: pkg,
      reason: `no prebuilt package exists for ${platform} (there are: ${PREBUILT.join(', ')}); build from source with Rust: npm run build`,
    });
  } else {
    let path: string | undefined;
    try {
      path = require.resolve(pkg);
    } catch (error) {
      attempts.push({
        source: 'package',
        what: pkg,
        reason: isModuleNotFound(error, pkg)
          ? `not installed. npm installs it as an optional dependency of capspawn on ${platform}; it is missing ` +
            'when optional dependencies were omitted (--omit=optional, --no-optional), or node_modules was ' +
            'installed on another platform or libc, or copied from one. Reinstall capspawn on this machine.'
          : message(error),
      });
    }
    if (path) {
      const wanted = readVersion(join(root, 'package.json'));
      const found = readVersion(join(dirname(path), 'package.json'));
      if (wanted && found && wanted !== found) {
        attempts.push({
          source: 'package',
          what: path,
          reason: `its version ${found} is not capspawn's ${wanted}; reinstall capspawn so they match`,
        });
      } else {
        try {
          return { binding: require(path) as NativeBinding, origin: { source: 'package', path, platform } };
        } catch (error) {
          attempts.push({ source: 'package', what: path, reason: message(error) });
        }
      }
    }
  }

  const list = attempts.map((a) => `  - ${a.source === 'package' ? 'package' : 'local build'} ${a.what}: ${a.reason}`);
  throw loadError(
    `capspawn: could not load its native binding for ${platform} (${process.arch}, libc from ${how}). Tried:\n` +
      `${list.join('\n')}\n  (or set CAPSPAWN_NATIVE_LIBRARY_PATH to a capspawn .node file to load that one)`,
    { attempts, platform },
  );
}

