/**
 * QUEUE_BACKEND through the CLI, on the real servers: `migrate` creates BullMQ's schema on the
 * Postgres backend (and nothing on Redis), a separate QUEUE_DATABASE_URL that does not exist is one
 * line, `start` with no Redis anywhere runs a round on the Postgres backend and says so in /readyz,
 * and two prefixes in one database stay apart.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import {
  closeWorkers,
  createQueues,
  migrateQueueSchema,
  openQueueBackend,
  queueSchema,
  startWorker,
} from '../../src/queue/index.js';
import { runCli, spawnCli } from '../helpers/child.js';
import { createTestDb, useAbsentDbs } from '../helpers/db.js';
import { usePipeline } from '../helpers/pipeline.js';
import { syncResult } from '../helpers/queues.js';
import { dbLinks, truthLinks } from '../helpers/rows.js';
import { freePort } from '../helpers/servers.js';

async function schemas(url: string, like: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ s: string }>(
      'SELECT schema_name AS s FROM information_schema.schemata WHERE schema_name LIKE $1 ORDER BY 1',
      [like],
    );
    return rows.map((r) => r.s);
  } finally {
    await client.end();
  }
}

/** The environment of the CLI without any Redis: what a machine with Postgres alone gives it. */
function withoutRedis(env: Record<string, string>): Record<string, string> {
  const { REDIS_URL: _r, REDIS_CLUSTER_NODES: _c, QUEUE_BACKEND: _q, ...rest } = env;
  return rest;
}

describe('QUEUE_BACKEND', () => {
  const absentDb = useAbsentDbs();
  const open = usePipeline();

  it('migrate creates the queue schema of the prefix on the Postgres backend, once; on Redis, none', async () => {
    const { url } = absentDb('classiclink_qb_');
    const env = { DATABASE_URL: url, QUEUE_PREFIX: 'qb-test', LOG_LEVEL: 'warn' };
    const first = await runCli(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\)\nqueue schema qb_test_queue is up to date/);
    expect(await schemas(url, 'qb_test_queue')).toEqual(['qb_test_queue']);
    const again = await runCli(['migrate'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(
      'database is up to date\nqueue schema qb_test_queue is up to date (QUEUE_BACKEND=postgres)\n',
    );
    // On Redis (REDIS_URL set) migrate neither asks Redis nor makes a schema.
    const redis = await runCli(['migrate'], {
      ...env,
      QUEUE_PREFIX: 'qb-redis',
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    expect(redis).toMatchObject({ code: 0, stdout: 'database is up to date\n', stderr: '' });
    expect(await schemas(url, 'qb_redis%')).toEqual([]);
  });

  it('a QUEUE_DATABASE_URL whose database does not exist: one line naming it and the fix', async () => {
    const { url } = absentDb('classiclink_qb_main_');
    const missing = absentDb('classiclink_qb_queue_');
    const r = await runCli(['migrate'], {
      DATABASE_URL: url,
      QUEUE_DATABASE_URL: missing.url,
      LOG_LEVEL: 'warn',
    });
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('QUEUE_DATABASE_URL');
    expect(lines[0]).toContain('does not exist');
    expect(lines[0]).toContain('create it (createdb)');
    expect(await missing.exists()).toBe(false);
  });

  it('start with no Redis configured: the queues on Postgres, a round exact, /readyz names the backend', async () => {
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 4 },
    });
    const port = await freePort();
    const env = {
      ...withoutRedis(pl.childEnv),
      SYNC_INTERVAL: '2s',
      HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
    };
    const service = spawnCli(['start'], env, 'service');
    try {
      await expect.poll(async () => dbLinks(pl.db.pool), { timeout: 30_000 }).toEqual(truthLinks(pl.sim));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ready',
        queueBackend: 'postgres',
        checks: { postgres: 'ok', queue: 'ok' },
      });
      // The jobs went through the prefix's schema in the service's own database.
      const schema = queueSchema(pl.config.QUEUE_PREFIX);
      const { rows } = await pl.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${schema}".job WHERE queue = 'sync'`,
      );
      expect(rows[0]?.n).toBeGreaterThan(0);
    } finally {
      service.signal('SIGTERM');
    }
    expect(await service.waitForExit(30_000)).toEqual({ code: 0, signal: null });
  });
});

describe('the Postgres queue backend of a process', () => {
  it('shares one pool and one LISTEN connection, and wakes its workers after that connection is killed', async () => {
    const log = createLogger({ level: 'silent' });
    const prefix = `test-listen-${randomUUID()}`;
    // A database of its own: the LISTEN connections counted are this test's.
    const db = await createTestDb();
    await migrateQueueSchema(db.url, prefix);
    const backend = openQueueBackend({ kind: 'postgres', databaseUrl: db.url, prefix }, log);
    const queues = createQueues({ backend, syncAttempts: 1 });
    const done: string[] = [];
    const handler = async (data: { vpcId: string }) => {
      done.push(data.vpcId);
      return syncResult(data.vpcId);
    };
    const workers = [startWorker('sync', handler, { backend, concurrency: 2, log })];
    workers.push(startWorker('sync', handler, { backend, concurrency: 2, log }));
    try {
      await Promise.all(workers.map((w) => w.ready()));
      const target = (vpcId: string) => ({ account: 'a', regionId: 'cn-hangzhou', vpcId });
      await queues.enqueueSync([target('vpc-1')]);
      await expect.poll(() => done, { timeout: 10_000 }).toEqual(['vpc-1']);
      // Two workers, five queues: one LISTEN connection for all of them.
      const listeners = await listenPids(db.url);
      expect(listeners).toHaveLength(1);
      // The LISTEN connection dies (a failover, a proxy's idle timeout): BullMQ rebuilds it, and
      // the workers waiting on the dead one are woken to listen again, not left for their block
      // timeout (an hour).
      await terminate(db.url, listeners);
      await expect.poll(async () => (await listenPids(db.url)).length, { timeout: 15_000 }).toBe(1);
      await queues.enqueueSync([target('vpc-2')]);
      await expect.poll(() => done, { timeout: 15_000 }).toEqual(['vpc-1', 'vpc-2']);
    } finally {
      await closeWorkers(workers, 5_000);
      await queues.obliterate();
      await queues.close();
      await backend.close();
      await db.drop();
    }
  });
});

/** The backends that LISTEN on BullMQ's jobs channel in the database of `url`. */
async function listenPids(url: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND query ~ 'LISTEN bullmq_(jobs|events)'`,
    );
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

async function terminate(url: string, pids: number[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const pid of pids) await client.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await client.end();
  }
}
