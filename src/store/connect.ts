/**
 * The service's Postgres: the pool every verb runs on, the store over it, and a readiness ping.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import { createStore } from './create.js';
import type { Store } from './types.js';

export interface ConnectOptions {
  /** DATABASE_URL. */
  databaseUrl: string;
  /** Connections in the pool at most. */
  maxConnections: number;
  log: Logger;
}

export interface Database {
  pool: pg.Pool;
  store: Store;
  /**
   * SELECT 1 for /readyz, over a one-connection pool of its own (opened at the first ping): the
   * shared pool may be busy with sync jobs, and a probe must answer or fail fast.
   */
  ping(): Promise<void>;
  /** Ends both pools. Idempotent. */
  close(): Promise<void>;
}

export function connectDatabase(opts: ConnectOptions): Database {
  const { log } = opts;
  const pool = new pg.Pool({
    connectionString: opts.databaseUrl,
    max: opts.maxConnections,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process: the
  // pool drops it and the next query opens a new one.
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle Postgres connection lost'));
  // A client can also hear from a dying server while the pool is ending it (after removal from
  // the pool's idle list): without a listener that 'error' event would crash the process.
  pool.on('connect', (client) => {
    client.on('error', (err) => log.debug({ err: err.message }, 'Postgres connection error'));
  });
  let probe: pg.Pool | undefined;
  let closed: Promise<void> | undefined;
  return {
    pool,
    store: createStore({ pool, log }),
    async ping() {
      if (!probe) {
        probe = new pg.Pool({ connectionString: opts.databaseUrl, max: 1, connectionTimeoutMillis: 2_000 });
        probe.on('error', () => {});
        probe.on('connect', (client) => client.on('error', () => {}));
      }
      await probe.query('SELECT 1');
    },
    close() {
      closed ??= Promise.all([pool.end(), probe?.end()]).then(() => undefined);
      return closed;
    },
  };
}
