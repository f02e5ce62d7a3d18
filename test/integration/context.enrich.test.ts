/**
 * What each linked instance and watched VPC is, end to end: the sync's after-applied hook and the
 * periodic refresh describe instances (DescribeInstances, ≤ 100 ids a call), discovery's listing
 * or — with SYNC_TARGETS — DescribeVpcs by VpcId records VPCs, and only what changed is written.
 * A missing permission is told apart from released instances (DryRun) and never marks anything
 * released; a released instance's link goes only through a sync's confirmed removal. Through real
 * Postgres, Redis and the simulator; tests wait for rows and jobs, never for time.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WorldJson } from '../../src/simulator/index.js';
import { type Pipeline, type PipelineOptions, usePipeline } from '../helpers/pipeline.js';
import { attributeVersions, count, dbLinks, linkEvents, truthLinks } from '../helpers/rows.js';
import { admin } from '../helpers/sim-admin.js';

const R = 'cn-hangzhou';
const open = usePipeline();

function openContext(more: PipelineOptions = {}): Promise<Pipeline> {
  return open({
    context: true,
    sim: { regions: [R], vpcsPerRegion: 2, linksPerVpc: 3, faults: { actionTrailDelayMs: 200 } },
    ...more,
    env: { ATTRIBUTION_WINDOW: '10s', ...more.env },
  });
}

/** One periodic refresh of the region, as its schedule would add it; its result. */
async function refresh(pl: Pipeline) {
  const jobId = await pl.queues.enqueueEnrich({ account: pl.config.SYNC_ACCOUNT, regionId: R });
  return pl.queues.waitFor('enrich', jobId, 30_000);
}

const account = (pl: Pipeline) => pl.config.SYNC_ACCOUNT;

/** Waits until `n` instances rows exist (the hook's enrich job after a round). */
async function described(pl: Pipeline, n: number): Promise<void> {
  await expect
    .poll(() => count(pl.db.pool, 'SELECT count(*)::int AS n FROM instances'), { timeout: 20_000 })
    .toBe(n);
}

