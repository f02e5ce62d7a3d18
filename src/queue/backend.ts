/**
 * Where BullMQ keeps this deployment's queues (QUEUE_BACKEND): Redis, to scale out, or BullMQ 6's
 * PostgreSQL backend in a schema of its own (`queueSchema`), so one database runs everything. Every
 * BullMQ class of the process is built from here: the connection each needs and the backend
 * factory that goes with it. The rest of the queue room does not know which backend it runs on.
 */
import {
  type BackendFactory,
  createRedisBackend,
  type IQueueBackend,
  PostgresConnection,
  type PostgresConnectionOptions,
  PostgresQueueBackend,
  type QueueBaseOptions,
  runMigrations,
} from 'bullmq';
import pg from 'pg';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';
import { hostPort } from '../reach.js';
import { queuePrefix, queueSchema } from './keys.js';
import {
  closeRedis,
  duplicateRedis,
  openRedis,
  openRedisProbe,
  type RedisConnection,
  type RedisSettings,
} from './redis.js';

export type QueueBackendKind = 'redis' | 'postgres';

/** What the configuration says about the queue backend (config.ts resolves the default). */
export type QueueBackendSpec =
  | { kind: 'redis'; redis: RedisSettings; prefix: string }
  | { kind: 'postgres'; databaseUrl: string; prefix: string };

/** The role a BullMQ object plays: a producer, a worker (blocks), a reader of the events (blocks). */
type Role = 'queue' | 'worker' | 'events';

/** The options and factory one BullMQ object is built with, and what closes its own connection. */
export interface BullArgs {
  options: { connection: unknown; prefix?: string };
  factory: BackendFactory<IQueueBackend, unknown>;
  /** Closes what was opened for this object alone (after the object itself is closed). */
  release(): Promise<void>;
}

/** The fleet-wide API limiter's store on this backend (aliyun/limiter.ts builds the limiter). */
export type LimiterStore =
  | { kind: 'redis'; redis: RedisConnection; keyPrefix: string }
  | { kind: 'postgres'; pool: pg.Pool; schema: string; table: string; keyPrefix: string };

export interface QueueBackend {
  readonly kind: QueueBackendKind;
  /** The connection and factory for a new Queue, Worker or QueueEvents. */
  args(role: Role): BullArgs;
  /** The limiter's store, on the queues' own server (under the deployment's prefix or schema). */
  limiterStore(): LimiterStore;
  /** Resolves when the queue server answers now (for /readyz); fails fast. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Postgres connections of the process's one queue pool at most: the workers' claims and finishes
 * (a sync worker runs 2 × SYNC_CONCURRENCY jobs), lock renewals, adds and counts. Plus one LISTEN
 * connection. Idle ones close after 10 s.
 */
const PG_POOL_MAX = 10;

/** The pg settings of the process's queue connection: bounded waits, closed when idle. */
function pgConfig(databaseUrl: string, schema: string) {
  return {
    connectionString: databaseUrl,
    schema,
    max: PG_POOL_MAX,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
  };
}

/**
 * The process's queue connection. Its LISTEN client is shared by every backend of the process, and
 * each issues its own `LISTEN` on it as it starts: at once, several queries on one pg client, which
 * pg runs in turn but warns about (a DeprecationWarning on the console). They are chained here.
 */
class SharedPostgresConnection extends PostgresConnection {
  private readonly serialized = new WeakSet<object>();

  override async getListenClient(): ReturnType<PostgresConnection['getListenClient']> {
    const client = await super.getListenClient();
    if (!this.serialized.has(client)) {
      this.serialized.add(client);
      const run = client.query.bind(client);
      let last: Promise<unknown> = Promise.resolve();
      client.query = ((...args: Parameters<typeof run>) => {
        const next = last.then(() => run(...args));
        last = next.catch(() => undefined);
        return next;
      }) as typeof client.query;
    }
    return client;
  }
}

/** What BullMQ keeps private on its Postgres backend and we reset when the shared LISTEN drops. */
interface ListenState {
  listening: boolean;
  listeningEvents: boolean;
  cancelWait?: (() => void) | undefined;
  cancelEventWait?: (() => void) | undefined;
}

/**
 * A Postgres queue backend on the process's shared connection. BullMQ's own factory gives every
 * Queue, Worker and QueueEvents a connection of its own — a pool and a LISTEN client each, some 40
 * connections per process, which a fleet of a few processes spends Postgres's default 100 on (seen:
 * "too many clients" in the fault suite). One connection serves them all: the jobs' NOTIFY channel
 * names the queue in its payload and each waiter filters on it. BullMQ re-arms only a backend that
 * owns its connection when the LISTEN client is rebuilt, so this one does the same: without it a
 * wait parked on a dead client would sleep its whole block timeout (up to an hour).
 */
class SharedPostgresBackend extends PostgresQueueBackend {
  private readonly rearm: () => void;

  constructor(
    connection: PostgresConnection,
    name: string,
    opts: QueueBaseOptions<PostgresConnectionOptions>,
  ) {
    super(connection, name, opts, false);
    const state = this as unknown as ListenState;
    this.rearm = () => {
      state.listening = false;
      state.listeningEvents = false;
      state.cancelWait?.();
      state.cancelEventWait?.();
    };
    connection.on('listenerinvalidated', this.rearm);
  }

