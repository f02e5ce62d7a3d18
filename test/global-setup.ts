/**
 * Vitest global setup: checks that the machine's Postgres and Redis answer, and says exactly how
 * to start them if not; then migrates a template database that every test database is cloned
 * from (`test/helpers/db.ts`), and provides its name to the tests (`inject('templateDb')`).
 *
 * Why a template per run, not one fixed `classiclink_template`: several people (and CI) run the
 * suite at once against the same server; dropping a shared template while another run clones it
 * breaks that run. Each run migrates its own template (named with its creation time) and drops it
 * in teardown; templates left by killed runs are dropped by the next run once they are old.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createLogger } from '../src/log.js';
import { migrateDatabase, quoteIdent } from '../src/store/migrate.js';
import { adminUrl, TEMPLATE_PREFIX, testDatabaseUrl } from './helpers/db.js';

const PG_START = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
const REDIS_START =
  'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';

/** Templates of killed runs older than this are dropped at setup. */
const STALE_TEMPLATE_SECONDS = 6 * 3600;

declare module 'vitest' {
  export interface ProvidedContext {
    /** The migrated template database every test database is cloned from. */
    templateDb: string;
  }
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dropStaleTemplates(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE $1`,
    [`${TEMPLATE_PREFIX}%`],
  );
  const now = Math.floor(Date.now() / 1000);
  for (const { datname } of rows) {
    const created = Number(datname.slice(TEMPLATE_PREFIX.length).split('_')[0]);
    if (Number.isFinite(created) && now - created > STALE_TEMPLATE_SECONDS) {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!(await reachable(5432)))
    throw new Error(`Postgres is not reachable on 127.0.0.1:5432; start it with: ${PG_START}`);
  if (!(await reachable(6379)))
    throw new Error(`Redis is not reachable on 127.0.0.1:6379; start it with: ${REDIS_START}`);

  const templateDb = `${TEMPLATE_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  await withAdmin(async (client) => {
    await dropStaleTemplates(client);
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(templateDb)} WITH (FORCE)`);
  });
  await migrateDatabase({ databaseUrl: testDatabaseUrl(templateDb), log: createLogger({ level: 'silent' }) });
  project.provide('templateDb', templateDb);

  return async () => {
    await withAdmin((client) =>
      client.query(`DROP DATABASE IF EXISTS ${quoteIdent(templateDb)} WITH (FORCE)`),
    );
  };
}
