/**
 * capspawn as CommonJS and as an ES module, from the built package: `require` on Node 20.0's
 * rules (no require(esm)), `import` giving the same module, and TypeScript `module: node16`
 * projects of both kinds compiling against its types and running.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as esm from '../dist/index.js';
import { FIXTURES, requirePrivilege, tempDir } from './helpers.js';

const ROOT = path.join(FIXTURES, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
function node(args: string[], cwd = ROOT): string {
  try {
    return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`node ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** A project in a temporary directory with capspawn installed (a link to this clone). */
function project(type: 'commonjs' | 'module'): string {
  const dir = tempDir(`node16-${type}`);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'capspawn'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `node16-${type}`, private: true, type }));
  fs.copyFileSync(path.join(FIXTURES, 'node16', 'main.ts'), path.join(dir, 'main.ts'));
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'ES2022',
        strict: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      },
      files: ['main.ts'],
    }),
  );
  return dir;
}

describe('CommonJS', () => {
  it('require() loads capspawn on Node 20.0 rules: nothing in its graph is an ES module', (ctx) => {
    requirePrivilege(ctx);
    // Without require(esm) (Node < 20.19 and 22.12), a required ES module is ERR_REQUIRE_ESM.
    const out = node([
      '--no-experimental-require-module',
      '-e',
      `const c = require(${JSON.stringify(ROOT)});
       const loaded = Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(ROOT)}));
       console.log(JSON.stringify({ out: c.execFileSync('echo', ['required'], { encoding: 'utf8' }), keys: Object.keys(c).sort(), loaded }));`,
    ]);
    const report = JSON.parse(out) as { out: string; keys: string[]; loaded: string[] };
    expect(report.out).toBe('required\n');
    expect(report.keys).toEqual(Object.keys(esm).sort());
    // Every file it loaded is the CommonJS build (and the native binding: the local build, or the
    // packaged one CI points CAPSPAWN_NATIVE_LIBRARY_PATH at).
    for (const file of report.loaded) expect(path.relative(ROOT, file)).toMatch(/^(dist\/cjs\/[\w-]+\.js|(package\/)?capspawn\.[\w-]+\.node)$/);
  });

  it('import gives the same module as require (one copy in a process using both), with the same names', () => {
    const required = createRequire(import.meta.url)(ROOT) as typeof esm;
    expect(Object.keys(esm).sort()).toEqual(Object.keys(required).sort());
    for (const name of Object.keys(required) as (keyof typeof esm)[]) expect(esm[name]).toBe(required[name]);
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.exports['.']).toEqual({
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
    });
  });
});

describe('a binding that does not load', () => {
  it('rejects import() once, and a program that catches it goes on (no second, uncaught report)', () => {
    // On Node 20 an ES module re-exporting a CommonJS module that throws would also report the
    // error as uncaught; the wrapper requires it instead (scripts/build-esm.mjs).
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `try { await import(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))}); } catch (e) { console.log(e.code); }
        setTimeout(() => console.log('still running'), 50);`],
      { encoding: 'utf8', env: { ...process.env, CAPSPAWN_NATIVE_LIBRARY_PATH: '/nonexistent/capspawn.node' }, timeout: 20_000 },
    );
    expect(out).toBe('ERR_CAPSPAWN_NATIVE_LOAD\nstill running\n');
  });
});

describe('TypeScript module: node16', () => {
  for (const type of ['commonjs', 'module'] as const) {
    it(`a "type": "${type}" project compiles against capspawn's types and runs`, (ctx) => {
      requirePrivilege(ctx);
      const dir = project(type);
      // Nothing on stdout: tsc reports errors there (TS1479 was CommonJS importing ES-only types).
      expect(node([TSC, '-p', dir])).toBe('');
      const emitted = fs.readFileSync(path.join(dir, 'out', 'main.js'), 'utf8');
      expect(emitted.includes('require("capspawn")')).toBe(type === 'commonjs');
      const flags = type === 'commonjs' ? ['--no-experimental-require-module'] : [];
      const report = JSON.parse(node([...flags, path.join(dir, 'out', 'main.js')], dir));
      expect(report).toEqual({ code: 0, sync: 'sync', file: 'file', promised: 'promise', pid: 'number' });
      fs.rmSync(dir, { recursive: true });
    }, 120_000); // tsc: slow on a loaded machine
  }
});
