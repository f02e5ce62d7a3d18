/**
 * The queue backend the tests run on: `TEST_QUEUE_BACKEND` = `redis` (the machine's Redis, the
 * default) or `postgres` (BullMQ's Postgres backend, in the test's database or a database of its
 * own). `.ci/run` runs the pipeline tests, the fault suite and the bench once per backend.
 */
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import {
  migrateQueueSchema,
  openQueueBackend,
  type QueueBackend,
  type QueueBackendKind,
  queueSchema,
} from '../../src/queue/index.js';
import { adminUrl } from './db.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

function chosen(): QueueBackendKind {
  const v = process.env.TEST_QUEUE_BACKEND ?? 'redis';
  if (v !== 'redis' && v !== 'postgres')
    throw new Error(`TEST_QUEUE_BACKEND: expected redis or postgres, got ${v}`);
  return v;
}

/** The backend of this run. */
export const TEST_QUEUE_BACKEND: QueueBackendKind = chosen();

/**
 * The service environment's queue part: REDIS_URL on Redis; on Postgres, no Redis at all — the
 * service's default then puts the queues in DATABASE_URL's database (or `queueDatabaseUrl`), and a
 * test that adds a REDIS_URL or REDIS_CLUSTER_NODES of its own (a Redis of its own, a cluster) gets
 * the Redis backend by the same default.
 */
export function queueEnv(
  opts: { redisUrl?: string | undefined; queueDatabaseUrl?: string | undefined } = {},
): Record<string, string> {
  if (TEST_QUEUE_BACKEND === 'redis') return { REDIS_URL: opts.redisUrl ?? REDIS_URL };
  return opts.queueDatabaseUrl ? { QUEUE_DATABASE_URL: opts.queueDatabaseUrl } : {};
}

/** What `start` does before it opens the queues: on the Postgres backend, the queue schema. */
export async function prepareQueues(config: Config): Promise<void> {
  if (config.QUEUE_BACKEND === 'postgres')
    await migrateQueueSchema(config.QUEUE_DATABASE_URL, config.QUEUE_PREFIX);
}

export interface TestBackend {
  backend: QueueBackend;
  /** Closes the backend; on Postgres, drops the prefix's schema. */
  close(): Promise<void>;
}

/**
 * A backend for queue-level tests under `prefix`: the machine's Redis, or the server's `postgres`
 * database with a schema of the prefix's own (dropped at close).
 */
export async function openTestBackend(prefix: string): Promise<TestBackend> {
  if (TEST_QUEUE_BACKEND === 'redis') {
    const backend = openQueueBackend(
      { kind: 'redis', redis: { REDIS_URL }, prefix },
      createLogger({ level: 'silent' }),
    );
    return { backend, close: () => backend.close() };
  }
  return openPostgresTestBackend(prefix);
}

/** The Postgres backend under `prefix` whatever the run's backend (tests of that backend itself). */
export async function openPostgresTestBackend(prefix: string): Promise<TestBackend> {
  const log = createLogger({ level: 'silent' });
  const databaseUrl = adminUrl();
  await migrateQueueSchema(databaseUrl, prefix);
  const backend = openQueueBackend({ kind: 'postgres', databaseUrl, prefix }, log);
  return {
    backend,
    async close() {
      await backend.close();
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${queueSchema(prefix)}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
