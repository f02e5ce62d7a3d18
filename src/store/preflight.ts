/**
 * Before a command starts work: is Postgres there, does it let us in, and (for the read commands)
 * is the database migrated? If not, one line says which and what to do (src/reach.ts), instead of
 * retrying silently, printing a stack trace or a raw SQLSTATE. Passwords never appear: the
 * server's messages do not carry them, and the line names the host and port, not the URL.
 */
import pg from 'pg';
import { ConfigError } from '../config.js';
import { CONNECT_TIMEOUT_MS, codeOf, hostPort, messageOf, UnreachableError, unreachable } from '../reach.js';
import { databaseName, isMissingDatabase, pendingMigrations } from './migrate.js';

/** The database exists but is not (fully) migrated, or does not exist: the read commands stop. */
class NotMigratedError extends ConfigError {}

/**
 * The server answered and refused us: 28P01 (invalid_password), 28000
 * (invalid_authorization_specification: no pg_hba.conf entry, a role that does not exist), or
 * node-postgres's own "the server wants a password and the URL gave none" (SASL / md5).
 */
function postgresLoginRefused(where: string, variable: string, err: unknown): string | undefined {
  const code = codeOf(err);
  const why = messageOf(err);
  if (code === '28P01' || /password authentication failed/i.test(why)) {
    return `Postgres at ${where} refused the login (${why}): check the user and password in ${variable}`;
  }
  if (/client password must be a string/i.test(why)) {
    return `Postgres at ${where} asks for a password and ${variable} has none: add it (postgres://USER:PASSWORD@${where}/DATABASE)`;
  }
  if (code === '28000') {
    return /pg_hba\.conf/.test(why)
      ? `Postgres at ${where} refused the login (${why}): check the user, the database and sslmode in ${variable}, or the server's pg_hba.conf`
      : `Postgres at ${where} refused the login (${why}): check the user in ${variable}`;
  }
  return undefined;
}

/** One line for a failed Postgres connect: a refused login, or a server out of reach. */
function describePostgresError(url: string, variable: string, err: unknown): string {
  const where = hostPort(url, 5432);
  return (
    postgresLoginRefused(where, variable, err) ??
    unreachable('Postgres', variable, where, err) ??
    `cannot reach Postgres at ${where} (${messageOf(err)})`
  );
}

export interface PostgresCheck {
  /**
   * The database must exist and carry every migration of this version (the read commands, which
   * create nothing). Otherwise a missing database is fine: `migrate` and `start` create it.
   */
  migrated?: boolean | undefined;
  /** The variable the URL came from, named in the line. Default DATABASE_URL. */
  variable?: 'DATABASE_URL' | 'DATABASE_DIRECT_URL' | 'QUEUE_DATABASE_URL' | undefined;
}

/**
 * Connects to the URL's database: reachable, logged in, and (with `migrated`) ready to read.
 * Resolves whether the database exists (without `migrated`, a missing one is no error).
 */
export async function checkPostgres(url: string, opts: PostgresCheck = {}): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  const where = hostPort(url, 5432);
  const name = databaseName(url);
  const variable = opts.variable ?? 'DATABASE_URL';
  try {
    try {
      await client.connect();
      await client.query('SELECT 1');
    } catch (err) {
      // The server let us in (authentication comes first), and the database is not there yet.
      if (isMissingDatabase(err)) {
        if (!opts.migrated) return false;
        throw new NotMigratedError(
          `database "${name}" does not exist on ${where}: run \`classiclink-sync migrate\` (it creates it), or check the database name in ${variable}`,
        );
      }
      throw new UnreachableError(describePostgresError(url, variable, err));
    }
    if (opts.migrated) {
      const pending = await pendingMigrations(client);
      if (pending > 0) {
        throw new NotMigratedError(
          `database "${name}" on ${where} is not migrated (${pending} migration(s) to apply): run \`classiclink-sync migrate\``,
        );
      }
    }
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}
