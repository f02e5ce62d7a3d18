/**
 * The migration runner: creates the database when missing, then applies `migrations/` with
 * drizzle's migrator while holding a session advisory lock, so several processes starting at once
 * (a fleet of `start` workers, or `migrate` next to them) are safe: one migrates, the others wait
 * and find nothing left to do.
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { coerceError, FatalError, RetryableError } from '../errors.js';
import type { Logger } from '../log.js';
import { PACKAGE_ROOT } from '../package.js';
import { coerceDbError } from './tx.js';

/** Arbitrary fixed key of the migration lock (bigint; per-target locks use hashtextextended). */
export const MIGRATION_LOCK_KEY = '7406392250228';

const MIGRATIONS_SCHEMA = 'drizzle';
const MIGRATIONS_TABLE = '__drizzle_migrations';

export interface MigrateOptions {
  /** postgres:// URL of the database to migrate; it is created if it does not exist. */
  databaseUrl: string;
  log: Logger;
  /** Folder holding drizzle-kit's SQL files and `meta/_journal.json`. Default: the package's `migrations/`. */
  migrationsFolder?: string | undefined;
}

/** The package's `migrations/` folder. */
export function defaultMigrationsFolder(): string {
  return fileURLToPath(new URL('migrations', PACKAGE_ROOT));
}

/** The database name a URL points at (pg's default: the user name). */
export function databaseName(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (name !== '') return name;
  return decodeURIComponent(u.username) || process.env.PGUSER || 'postgres';
}

/**
 * The URL of the server's `postgres` database, on the server of `databaseUrl`: where CREATE and
 * DROP DATABASE run (a session cannot create or drop the database it is connected to).
 */
export function maintenanceUrl(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  u.pathname = '/postgres';
  return u.toString();
}

/** Quotes an SQL identifier (CREATE DATABASE takes no bind parameters). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

/**
 * Node 20 answers a refused connect to `localhost` with an AggregateError (one error per address);
 * look through it for ECONNREFUSED.
 */
function isConnectionRefused(err: unknown): boolean {
  if (errCode(err) === 'ECONNREFUSED') return true;
  if (err instanceof AggregateError) return err.errors.some(isConnectionRefused);
  return false;
}

/** Turns a connect failure into an error that tells the operator what to do. */
function connectError(err: unknown, databaseUrl: string): Error {
  if (isConnectionRefused(err)) {
    const u = new URL(databaseUrl);
    const where = `${u.hostname || 'localhost'}:${u.port || '5432'}`;
    return new RetryableError(
      `Postgres is not reachable at ${where} (connection refused): start it there, or point DATABASE_URL at the server`,
      { code: 'PG_UNREACHABLE', cause: err },
    );
  }
  return coerceError(err);
}

async function connect(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'classiclink-sync migrate',
  });
  try {
    await client.connect();
  } catch (err) {
    // A failed connect leaves the client unusable; end() is still needed to drop its socket.
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/**
 * Creates the database named by the URL through the server's `postgres` database. Another process
 * may create it between our check and our CREATE: 42P04 (duplicate_database), or 23505 when both
 * race inside the catalog's unique index, both mean "it exists now", which is all we want.
 */
async function createDatabase(databaseUrl: string, log: Logger): Promise<void> {
  const name = databaseName(databaseUrl);
  const client = await connect(maintenanceUrl(databaseUrl));
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    log.info({ database: name }, 'created database');
  } catch (err) {
    const code = errCode(err);
    if (code !== '42P04' && code !== '23505') throw err;
  } finally {
    await client.end();
  }
}

async function countApplied(client: pg.Client): Promise<number> {
  const table = `${quoteIdent(MIGRATIONS_SCHEMA)}.${quoteIdent(MIGRATIONS_TABLE)}`;
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  if (exists.rows[0]?.t == null) return 0;
  const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]?.n ?? 0;
}

/**
 * How many of the package's migrations the database `client` is connected to lacks: all of them
 * when it was never migrated. The read commands check it first, so an unmigrated database says
 * "run migrate" instead of a missing relation's SQLSTATE.
 */
export async function pendingMigrations(
  client: pg.Client,
  migrationsFolder = defaultMigrationsFolder(),
): Promise<number> {
  const journal: unknown = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8'));
  const entries =
    typeof journal === 'object' && journal !== null && 'entries' in journal && Array.isArray(journal.entries)
      ? journal.entries.length
      : 0;
  return Math.max(0, entries - (await countApplied(client)));
}

/** Creates the database if needed and applies every pending migration. Returns how many were applied. */
export async function migrateDatabase(opts: MigrateOptions): Promise<{ applied: number }> {
  const { databaseUrl, log } = opts;
  const migrationsFolder = opts.migrationsFolder ?? defaultMigrationsFolder();
  if (!existsSync(`${migrationsFolder}/meta/_journal.json`)) {
    throw new FatalError(`no migrations found in ${migrationsFolder} (meta/_journal.json is missing)`, {
      code: 'MIGRATIONS_MISSING',
    });
  }

  let client: pg.Client;
  try {
    try {
      client = await connect(databaseUrl);
    } catch (err) {
      // 3D000 invalid_catalog_name: the database does not exist yet.
      if (errCode(err) !== '3D000') throw err;
      await createDatabase(databaseUrl, log);
      client = await connect(databaseUrl);
    }
  } catch (err) {
    throw connectError(err, databaseUrl);
  }

  try {
    // A session lock on this dedicated client (not the pool) so it spans the migrator's several
    // statements and its transaction; it is released by the unlock below, or by the server when
    // the connection drops if this process dies mid-way.
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      const before = await countApplied(client);
      await migrate(drizzle({ client }), {
        migrationsFolder,
        migrationsSchema: MIGRATIONS_SCHEMA,
        migrationsTable: MIGRATIONS_TABLE,
      });
      const applied = (await countApplied(client)) - before;
      log.info({ database: databaseName(databaseUrl), applied }, 'migrations applied');
      return { applied };
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
    }
  } catch (err) {
    throw coerceDbError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}
