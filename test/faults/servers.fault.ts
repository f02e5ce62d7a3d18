/**
 * The servers under the service fail while it works: Redis restarted EMPTY during a round (jobs,
 * locks and schedules gone) — on the Postgres queue backend (TEST_QUEUE_BACKEND=postgres), the
 * queue schema's rows deleted during a round too —, Postgres restarted during a diff (on that
 * backend, the queues' server with it), and the service's backends killed
 * with pg_terminate_backend inside a diff. The service process keeps running (or its jobs are
 * retried), re-creates its schedules, and no change is lost or recorded twice.
 *
 * The restarted servers are private to this file (spare loopback ports, temp directories); the
 * machine's shared 5432 / 6379 are never stopped.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { queueSchema } from '../../src/queue/index.js';
import type { Child } from '../helpers/child.js';
import { TEST_QUEUE_BACKEND } from '../helpers/queue-backend.js';
import { runningRuns } from '../helpers/rows.js';
import { startOwnPostgres, startOwnRedis } from '../helpers/servers.js';
import { blockDiffs, blockedDiffs, type Scenario, waitFor } from './harness.js';
import { baselinedService as baselinedServiceOf, finishRunning, moreSucceeded } from './service-run.js';
import { type ScenarioReport, useScenarios } from './setup.js';
import { changeOnce, seeded, startChurn } from './world-log.js';

const scenarios = useScenarios();

const LOCK = 4343;
const SIM = { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 2, linksPerVpc: 6 };

const TARGETS = SIM.regions.length * SIM.vpcsPerRegion;
const baselinedService = (sc: Scenario) => baselinedServiceOf(sc, TARGETS);

/**
 * Diffs block (blockDiffs) on the lock a held client takes; four changes to the world; resolves
 * once a diff is blocked inside its transaction, with the holder and the blocked backends.
 */
async function diffBlocked(sc: Scenario, seed: number) {
  await blockDiffs(sc.pool, LOCK);
  const holder = await sc.pool.connect();
  // A restarted server ends this client under the test: that is not the test's failure.
  holder.on('error', () => {});
  try {
    await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
    const random = seeded(seed);
    for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
    const pids = await waitFor(
      () => blockedDiffs(sc.pool, LOCK),
      (p) => p.length > 0,
      { timeout: 20_000, what: 'a diff blocked' },
    );
    return { holder, pids };
  } catch (err) {
    holder.release();
    throw err;
  }
}

/**
 * The service baselined, the world churning, a scan in flight: then `lose` takes the queue's whole
 * state away. The service re-creates its schedules and rounds succeed again; returns the service.
 */
async function queueLostMidRound(sc: Scenario, seed: number, lose: () => Promise<void>): Promise<Child> {
  const svc = await baselinedService(sc);
  const stop = startChurn(sc.sim, sc.log, { everyMs: 250, seed });
  try {
    await waitFor(
      () => runningRuns(sc.pool),
      (n) => n > 0,
      { timeout: 20_000, what: 'a scan in flight' },
    );
    await lose();
    await waitFor(
      async () => [...(await sc.queues.listSchedules('plan')), ...(await sc.queues.listSchedules('enrich'))],
      (l) => l.length === 2 * SIM.regions.length,
      { timeout: 30_000, what: 'the schedules re-created' },
    );
    await moreSucceeded(sc, 8);
  } finally {
    stop();
  }
  return svc;
}

/** The world settles, the invariants hold, the service process is still running; the figures. */
const finish = (sc: Scenario, svc: Child, report: Omit<ScenarioReport, 'rounds' | 'checks'>) =>
  finishRunning(scenarios, sc, svc, TARGETS, report);

