import { beforeAll, describe, expect, it } from 'vitest';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });
const det = (minute: number) => new Date(at(minute).getTime() + 30_000);

/**
 * A known history (scans start at minute m and are detected at m + 30 s):
 *   vpc-1:  m0 baseline {i-1, i-2} · m10 {i-2, i-3} (−i-1 +i-3) · m20 {i-1, i-2, i-3} (+i-1)
 *           · m30 {} (all removed)
 *   vpc-2:  m5 baseline {i-9}
 */
describe('store read side', () => {
  let store: Store;
  let t1: TargetRef;
  let t2: TargetRef;
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    const { pool } = await db();
    store = createStore({ pool, log });
    t1 = uniqueTarget('vpc-1');
    t2 = { ...t1, vpcId: 'vpc-2' };
    runs.m0 = (await scan(store, t1, ['i-1', 'i-2'], { minute: 0 })).runId;
    runs.m5 = (await scan(store, t2, ['i-9'], { minute: 5 })).runId;
    runs.m10 = (await scan(store, t1, ['i-2', 'i-3'], { minute: 10 })).runId;
    runs.m20 = (await scan(store, t1, ['i-1', 'i-2', 'i-3'], { minute: 20 })).runId;
    runs.m30 = (await scan(store, t1, [], { minute: 30 })).runId;
    // Noise in another account, which no filtered query below may return.
    await scan(store, uniqueTarget('vpc-1'), ['i-1'], { minute: 15 });
  });

  const linksAt = async (time: Date, filter: { vpcId?: string } = {}) =>
    (await store.listLinks({ account: t1.account, at: time, ...filter })).map((l) => [
      l.vpcId,
      l.instanceId,
      l.linkedSince.toISOString(),
    ]);

  it('links_at(T) answers what was linked at T', async () => {
    expect(await linksAt(at(0))).toEqual([]);
    // Inclusive at the detection instant.
    expect(await linksAt(det(0))).toEqual([
      ['vpc-1', 'i-1', det(0).toISOString()],
      ['vpc-1', 'i-2', det(0).toISOString()],
    ]);
    expect(await linksAt(at(7))).toEqual([
      ['vpc-1', 'i-1', det(0).toISOString()],
      ['vpc-1', 'i-2', det(0).toISOString()],
      ['vpc-2', 'i-9', det(5).toISOString()],
    ]);
    expect(await linksAt(at(15))).toEqual([
      ['vpc-1', 'i-2', det(0).toISOString()],
      ['vpc-1', 'i-3', det(10).toISOString()],
      ['vpc-2', 'i-9', det(5).toISOString()],
    ]);
    // i-1 came back: linked since its re-add, not its first add.
    expect(await linksAt(at(25), { vpcId: 'vpc-1' })).toEqual([
      ['vpc-1', 'i-1', det(20).toISOString()],
      ['vpc-1', 'i-2', det(0).toISOString()],
      ['vpc-1', 'i-3', det(10).toISOString()],
    ]);
    expect(await linksAt(at(60))).toEqual([['vpc-2', 'i-9', det(5).toISOString()]]);
  });

  it('links now agree with links_at(now), and with the active_links view', async () => {
    const { pool } = await db();
    const now = await store.listLinks({ account: t1.account });
    expect(now).toEqual([
      {
        account: t1.account,
        regionId: t1.regionId,
        vpcId: 'vpc-2',
        instanceId: 'i-9',
        linkedSince: det(5),
        firstSeenAt: det(5),
        baseline: true,
      },
    ]);
    const atNow = await store.listLinks({ account: t1.account, at: new Date('2100-01-01T00:00:00Z') });
    expect(atNow.map(({ firstSeenAt: _, ...rest }) => rest)).toEqual(
      now.map(({ firstSeenAt: _, ...rest }) => rest),
    );
    const { rows } = await pool.query(
      'SELECT vpc_id, instance_id, linked_since FROM active_links WHERE account = $1',
      [t1.account],
    );
    expect(rows).toEqual([{ vpc_id: 'vpc-2', instance_id: 'i-9', linked_since: det(5) }]);
    expect(await store.listLinks({ account: t1.account, vpcId: 'vpc-1' })).toEqual([]);
    expect(await store.listLinks({ account: t1.account, regionId: 'cn-beijing' })).toEqual([]);
  });

  it('links_at is usable from SQL directly', async () => {
    const { pool } = await db();
    const { rows } = await pool.query(
      `SELECT instance_id FROM links_at($1) WHERE account = $2 AND vpc_id = 'vpc-1' ORDER BY instance_id`,
      [at(15), t1.account],
    );
    expect(rows).toEqual([{ instance_id: 'i-2' }, { instance_id: 'i-3' }]);
  });

  it('listEvents filters by account, time range, region, VPC and instance, oldest first', async () => {
    const ev = (filter: Parameters<Store['listEvents']>[0]) =>
      store
        .listEvents({ account: t1.account, ...filter })
        .then((rows) =>
          rows.map((e) => `${e.vpcId}/${e.instanceId} ${e.change}${e.baseline ? ' (baseline)' : ''}`),
        );

    expect(await ev({})).toEqual([
      'vpc-1/i-1 added (baseline)',
      'vpc-1/i-2 added (baseline)',
      'vpc-2/i-9 added (baseline)',
      'vpc-1/i-3 added',
      'vpc-1/i-1 removed',
      'vpc-1/i-1 added',
      'vpc-1/i-1 removed',
      'vpc-1/i-2 removed',
      'vpc-1/i-3 removed',
    ]);
    expect(await ev({ since: det(10), until: det(30) })).toEqual([
      'vpc-1/i-3 added',
      'vpc-1/i-1 removed',
      'vpc-1/i-1 added',
    ]);
    expect(await ev({ instanceId: 'i-1' })).toEqual([
      'vpc-1/i-1 added (baseline)',
      'vpc-1/i-1 removed',
      'vpc-1/i-1 added',
      'vpc-1/i-1 removed',
    ]);
    expect(await ev({ vpcId: 'vpc-2' })).toEqual(['vpc-2/i-9 added (baseline)']);
    expect(await ev({ regionId: 'cn-beijing' })).toEqual([]);
    expect(await ev({ limit: 2 })).toEqual(['vpc-1/i-1 added (baseline)', 'vpc-1/i-2 added (baseline)']);
    // The newest N, still listed oldest first (what `events --limit` shows).
    expect(await ev({ limit: 3, newest: true })).toEqual([
      'vpc-1/i-1 removed',
      'vpc-1/i-2 removed',
      'vpc-1/i-3 removed',
    ]);
    expect(await ev({ instanceId: 'i-1', limit: 2, newest: true })).toEqual([
      'vpc-1/i-1 added',
      'vpc-1/i-1 removed',
    ]);
    expect(await store.countEvents({ account: t1.account })).toBe(9);
    expect(await store.countEvents({ account: t1.account, instanceId: 'i-1', limit: 1, newest: true })).toBe(
      4,
    );
    expect(await store.countEvents({ account: t1.account, since: det(10), until: det(30) })).toBe(3);
    expect(await ev({ since: at(100) })).toEqual([]);

    const [first] = await store.listEvents({ account: t1.account, limit: 1 });
    expect(first).toEqual({
      id: expect.stringMatching(/^\d+$/),
      account: t1.account,
      regionId: t1.regionId,
      vpcId: 'vpc-1',
      instanceId: 'i-1',
      change: 'added',
      detectedAt: det(0),
      syncRunId: runs.m0,
      baseline: true,
    });
    // Without an account filter, other accounts' events appear too.
    const all = await store.listEvents({ instanceId: 'i-1', since: det(15), until: det(16) });
    expect(all.map((e) => e.account)).not.toContain(t1.account);
    expect(all).toHaveLength(1);
  });

  it('listTargets reports per-target state', async () => {
    const rows = await store.listTargets({ account: t1.account });
    expect(rows.map((r) => [r.vpcId, r.activeLinks, r.lastRunId, r.lastAppliedScanStartedAt])).toEqual([
      ['vpc-1', 0, runs.m30, at(30)],
      ['vpc-2', 1, runs.m5, at(5)],
    ]);
    expect((await store.listTargets()).length).toBeGreaterThanOrEqual(3);
  });
});
