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
    throw new UnreachableError(`cannot reach Postgres at ${scrubUrl(url)} (${why}); ${PG_HINT}`);
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
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UnreachableError(`cannot reach Redis at ${scrubUrl(url)} (${why}); ${REDIS_HINT}`);
  } finally {
    client.disconnect();
  }
}
