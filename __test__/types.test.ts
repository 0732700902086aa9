/**
 * capspawn's types under `tsc --strict`, as a user's TypeScript project sees them (the built
 * package, `module: node16`): types/uses.ts must compile; every line of types/errors.ts that
 * follows a `@ts-expect-error` must fail (the directive must be needed, and without the
 * directives exactly those lines fail); and every JavaScript and TypeScript example in README.md
 * compiles, each as a module of its own (with capspawn's exports imported when it imports none).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as capspawn from '../dist/index.js';
import { FIXTURES, readmeExamples, tempDir } from './helpers.js';

const ROOT = path.join(FIXTURES, '..', '..');
const TYPES = path.join(ROOT, '__test__', 'types');

/** Runs tsc --strict --noEmit over `files` in a project that has capspawn installed; returns
 * its diagnostics (file, line, code), or [] when it compiled. */
function tsc(files: Record<string, string>): { file: string; line: number; code: string; text: string }[] {
  const dir = tempDir('types');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'capspawn'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'types', private: true, type: 'module' }));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const args = [
    path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '--strict', '--noEmit', '--module', 'node16', '--target', 'ES2022', '--types', 'node',
    '--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--pretty', 'false',
    ...Object.keys(files).map((name) => path.join(dir, name)),
  ];
  let out = '';
  try {
    execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  } catch (error) {
    out = (error as { stdout?: string }).stdout ?? String(error);
  }
  fs.rmSync(dir, { recursive: true });
  const diagnostics = [...out.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map(([, file, line, code, text]) => ({
    file: path.basename(file!),
    line: Number(line),
    code: code!,
    text: text!,
  }));
  if (out && diagnostics.length === 0) throw new Error(`tsc failed:\n${out}`);
  return diagnostics;
}

describe('the types, under tsc --strict', () => {
  it('every use in types/uses.ts compiles, and every line in types/errors.ts after @ts-expect-error fails', () => {
    const uses = fs.readFileSync(path.join(TYPES, 'uses.ts'), 'utf8');
    const errors = fs.readFileSync(path.join(TYPES, 'errors.ts'), 'utf8');
    // With the directives: nothing is reported, so each directive was needed (TS2578 otherwise).
    expect(tsc({ 'uses.ts': uses, 'errors.ts': errors })).toEqual([]);

    // Without them: exactly the lines after the directives fail.
    const lines = errors.split('\n');
    const expected = lines.flatMap((line, i) => (line.trim().startsWith('// @ts-expect-error') ? [i + 2] : []));
    expect(expected.length).toBeGreaterThan(10);
    const stripped = lines.map((line) => (line.trim().startsWith('// @ts-expect-error') ? '' : line)).join('\n');
    const failing = [...new Set(tsc({ 'errors.ts': stripped }).map((d) => d.line))].sort((a, b) => a - b);
    expect(failing).toEqual(expected);
  }, 180_000); // two tsc runs: slow on a loaded machine

  it("every JavaScript and TypeScript example in README.md compiles", () => {
    const examples = readmeExamples(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    expect(examples.length).toBeGreaterThan(0);
    const names = Object.keys(capspawn).join(', ');
    const files: Record<string, string> = {};
    for (const { line, lang, code } of examples) {
      const commonjs = lang === 'cjs' || /\brequire\(/.test(code);
      const imports = /from ['"]capspawn['"]|require\(['"]capspawn['"]\)/.test(code);
      const prelude = imports ? '' : commonjs ? `const { ${names} } = require('capspawn');\n` : `import { ${names} } from 'capspawn';\n`;
      // Each example a module of its own (`export {}`), so their names do not collide.
      files[`readme-line-${line}.${commonjs ? 'cts' : 'mts'}`] = `${prelude}${code}\nexport {};\n`;
    }
    const diagnostics = tsc(files).map((d) => `README.md example at line ${d.file.replace(/\D+/g, '')}: ${d.code} ${d.text}`);
    expect(diagnostics).toEqual([]);
  }, 120_000);
});
