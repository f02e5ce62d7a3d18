/**
 * The change feed's poll, in process against the simulator, Postgres and Redis: a change made
 * between two full scans (SYNC_INTERVAL long, no scan in between) reaches `link_events` through a
 * targeted sync of the VPC its ActionTrail record names — an ordinary sync run — before the next
 * scan; records are stored once, re-reading the overlap schedules nothing again; a record that
 * becomes visible late is still found; a lost record leaves the change to the next full scan; a
 * failing poll (Forbidden.RAM) is recorded in `change_feed` and stops nothing else.
 */
import { describe, expect, it } from 'vitest';
import {
  admin,
  change,
  cloudEvents,
  feedRows,
  newInstance,
  pollFeed,
  trailVisible,
} from '../helpers/feed.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { dbLinks, linkEvents, runs, truthLinks } from '../helpers/rows.js';

const REGION = 'cn-hangzhou';
const start = usePipeline({ checkSecret: true });

async function open(delayMs = 0, unlinked = 10): Promise<Pipeline> {
  const pl = await start({
    feed: true,
    sim: {
      regions: [REGION],
      vpcsPerRegion: 3,
      linksPerVpc: 2,
      unlinkedPerRegion: unlinked,
      faults: { actionTrailDelayMs: delayMs },
    },
    env: { CHANGE_FEED: 'actiontrail', SYNC_INTERVAL: '1h' },
  });
  const outcomes = await pl.round();
  expect(outcomes.every((o) => o.ok)).toBe(true);
  return pl;
}

