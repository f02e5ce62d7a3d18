/**
 * Before a command starts work: are Postgres and Redis there? If not, say exactly how to start
 * them instead of retrying silently or printing a stack trace.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { ConfigError } from './config.js';
import { scrubUrl } from './log.js';

export const PG_HINT =
  'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or: docker compose up -d postgres)';
export const REDIS_HINT =
  'start it with: redis-server --daemonize yes --port 6379 --save "" --appendonly no   (or: docker compose up -d redis)';

export const TLS_HINT =
  'its TLS certificate is not trusted: give the CA that signed it in NODE_EXTRA_CA_CERTS=/path/to/ca.pem (for Postgres also sslrootcert= in DATABASE_URL)';

/** A TLS handshake refused the server's certificate (Node's codes, or the message of one). */
function isCertificateError(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const message = err instanceof Error ? err.message : String(err);
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code) || /certificate/i.test(message);
}

/** A dependency is unreachable: the message is the one line to print. */
export class UnreachableError extends ConfigError {}

export async function checkPostgres(url: string): Promise<void> {
  // Connect to the server's `postgres` database: the target database may not exist yet (migrate creates it).
  const u = new URL(url);
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const hint = isCertificateError(err) ? TLS_HINT : PG_HINT;
    throw new UnreachableError(`cannot reach Postgres at ${scrubUrl(url)} (${why}); ${hint}`);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function checkRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
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
    const reason = cause ?? err;
    const why = reason instanceof Error ? reason.message : String(reason);
    const hint = isCertificateError(reason) ? TLS_HINT : REDIS_HINT;
    throw new UnreachableError(`cannot reach Redis at ${scrubUrl(url)} (${why}); ${hint}`);
  } finally {
    client.disconnect();
  }
}
