/**
 * Two schedulers and three workers at once on one Redis prefix and one database, while the world
 * changes under the scans: duplicate scheduling must not duplicate anything — one schedule per
 * region, no target synced twice in a round, every change recorded once, every alert delivered
 * (three dispatchers claim from one outbox).
 */
import { describe, expect, it } from 'vitest';
import { spawnCli, startCli } from '../helpers/child.js';
import { count } from '../helpers/rows.js';
import { waitFor } from './harness.js';
import { type CheckResult, checkInvariants } from './invariants.js';
import { useScenarios } from './setup.js';
import { startChurn } from './world-log.js';

const scenarios = useScenarios();

const ROUNDS = 4;

describe('fault: two schedulers and three workers', () => {
  it('duplicate scheduling duplicates nothing', async () => {
    const sc = await scenarios.start({
      sim: {
        regions: ['cn-hangzhou', 'cn-beijing'],
        vpcsPerRegion: 3,
        linksPerVpc: 6,
        faults: { latencyMs: 30 },
      },
      env: { SYNC_INTERVAL: '2s', SYNC_CONCURRENCY: '2' },
    });
    await Promise.all(
      ['A', 'B', 'C'].map((n) => startCli(['start', '--role', 'worker,alerts'], sc.childEnv, `worker ${n}`)),
    );
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
    const schedules = (await sc.queues.listSchedules('plan')).map((x) => x.id).sort();
    const enrichSchedules = (await sc.queues.listSchedules('enrich')).map((x) => x.id);
    for (const sch of schedulers) sch.signal('SIGTERM');
    await Promise.all(schedulers.map((sch) => sch.waitForExit()));
    for (const id of schedules) await sc.queues.removeSchedule('plan', id);
    for (const id of enrichSchedules) await sc.queues.removeSchedule('enrich', id);
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
    const scanned = await count(
      sc.pool,
      `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`,
    );
    const targets = sc.config.regions.length * 3;
    scenarios.report(sc, {
      scenario: 'two schedulers + three workers',
      proves:
        'two schedulers and three workers (three alert dispatchers) on one prefix keep one schedule per region, sync each target once per round, and record and alert every change once',
      rounds: Math.round(scanned / targets),
      faults: { 'duplicate schedulers': 1, 'extra workers': 2 },
      checks,
    });
  });
});
