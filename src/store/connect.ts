/**
 * The service's Postgres: the pool every verb runs on, the store over it, and a readiness ping.
 *
 * Every verb is one statement or one transaction, with no named prepared statement and no session
 * state, so the pool may go through a transaction-pooling PgBouncer. LISTEN needs a session: it
 * gets its connections from `directUrl` (DATABASE_DIRECT_URL) when that names another URL.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import { createStore } from './create.js';
import type { Store } from './types.js';

export interface ConnectOptions {
  /** DATABASE_URL. */
  databaseUrl: string;
  /**
   * DATABASE_DIRECT_URL when set: LISTEN connections are opened there (a pool of their own).
   * Unset or equal to `databaseUrl`: they come from the main pool.
   */
  directUrl?: string | undefined;
  /** How long a new LISTEN connection waits for its own probe NOTIFY (listen.ts). Default 5 s. */
  listenProbeMs?: number | undefined;
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
  const direct = opts.directUrl !== undefined && opts.directUrl !== opts.databaseUrl;
  // At most a few LISTEN connections at once (the alert loop, the demo's printer): each is
  // destroyed when its watch closes, so the pool only bounds them.
  const listenPool = direct
    ? new pg.Pool({ connectionString: opts.directUrl, max: 4, connectionTimeoutMillis: 10_000 })
    : undefined;
  listenPool?.on('error', (err) => log.warn({ err: err.message }, 'LISTEN connection lost'));
  listenPool?.on('connect', (client) => {
    client.on('error', (err) => log.debug({ err: err.message }, 'Postgres LISTEN connection error'));
  });
  let probe: pg.Pool | undefined;
  let closed: Promise<void> | undefined;
  return {
    pool,
    store: createStore({
      pool,
      log,
      listenPool,
      listenVia: direct ? 'DATABASE_DIRECT_URL' : 'DATABASE_URL',
      listenProbeMs: opts.listenProbeMs,
    }),
    async ping() {
      if (!probe) {
        probe = new pg.Pool({ connectionString: opts.databaseUrl, max: 1, connectionTimeoutMillis: 2_000 });
        probe.on('error', () => {});
        probe.on('connect', (client) => client.on('error', () => {}));
      }
      await probe.query('SELECT 1');
    },
    close() {
      closed ??= Promise.all([pool.end(), probe?.end(), listenPool?.end()]).then(() => undefined);
      return closed;
    },
  };
}