  override async close(force = false): Promise<void> {
    this.connection.off('listenerinvalidated', this.rearm);
    await super.close(force);
  }
}

export function openQueueBackend(spec: QueueBackendSpec, log: Logger): QueueBackend {
  return spec.kind === 'redis' ? openRedisBackend(spec, log) : openPostgresBackend(spec, log);
}

function openRedisBackend(spec: Extract<QueueBackendSpec, { kind: 'redis' }>, log: Logger): QueueBackend {
  const shared = openRedis(spec.redis, log);
  const prefix = queuePrefix(spec.prefix);
  const factory = createRedisBackend as BackendFactory<IQueueBackend, unknown>;
  let probe: ReturnType<typeof openRedisProbe> | undefined;
  return {
    kind: 'redis',
    args(role) {
      // Workers and event readers block on Redis commands: a connection of their own, never the
      // shared one. BullMQ treats a connection it is handed as shared and never closes it.
      if (role === 'queue')
        return { options: { connection: shared, prefix }, factory, release: async () => {} };
      const own = duplicateRedis(shared);
      return { options: { connection: own, prefix }, factory, release: () => closeRedis(own) };
    },
    limiterStore: () => ({ kind: 'redis', redis: shared, keyPrefix: prefix }),
    async ping() {
      probe ??= openRedisProbe(shared, log);
      await probe.ping();
    },
    async close() {
      await probe?.close();
      await closeRedis(shared);
    },
  };
}

function openPostgresBackend(
  spec: Extract<QueueBackendSpec, { kind: 'postgres' }>,
  log: Logger,
): QueueBackend {
  const schema = queueSchema(spec.prefix);
  const config = pgConfig(spec.databaseUrl, schema);
  // One connection for every BullMQ object of the process (SharedPostgresBackend), opened at the
  // first query; its errors are logged here (BullMQ forwards them only to an owning backend).
  const connection = new SharedPostgresConnection(config);
  connection.on('error', (err: Error) => log.warn({ err: err.message }, 'queue database connection error'));
  const factory: BackendFactory<IQueueBackend, unknown> = (name, opts) =>
    new SharedPostgresBackend(connection, name, opts as QueueBaseOptions<PostgresConnectionOptions>);
  let probe: pg.Pool | undefined;
  return {
    kind: 'postgres',
    args: () => ({ options: { connection: config }, factory, release: async () => {} }),
    limiterStore: () => ({
      kind: 'postgres',
      pool: connection.pool as unknown as pg.Pool,
      schema,
      table: LIMITER_TABLE,
      keyPrefix: queuePrefix(spec.prefix),
    }),
    async ping() {
      if (!probe) {
        probe = new pg.Pool({ connectionString: spec.databaseUrl, max: 1, connectionTimeoutMillis: 2_000 });
        probe.on('error', () => undefined);
      }
      await probe.query('SELECT 1');
    },
    async close() {
      await Promise.all([connection.close(), probe?.end()]);
    },
  };
}

/**
 * Creates or upgrades BullMQ's schema for the deployment's prefix in the queue database (the
 * `migrate` command, and every command that migrates the service's database). Returns the schema.
 * BullMQ serialises concurrent starters with a transaction-scoped advisory lock.
 */
export async function migrateQueueSchema(databaseUrl: string, prefix: string): Promise<string> {
  const schema = queueSchema(prefix);
  // Connected as BullMQ connects (its schema in search_path at login), so a connection BullMQ's
  // pools could not use fails here, at start, with one line.
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 10_000,
    options: `-c search_path=${schema}`,
  });
  client.on('error', () => undefined);
  const pooler = (why: string) =>
    new ConfigError(
      `invalid configuration: QUEUE_DATABASE_URL: ${hostPort(databaseUrl, 5432)} ${why}; the Postgres queue backend needs a direct connection (it LISTENs and sets its schema at login): point QUEUE_DATABASE_URL, or DATABASE_DIRECT_URL, at Postgres itself, not at a transaction pooler`,
    );
  try {
    await client.connect();
    const { rows } = await client.query<{ p: string }>('SELECT current_setting($1) AS p', ['search_path']);
    if (!(rows[0]?.p ?? '').includes(schema))
      throw pooler('dropped the search_path set at login (a pooler ignoring startup parameters)');
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof ConfigError) throw err;
    // PgBouncer refuses the startup option BullMQ sets.
    if (/unsupported startup parameter/i.test((err as Error).message)) {
      throw pooler(`refused the connection's startup settings (${(err as Error).message})`);
    }
    // 3D000: the server is there and the database is not. The service's own database is created by
    // its migration; a separate queue database is the operator's to create.
    if ((err as { code?: unknown }).code === '3D000') {
      throw new ConfigError(
        `invalid configuration: QUEUE_DATABASE_URL: database "${new URL(databaseUrl).pathname.slice(1)}" does not exist on ${hostPort(databaseUrl, 5432)}: create it (createdb), or leave QUEUE_DATABASE_URL unset to use DATABASE_URL's`,
      );
    }
    throw err;
  }
  try {
    await runMigrations(client, schema);
    await client.query(LIMITER_TABLE_DDL(schema));
  } finally {
    await client.end().catch(() => undefined);
  }
  return schema;
}

/** The limiter's table in the queue schema: rate-limiter-flexible's RateLimiterPostgres layout. */
export const LIMITER_TABLE = 'api_limiter';
const LIMITER_TABLE_DDL = (schema: string) =>
  `CREATE TABLE IF NOT EXISTS "${schema}"."${LIMITER_TABLE}" (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`;
