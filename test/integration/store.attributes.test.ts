/**
 * The attribute tables through real Postgres: `instances` and `vpcs` are written only when an
 * attribute changed (a no-op refresh writes no row — not even a rewrite of an equal one), a rename
 * writes exactly one row, releases and deletions are recorded, and hostile strings come back
 * verbatim.
 */
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import {
  createStore,
  type InstanceAttributes,
  type Store,
  type VpcAttributes,
} from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { attributeVersions as versions } from '../helpers/rows.js';
import { instanceAttrs, scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

describe('store attributes', () => {
  let pool: pg.Pool;
  let store: Store;
  beforeAll(async () => {
    ({ pool } = await db());
    store = createStore({ pool, log });
  });

  it('writes each instance once; a refresh that finds nothing new writes no row', async () => {
    const t = uniqueTarget();
    const described = [instanceAttrs('i-1'), instanceAttrs('i-2', { tags: { b: '2', a: '1' } })];
    const input = { account: t.account, regionId: t.regionId, instances: described };
    expect(await store.upsertInstances({ ...input, seenAt: at(0) })).toBe(2);
    const before = await versions(pool, 'instances', t.account);

    // The same answer again, later, with the tags in another order: nothing changed.
    const reordered = [described[1], { ...instanceAttrs('i-2'), tags: { a: '1', b: '2' } }, described[0]];
    expect(
      await store.upsertInstances({
        ...input,
        instances: reordered.filter((i) => i !== undefined),
        seenAt: at(60),
      }),
    ).toBe(0);
    expect(await versions(pool, 'instances', t.account)).toEqual(before);
    const { rows } = await pool.query(
      `SELECT instance_id, instance_name, status, private_ip, zone_id, resource_group_id, tags, released_at, updated_at
         FROM instances WHERE account = $1 ORDER BY instance_id`,
      [t.account],
    );
    expect(rows).toEqual([
      {
        instance_id: 'i-1',
        instance_name: 'name-i-1',
        status: 'Running',
        private_ip: '10.0.0.1',
        zone_id: 'cn-hangzhou-h',
        resource_group_id: 'rg-1',
        tags: { env: 'prod' },
        released_at: null,
        updated_at: at(0),
      },
      expect.objectContaining({ instance_id: 'i-2', tags: { a: '1', b: '2' }, updated_at: at(0) }),
    ]);
  });

  it('a rename writes exactly that row, and moves its updated_at', async () => {
    const t = uniqueTarget();
    const base = { account: t.account, regionId: t.regionId };
    const three = ['i-1', 'i-2', 'i-3'].map((id) => instanceAttrs(id));
    await store.upsertInstances({ ...base, instances: three, seenAt: at(0) });
    const before = await versions(pool, 'instances', t.account);

    const renamed = three.map((i) => (i.instanceId === 'i-2' ? { ...i, name: 'web-2' } : i));
    expect(await store.upsertInstances({ ...base, instances: renamed, seenAt: at(5) })).toBe(1);
    const after = await versions(pool, 'instances', t.account);
    expect(after.filter((r, n) => r.v !== before[n]?.v).map((r) => r.id)).toEqual(['i-2']);

    // Each attribute counts, including a tag and a status; NULL vs a value too.
    const changes: Partial<InstanceAttributes>[] = [
      { status: 'Stopped' },
      { privateIp: null },
      { zoneId: 'cn-hangzhou-i' },
      { resourceGroupId: 'rg-2' },
      { tags: { env: 'staging' } },
      { tags: {} },
    ];
    for (const [n, change] of changes.entries()) {
      const instances = [{ ...renamed[1]!, ...change }];
      expect(await store.upsertInstances({ ...base, instances, seenAt: at(10 + n) })).toBe(1);
    }
    const { rows } = await pool.query(
      `SELECT status, private_ip, zone_id, resource_group_id, tags, updated_at FROM instances
        WHERE account = $1 AND instance_id = 'i-2'`,
      [t.account],
    );
    expect(rows).toEqual([
      {
        status: 'Running',
        private_ip: '10.0.0.1',
        zone_id: 'cn-hangzhou-h',
        resource_group_id: 'rg-1',
        tags: {},
        updated_at: at(15),
      },
    ]);
  });

  it('a description older than the row’s last change is stale and writes nothing', async () => {
    const t = uniqueTarget();
    const base = { account: t.account, regionId: t.regionId };
    await store.upsertInstances({
      ...base,
      instances: [instanceAttrs('i-1', { name: 'new' })],
      seenAt: at(10),
    });
    expect(
      await store.upsertInstances({
        ...base,
        instances: [instanceAttrs('i-1', { name: 'old' })],
        seenAt: at(5),
      }),
    ).toBe(0);
    const { rows } = await pool.query('SELECT instance_name FROM instances WHERE account = $1', [t.account]);
    expect(rows).toEqual([{ instance_name: 'new' }]);
  });

  it('an id listed twice in one answer counts once (the last one)', async () => {
    const t = uniqueTarget();
    const instances = [instanceAttrs('i-1', { name: 'first' }), instanceAttrs('i-1', { name: 'second' })];
    expect(
      await store.upsertInstances({ account: t.account, regionId: t.regionId, instances, seenAt: at(0) }),
    ).toBe(1);
    const { rows } = await pool.query('SELECT instance_name FROM instances WHERE account = $1', [t.account]);
    expect(rows).toEqual([{ instance_name: 'second' }]);
  });

  it('records a release once, for described and never-described instances; a new description clears it', async () => {
    const t = uniqueTarget();
    const base = { account: t.account, regionId: t.regionId };
    await store.upsertInstances({ ...base, instances: [instanceAttrs('i-1')], seenAt: at(0) });
    const released = { ...base, instanceIds: ['i-1', 'i-never', 'i-1'], at: at(10) };
    expect(await store.markInstancesReleased(released)).toBe(2);
    expect(await store.markInstancesReleased({ ...released, at: at(20) })).toBe(0);
    const read = async () =>
      (
        await pool.query(
          `SELECT instance_id, instance_name, tags, released_at, updated_at FROM instances
            WHERE account = $1 ORDER BY instance_id`,
          [t.account],
        )
      ).rows;
    expect(await read()).toEqual([
      {
        instance_id: 'i-1',
        instance_name: 'name-i-1',
        tags: { env: 'prod' },
        released_at: at(10),
        updated_at: at(10),
      },
      { instance_id: 'i-never', instance_name: null, tags: {}, released_at: at(10), updated_at: at(10) },
    ]);

    // A release older than the row's last change is stale too.
    await store.upsertInstances({ ...base, instances: [instanceAttrs('i-1')], seenAt: at(30) });
    expect(await store.markInstancesReleased({ ...base, instanceIds: ['i-1'], at: at(25) })).toBe(0);
    expect((await read())[0]).toMatchObject({ instance_id: 'i-1', released_at: null, updated_at: at(30) });
  });

  it('vpcs follow the same rule: once, no-op, one change, deleted and back', async () => {
    const t = uniqueTarget();
    const base = { account: t.account, regionId: t.regionId };
    const vpcs: VpcAttributes[] = [
      { vpcId: 'vpc-1', name: 'prod', cidrBlock: '172.16.0.0/12', tags: { team: 'core' } },
      { vpcId: 'vpc-2', name: 'dev', cidrBlock: '10.0.0.0/8', tags: {} },
    ];
    expect(await store.upsertVpcs({ ...base, vpcs, seenAt: at(0) })).toBe(2);
    const before = await versions(pool, 'vpcs', t.account);
    expect(await store.upsertVpcs({ ...base, vpcs, seenAt: at(5) })).toBe(0);
    expect(await versions(pool, 'vpcs', t.account)).toEqual(before);
    const renamed = vpcs.map((v) => (v.vpcId === 'vpc-2' ? { ...v, name: 'dev-2' } : v));
    expect(await store.upsertVpcs({ ...base, vpcs: renamed, seenAt: at(6) })).toBe(1);
    expect(await store.markVpcsDeleted({ ...base, vpcIds: ['vpc-1'], at: at(7) })).toBe(1);
    expect(await store.markVpcsDeleted({ ...base, vpcIds: ['vpc-1'], at: at(8) })).toBe(0);
    const { rows } = await pool.query(
      'SELECT vpc_id, vpc_name, cidr_block, tags, deleted_at, updated_at FROM vpcs WHERE account = $1 ORDER BY 1',
      [t.account],
    );
    expect(rows).toEqual([
      {
        vpc_id: 'vpc-1',
        vpc_name: 'prod',
        cidr_block: '172.16.0.0/12',
        tags: { team: 'core' },
        deleted_at: at(7),
        updated_at: at(7),
      },
      {
        vpc_id: 'vpc-2',
        vpc_name: 'dev-2',
        cidr_block: '10.0.0.0/8',
        tags: {},
        deleted_at: null,
        updated_at: at(6),
      },
    ]);
    // Listed again: no longer deleted.
    expect(await store.upsertVpcs({ ...base, vpcs: renamed, seenAt: at(9) })).toBe(1);
  });

  it('names the instances to refresh (linked now) and those never described (linked first)', async () => {
    const t = uniqueTarget();
    const other = { ...t, vpcId: 'vpc-2' };
    const base = { account: t.account, regionId: t.regionId };
    await scan(store, t, ['i-3', 'i-1'], { minute: 0 });
    await scan(store, other, ['i-2', 'i-1'], { minute: 0 });
    await scan(store, t, ['i-1'], { minute: 5 }); // i-3 unlinked
    await scan(store, { ...t, regionId: 'cn-beijing' }, ['i-9'], { minute: 0 });
    expect(await store.instancesToRefresh(base)).toEqual(['i-1', 'i-2']);
    expect(await store.instancesMissingAttributes(base)).toEqual(['i-1', 'i-2', 'i-3']);
    await store.upsertInstances({ ...base, instances: [instanceAttrs('i-1')], seenAt: at(6) });
    expect(await store.instancesMissingAttributes(base)).toEqual(['i-2', 'i-3']);
    expect(await store.instancesMissingAttributes({ ...base, limit: 1 })).toEqual(['i-2']);
    await store.markInstancesReleased({ ...base, instanceIds: ['i-3'], at: at(7) });
    expect(await store.instancesMissingAttributes(base)).toEqual(['i-2']);
  });

  it('stores hostile names and tags verbatim (a NUL, which Postgres cannot hold, becomes U+FFFD)', async () => {
    const t = uniqueTarget();
    const hostile = `'; DROP TABLE instances; -- "quoted" \\ <script>alert(1)</script> 🦄👩‍👩‍👧 ${'x'.repeat(4096)}`;
    const tags = { [hostile]: hostile, '{"json":true}': '[1,2]', 'a,b': '{c}', emoji: '🔥', empty: '' };
    const base = { account: t.account, regionId: t.regionId };
    const instances = [instanceAttrs('i-1', { name: hostile, status: hostile, tags })];
    expect(await store.upsertInstances({ ...base, instances, seenAt: at(0) })).toBe(1);
    expect(await store.upsertInstances({ ...base, instances, seenAt: at(1) })).toBe(0);
    await store.upsertVpcs({
      ...base,
      vpcs: [{ vpcId: 'vpc-1', name: hostile, cidrBlock: null, tags }],
      seenAt: at(0),
    });
    const { rows } = await pool.query<{ instance_name: string; status: string; tags: unknown }>(
      'SELECT instance_name, status, tags FROM instances WHERE account = $1',
      [t.account],
    );
    expect(rows).toEqual([{ instance_name: hostile, status: hostile, tags }]);
    const vpc = await pool.query('SELECT vpc_name, tags FROM vpcs WHERE account = $1', [t.account]);
    expect(vpc.rows).toEqual([{ vpc_name: hostile, tags }]);

    const nul = [instanceAttrs('i-2', { name: 'a\0b', tags: { 'k\0': 'v\0' } })];
    expect(await store.upsertInstances({ ...base, instances: nul, seenAt: at(0) })).toBe(1);
    const stored = await pool.query(
      `SELECT instance_name, tags FROM instances WHERE instance_id = 'i-2' AND account = $1`,
      [t.account],
    );
    expect(stored.rows).toEqual([{ instance_name: 'a\uFFFDb', tags: { 'k\uFFFD': 'v\uFFFD' } }]);
  });
});
