/**
 * The README's JavaScript and TypeScript examples run, as a user would paste them: each one
 * (TypeScript transpiled) in a module of its own, with `capspawn` resolved to this build, must
 * exit 0 and print nothing on stderr (the examples print a refusal there). types.test.ts
 * compiles them under tsc --strict; an example that cannot run here says why, in a comment on
 * the line before it, and there are at most two such.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { beforeEach, describe, expect, it } from 'vitest';
import * as capspawn from '../dist/index.js';
import { readmeExamples, requirePrivilege, tempDir } from './helpers.js';

const ROOT = path.resolve(__dirname, '..');
const ENTRY = pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href;
const examples = readmeExamples(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));

beforeEach((ctx) => requirePrivilege(ctx));

describe("the README's examples", () => {
  it('are few that do not run, each with a reason', () => {
    const notRun = examples.filter((e) => e.notRun !== null);
    expect(notRun.length).toBeLessThanOrEqual(2);
    for (const e of notRun) expect(e.notRun!.length).toBeGreaterThan(10);
  });

  it.each(examples.filter((e) => e.notRun === null).map((e) => [e.line, e] as const))('at line %i runs', (_line, example) => {
    const dir = tempDir('readme');
    const names = Object.keys(capspawn).join(', ');
    const imports = /from ['"]capspawn['"]/.test(example.code);
    let code = `${imports ? '' : `import { ${names} } from 'capspawn';\n`}${example.code}\nexport {};\n`;
    if (example.lang === 'ts' || example.lang === 'typescript') {
      code = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    }
    code = code.replace(/from ['"]capspawn['"]/g, `from ${JSON.stringify(ENTRY)}`);
    const file = path.join(dir, `readme-line-${example.line}.mjs`);
    fs.writeFileSync(file, code);
    const run = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
