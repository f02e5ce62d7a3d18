/**
 * Private Redis and Postgres servers for the scenarios that restart one: each on a spare loopback
 * port, in a temp directory, never the machine's shared 127.0.0.1:5432 / :6379. Every process is
 * stopped by `close()` (call it in cleanup); waits are on the server's own readiness, never sleeps.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free loopback port (the kernel picks it; closed before use). */
export async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitForOutput(proc: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within ${timeoutMs}ms: ${seen.slice(-500)}`));
    }, timeoutMs);
    const onData = (b: Buffer) => {
      seen += b.toString('utf8');
      if (pattern.test(seen)) {
        cleanup();
        resolve();
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`${what} exited: ${seen.slice(-500)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.off('exit', onExit);
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', onExit);
  });
}

export interface OwnRedis {
  url: string;
  port: number;
  /** SIGKILLs the server and starts a fresh, EMPTY one on the same port (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), 'classiclink-redis-'));
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = p;
    await waitForOutput(p, /Ready to accept connections/, 15_000, 'redis-server');
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await stop();
      await start();
    },
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OwnPostgres {
  /** URL of database `name` on this server (user postgres, trust auth on loopback). */
  url(name?: string): string;
  port: number;
  /** `pg_ctl stop -m immediate` (a crash, as far as clients can tell), then start again. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  if (!v) throw new Error(`no initdb under ${root}/*/bin`);
  return join(root, v, 'bin');
}

/** Postgres refuses to run as root: run its tools as the `postgres` user then. */
async function asPostgres(bin: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  await run(cmd, argv, { timeout: 60_000 });
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = pgBinDir();
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), 'classiclink-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  chmodSync(dir, 0o700);
  await asPostgres(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const start = () =>
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-o',
      opts,
      '-w',
      '-t',
      '30',
      '-l',
      join(dir, 'log'),
      'start',
    ]);
  const stop = (mode: 'immediate' | 'fast') =>
    asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
  await start();
  let closed = false;
  return {
    port,
    url: (name = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${name}`,
    async restart() {
      await stop('immediate');
      await start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The numeric user / group id of a local user (`id` answers from /etc/passwd). */
function idOf(flag: '-u' | '-g', user: string): number {
  return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
}

const uidOf = (u: string) => idOf('-u', u);
const gidOf = (u: string) => idOf('-g', u);
