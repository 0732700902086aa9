// Uses of capspawn's types that must compile under `tsc --strict` (see __test__/types.test.ts).
import { type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { type Readable, type Writable } from 'node:stream';
import { promisify } from 'node:util';
import {
  exec,
  execFile,
  execFileSync,
  execSync,
  spawn,
  spawnSync,
  CapspawnChildProcess,
  type ExecFileException,
  type SpawnOptions,
  type SpawnSyncReturns,
} from 'capspawn';

// The default stdio: every standard stream is there, as ChildProcessWithoutNullStreams.
const child = spawn('make', ['test'], { user: 'nobody', cwd: '/work', capabilities: ['NET_BIND_SERVICE'] });
child.stdout.pipe(process.stdout);
child.stdin.end('input');
const piped: ChildProcessWithoutNullStreams = child;
child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => console.log(code ?? signal));
child.once('close', (code, signal) => {
  const c: number | null = code;
  const s: NodeJS.Signals | null = signal;
  console.log(c, s);
});
child.on('error', (err: Error) => console.error(err.message)).on('spawn', () => console.log('spawned'));
child.prependListener('exit', () => {});
child.on('error', (err) => console.error(err.code, err.syscall ?? '', err.remaining ?? []));
child.off('exit', () => {});
const exitCode: number | null = child.exitCode;
const pid: number | undefined = child.pid;
const killed: boolean = child.kill('SIGTERM') || child.kill(9);
child.unref();

// Where a ChildProcess is expected.
function supervise(p: ChildProcess): number | undefined {
  return p.pid;
}
supervise(child);
supervise(spawn('true', { stdio: 'inherit' }));
const asNode: ChildProcess = child;
if (asNode instanceof CapspawnChildProcess) asNode.referenced.valueOf();

// stdio decides which streams exist.
const some = spawn('cat', [], { stdio: ['ignore', 'pipe', 'inherit'] });
const out: Readable = some.stdout;
const noStdin: null = some.stdin;
const noStderr: null = some.stderr;
const inInput = spawn('cat', { stdio: ['pipe', 'ignore', 'ignore'] });
const input: Writable = inInput.stdin;
const inherited = spawn('true', { stdio: 'inherit' });
inherited.stdout?.resume();

// Options typed as a variable.
const options: SpawnOptions = { boundingSet: 'inherit', noNewPrivs: true, rlimits: { nofile: [64, 64] } };
spawn('true', options).stdout?.resume();

// execFile and exec, with callbacks and promisified.
execFile('ls', ['-l'], (error: ExecFileException | null, stdout: string, stderr: string) => {
  if (error) console.error(error.code, error.signal, error.cmd, error.killed);
  console.log(stdout.length + stderr.length);
});
execFile('ls', { encoding: 'buffer' }, (error, stdout: Buffer) => console.log(error?.message, stdout.byteLength));
exec('ls | wc -l', { user: 'nobody' }, (_error, stdout: string) => console.log(stdout.trim()));
async function promised(): Promise<void> {
  const run = promisify(execFile);
  const { stdout, stderr } = await run('ls', ['-l'], { timeout: 1000, maxBuffer: 1 << 20 });
  const text: string = stdout + stderr;
  const bytes: Buffer = (await run('ls', [], { encoding: 'buffer' })).stdout;
  const pending = run('sleep', ['1']);
  pending.child.kill();
  const shell: string = (await promisify(exec)('echo hi')).stdout;
  console.log(text, bytes, shell);
}
void promised();

// The synchronous ones.
const sync: SpawnSyncReturns<Buffer> = spawnSync('ls', ['-l']);
const status: number | null = sync.status;
const syncText: string = spawnSync('ls', { encoding: 'utf8', input: 'x', timeout: 100, killSignal: 'SIGKILL' }).stdout;
const fileText: string = execFileSync('ls', ['-l'], { encoding: 'utf8', user: 'nobody' });
const fileBytes: Buffer = execFileSync('ls');
const shellText: string = execSync('ls | wc -l', { encoding: 'utf8' });
if (sync.error) console.error(sync.error.message, sync.signal);

console.log(piped, exitCode, pid, killed, out, noStdin, noStderr, input, status, syncText, fileText, fileBytes, shellText);

// The sandbox layers (filesystem, network) and their report.
import { probeLayers, type LandlockReport, type SpawnReport } from 'capspawn';
const layered = spawn('make', [], { filesystem: { readOnly: ['/usr'], readWrite: ['/tmp'], compatibility: 'best-effort' }, network: 'none' });
layered.on('spawn', (report?: SpawnReport) => console.log(report?.landlock.unenforced));
const landlock: LandlockReport | undefined = layered.landlock;
const joined = spawnSync('ip', ['addr'], { network: { namespace: '/run/netns/work' }, encoding: 'utf8' });
const syncLandlock: LandlockReport | undefined = joined.landlock;
const abi: number = probeLayers().landlock.abi;
const canMake: boolean = probeLayers().networkNamespaces;
spawn('true', { network: { namespace: 3 } });
console.log(landlock, syncLandlock, abi, canMake);
// spawnPty: node-pty's IPty; data is a string unless `encoding: null`.
import { spawnPty, type IPty, type IDisposable, type PtyOptions } from 'capspawn';
const ptyOptions: PtyOptions = { name: 'xterm-256color', cols: 100, rows: 30, cwd: '/tmp', user: 'nobody', noNewPrivs: true };
const term: IPty = spawnPty('bash', [], ptyOptions);
const listening: IDisposable = term.onData((data: string) => process.stdout.write(data));
term.onExit(({ exitCode, signal }: { exitCode: number; signal?: number }) => console.log(exitCode, signal));
term.on('exit', (exitCode: number, signal?: number) => console.log(exitCode, signal));
term.write('ls\r');
term.resize(term.cols + 1, term.rows);
term.kill();
term.kill('SIGKILL');
listening.dispose();
const bytes: IPty<Buffer> = spawnPty('cat', [], { encoding: null });
bytes.onData((chunk: Buffer) => console.log(chunk.length, bytes.pid, bytes.process));
