/**
 * The migration runner: creates the database when missing, then applies drizzle-kit's
 * `migrations/` in ONE transaction under a transaction-scoped advisory lock, so several processes
 * starting at once (a fleet of `start` workers, or `migrate` next to them) are safe: one migrates,
 * the others wait and find nothing left to do.
 *
 * Why not drizzle's own migrator under a session lock (as before): a session lock outlives the
 * transaction, and behind a transaction-pooling PgBouncer the statements after it may run on
 * another server connection — the unlock too, leaving the lock held on a pooled connection until
 * PgBouncer closes it, and the next migrator waiting on it. Everything here is one transaction, so
 * it keeps its server connection and its lock ends with it, whatever URL it is given. It records
 * in drizzle's table exactly what drizzle's migrator records (`hash`, `created_at` = the journal's
 * `when`), so either can pick up after the other.
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
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
  /** The variable the URL came from, named when the server is not reachable. Default DATABASE_URL. */
  variable?: 'DATABASE_URL' | 'DATABASE_DIRECT_URL' | undefined;
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
 * The database of the URL does not exist: 3D000 (invalid_catalog_name) from Postgres, or, through
 * PgBouncer, its own 08P01 "database "x" does not exist" (it forwards no SQLSTATE of a login it
 * made for us).
 */
export function isMissingDatabase(err: unknown): boolean {
  const code = errCode(err);
  if (code === '3D000') return true;
  const message = err instanceof Error ? err.message : '';
  return code === '08P01' && /^database ".*" does not exist$/.test(message);
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
function connectError(err: unknown, databaseUrl: string, variable: string): Error {
  if (isConnectionRefused(err)) {
    const u = new URL(databaseUrl);
    const where = `${u.hostname || 'localhost'}:${u.port || '5432'}`;
    return new RetryableError(
      `Postgres is not reachable at ${where} (connection refused): start it there, or point ${variable} at the server`,
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
      if (!isMissingDatabase(err)) throw err;
      await createDatabase(databaseUrl, log);
      client = await connect(databaseUrl);
    }
  } catch (err) {
    throw connectError(err, databaseUrl, opts.variable ?? 'DATABASE_URL');
  }

  try {
    const applied = await applyPending(client, migrationsFolder);
    log.info({ database: databaseName(databaseUrl), applied }, 'migrations applied');
    return { applied };
  } catch (err) {
    throw coerceDbError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The pending migrations, applied in one transaction that first takes the migration lock: the
 * migrations table is created and read under it, so a waiter reads what the winner committed.
 * Returns how many were applied; on any error nothing of it stays.
 */
async function applyPending(client: pg.Client, migrationsFolder: string): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder });
  const schema = quoteIdent(MIGRATIONS_SCHEMA);
  const table = `${schema}.${quoteIdent(MIGRATIONS_TABLE)}`;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
    );
    // As drizzle's migrator: what was made after the last recorded migration is pending.
    const { rows } = await client.query<{ created_at: string | null }>(
      `SELECT created_at::text FROM ${table} ORDER BY created_at DESC LIMIT 1`,
    );
    const last = rows[0]?.created_at == null ? undefined : Number(rows[0].created_at);
    let applied = 0;
    for (const m of migrations) {
      if (last !== undefined && last >= m.folderMillis) continue;
      for (const statement of m.sql) await client.query(statement);
      await client.query(`INSERT INTO ${table} (hash, created_at) VALUES ($1, $2)`, [m.hash, m.folderMillis]);
      applied++;
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
