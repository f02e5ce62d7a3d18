/**
 * Private Redis and Postgres servers of the machine's own packages, for the tests that restart
 * one (the fault suite) or need one configured otherwise (TLS only): each on a spare loopback
 * port, in a temp directory, never the machine's shared 127.0.0.1:5432 / :6379. Every process is
 * stopped by `close()` (call it in cleanup); waits are on the server's own readiness, never sleeps.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { type Certificates, has } from './tls.js';

const run = promisify(execFile);

/** A free loopback port (the kernel picks it; closed before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves when the process prints `pattern` on stdout; rejects when it exits first or after `timeoutMs`. */
export function waitForOutput(
  proc: ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
  what: string,
): Promise<void> {
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
  /** `redis://…`, or `rediss://…` with TLS. */
  url: string;
  port: number;
  /** SIGKILLs the server and starts a fresh, EMPTY one on the same port (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A private server for the calling file: started before its first test (only `when` it runs),
 * closed after its last.
 */
export function useOwnServer<T extends { close(): Promise<void> }>(
  when: boolean,
  start: () => Promise<T>,
): () => T {
  let server: T | undefined;
  beforeAll(async () => {
    if (when) server = await start();
  }, 90_000);
  afterAll(async () => {
    await server?.close();
  });
  return () => {
    if (!server) throw new Error('no server: it is started before the first test');
    return server;
  };
}

/** True where the machine has redis-server (a laptop running Redis in Docker may not). */
export const ownRedisAvailable = (): boolean => has('redis-server', ['--version']);

/** A redis-server of its own; with `tls`, it listens with TLS only, on that certificate. */
export async function startOwnRedis(opts: { tls?: Certificates } = {}): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'classiclink-redis-'));
  const listen = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no']
        .concat(['--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key])
        .concat(['--tls-ca-cert-file', opts.tls.ca])
    : ['--port', String(port)];
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn(
      'redis-server',
      [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
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
    url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
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

/** The server binaries of the machine's Postgres package (Debian keeps them off PATH), newest first. */
function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  return v === undefined ? undefined : join(root, v, 'bin');
}

// Postgres refuses to run as root: as root, its tools run as the package's `postgres` user.
const asRoot = process.getuid?.() === 0;

/** True where the machine has a Postgres package this test process can run. */
export const ownPostgresAvailable = (): boolean =>
  pgBinDir() !== undefined && (!asRoot || has('runuser', ['-u', 'postgres', '--', 'true']));

async function asPostgres(bin: string, args: string[]): Promise<void> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  await run(cmd, argv, { timeout: 60_000 });
}

/**
 * A Postgres of its own (user postgres, trust on loopback). With `tls`: `ssl=on` on that
 * certificate, and pg_hba.conf admits TCP connections over TLS only (`hostssl`), so a connection
 * that works went through TLS.
 */
export async function startOwnPostgres(opts: { tls?: Certificates } = {}): Promise<OwnPostgres> {
  const bin = pgBinDir();
  if (!bin) throw new Error('no initdb under /usr/lib/postgresql/*/bin');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'classiclink-pg-'));
  const data = join(dir, 'data');
  let ssl = '';
  if (opts.tls) {
    // The server reads its key as the postgres user, and only a key no one else can read.
    copyFileSync(opts.tls.cert, join(dir, 'server.pem'));
    copyFileSync(opts.tls.key, join(dir, 'server.key'));
    chmodSync(join(dir, 'server.key'), 0o600);
    if (asRoot) {
      for (const f of ['server.pem', 'server.key'])
        chownSync(join(dir, f), uidOf('postgres'), gidOf('postgres'));
    }
    ssl = ` -c ssl=on -c ssl_cert_file=${join(dir, 'server.pem')} -c ssl_key_file=${join(dir, 'server.key')}`;
  }
  if (asRoot) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
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
  if (opts.tls) {
    // TCP only over TLS; the Unix socket (in `dir`) for pg_ctl's own readiness check.
    const hba = join(data, 'pg_hba.conf');
    writeFileSync(hba, 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
    if (asRoot) chownSync(hba, uidOf('postgres'), gidOf('postgres'));
  }
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60${ssl}`;
  const start = () =>
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-o',
      options,
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
