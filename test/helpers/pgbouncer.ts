/**
 * A real PgBouncer (Debian's `pgbouncer`, 1.18) in front of the test Postgres, in
 * `pool_mode = transaction`: what managed Postgres (ApsaraDB RDS, PolarDB) is often reached
 * through. Each caller starts its own on a free loopback port, as a child process (not a daemon)
 * with an ini and a userlist generated in a temp dir, and stops it when done.
 *
 * Where the binary is missing it is installed with apt-get (as root; `.ci/run` does the same);
 * where that cannot be done the tests skip with one line, except under CI=true, where a missing
 * PgBouncer fails them. PgBouncer refuses to run as root: as root it is started with `-u postgres`
 * (the Debian Postgres server's OS user), which it switches to once it has read its files.
 *
 * Used by the tests (`usePgBouncer`) and by the bench (scenarios A-pgb and B-pgb).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

export const NO_PGBOUNCER =
  'no pgbouncer found (apt-get install -y pgbouncer, or set PGBOUNCER_PATH): PgBouncer tests skipped';

/** Where the binary is: PGBOUNCER_PATH, then the usual places. */
export function pgbouncerPath(): string | undefined {
  const given = process.env.PGBOUNCER_PATH;
  if (given !== undefined && given !== '') return existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

let installTried = false;

/**
 * The binary, installed with apt-get first when it is missing and we are root. apt-get waits for
 * the dpkg lock (another install, another test file), so concurrent callers do not fail on it.
 */
export function ensurePgBouncer(): string | undefined {
  const found = pgbouncerPath();
  if (found !== undefined || installTried || process.getuid?.() !== 0) return found;
  installTried = true;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', 'pgbouncer'], {
      env,
      stdio: 'ignore',
      timeout: 600_000,
    }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 600_000 });
    install();
  }
  return pgbouncerPath();
}

/** Whether the PgBouncer tests can run; under CI=true a missing PgBouncer is an error, not a skip. */
export function pgbouncerAvailable(): boolean {
  const found = ensurePgBouncer() !== undefined;
  if (!found && process.env.CI === 'true') {
    throw new Error(`CI=true but ${NO_PGBOUNCER.replace(': PgBouncer tests skipped', '')}`);
  }
  if (!found) process.stderr.write(`${NO_PGBOUNCER}\n`);
  return found;
}

export interface PgBouncerOptions {
  /** `default_pool_size`: server connections per database and user. Default 10. */
  poolSize?: number;
  /** The Postgres behind it. Default `TEST_DATABASE_URL`'s host and port, else 127.0.0.1:5432. */
  server?: { host: string; port: number };
}

export interface PgBouncer {
  port: number;
  /** `directUrl` (a URL of the Postgres behind) with its host and port replaced by PgBouncer's. */
  via(directUrl: string): string;
  /** What PgBouncer wrote (its log), for a failing test's message. */
  log(): string;
  /** Stops it (SIGTERM) and removes its files. Idempotent. */
  close(): Promise<void>;
}

function freePort(): Promise<number> {
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

function testServer(): { host: string; port: number } {
  const u = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) };
}

function ini(dir: string, port: number, opts: PgBouncerOptions): string {
  const server = opts.server ?? testServer();
  return [
    '[databases]',
    // Any database name a client asks for, on the test server: test databases come and go.
    `* = host=${server.host} port=${server.port}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${opts.poolSize ?? 10}`,
    'max_client_conn = 1000',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
}

/** Starts one; resolves once it listens ("process up"). Retries on a port taken meanwhile. */
export async function startPgBouncer(opts: PgBouncerOptions = {}): Promise<PgBouncer> {
  const bin = pgbouncerPath();
  if (bin === undefined) throw new Error(NO_PGBOUNCER);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'classiclink-pgbouncer-'));
    // Readable by the `postgres` user it switches to.
    chmodSync(dir, 0o755);
    const port = await freePort();
    const iniPath = join(dir, 'pgbouncer.ini');
    writeFileSync(iniPath, ini(dir, port, opts), { mode: 0o644 });
    writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n', { mode: 0o644 });
    const args = process.getuid?.() === 0 ? ['-u', 'postgres', iniPath] : [iniPath];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const up = await new Promise<boolean>((resolve) => {
      const check = () => {
        if (/process up/.test(output)) resolve(true);
      };
      child.stdout?.on('data', check);
      child.stderr?.on('data', check);
      child.once('exit', () => resolve(false));
      child.once('error', () => resolve(false));
    });
    if (up) return running(child, dir, port, () => output);
    rmSync(dir, { recursive: true, force: true });
    lastError = new Error(`pgbouncer did not start on 127.0.0.1:${port}: ${output.trim().slice(-2000)}`);
  }
  throw lastError ?? new Error('pgbouncer did not start');
}

function running(child: ChildProcess, dir: string, port: number, output: () => string): PgBouncer {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that dies leaves no PgBouncer behind.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  let closed: Promise<void> | undefined;
  return {
    port,
    via(directUrl) {
      const u = new URL(directUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    log: output,
    close() {
      closed ??= (async () => {
        process.off('exit', onExit);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/**
 * A PgBouncer for the calling test file: started before its first test, stopped after its last.
 * The returned object is filled in by then.
 */
export function usePgBouncer(opts: PgBouncerOptions = {}): PgBouncer {
  const pgb = {} as PgBouncer;
  beforeAll(async () => {
    Object.assign(pgb, await startPgBouncer(opts));
  });
  afterAll(async () => {
    await pgb.close?.();
  });
  return pgb;
}