/** The non-baseline events as `change vpc/instance`. */
async function changes(pl: Pipeline): Promise<string[]> {
  return (await linkEvents(pl.db.pool))
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`);
}

/** Polls until the queues are idle: every sync the polls asked for has run. */
async function settle(pl: Pipeline): Promise<void> {
  await expect
    .poll(async () => {
      const d = await pl.queues.depth();
      return d.sync + d.plan;
    })
    .toBe(0);
}

describe('the change feed poll', () => {
  it('a change between two scans is recorded by a targeted sync of its VPC, once', async () => {
    const pl = await open();
    const account = pl.config.SYNC_ACCOUNT;
    const [vpcA, vpcB] = pl.sim.world.vpcs(REGION) as [string, string];
    const runsBefore = (await runs(pl.db.pool)).length;
    const fresh = await newInstance(pl.sim, REGION);
    const linked = pl.sim.world.links(REGION, vpcB)[0];
    if (!linked) throw new Error('no link to detach');
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId: vpcA });
    await change(pl.sim, 'detach', { regionId: REGION, instanceId: linked.instanceId, vpcId: vpcB });

    const first = await pollFeed(pl.queues, account, REGION);
    expect(first).toMatchObject({ records: 2, fresh: 2, scheduled: 2 });
    await settle(pl);
    // The two syncs run side by side: their events in either order.
    expect((await changes(pl)).sort()).toEqual(
      [`added ${vpcA}/${fresh}`, `removed ${vpcB}/${linked.instanceId}`].sort(),
    );
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    // Two targeted runs, of the two VPCs named: no other VPC was scanned, no plan ran.
    const after = (await runs(pl.db.pool)).slice(runsBefore);
    expect(after.map((r) => `${r.vpc_id} ${r.status}`).sort()).toEqual(
      [`${vpcA} succeeded`, `${vpcB} succeeded`].sort(),
    );
    expect(await cloudEvents(pl.db.pool)).toHaveLength(2);
    expect((await cloudEvents(pl.db.pool)).every((e) => e.received_via === 'poll')).toBe(true);

    // The next poll re-reads the overlap: the same records, stored before, schedule nothing.
    const second = await pollFeed(pl.queues, account, REGION);
    expect(second).toMatchObject({ records: 2, fresh: 0, scheduled: 0 });
    await settle(pl);
    expect((await runs(pl.db.pool)).length).toBe(runsBefore + 2);
    const [row] = await feedRows(pl.db.pool);
    expect(row).toMatchObject({
      consecutive_failures: 0,
      records_seen: '4',
      scans_scheduled: '2',
      last_error: null,
    });
    expect(row?.last_success_at).not.toBeNull();
  });

  it('a release names only the instance: the VPC our links give is synced', async () => {
    const pl = await open();
    const vpcId = pl.sim.world.vpcs(REGION)[1] as string;
    const linked = pl.sim.world.links(REGION, vpcId)[0];
    if (!linked) throw new Error('no link');
    expect(
      (await admin(pl.sim, 'POST', '/_sim/release', { regionId: REGION, instanceId: linked.instanceId }))
        .status,
    ).toBe(200);
    const r = await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(r).toMatchObject({ fresh: 1, scheduled: 1 });
    await settle(pl);
    expect(await changes(pl)).toEqual([`removed ${vpcId}/${linked.instanceId}`]);
  });

  it('a release of an instance no link or attach names schedules nothing', async () => {
    const pl = await open();
    const loose = await newInstance(pl.sim, REGION);
    expect(
      (await admin(pl.sim, 'POST', '/_sim/release', { regionId: REGION, instanceId: loose })).status,
    ).toBe(200);
    const r = await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(r).toMatchObject({ fresh: 1, scheduled: 0 });
  });

  it('a failed call is stored and schedules nothing', async () => {
    const pl = await open();
    const [vpcA] = pl.sim.world.vpcs(REGION) as [string];
    const linked = pl.sim.world.links(REGION, vpcA)[0];
    if (!linked) throw new Error('no link');
    // Attaching a linked instance again is refused: a record with its errorCode.
    const refused = await admin(pl.sim, 'POST', '/_sim/attach', {
      regionId: REGION,
      instanceId: linked.instanceId,
      vpcId: vpcA,
    });
    expect(refused.status).toBe(400);
    const r = await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(r).toMatchObject({ fresh: 1, scheduled: 0 });
  });

  it('a record visible only after the poll that covered its time is found by the overlap', async () => {
    const pl = await open(1_500);
    const vpcId = pl.sim.world.vpcs(REGION)[0] as string;
    const fresh = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    // Not visible yet: this poll's window covers the call's time, and moves the cursor past it.
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      records: 0,
      scheduled: 0,
    });
    await trailVisible(pl.sim);
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      fresh: 1,
      scheduled: 1,
    });
    await settle(pl);
    expect(await changes(pl)).toEqual([`added ${vpcId}/${fresh}`]);
  });

  it('a change whose record is lost waits for the next full scan, which records it', async () => {
    const pl = await open();
    const vpcId = pl.sim.world.vpcs(REGION)[2] as string;
    const fresh = await newInstance(pl.sim, REGION);
    expect((await admin(pl.sim, 'POST', '/_sim/actiontrail/drop', { next: 1 })).status).toBe(200);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      records: 0,
      scheduled: 0,
    });
    await settle(pl);
    expect(await changes(pl)).toEqual([]);
    // The safety net: the scheduled full scan.
    expect((await pl.round()).every((o) => o.ok)).toBe(true);
    expect(await changes(pl)).toEqual([`added ${vpcId}/${fresh}`]);
  });

  it('one LookupEvents call per poll (every ECS write); per event name while writes are many', async () => {
    const pl = await open(0, 260);
    const lookups = () => pl.sim.requests.filter((r) => r.action === 'LookupEvents');
    pl.sim.clearRequests();
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({ records: 0 });
    expect(lookups().map((r) => r.params['LookupAttribute.2.Key'])).toEqual(['EventRW']);
    // 251 releases of instances no link names: six pages of writes, more than one query per name.
    const loose = pl.sim.world
      .snapshot()
      .regions[0]?.instances.filter((id) => !pl.sim.world.links(REGION).some((l) => l.instanceId === id));
    const ids = (loose ?? []).slice(0, 251);
    expect(ids).toHaveLength(251);
    for (const instanceId of ids) {
      expect((await admin(pl.sim, 'POST', '/_sim/release', { regionId: REGION, instanceId })).status).toBe(
        200,
      );
    }
    pl.sim.clearRequests();
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({ scheduled: 0 });
    expect(lookups().length).toBeGreaterThan(4);
    pl.sim.clearRequests();
    await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(
      lookups()
        .map((r) => r.params['LookupAttribute.2.Value'])
        .filter((v, i, a) => a.indexOf(v) === i),
    ).toEqual(['AttachClassicLinkVpc', 'DetachClassicLinkVpc', 'DeleteInstance', 'DeleteInstances']);
  });

  it('a record the attribution stored first still schedules its VPC, once', async () => {
    // The context side on: an applied change enqueues an attribute job, which stores every
    // LookupEvents record of its window — a change the feed has not scheduled a scan for included.
    const pl = await start({
      feed: true,
      context: true,
      sim: {
        regions: [REGION],
        vpcsPerRegion: 3,
        linksPerVpc: 2,
        unlinkedPerRegion: 10,
        faults: { actionTrailDelayMs: 0 },
      },
      env: { CHANGE_FEED: 'actiontrail', SYNC_INTERVAL: '1h' },
    });
    expect((await pl.round()).every((o) => o.ok)).toBe(true);
    const account = pl.config.SYNC_ACCOUNT;
    const [vpcA, vpcB] = pl.sim.world.vpcs(REGION) as [string, string];
    const first = await newInstance(pl.sim, REGION);
    const second = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: first, vpcId: vpcB });
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: second, vpcId: vpcA });
    // Only vpcB is scanned: its change is applied and its attribute job reads both records.
    const [job] = await pl.queues.enqueueSync([{ account, regionId: REGION, vpcId: vpcB }]);
    await pl.queues.waitFor('sync', job?.jobId ?? '');
    await expect.poll(async () => (await cloudEvents(pl.db.pool)).length, { timeout: 20_000 }).toBe(2);
    expect((await cloudEvents(pl.db.pool)).every((e) => e.received_via === 'poll')).toBe(true);
    expect(await changes(pl)).toEqual([`added ${vpcB}/${first}`]);

    // The feed finds both stored: vpcA's record was seen by no applied scan, so vpcA is synced.
    const polled = await pollFeed(pl.queues, account, REGION);
    expect(polled).toMatchObject({ records: 2, fresh: 0 });
    expect(polled.scheduled).toBeGreaterThanOrEqual(1);
    await settle(pl);
    expect((await changes(pl)).sort()).toEqual([`added ${vpcA}/${second}`, `added ${vpcB}/${first}`].sort());
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));

    // Read again after that sync applied: seen, nothing more.
    const runsBefore = (await runs(pl.db.pool)).length;
    expect(await pollFeed(pl.queues, account, REGION)).toMatchObject({ records: 2, fresh: 0, scheduled: 0 });
    await settle(pl);
    expect((await runs(pl.db.pool)).length).toBe(runsBefore);
  });

  it('a poll refused Forbidden.RAM is recorded, the cursor stays, and full scans go on', async () => {
    const pl = await open();
    const key = pl.sim.keys[0]?.accessKeyId ?? '';
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({ records: 0 });
    // Change first, then lose the permission: the record waits for the permission to come back.
    const vpcId = pl.sim.world.vpcs(REGION)[0] as string;
    const fresh = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    await admin(pl.sim, 'POST', '/_sim/keys', { accessKeyId: key, permissions: ['ecs:*', 'vpc:*'] });
    const before = (await feedRows(pl.db.pool))[0];
    const failed = await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(failed.error).toMatch(/Forbidden\.RAM/);
    expect(failed.scheduled).toBe(0);
    const again = await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION);
    expect(again.error).toMatch(/Forbidden\.RAM/);
    const [row] = await feedRows(pl.db.pool);
    expect(row).toMatchObject({ consecutive_failures: 2 });
    expect(row?.last_error).toMatch(/Forbidden\.RAM/);
    expect(before).toBeDefined();
    expect(row?.cursor_at).toEqual(before?.cursor_at);
    // A full scan is untouched by it.
    expect((await pl.round()).every((o) => o.ok)).toBe(true);
    expect(await changes(pl)).toEqual([`added ${vpcId}/${fresh}`]);

    // The permission back: the poll reads from where it stopped, finds the record (stored now),
    // and its sync finds nothing new (the full scan recorded the change).
    await admin(pl.sim, 'POST', '/_sim/keys', { accessKeyId: key, permissions: ['*'] });
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      fresh: 1,
      scheduled: 1,
    });
    await settle(pl);
    expect(await changes(pl)).toEqual([`added ${vpcId}/${fresh}`]);
    expect((await feedRows(pl.db.pool))[0]).toMatchObject({ consecutive_failures: 0 });
  });
});