describe('fault: servers restarted under the service', () => {
  it('Redis restarted empty during a round: the service carries on and re-creates its schedules', async () => {
    const redis = scenarios.own(await startOwnRedis());
    const sc = await scenarios.start({
      sim: { ...SIM, faults: { latencyMs: 40 } },
      redisUrl: redis.url,
      env: { SYNC_INTERVAL: '2s' },
    });
    const svc = await queueLostMidRound(sc, 202, () => redis.restart());
    await finish(sc, svc, {
      scenario: 'Redis restarted empty mid-round',
      proves:
        'losing every job, lock and schedule in Redis mid-round loses no change: the service reconnects, re-creates its schedules, and Postgres stays exact',
      faults: { 'Redis restarts (empty)': 1 },
    });
  });

  it.runIf(TEST_QUEUE_BACKEND === 'postgres')(
    "the queue schema's rows deleted during a round: the service carries on and re-creates its schedules",
    async () => {
      const sc = await scenarios.start({
        sim: { ...SIM, faults: { latencyMs: 40 } },
        env: { SYNC_INTERVAL: '2s' },
      });
      // Every job, lock, schedule, deduplication key and event of the deployment: gone at once.
      const svc = await queueLostMidRound(sc, 212, async () => {
        expect(await truncateQueueSchema(sc.config.QUEUE_DATABASE_URL, sc.prefix)).toBeGreaterThan(0);
      });
      await finish(sc, svc, {
        scenario: "queue schema's rows deleted mid-round (QUEUE_BACKEND=postgres)",
        proves:
          'losing every job, lock and schedule of the Postgres queue backend mid-round loses no change: the service re-creates its schedules, and Postgres stays exact',
        faults: { 'queue schema emptied': 1 },
      });
    },
  );

  it('Postgres restarted during a diff: the transaction rolls back, the job is retried, nothing lost', async () => {
    const pgServer = scenarios.own(await startOwnPostgres());
    const sc = await scenarios.start({
      sim: SIM,
      databaseUrl: pgServer.url('classiclink'),
      env: { SYNC_INTERVAL: '2s' },
    });
    const svc = await baselinedService(sc);
    const { holder } = await diffBlocked(sc, 303);
    await pgServer.restart();
    holder.release(true);
    await waitFor(
      () => sc.pool.query('DROP TRIGGER IF EXISTS fault_block ON link_events'),
      () => true,
      { timeout: 20_000, what: 'Postgres back' },
    );
    await moreSucceeded(sc, 8);
    await finish(sc, svc, {
      scenario: 'Postgres restarted mid-diff',
      proves:
        'a Postgres crash inside the diff transaction applies nothing of it; the service reconnects by itself and the retried job records every change once',
      faults: { 'Postgres restarts (immediate)': 1 },
    });
  });

  it("pg_terminate_backend of the service's connections inside a diff", async () => {
    const sc = await scenarios.start({ sim: SIM, env: { SYNC_INTERVAL: '2s' } });
    const svc = await baselinedService(sc);
    const { holder, pids } = await diffBlocked(sc, 404);
    let terminated = 0;
    try {
      for (const pid of pids) {
        await sc.pool.query('SELECT pg_terminate_backend($1)', [pid]);
        terminated++;
      }
      // Unlock before dropping the trigger: DROP TRIGGER waits for every transaction that touched
      // link_events, and a diff that started after the kills is still waiting on this lock —
      // dropping first would wait for it while it waits for us, a deadlock Postgres cannot see.
      await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      await sc.pool.query('DROP TRIGGER fault_block ON link_events');
    } finally {
      holder.release();
    }
    await moreSucceeded(sc, 8);
    await finish(sc, svc, {
      scenario: 'pg_terminate_backend mid-diff',
      proves:
        'a connection killed inside the diff transaction applies nothing of it; the pool replaces it and the retried job records every change once',
      faults: { 'backends terminated mid-diff': terminated },
    });
  });
});

/**
 * Deletes every row of the deployment's queue schema (BullMQ's tables and the limiter's) but its
 * migration ledger, in one transaction: the Postgres backend's "Redis flushed". Returns the rows.
 */
async function truncateQueueSchema(databaseUrl: string, prefix: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const schema = queueSchema(prefix);
    const { rows } = await client.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 AND tablename <> 'migration'`,
      [schema],
    );
    const tables = rows.map((r) => `"${schema}"."${r.t}"`);
    await client.query('BEGIN');
    let lost = 0;
    for (const t of tables) {
      const { rows: n } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
      lost += n[0]?.n ?? 0;
    }
    await client.query(`TRUNCATE ${tables.join(', ')}`);
    await client.query('COMMIT');
    return lost;
  } finally {
    await client.end();
  }
}
