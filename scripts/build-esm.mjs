#!/usr/bin/env node
// After `tsc` has compiled src/ to CommonJS in dist/cjs/: marks that directory CommonJS and
// writes the ES module entry points beside it, each a re-export of its CommonJS module.
//
// Why one CommonJS build with ES module wrappers, not two builds: `require('capspawn')` must work
// on Node 20.0, which cannot load an ES module synchronously, so the CommonJS build is needed
// anyway; ES wrappers over it (the "wrapper" approach of Node's dual-package documentation) keep
// ONE copy of capspawn in a process that both imports and requires it, so there is one
// CapspawnChildProcess class (`instanceof` works across the two) and one copy of the module
// state, and nothing can differ between the two formats because there is only one.
//
// The wrappers load the CommonJS module with require (createRequire), not with `import`/`export
// from`: on Node 20, an ES module whose imported CommonJS module throws (the loader's
// ERR_CAPSPAWN_NATIVE_LOAD when no binding is installed) rejects the import() AND reports the
// error again as an uncaught exception, which kills a program that caught it. A throw inside
// the wrapper's own evaluation is an ordinary rejection. The names are those tsc's output
// exports (found below); __test__/module-formats.test.ts checks that `import` sees exactly the
// names `require` does, and the same values.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
writeFileSync(join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);

/** The names a tsc CommonJS module exports (`exports.x = …`, or a getter for a re-export),
 * without tsc's `__esModule` marker, which an ES module should not show. */
function exportedNames(file) {
  const source = readFileSync(file, 'utf8');
  const names = new Set();
  for (const [, name] of source.matchAll(/Object\.defineProperty\(exports, "([\w$]+)"/g)) names.add(name);
  for (const [, name] of source.matchAll(/\bexports\.([\w$]+) =/g)) names.add(name);
  names.delete('__esModule');
  return [...names].sort();
}

const requireIt = (file) => `import { createRequire } from 'node:module';\nconst cjs = createRequire(import.meta.url)('${file}');\n`;

// The package's entry, and the internal module the tests reach into.
for (const name of ['index', 'native']) {
  const header = `// The ES module entry: capspawn itself is the CommonJS module ./cjs/${name}.js (see scripts/build-esm.mjs).\n`;
  const names = exportedNames(join(dist, 'cjs', `${name}.js`));
  if (names.length === 0) throw new Error(`found no exports in dist/cjs/${name}.js`);
  writeFileSync(join(dist, `${name}.js`), `${header}${requireIt(`./cjs/${name}.js`)}export const { ${names.join(', ')} } = cjs;\n`);
  writeFileSync(join(dist, `${name}.d.ts`), `${header}export * from './cjs/${name}.js';\n`);
}
const cli = join(dist, 'cli.js');
writeFileSync(cli, `#!/usr/bin/env node\n// The \`capspawn\` command: ./cjs/cli.js (see scripts/build-esm.mjs).\nimport { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('./cjs/cli.js');\n`);
chmodSync(cli, 0o755);
// tsc keeps the source's shebang; make the CommonJS command executable too.
chmodSync(join(dist, 'cjs', 'cli.js'), 0o755);
