/**
 * Before a command starts work: are Postgres and Redis there, do they let us in, and (for the
 * read commands) is the database migrated? If not, one line says which, names the host and port
 * of the URL in use, and says what to do, instead of retrying silently, printing a stack trace
 * or a raw SQLSTATE. Passwords never appear: the servers' messages do not carry them, and the
 * line names the host and port, not the URL.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { ConfigError } from '../config.js';
import { databaseName, pendingMigrations } from '../store/index.js';

export const TLS_HINT =
  'its TLS certificate is not trusted: give the CA that signed it in NODE_EXTRA_CA_CERTS=/path/to/ca.pem (for Postgres also sslrootcert= in DATABASE_URL)';

/** How long a check waits for a server to answer. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A dependency is unreachable or refuses us: the message is the one line to print. */
export class UnreachableError extends ConfigError {}

/** The database exists but is not (fully) migrated, or does not exist: the read commands stop. */
export class NotMigratedError extends ConfigError {}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return messageOf(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}

/** Node codes of a connect that found nobody (AggregateError: one per address of `localhost`). */
function networkCode(err: unknown): string | undefined {
  const code = codeOf(err);
  if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET)$/.test(code)) {
    return code;
  }
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const c = networkCode(e);
      if (c !== undefined) return c;
    }
  }
  return undefined;
}

/** A TLS handshake refused the server's certificate (Node's codes, or the message of one). */
function isCertificateError(err: unknown): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(codeOf(err)) || /certificate/i.test(messageOf(err));
}

/** `host:port` of a URL, with the default port when it names none. */
export function hostPort(url: string, defaultPort: number): string {
  try {
    const u = new URL(url);
    // A Postgres URL may name a Unix socket directory in ?host= instead of a host.
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${host}:${u.port || defaultPort}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Why a connect failed, as the end of one line: unreachable (refused, unknown host, no answer),
 * an untrusted certificate, or anything else the server or the driver said.
 */
function unreachable(what: string, variable: string, where: string, err: unknown): string | undefined {
  const why = messageOf(err);
  if (isCertificateError(err)) return `cannot reach ${what} at ${where} (${why}); ${TLS_HINT}`;
  switch (networkCode(err)) {
    case 'ECONNREFUSED':
      return `cannot reach ${what} at ${where}: connection refused (nothing listens there); start ${what} on ${where}, or point ${variable} at the server`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${what} at ${where}: the host name does not resolve (${why}); check the host in ${variable}`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${what} at ${where}: no answer (${why}); check the host and port in ${variable}, and any firewall between`;
    case 'ECONNRESET':
      return `cannot reach ${what} at ${where}: the connection was closed (${why}); is ${where} a ${what} server, and does it want TLS?`;
    default:
      if (/timeout|timed out/i.test(why)) {
        return `cannot reach ${what} at ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000}s; check the host and port in ${variable}, and any firewall between`;
      }
      return undefined;
  }
}

/**
 * The server answered and refused us: 28P01 (invalid_password), 28000
 * (invalid_authorization_specification: no pg_hba.conf entry, a role that does not exist), or
 * node-postgres's own "the server wants a password and the URL gave none" (SASL / md5).
 */
function postgresLoginRefused(where: string, err: unknown): string | undefined {
  const code = codeOf(err);
  const why = messageOf(err);
  if (code === '28P01' || /password authentication failed/i.test(why)) {
    return `Postgres at ${where} refused the login (${why}): check the user and password in DATABASE_URL`;
  }
  if (/client password must be a string/i.test(why)) {
    return `Postgres at ${where} asks for a password and DATABASE_URL has none: add it (postgres://USER:PASSWORD@${where}/DATABASE)`;
  }
  if (code === '28000') {
    return /pg_hba\.conf/.test(why)
      ? `Postgres at ${where} refused the login (${why}): check the user, the database and sslmode in DATABASE_URL, or the server's pg_hba.conf`
      : `Postgres at ${where} refused the login (${why}): check the user in DATABASE_URL`;
  }
  return undefined;
}

/** One line for a failed Postgres connect: a refused login, or a server out of reach. */
export function describePostgresError(url: string, err: unknown): string {
  const where = hostPort(url, 5432);
  return (
    postgresLoginRefused(where, err) ??
    unreachable('Postgres', 'DATABASE_URL', where, err) ??
    `cannot reach Postgres at ${where} (${messageOf(err)})`
  );
}

/** One line for a failed Redis connect: WRONGPASS / NOAUTH are a login refused, not an outage. */
export function describeRedisError(url: string, err: unknown): string {
  const where = hostPort(url, 6379);
  const why = messageOf(err);
  if (/^NOAUTH/.test(why)) {
    return `Redis at ${where} needs a password (${why}): put it in REDIS_URL, e.g. redis://:PASSWORD@${where}`;
  }
  if (/^WRONGPASS/.test(why) || /invalid password|invalid username-password/i.test(why)) {
    return `Redis at ${where} refused the login (${why}): check the user and password in REDIS_URL`;
  }
  return unreachable('Redis', 'REDIS_URL', where, err) ?? `cannot reach Redis at ${where} (${why})`;
}

export interface PostgresCheck {
  /**
   * The database must exist and carry every migration of this version (the read commands, which
   * create nothing). Otherwise a missing database is fine: `migrate` and `start` create it.
   */
  migrated?: boolean | undefined;
}

/** Connects to the URL's database: reachable, logged in, and (with `migrated`) ready to read. */
export async function checkPostgres(url: string, opts: PostgresCheck = {}): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  const where = hostPort(url, 5432);
  const name = databaseName(url);
  try {
    try {
      await client.connect();
      await client.query('SELECT 1');
    } catch (err) {
      // 3D000 invalid_catalog_name: the server let us in (authentication comes first), and the
      // database is not there yet.
      if (codeOf(err) === '3D000') {
        if (!opts.migrated) return;
        throw new NotMigratedError(
          `database "${name}" does not exist on ${where}: run \`classiclink-sync migrate\` (it creates it), or check the database name in DATABASE_URL`,
        );
      }
      throw new UnreachableError(describePostgresError(url, err));
    }
    if (opts.migrated) {
      const pending = await pendingMigrations(client);
      if (pending > 0) {
        throw new NotMigratedError(
          `database "${name}" on ${where} is not migrated (${pending} migration(s) to apply): run \`classiclink-sync migrate\``,
        );
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
}

export async function checkRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The connection's own error says why (a refused certificate, say); the rejection of connect()
  // after it only says "Connection is closed."
  let cause: unknown;
  client.on('error', (err) => {
    cause ??= err;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new UnreachableError(describeRedisError(url, cause ?? err));
  } finally {
    client.disconnect();
  }
}
