/**
 * The servers under the service fail while it works: Redis restarted EMPTY during a round (jobs,
 * locks and schedules gone), Postgres restarted during a diff, and the service's backends killed
 * with pg_terminate_backend inside a diff. The service process keeps running (or its jobs are
 * retried), re-creates its schedules, and no change is lost or recorded twice.
 *
 * The restarted servers are private to this file (spare loopback ports, temp directories); the
 * machine's shared 5432 / 6379 are never stopped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, killChildren, spawnCli } from '../helpers/child.js';
import {
  changeOnce,
  checkInvariants,
  runningRuns,
  type Scenario,
  seeded,
  simulatorFaults,
  startChurn,
  startScenario,
  waitFor,
  writeFigures,
} from './harness.js';
import { type OwnPostgres, type OwnRedis, startOwnPostgres, startOwnRedis } from './servers.js';

let s: Scenario | undefined;
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await killChildren();
  await s?.close();
  s = undefined;
  for (const srv of servers.splice(0)) await srv.close();
});

const LOCK = 4343;
const SIM = { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 2, linksPerVpc: 6 };

async function service(sc: Scenario): Promise<Child> {
  const c = spawnCli(['start', '--role', 'scheduler,worker,alerts'], sc.childEnv, 'service');
  await c.waitForLog('classiclink-sync started');
  return c;
}

async function count(sc: Scenario, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await sc.pool.query<{ n: number }>(sql, params);
  return rows[0]?.n ?? 0;
}

/** Waits until every target has its baseline (the scheduler's first rounds). */
async function baselined(sc: Scenario): Promise<void> {
  const targets = SIM.regions.length * SIM.vpcsPerRegion;
  await waitFor(
    () =>
      count(sc, 'SELECT count(*)::int AS n FROM sync_targets WHERE last_applied_scan_started_at IS NOT NULL'),
    (n) => n === targets,
    { timeout: 30_000, what: 'every target baselined' },
  );
}

/** Waits for `n` more succeeded runs than now (the service is working again). */
async function moreSucceeded(sc: Scenario, n: number, timeout = 45_000): Promise<void> {
  const sql = `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`;
  const now = await count(sc, sql);
  await waitFor(
    () => count(sc, sql),
    (m) => m >= now + n,
    { timeout, what: `${n} more succeeded runs` },
  );
}

async function blockDiffs(sc: Scenario): Promise<void> {
  await sc.pool.query(`
    CREATE FUNCTION fault_block() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(${LOCK}); RETURN NULL; END $$;
    CREATE TRIGGER fault_block AFTER INSERT ON link_events FOR EACH STATEMENT EXECUTE FUNCTION fault_block();`);
}

async function blockedDiffs(sc: Scenario): Promise<number[]> {
  const { rows } = await sc.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
    [LOCK],
  );
  return rows.map((r) => r.pid);
}

async function finish(
  sc: Scenario,
  svc: Child,
  scenario: string,
  proves: string,
  started: number,
  ours: Record<string, number>,
): Promise<void> {
  // The world settles: the last scheduled rounds and a clean round of our own.
  await sc.settle();
  const rounds = await count(sc, `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`);
  const checks = await checkInvariants(sc);
  const alive = svc.proc.exitCode === null && svc.proc.signalCode === null;
  checks.push({ name: 'the service process kept running', ok: alive });
  expect(alive, 'the service process kept running').toBe(true);
  const failed = await count(sc, `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'failed'`);
  writeFigures({
    scenario,
    proves,
    // Scheduled rounds: succeeded runs per target (every target is synced once per round).
    rounds: Math.round(rounds / (SIM.regions.length * SIM.vpcsPerRegion)),
    apiCalls: sc.sim.requests.length,
    faults: { ...simulatorFaults(sc.sim), ...ours, 'runs failed by the outage': failed },
    checks,
    changes: sc.log.changes.length,
    durationMs: Date.now() - started,
  });
}

describe('fault: servers restarted under the service', () => {
  it('Redis restarted empty during a round: the service carries on and re-creates its schedules', async () => {
    const started = Date.now();
    const redis: OwnRedis = await startOwnRedis();
    servers.push(redis);
    s = await startScenario({
      sim: { ...SIM, faults: { latencyMs: 40 } },
      redisUrl: redis.url,
      env: { SYNC_INTERVAL: '2s' },
    });
    const sc = s;
    const svc = await service(sc);
    await baselined(sc);
    sc.log.start();
    const stop = startChurn(sc.sim, sc.log, { everyMs: 250, seed: 202 });
    try {
      await waitFor(
        () => runningRuns(sc.pool),
        (n) => n > 0,
        { timeout: 20_000, what: 'a scan in flight' },
      );
      await redis.restart();
      // Back to work: schedules re-created in the empty Redis, rounds succeed again.
      await waitFor(
        () => sc.queues.listSchedules(),
        (l) => l.length === SIM.regions.length,
        {
          timeout: 30_000,
          what: 'the schedules re-created',
        },
      );
      await moreSucceeded(sc, 8);
    } finally {
      stop();
    }
    await finish(
      sc,
      svc,
      'Redis restarted empty mid-round',
      'losing every job, lock and schedule in Redis mid-round loses no change: the service reconnects, re-creates its schedules, and Postgres stays exact',
      started,
      { 'Redis restarts (empty)': 1 },
    );
  });

  it('Postgres restarted during a diff: the transaction rolls back, the job is retried, nothing lost', async () => {
    const started = Date.now();
    const pgServer: OwnPostgres = await startOwnPostgres();
    servers.push(pgServer);
    s = await startScenario({
      sim: SIM,
      databaseUrl: pgServer.url('classiclink'),
      env: { SYNC_INTERVAL: '2s' },
    });
    const sc = s;
    const svc = await service(sc);
    await baselined(sc);
    sc.log.start();
    await blockDiffs(sc);
    const holder = await sc.pool.connect();
    holder.on('error', () => {});
    await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
    const random = seeded(303);
    for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
    await waitFor(
      () => blockedDiffs(sc),
      (p) => p.length > 0,
      { timeout: 20_000, what: 'a diff blocked' },
    );
    await pgServer.restart();
    holder.release(true);
    await waitFor(
      () => sc.pool.query('DROP TRIGGER IF EXISTS fault_block ON link_events'),
      () => true,
      { timeout: 20_000, what: 'Postgres back' },
    );
    await moreSucceeded(sc, 8);
    await finish(
      sc,
      svc,
      'Postgres restarted mid-diff',
      'a Postgres crash inside the diff transaction applies nothing of it; the service reconnects by itself and the retried job records every change once',
      started,
      { 'Postgres restarts (immediate)': 1 },
    );
  });

  it("pg_terminate_backend of the service's connections inside a diff", async () => {
    const started = Date.now();
    s = await startScenario({ sim: SIM, env: { SYNC_INTERVAL: '2s' } });
    const sc = s;
    const svc = await service(sc);
    await baselined(sc);
    sc.log.start();
    await blockDiffs(sc);
    const holder = await sc.pool.connect();
    let terminated = 0;
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
      const random = seeded(404);
      for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
      const pids = await waitFor(
        () => blockedDiffs(sc),
        (p) => p.length > 0,
        {
          timeout: 20_000,
          what: 'a diff blocked',
        },
      );
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
    await finish(
      sc,
      svc,
      'pg_terminate_backend mid-diff',
      'a connection killed inside the diff transaction applies nothing of it; the pool replaces it and the retried job records every change once',
      started,
      { 'backends terminated mid-diff': terminated },
    );
  });
});
