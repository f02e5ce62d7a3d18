/**
 * The change feed in the real service (`classiclink-sync start` child processes): one poll schedule
 * per account+region in Redis; the cursor in Postgres carries a restart, so a change made while the
 * service was down is recorded once it is back, and nothing recorded before is scanned again; a
 * feed refused by RAM shows in `status`, `status --json` and `/v1/status` while the scheduled scans
 * go on; CHANGE_FEED=off polls nothing and removes the schedules a feed left.
 */
import { describe, expect, it } from 'vitest';
import { type Child, runCli, startCli } from '../helpers/child.js';
import { admin, change, cloudEvents, feedRows, newInstance } from '../helpers/feed.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { linkEvents, runs } from '../helpers/rows.js';
import { freePort } from '../helpers/servers.js';

const REGION = 'cn-hangzhou';
const start = usePipeline({ checkSecret: true });

async function open(): Promise<Pipeline> {
  return start({
    workers: false,
    sim: { regions: [REGION], vpcsPerRegion: 3, linksPerVpc: 2, faults: { actionTrailDelayMs: 100 } },
  });
}

/** The env of a service with the feed on, polling every second, full scans hourly. */
function feedEnv(pl: Pipeline, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...pl.childEnv,
    LOG_LEVEL: 'info',
    CHANGE_FEED: 'actiontrail',
    CHANGE_FEED_INTERVAL: '1s',
    SYNC_INTERVAL: '1h',
    ...extra,
  };
}

