/**
 * Two schedulers and three workers at once on one Redis prefix and one database, while the world
 * changes under the scans: duplicate scheduling must not duplicate anything — one schedule per
 * region, no target synced twice in a round, every change recorded once, every alert delivered
 * (three dispatchers claim from one outbox).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, spawnCli } from '../helpers/child.js';
import {
  type CheckResult,
  checkInvariants,
  type Scenario,
  simulatorFaults,
  startChurn,
  startScenario,
  waitFor,
  writeFigures,
} from './harness.js';

let s: Scenario | undefined;
afterEach(async () => {
  await killChildren();
  await s?.close();
  s = undefined;
});

const ROUNDS = 4;

describe('fault: two schedulers and three workers', () => {
  it('duplicate scheduling duplicates nothing', async () => {
    const started = Date.now();
    s = await startScenario({
      sim: {
        regions: ['cn-hangzhou', 'cn-beijing'],
        vpcsPerRegion: 3,
        linksPerVpc: 6,
        faults: { latencyMs: 30 },
      },
      env: { SYNC_INTERVAL: '2s', SYNC_CONCURRENCY: '2' },
    });
    const sc = s;
    const workers = ['A', 'B', 'C'].map((n) =>
      spawnCli(['start', '--role', 'worker,alerts'], sc.childEnv, `worker ${n}`),
    );
    await Promise.all(workers.map((w) => w.waitForLog('classiclink-sync started')));
    // The baseline round first, in a quiet world; then both schedulers, started together.
    await sc.settle();
    sc.log.start();
    const stop = startChurn(sc.sim, sc.log, { everyMs: 300, seed: 909 });
    const schedulers = ['1', '2'].map((n) =>
      spawnCli(['start', '--role', 'scheduler'], sc.childEnv, `scheduler ${n}`),
    );
    const planCount = async () => {
      const jobs = await sc.queues.plan.getJobs(['completed'], 0, -1);
      const per = new Map<string, number>();
      for (const j of jobs) per.set(j.data.regionId, (per.get(j.data.regionId) ?? 0) + 1);
      return per;
    };
    const base = await planCount();
    try {
      await waitFor(
        planCount,
        (per) => sc.config.regions.every((r) => (per.get(r) ?? 0) - (base.get(r) ?? 0) >= ROUNDS),
        { timeout: ROUNDS * 2_000 + 30_000, what: `${ROUNDS} scheduled rounds`, interval: 200 },
      );
    } finally {
      stop();
    }
    const schedules = (await sc.queues.listSchedules()).map((x) => x.id).sort();
    for (const sch of schedulers) sch.signal('SIGTERM');
    await Promise.all(schedulers.map((sch) => sch.waitForExit()));
    for (const id of schedules) await sc.queues.removeSchedule(id);
    await sc.settle();

    const extra: CheckResult[] = [];
    const wanted = sc.config.regions.map((r) => `plan:default:${r}`).sort();
    extra.push({
      name: 'one schedule per region with two schedulers',
      ok: JSON.stringify(schedules) === JSON.stringify(wanted),
    });
    expect(schedules).toEqual(wanted);
    // No target synced twice in a round: succeeded runs per target ≤ plan jobs of its region.
    const plans = await planCount();
    const { rows } = await sc.pool.query<{ region_id: string; vpc_id: string; n: number }>(
      `SELECT region_id, vpc_id, count(*)::int AS n FROM sync_runs WHERE status = 'succeeded' GROUP BY 1, 2`,
    );
    const twice = rows.filter((r) => r.n > (plans.get(r.region_id) ?? 0));
    extra.push({ name: 'no target synced twice in a round', ok: twice.length === 0 });
    expect(twice).toEqual([]);
    const checks = [...(await checkInvariants(sc)), ...extra];
    const { rows: scanned } = await sc.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`,
    );
    const targets = sc.config.regions.length * 3;
    writeFigures({
      scenario: 'two schedulers + three workers',
      proves:
        'two schedulers and three workers (three alert dispatchers) on one prefix keep one schedule per region, sync each target once per round, and record and alert every change once',
      rounds: Math.round((scanned[0]?.n ?? 0) / targets),
      apiCalls: sc.sim.requests.length,
      faults: { ...simulatorFaults(sc.sim), 'duplicate schedulers': 1, 'extra workers': 2 },
      checks,
      changes: sc.log.changes.length,
      durationMs: Date.now() - started,
    });
  });
});
