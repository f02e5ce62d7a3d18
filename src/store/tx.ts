/** Transaction plumbing shared by the store's verbs. */
import { DrizzleQueryError } from 'drizzle-orm';
import type pg from 'pg';
import { coerceError, type FatalError, type RetryableError } from '../errors.js';
import type { TargetRef } from '../links.js';

/**
 * `coerceError` for database calls. drizzle wraps driver errors in a DrizzleQueryError ("Failed
 * query: …", no SQLSTATE) and keeps pg's error as `cause`: classify the cause, so a serialization
 * failure or a lost connection still retries and the message names what Postgres said.
 */
export function coerceDbError(err: unknown): RetryableError | FatalError {
  if (err instanceof DrizzleQueryError && err.cause !== undefined) return coerceError(err.cause);
  return coerceError(err);
}

/** Takes a client from the pool, with a failed connect coerced. */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (err) {
    throw coerceDbError(err);
  }
}

/**
 * Runs `fn` in one transaction on one pooled client. Whatever is thrown leaves as a
 * RetryableError or FatalError (`coerceError`): serialization failures, deadlocks and lost
 * connections retry. A client whose ROLLBACK failed is destroyed rather than returned to the pool.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await checkout(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw coerceDbError(err);
  } finally {
    client.release(broken);
  }
}

/** Runs one statement on the pool, with errors coerced. */
export async function query<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (err) {
    throw coerceDbError(err);
  }
}

/**
 * The text hashed (hashtextextended) into the per-target advisory lock key. Two targets whose
 * keys collide only serialise their transactions; a collision never mixes their data.
 */
export function targetLockText(t: TargetRef): string {
  return `${t.account}/${t.regionId}/${t.vpcId}`;
}

/** Postgres error messages may be long (and error_message is shown in `status`): cap them. */
export function truncate(text: string, max = 2000): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Text Postgres can store: a NUL (U+0000) is refused in `text` and `jsonb` alike, and one NUL in
 * one tag would fail the whole batch for ever. It becomes U+FFFD; everything else is kept verbatim.
 */
export function storable(text: string): string;
export function storable(text: string | null): string | null;
export function storable(text: string | null): string | null {
  return text === null || !text.includes('\0') ? text : text.replaceAll('\0', '\uFFFD');
}

/** A tag map as storable JSON text (keys and values through `storable`). */
export function storableTags(tags: Record<string, string>): string {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) out[storable(k)] = storable(v);
  return JSON.stringify(out);
}