describe('enrichment', () => {
  it("describes a round's instances at once; a rename writes exactly one row; a no-op cycle none", async () => {
    const pl = await openContext();
    await pl.round();
    const linked = truthLinks(pl.sim);
    await described(pl, linked.length);
    // Discovery's listing recorded every VPC, named as the simulator names it.
    await expect.poll(() => count(pl.db.pool, 'SELECT count(*)::int AS n FROM vpcs')).toBe(2);
    const [vpc] = pl.sim.world.vpcs(R);
    const { rows: vpcRows } = await pl.db.pool.query(
      'SELECT vpc_name, cidr_block FROM vpcs WHERE vpc_id = $1',
      [vpc],
    );
    expect(vpcRows).toEqual([
      {
        vpc_name: pl.sim.world.vpc(R, vpc ?? '')?.vpcName,
        cidr_block: pl.sim.world.vpc(R, vpc ?? '')?.cidrBlock,
      },
    ]);

    // A no-op cycle: the periodic refresh and a round write no attribute row.
    const instancesBefore = await attributeVersions(pl.db.pool, 'instances', account(pl));
    const vpcsBefore = await attributeVersions(pl.db.pool, 'vpcs', account(pl));
    expect(await refresh(pl)).toEqual({
      described: linked.length,
      written: 0,
      released: 0,
      vpcsWritten: 0,
      permission: 'ok',
    });
    await pl.round();
    expect(await attributeVersions(pl.db.pool, 'instances', account(pl))).toEqual(instancesBefore);
    expect(await attributeVersions(pl.db.pool, 'vpcs', account(pl))).toEqual(vpcsBefore);

    // A rename between cycles: exactly that row is written.
    const renamed = pl.sim.world.links(R)[0]?.instanceId ?? '';
    const r = await admin(pl.sim, 'POST', '/_sim/instance', {
      regionId: R,
      instanceId: renamed,
      instanceName: 'web-renamed',
      tags: { team: 'web' },
    });
    expect(r.status).toBe(200);
    expect(await refresh(pl)).toMatchObject({ written: 1, released: 0 });
    const after = await attributeVersions(pl.db.pool, 'instances', account(pl));
    expect(after.filter((row, i) => row.v !== instancesBefore[i]?.v).map((row) => row.id)).toEqual([renamed]);
    const { rows } = await pl.db.pool.query(
      'SELECT instance_name, tags FROM instances WHERE instance_id = $1',
      [renamed],
    );
    expect(rows).toEqual([{ instance_name: 'web-renamed', tags: { team: 'web' } }]);
    // The health of the source says so.
    const [health] = await pl.database.store.listContextHealth();
    expect(health?.instances).toMatchObject({ state: 'ok', detail: null });
  });

  it('asks DescribeInstances 100 ids at a time, as a JSON array', async () => {
    const pl = await open({
      context: true,
      sim: { regions: [R], vpcsPerRegion: 1, linksPerVpc: 250 },
    });
    await pl.round();
    await described(pl, 250);
    pl.sim.clearRequests();
    expect(await refresh(pl)).toMatchObject({ described: 250, written: 0 });
    const calls = pl.sim.requests.filter((q) => q.action === 'DescribeInstances');
    const sizes = calls.map((q) => (JSON.parse(q.params.InstanceIds ?? '[]') as string[]).length);
    expect(sizes).toEqual([100, 100, 50]);
  });

  it('without ecs:DescribeInstances: status says so, nothing is marked released; then it recovers', async () => {
    const pl = await openContext();
    const keyId = pl.sim.keys[0]?.accessKeyId ?? '';
    // Everything a sync needs, not DescribeInstances: the API answers an empty list, not an error.
    pl.sim.setIdentity(keyId, {
      permissions: ['ecs:DescribeClassicLinkInstances', 'vpc:*', 'actiontrail:*'],
    });
    await pl.round();
    await expect
      .poll(async () => (await pl.database.store.listContextHealth())[0]?.instances?.state, {
        timeout: 20_000,
      })
      .toBe('permission_denied');
    expect(await refresh(pl)).toMatchObject({ written: 0, released: 0, permission: 'denied' });
    expect(await count(pl.db.pool, 'SELECT count(*)::int AS n FROM instances')).toBe(0);
    const [health] = await pl.database.store.listContextHealth();
    expect(health?.instances?.detail).toContain('Forbidden.RAM');
    expect(health?.instances?.detail).toContain('ecs:DescribeInstances');
    // The DryRun told the two apart.
    expect(pl.sim.requests.some((q) => q.action === 'DescribeInstances' && q.params.DryRun === 'true')).toBe(
      true,
    );

    pl.sim.setIdentity(keyId, { permissions: ['*'] });
    const linked = truthLinks(pl.sim).length;
    expect(await refresh(pl)).toMatchObject({ written: linked, released: 0, permission: 'ok' });
    expect(
      await count(pl.db.pool, 'SELECT count(*)::int AS n FROM instances WHERE released_at IS NOT NULL'),
    ).toBe(0);
    const [back] = await pl.database.store.listContextHealth();
    expect(back?.instances).toMatchObject({ state: 'ok', detail: null });
    expect(back?.instances?.lastOkAt).not.toBeNull();
  });

  it('a deleted instance: released by enrichment, its link removed only by the sync that confirms it', async () => {
    const pl = await openContext();
    await pl.round();
    const linked = truthLinks(pl.sim).length;
    await described(pl, linked);
    const [vpc] = pl.sim.world.vpcs(R);
    const victim = pl.sim.world.links(R, vpc)[0]?.instanceId ?? '';
    const r = await admin(pl.sim, 'POST', '/_sim/release', {
      regionId: R,
      instanceId: victim,
      user: 'ops-admin',
    });
    expect(r.status).toBe(200);

    expect(await refresh(pl)).toMatchObject({ released: 1, permission: 'ok' });
    const releasedAt = async () =>
      (await pl.db.pool.query('SELECT released_at FROM instances WHERE instance_id = $1', [victim])).rows[0]
        ?.released_at;
    expect(await releasedAt()).toBeInstanceOf(Date);
    // Enrichment never writes a link: still active until a sync confirms it gone.
    expect(await dbLinks(pl.db.pool)).toContain(`${vpc}/${victim}`);

    await pl.round();
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const removed = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(removed.map((e) => `${e.change} ${e.instance_id}`)).toEqual([`removed ${victim}`]);
    // Who deleted it, from ActionTrail.
    await expect
      .poll(
        async () =>
          (
            await pl.db.pool.query(
              `SELECT cause_status, cause_event_name, cause_actor_name FROM link_history WHERE NOT baseline`,
            )
          ).rows,
        { timeout: 20_000 },
      )
      .toEqual([
        { cause_status: 'found', cause_event_name: 'DeleteInstance', cause_actor_name: 'ops-admin' },
      ]);
  });

  it('SYNC_TARGETS: the watched VPCs are refreshed by DescribeVpcs filtered by VpcId', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'world-'));
    const world: WorldJson = {
      version: 1,
      regions: [
        {
          regionId: R,
          vpcs: [
            { vpcId: 'vpc-aaa', vpcName: 'prod-a', cidrBlock: '10.1.0.0/16' },
            { vpcId: 'vpc-bbb', vpcName: 'prod-b', cidrBlock: '10.2.0.0/16' },
            { vpcId: 'vpc-ccc', vpcName: 'not-watched', cidrBlock: '10.3.0.0/16' },
          ],
          instances: ['i-one', 'i-two'],
          links: [{ instanceId: 'i-one', vpcId: 'vpc-aaa' }],
        },
      ],
    };
    const worldFile = join(dir, 'world.json');
    writeFileSync(worldFile, JSON.stringify(world));
    const pl = await openContext({
      sim: { worldFile },
      env: { SYNC_TARGETS: `${R}:vpc-aaa,${R}:vpc-bbb` },
    });
    await pl.round();
    // No discovery: the plan read no VPC listing.
    expect(pl.sim.requests.filter((q) => q.action === 'DescribeVpcs')).toEqual([]);
    expect(await refresh(pl)).toMatchObject({ vpcsWritten: 2 });
    const vpcs = async () =>
      (await pl.db.pool.query('SELECT vpc_id, vpc_name, cidr_block, deleted_at FROM vpcs ORDER BY vpc_id'))
        .rows;
    expect(await vpcs()).toEqual([
      { vpc_id: 'vpc-aaa', vpc_name: 'prod-a', cidr_block: '10.1.0.0/16', deleted_at: null },
      { vpc_id: 'vpc-bbb', vpc_name: 'prod-b', cidr_block: '10.2.0.0/16', deleted_at: null },
    ]);
    const asked = pl.sim.requests.filter((q) => q.action === 'DescribeVpcs').map((q) => q.params.VpcId);
    expect(asked).toEqual(['vpc-aaa,vpc-bbb']);

    // Renamed: one row; then a cycle with nothing new: none.
    pl.sim.world.updateVpc(R, 'vpc-bbb', { vpcName: 'prod-b2' });
    const before = await attributeVersions(pl.db.pool, 'vpcs', account(pl));
    expect(await refresh(pl)).toMatchObject({ vpcsWritten: 1 });
    const after = await attributeVersions(pl.db.pool, 'vpcs', account(pl));
    expect(after.filter((row, i) => row.v !== before[i]?.v).map((row) => row.id)).toEqual(['vpc-bbb']);
    expect(await refresh(pl)).toMatchObject({ vpcsWritten: 0 });
    expect(await attributeVersions(pl.db.pool, 'vpcs', account(pl))).toEqual(after);
  });

  it('discovery: a VPC the listing no longer gives is marked deleted', async () => {
    const pl = await openContext();
    await pl.round();
    await expect.poll(() => count(pl.db.pool, 'SELECT count(*)::int AS n FROM vpcs')).toBe(2);
    const [gone] = pl.sim.world.vpcs(R);
    pl.sim.world.deleteVpc(R, gone ?? '');
    await pl.round();
    await expect
      .poll(async () => (await pl.db.pool.query('SELECT vpc_id FROM vpcs WHERE deleted_at IS NOT NULL')).rows)
      .toEqual([{ vpc_id: gone }]);
  });
});
