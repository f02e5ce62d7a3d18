/**
 * Fresh databases for tests, all made here. A test database is cloned from the template that
 * global-setup migrated: `CREATE DATABASE … TEMPLATE` copies files, so a fresh, fully migrated
 * database is cheap. It is dropped after a passing test and kept after a failing one, so the rows
 * a failing test left can be inspected with psql (its name is printed).
 *
 * Two variants, each for what a test checks: an empty (unmigrated) database, for the commands
 * that must say "run migrate"; and an absent one (`useAbsentDbs`), a name that does NOT exist,
 * for what must create a database (migrate) or must not (a start refused by a bad setting).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, expect, inject } from 'vitest';
import { quoteIdent } from '../../src/store/migrate.js';

export const TEMPLATE_PREFIX = 'classiclink_template_';
const TEST_DB_PREFIX = 'classiclink_test_';

/** The server under test: `TEST_DATABASE_URL` (any database on it), default the machine's Postgres. */
function serverUrl(): URL {
  return new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
}

/** URL of database `name` on the test server. */
export function testDatabaseUrl(name: string): string {
  const u = serverUrl();
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

/** URL of the server's `postgres` database, for CREATE / DROP DATABASE. */
export function adminUrl(): string {
  return testDatabaseUrl('postgres');
}

/** A unique database name with `prefix` (no dashes: it stays a plain identifier). */
function uniqueDbName(prefix: string): string {
  return `${prefix}${randomUUID().replace(/-/g, '')}`;
}

async function adminQuery<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Drops a database, disconnecting whoever is still in it (PG13+). */
export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

async function databaseExists(name: string): Promise<boolean> {
  const rows = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length > 0;
}

export interface TestDb {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Closes the pool, then drops the database unless `keep` (then prints its name). Idempotent. */
  drop(opts?: { keep?: boolean }): Promise<void>;
}

export interface TestDbOptions {
  /** A clone of the migrated template (default), or an empty database that was never migrated. */
  migrated?: boolean;
  /** Its name; default a unique name. A fixed name is for a test that owns that name. */
  name?: string;
}

/** Creates a database on the test server: by default a uniquely named clone of the template. */
export async function createTestDb(opts: TestDbOptions = {}): Promise<TestDb> {
  const name = opts.name ?? uniqueDbName(TEST_DB_PREFIX);
  const template = opts.migrated === false ? '' : ` TEMPLATE ${quoteIdent(inject('templateDb'))}`;
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}${template}`);
  const url = testDatabaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // DROP DATABASE … WITH (FORCE) terminates connections that are still closing; their 'error'
  // must not become an unhandled error of the test run.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  let dropped: Promise<void> | undefined;
  return {
    name,
    url,
    pool,
    drop(dropOpts) {
      dropped ??= (async () => {
        await pool.end();
        if (dropOpts?.keep) {
          console.warn(`test database kept for inspection: psql ${url}`);
          return;
        }
        await dropDatabase(name);
      })();
      return dropped;
    },
  };
}

export interface UseTestDbOptions {
  /**
   * `file` (default): one database for the calling file, dropped in `afterAll`. `test`: one per
   * test, dropped after it — for code that claims every due row of its database (a delivery
   * loop), where tests sharing one would take each other's rows.
   */
  each?: 'file' | 'test';
  /**
   * Every test must end with no client checked out of the pool: a transaction helper that
   * forgets to release on an error path fails the test that hit it.
   */
  checkLeaks?: boolean;
}

/**
 * Registers a test database for the calling test file: created on first use, dropped when every
 * test it served passed, kept when one failed (pg-boss style).
 *
 *   const db = useTestDb();
 *   it('…', async () => { const { pool } = await db(); … });
 */
export function useTestDb(opts: UseTestDbOptions = {}): () => Promise<TestDb> {
  const perTest = opts.each === 'test';
  let created: Promise<TestDb> | undefined;
  let failed = false;
  beforeEach(({ onTestFailed }) => {
    if (perTest) failed = false;
    onTestFailed(() => {
      failed = true;
    });
  });
  afterEach(async () => {
    const current = created;
    if (!current) return;
    const { pool, drop } = await current;
    const leaked = { checkedOut: pool.totalCount - pool.idleCount, waiting: pool.waitingCount };
    if (perTest) {
      created = undefined;
      await drop({ keep: failed });
    }
    if (opts.checkLeaks) expect(leaked).toEqual({ checkedOut: 0, waiting: 0 });
  });
  afterAll(async () => {
    if (created) await (await created).drop({ keep: failed });
  });
  return () => {
    created ??= createTestDb();
    return created;
  };
}

export interface AbsentDb {
  name: string;
  url: string;
  /** True once something created it. */
  exists(): Promise<boolean>;
}

/**
 * Names of databases that do NOT exist, each unique with `prefix`: for tests of what creates a
 * database (migrate) or must never create one. Whatever got created is dropped after each test.
 */
export function useAbsentDbs(): (prefix: string) => AbsentDb {
  const handedOut: string[] = [];
  afterEach(async () => {
    for (const name of handedOut.splice(0)) await dropDatabase(name);
  });
  return (prefix) => {
    const name = uniqueDbName(prefix);
    handedOut.push(name);
    return { name, url: testDatabaseUrl(name), exists: () => databaseExists(name) };
  };
}
