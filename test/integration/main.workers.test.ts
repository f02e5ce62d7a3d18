/**
 * Several service processes on one Redis prefix and one database: two `start --role worker`
 * processes share the work of a `start --role scheduler` process without syncing any target twice
 * in a round, and two schedulers at once do not double the rounds.
 *
 * Each worker signs with an AccessKey of its own, so the simulator's request log tells which
 * process scanned what.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorKey } from '../../src/simulator/index.js';
import { capturedOutput, startCli } from '../helpers/child.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { pollRuns, runs } from '../helpers/rows.js';

const INTERVAL_MS = 2_000;
const ROUNDS = 3;

// The workers' own keys: no child prints their secrets (checked once the children are gone).
let secrets: string[] = [];
afterEach(() => {
  for (const s of secrets) expect(capturedOutput()).not.toContain(s);
  secrets = [];
});
const startPipeline = usePipeline();

const key = (name: string): SimulatorKey => ({
  accessKeyId: `LTAI5t${name}${randomBytes(6).toString('hex')}`,
  accessKeySecret: randomBytes(15).toString('hex'),
});

async function open(): Promise<{ pl: Pipeline; keys: [SimulatorKey, SimulatorKey] }> {
  const keys: [SimulatorKey, SimulatorKey] = [key('WorkerA'), key('WorkerB')];
  secrets = keys.map((k) => k.accessKeySecret);
  const pl = await startPipeline({
    workers: false,
    // 2 regions × 3 VPCs; every answer takes a little while, so both workers get jobs.
    sim: { keys, faults: { latencyMs: 50 } },
    env: { LOG_LEVEL: 'info', SYNC_INTERVAL: `${INTERVAL_MS}ms`, SYNC_CONCURRENCY: '1' },
  });
  return { pl, keys };
}

function startRole(p: Pipeline, role: string, name: string, env: Record<string, string> = {}) {
  return startCli(['start', '--role', role], { ...p.childEnv, ...env }, name);
}

function workerEnv(k: SimulatorKey): Record<string, string> {
  return { ALIBABA_CLOUD_ACCESS_KEY_ID: k.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: k.accessKeySecret };
}

/** Stops the rounds (the schedules live in Redis, not in the scheduler process) and drains. */
async function stopRounds(p: Pipeline): Promise<void> {
  for (const queue of ['plan', 'enrich'] as const) {
    for (const s of await p.queues.listSchedules(queue)) await p.queues.removeSchedule(queue, s.id);
  }
  await expect
    .poll(async () => Object.values(await p.queues.depth()).reduce((a, b) => a + b, 0), {
      timeout: 20_000,
      interval: 100,
    })
    .toBe(0);
  await pollRuns(p.db.pool, (rs) => rs.filter((r) => r.status === 'running').length, {
    timeout: 10_000,
  }).toBe(0);
}

/** Completed plan jobs per region, in the order they were processed. */
async function planJobs(p: Pipeline): Promise<Map<string, number[]>> {
  const jobs = await p.queues.plan.getJobs(['completed'], 0, -1);
  const byRegion = new Map<string, number[]>();
  for (const j of jobs) {
    byRegion.set(j.data.regionId, [...(byRegion.get(j.data.regionId) ?? []), j.processedOn ?? 0]);
  }
  for (const list of byRegion.values()) list.sort((a, b) => a - b);
  return byRegion;
}

