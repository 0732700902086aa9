// Uses that must NOT compile: every `@ts-expect-error` here must be needed, and
// __test__/types.test.ts also checks that each line below one fails without it.
import { execFile, execFileSync, spawn, spawnSync } from 'capspawn';
import { promisify } from 'node:util';

const child = spawn('true');
const inherited = spawn('true', { stdio: 'inherit' });
const noStdin = spawn('cat', { stdio: ['ignore', 'pipe', 'pipe'] });

// @ts-expect-error a misspelt event
child.on('exitt', () => {});
// @ts-expect-error a misspelt event, once
child.once('clsoe', () => {});
// @ts-expect-error the exit code is a number or null, not a string
child.on('exit', (code: string) => console.log(code));
// @ts-expect-error 'spawn' passes no argument
child.on('spawn', (value: number) => console.log(value));
// @ts-expect-error emitting a misspelt event
child.emit('exitt');
// @ts-expect-error exitCode is not a string
const code: string = child.exitCode;
// @ts-expect-error with stdio 'inherit' there may be no stdout
inherited.stdout.pipe(process.stdout);
// @ts-expect-error stdin is 'ignore': there is none
noStdin.stdin.write('x');
// @ts-expect-error a misspelt option is not an option
spawn('true', { usr: 'nobody' });
// @ts-expect-error boundingSet is 'clear' or 'inherit'
spawn('true', { boundingSet: 'none' });
// @ts-expect-error args are strings
spawn('true', [1, 2]);
// @ts-expect-error a promisified execFile gives text by default, not numbers
promisify(execFile)('ls').then(({ stdout }) => { const n: number = stdout; console.log(n); });
// @ts-expect-error with an encoding execFileSync returns a string
const bytes: Buffer = execFileSync('ls', { encoding: 'utf8' });
// @ts-expect-error the status is a number or null
const status: string = spawnSync('ls').status;
// @ts-expect-error execFile's callback gets no number
execFile('ls', (error: Error | null, stdout: number) => console.log(error, stdout));

console.log(code, bytes, status);
// @ts-expect-error compatibility is 'hard' or 'best-effort'
spawn('true', { filesystem: { readOnly: ['/usr'], compatibility: 'soft' } });
// @ts-expect-error network is 'host', 'none' or { namespace }
spawn('true', { network: 'isolated' });
// @ts-expect-error readOnly is a list of paths
spawn('true', { filesystem: { readOnly: '/usr' } });

import { spawnPty } from 'capspawn';
const term = spawnPty('sh');
// @ts-expect-error a spawn option that has no meaning for a terminal
spawnPty('sh', [], { stdio: 'pipe' });
// @ts-expect-error cols is a number
spawnPty('sh', [], { cols: '80' });
// @ts-expect-error data is a string by default, not a Buffer
term.onData((data: Buffer) => console.log(data));
// @ts-expect-error a misspelt event
term.on('dta', () => {});