async function changes(pl: Pipeline): Promise<string[]> {
  return (await linkEvents(pl.db.pool))
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`);
}

async function stop(child: Child): Promise<void> {
  child.signal('SIGTERM');
  expect(await child.waitForExit(30_000)).toEqual({ code: 0, signal: null });
}

describe('the change feed in the service', () => {
  it('the cursor survives a restart: a change made while down is recorded once, nothing is re-applied', async () => {
    const pl = await open();
    const vpcs = pl.sim.world.vpcs(REGION);
    const [vpcA, vpcB] = vpcs as [string, string];
    let svc = await startCli(['start', '--role', 'scheduler,worker'], feedEnv(pl), 'service 1');
    // The schedules start a plan at once (the baseline) and a poll every second.
    await expect
      .poll(async () => (await runs(pl.db.pool)).filter((r) => r.status === 'succeeded').length, {
        timeout: 30_000,
      })
      .toBe(vpcs.length);
    expect((await pl.queues.listSchedules('feed')).map((s) => [s.id, s.everyMs])).toEqual([
      [`feed:${pl.config.SYNC_ACCOUNT}:${REGION}`, 1_000],
    ]);
    await expect
      .poll(async () => (await feedRows(pl.db.pool))[0]?.last_success_at ?? null, { timeout: 20_000 })
      .not.toBeNull();

    const one = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: one, vpcId: vpcA });
    await expect.poll(() => changes(pl), { timeout: 30_000 }).toEqual([`added ${vpcA}/${one}`]);
    await stop(svc);
    const runsBefore = (await runs(pl.db.pool)).length;
    const cursorBefore = (await feedRows(pl.db.pool))[0]?.cursor_at;

    // While the service is down.
    const two = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: two, vpcId: vpcB });

    svc = await startCli(['start', '--role', 'scheduler,worker'], feedEnv(pl), 'service 2');
    await expect
      .poll(() => changes(pl), { timeout: 30_000 })
      .toEqual([`added ${vpcA}/${one}`, `added ${vpcB}/${two}`]);
    // A few more polls re-read the first change's record in their overlap: it schedules nothing.
    await expect
      .poll(async () => (await feedRows(pl.db.pool))[0]?.cursor_at.getTime() ?? 0, { timeout: 20_000 })
      .toBeGreaterThan((cursorBefore?.getTime() ?? 0) + 2_000);
    await stop(svc);
    // Exactly one scan more: of vpcB, for the change made while down (the hourly plan did not run again).
    expect((await runs(pl.db.pool)).slice(runsBefore).map((r) => `${r.vpc_id} ${r.status}`)).toEqual([
      `${vpcB} succeeded`,
    ]);
    expect((await cloudEvents(pl.db.pool)).map((e) => e.received_via)).toEqual(['poll', 'poll']);
    expect((await feedRows(pl.db.pool))[0]).toMatchObject({ scans_scheduled: '2', consecutive_failures: 0 });
  });

  it('a feed refused by RAM shows in status while the scheduled scans go on', async () => {
    const pl = await open();
    const key = pl.sim.keys[0]?.accessKeyId ?? '';
    await admin(pl.sim, 'POST', '/_sim/keys', { accessKeyId: key, permissions: ['ecs:*', 'vpc:*'] });
    const port = await freePort();
    const svc = await startCli(
      ['start', '--role', 'scheduler,worker,http'],
      feedEnv(pl, { SYNC_INTERVAL: '2s', HTTP_PORT: String(port) }),
    );
    const vpcs = pl.sim.world.vpcs(REGION).length;
    await expect
      .poll(async () => (await feedRows(pl.db.pool))[0]?.consecutive_failures ?? 0, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2);
    // Two rounds of full scans, all succeeded, while the feed fails.
    await expect
      .poll(async () => (await runs(pl.db.pool)).filter((r) => r.status === 'succeeded').length, {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2 * vpcs);
    expect(
      (await runs(pl.db.pool)).filter((r) => r.status !== 'succeeded' && r.status !== 'running'),
    ).toEqual([]);

    const json = await runCli(['status', '--json'], feedEnv(pl));
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as { changeFeed: unknown; feeds: Record<string, unknown>[] };
    expect(status.changeFeed).toEqual({ mode: 'actiontrail', intervalMs: 1_000 });
    expect(status.feeds).toEqual([
      expect.objectContaining({
        regionId: REGION,
        state: 'failing',
        lastSuccessAt: null,
        lastError: expect.stringMatching(/^Forbidden\.RAM/),
      }),
    ]);
    const text = await runCli(['status'], feedEnv(pl));
    expect(text.stdout).toMatch(/change feed: ActionTrail, every 1s per account and region:/);
    expect(text.stdout).toMatch(new RegExp(`${REGION} +- +\\S+ +\\d+ +0 +Forbidden\\.RAM.* failing`));
    const api = (await (await fetch(`http://127.0.0.1:${port}/v1/status`)).json()) as {
      feeds: Record<string, unknown>[];
    };
    expect(api.feeds[0]).toMatchObject({
      state: 'failing',
      lastError: expect.stringMatching(/Forbidden\.RAM/),
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(
        `classiclink_feed_consecutive_failures\\{account="${pl.config.SYNC_ACCOUNT}",region="${REGION}"\\} [1-9]`,
      ),
    );
    await stop(svc);
  });

  it('CHANGE_FEED=off: no poll, and the schedules a feed left are removed', async () => {
    const pl = await open();
    await pl.queues.upsertSchedule('feed', `feed:${pl.config.SYNC_ACCOUNT}:${REGION}`, 3_600_000, {
      account: pl.config.SYNC_ACCOUNT,
      regionId: REGION,
    });
    const svc = await startCli(['start', '--role', 'scheduler,worker'], {
      ...feedEnv(pl),
      CHANGE_FEED: 'off',
    });
    const vpcs = pl.sim.world.vpcs(REGION).length;
    await expect
      .poll(async () => (await runs(pl.db.pool)).filter((r) => r.status === 'succeeded').length, {
        timeout: 30_000,
      })
      .toBe(vpcs);
    await expect.poll(() => pl.queues.listSchedules('feed'), { timeout: 10_000 }).toEqual([]);
    const one = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', {
      regionId: REGION,
      instanceId: one,
      vpcId: pl.sim.world.vpcs(REGION)[0] as string,
    });
    await stop(svc);
    expect(await feedRows(pl.db.pool)).toEqual([]);
    expect(await cloudEvents(pl.db.pool)).toEqual([]);
    expect(await changes(pl)).toEqual([]);
    const text = await runCli(['status'], pl.childEnv);
    expect(text.stdout).toMatch(/change feed: off \(CHANGE_FEED=off\)/);
  });
});