async function succeededPerTarget(p: Pipeline): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await runs(p.db.pool)) {
    if (r.status !== 'succeeded') continue;
    const k = `${r.region_id}/${r.vpc_id}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

function allTargets(p: Pipeline): string[] {
  return p.sim.world.regions().flatMap((r) => p.sim.world.vpcs(r).map((v) => `${r}/${v}`));
}

describe('several service processes on one prefix', () => {
  it('two workers and a scheduler: one succeeded run per target per round, work shared', async () => {
    const { pl: p, keys } = await open();
    await Promise.all([
      startRole(p, 'worker', 'worker A', workerEnv(keys[0])),
      startRole(p, 'worker', 'worker B', workerEnv(keys[1])),
    ]);
    const s = await startRole(p, 'scheduler', 'scheduler');

    // Wait for ROUNDS complete rounds: every target synced at least that often.
    await expect
      .poll(
        async () => {
          const perTarget = await succeededPerTarget(p);
          return Math.min(...allTargets(p).map((t) => perTarget.get(t) ?? 0));
        },
        { timeout: ROUNDS * INTERVAL_MS + 20_000, interval: 200 },
      )
      .toBeGreaterThanOrEqual(ROUNDS);
    s.signal('SIGTERM');
    expect(await s.waitForExit()).toEqual({ code: 0, signal: null });
    await stopRounds(p);

    const plans = await planJobs(p);
    const perTarget = await succeededPerTarget(p);
    const all = await runs(p.db.pool);
    expect(all.filter((r) => r.status !== 'succeeded')).toEqual([]);
    // A target synced twice in one round would have more runs than its region had plan jobs.
    for (const t of allTargets(p)) {
      const region = t.split('/')[0] ?? '';
      expect(perTarget.get(t), t).toBe(plans.get(region)?.length);
      expect(perTarget.get(t), t).toBeGreaterThanOrEqual(ROUNDS);
    }
    // The API saw one full scan (page 1) per target per run, and no more.
    const firstPages = p.sim.requests.filter(
      (r) => r.action === 'DescribeClassicLinkInstances' && r.params.VpcId && r.params.PageNumber === '1',
    );
    for (const t of allTargets(p)) {
      const vpc = t.split('/')[1];
      expect(firstPages.filter((r) => r.params.VpcId === vpc).length, t).toBe(perTarget.get(t));
    }
    // Both processes did some of the scanning.
    const byKey = (k: SimulatorKey) => firstPages.filter((r) => r.accessKeyId === k.accessKeyId).length;
    expect(byKey(keys[0])).toBeGreaterThan(0);
    expect(byKey(keys[1])).toBeGreaterThan(0);
    expect(byKey(keys[0]) + byKey(keys[1])).toBe(firstPages.length);
  });

  it('two schedulers at once keep one schedule per account+region and do not double the rounds', async () => {
    const { pl: p, keys } = await open();
    await startRole(p, 'worker', 'worker', workerEnv(keys[0]));
    // Started together, so their first reconcile races.
    const [s1, s2] = await Promise.all([
      startRole(p, 'scheduler', 'scheduler 1'),
      startRole(p, 'scheduler', 'scheduler 2'),
    ]);

    await expect
      .poll(
        async () => {
          const plans = await planJobs(p);
          return Math.min(...p.sim.world.regions().map((r) => plans.get(r)?.length ?? 0));
        },
        { timeout: ROUNDS * INTERVAL_MS + 20_000, interval: 200 },
      )
      .toBeGreaterThanOrEqual(ROUNDS);
    const schedules = await p.queues.listSchedules('plan');
    expect(schedules.map((s) => s.id).sort()).toEqual(
      p.sim.world
        .regions()
        .map((r) => `plan:default:${r}`)
        .sort(),
    );
    s1.signal('SIGTERM');
    s2.signal('SIGTERM');
    expect(await s1.waitForExit()).toEqual({ code: 0, signal: null });
    expect(await s2.waitForExit()).toEqual({ code: 0, signal: null });
    await stopRounds(p);

    // One plan job per region per interval: no two of a region closer than half an interval.
    const plans = await planJobs(p);
    for (const [region, times] of plans) {
      const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
      expect(
        gaps.filter((g) => g < INTERVAL_MS / 2),
        `${region} plan jobs processed at ${times.join(', ')}`,
      ).toEqual([]);
    }
    // And so one run per target per round.
    const perTarget = await succeededPerTarget(p);
    for (const t of allTargets(p)) expect(perTarget.get(t), t).toBe(plans.get(t.split('/')[0] ?? '')?.length);
  });
});
