/**
 * Postgres over TLS, as the README documents it: `DATABASE_URL=…?sslmode=verify-full&sslrootcert=…`.
 * A second Postgres server of the machine's own package runs in a temporary data directory with
 * `ssl=on`, on a certificate signed by a CA made here with openssl, and its pg_hba.conf admits TCP
 * connections over TLS only (`hostssl`): a connection that works there went through TLS. `sync
 * --once` runs against it as a child process (migrations, the diff transactions and the pool).
 * Without the CA, or without TLS, the command stops with one line naming Postgres, exit 1.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, runCli } from '../helpers/child.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { freePort, has, makeCertificates } from '../helpers/tls.js';

/** The server binaries of the machine's Postgres package (Debian keeps them off PATH). */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'pg_ctl')));
}

const bin = postgresBin();
// Postgres refuses to run as root: as root, its tools run as the package's `postgres` user.
const asRoot = process.getuid?.() === 0;
const available =
  bin !== undefined &&
  has('openssl', ['version']) &&
  (!asRoot || has('runuser', ['-u', 'postgres', '--', 'true']));

/** Runs one of the server's tools, as `postgres` when this process is root. */
function pgTool(tool: string, args: string[]): void {
  const path = join(bin ?? '', tool);
  if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'ignore' });
  else execFileSync(path, args, { stdio: 'ignore' });
}

let dir = '';
let data = '';
let port = 0;
let ca = '';
let started = false;
let pl: Pipeline;

const url = (query: string) => `postgres://postgres@127.0.0.1:${port}/classiclink_tls${query}`;

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'classiclink-pgtls-'));
  const certs = makeCertificates(dir);
  ca = certs.ca;
  data = join(dir, 'data');
  chmodSync(certs.key, 0o600);
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  pgTool('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  // TCP only over TLS; the Unix socket (in `dir`) for pg_ctl's own readiness check.
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
  port = await freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${dir}'`,
    '-c ssl=on',
    `-c ssl_cert_file='${certs.cert}'`,
    `-c ssl_key_file='${certs.key}'`,
    '-c fsync=off',
    '-c shared_buffers=16MB',
  ].join(' ');
  pgTool('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  started = true;

  pl = await startPipeline({
    workers: false,
    sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
  });
}, 90_000);

afterAll(async () => {
  await killChildren();
  await pl?.close();
  if (started) pgTool('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `sync --once` on `databaseUrl`, expects exit 1 with one line and no stack; returns the line. */
async function failsWithOneLine(databaseUrl: string): Promise<string> {
  const r = await runCli(['sync', '--once'], { ...pl.childEnv, DATABASE_URL: databaseUrl });
  expect(r.code).toBe(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe.skipIf(!available)('Postgres over TLS (sslmode, sslrootcert)', () => {
  it('sync --once creates, migrates and writes its database over TLS when the CA is given', async () => {
    const r = await runCli(['sync', '--once', '--json'], {
      ...pl.childEnv,
      DATABASE_URL: url(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`),
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; targets: { status: string }[] };
    expect(body.targets.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);

    const client = new pg.Client({
      connectionString: url(''),
      ssl: { ca: readFileSync(ca, 'utf8') },
    });
    await client.connect();
    try {
      const links = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM classic_links WHERE removed_at IS NULL',
      );
      expect(links.rows[0]?.n).toBe(6);
      const ssl = await client.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(ssl.rows[0]?.ssl).toBe(true);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('an untrusted certificate stops the command with one line naming Postgres and the CA setting', async () => {
    const line = await failsWithOneLine(url('?sslmode=verify-full'));
    expect(line).toMatch(/cannot reach Postgres at 127\.0\.0\.1:\d+ \(.*certificate/i);
    expect(line).toContain('sslrootcert=');
  }, 60_000);

  it('without TLS the server refuses the connection: one line naming Postgres, exit 1', async () => {
    // The server answered and refused: a login refused, not a server out of reach.
    expect(await failsWithOneLine(url(''))).toMatch(
      /Postgres at 127\.0\.0\.1:\d+ refused the login \(.*no encryption\).*sslmode/i,
    );
  }, 60_000);
});
