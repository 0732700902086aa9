/**
 * scripts/check-binary, the gate .ci/run puts the release-style binary through, rejects what it
 * must: an unstripped object, and one bound to a glibc newer than the README's floor (2.17).
 * Built here with gcc: `memfd_create` is versioned GLIBC_2.27.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(__dirname, '..');

function build(name: string, source: string, strip: boolean): string {
  const dir = tempDir('check-binary');
  const c = path.join(dir, `${name}.c`);
  const so = path.join(dir, `${name}.so`);
  fs.writeFileSync(c, source);
  const built = spawnSync('gcc', ['-shared', '-fPIC', '-O2', ...(strip ? ['-s'] : ['-g']), '-o', so, c], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  return so;
}

const check = (file: string) => spawnSync(path.join(ROOT, 'scripts/check-binary'), [file], { encoding: 'utf8' });

describe('scripts/check-binary', () => {
  it('rejects an unstripped object, naming its symbol and debug sections', () => {
    const so = build('unstripped', 'int answer(void) { return 42; }\n', false);
    const result = check(so);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/not stripped: it has .*\.symtab/);
  });

  it('rejects a glibc newer than the floor, naming the symbol', () => {
    const so = build('newer', '#define _GNU_SOURCE\n#include <sys/mman.h>\nint make(void) { return memfd_create("x", 0); }\n', true);
    const result = check(so);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/memfd_create needs GLIBC_2\.27/);
  });

  it('accepts a stripped object that needs nothing newer than the floor', () => {
    const so = build('fine', '#include <string.h>\nsize_t len(const char *s) { return strlen(s); }\n', true);
    const result = check(so);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
