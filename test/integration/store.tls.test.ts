/**
 * Postgres over TLS, as the README documents it: `DATABASE_URL=…?sslmode=verify-full&sslrootcert=…`.
 * A second Postgres server of the machine's own package runs in a temporary data directory with
 * `ssl=on`, on a certificate signed by a CA made here with openssl, and its pg_hba.conf admits TCP
 * connections over TLS only (`hostssl`): a connection that works there went through TLS. `sync
 * --once` runs against it as a child process (migrations, the diff transactions and the pool).
 * Without the CA, or without TLS, the command stops with one line naming Postgres, exit 1.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { expectOneLine, runCli } from '../helpers/child.js';
import { useFilePipeline } from '../helpers/pipeline.js';
import { ownPostgresAvailable, startOwnPostgres, useOwnServer } from '../helpers/servers.js';
import { has, useCertificates } from '../helpers/tls.js';

const available = ownPostgresAvailable() && has('openssl', ['version']);

const pl = useFilePipeline({
  workers: false,
  sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
});
const certs = useCertificates(available);
const server = useOwnServer(available, () => startOwnPostgres({ tls: certs() }));

const url = (query: string) => `${server().url('classiclink_tls')}${query}`;

/** Runs `sync --once` on `databaseUrl`, expects exit 1 with one line and no stack; returns the line. */
async function failsWithOneLine(databaseUrl: string): Promise<string> {
  const r = await runCli(['sync', '--once'], { ...pl.childEnv, DATABASE_URL: databaseUrl });
  expect(r.code).toBe(1);
  return expectOneLine(r);
}

describe.skipIf(!available)('Postgres over TLS (sslmode, sslrootcert)', () => {
  it('sync --once creates, migrates and writes its database over TLS when the CA is given', async () => {
    const r = await runCli(['sync', '--once', '--json'], {
      ...pl.childEnv,
      DATABASE_URL: url(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs().ca)}`),
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; targets: { status: string }[] };
    expect(body.targets.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);

    const client = new pg.Client({
      connectionString: url(''),
      ssl: { ca: readFileSync(certs().ca, 'utf8') },
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
