/**
 * The demo's database: dropped and recreated by every run, and marked (its comment) as the
 * demo's, so a database of the same name that someone else created is refused, never dropped.
 */
import pg from 'pg';
import { maintenanceUrl, quoteIdent } from './migrate.js';

export interface MarkedDatabase {
  /** A URL on the server to use (any database of it). */
  serverUrl: string;
  /** The database to recreate. */
  name: string;
  /** Its comment: what says it is ours. */
  mark: string;
}

/**
 * Drops and recreates `name`, marked with `mark`. A database of that name without the mark is
 * left as it is: 'not-ours'.
 */
export async function recreateMarkedDatabase(db: MarkedDatabase): Promise<'recreated' | 'not-ours'> {
  const client = new pg.Client({ connectionString: maintenanceUrl(db.serverUrl) });
  await client.connect();
  try {
    const { rows } = await client.query<{ mark: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1`,
      [db.name],
    );
    if (rows[0] && rows[0].mark !== db.mark) return 'not-ours';
    const name = quoteIdent(db.name);
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
    await client.query(`COMMENT ON DATABASE ${name} IS ${client.escapeLiteral(db.mark)}`);
    return 'recreated';
  } finally {
    await client.end();
  }
}
