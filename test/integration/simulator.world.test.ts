/**
 * The simulator's world over real HTTP: paging, InstanceId lookups, DescribeVpcs paging, the
 * ClassicLink attach/detach rules, determinism, world files, the admin API, request recording,
 * churn, the banner, and a benchmark-sized world.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeSimulator,
  loadKeysFromEnv,
  type RunningSimulator,
  type SimulatorKey,
  type SimulatorOptions,
  startSimulator,
  type WorldJson,
} from '../../src/simulator/index.js';
import { type RawResponse, rawCall } from '../../src/simulator/raw-client.js';

const REGION = 'cn-hangzhou';
const running: RunningSimulator[] = [];

async function start(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({ port: 0, seed: 7, ...opts });
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

function body(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.text) as Record<string, unknown>;
}

interface LinksPage {
  TotalCount: number;
  PageNumber: number;
  PageSize: number;
  Links: { Link: { InstanceId: string; VpcId: string }[] };
}

function call(sim: RunningSimulator, action: string, params: Record<string, string>, version?: string) {
  return rawCall({
    url: sim.url,
    key: sim.keys[0] as SimulatorKey,
    action,
    params,
    ...(version ? { version } : {}),
  });
}

async function page(sim: RunningSimulator, params: Record<string, string>): Promise<LinksPage> {
  const r = await call(sim, 'DescribeClassicLinkInstances', { RegionId: REGION, ...params });
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text) as LinksPage;
}

async function http(sim: RunningSimulator, method: string, path: string, json?: unknown) {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    ...(json === undefined
      ? {}
      : { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

describe('DescribeClassicLinkInstances paging', () => {
  it('pages a VPC by InstanceId order; the pages add up to the truth', async () => {
    const sim = await start({ linksPerVpc: 25 });
    const vpcId = sim.world.vpcs(REGION)[1] as string;
    const seen: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const p = await page(sim, { VpcId: vpcId, PageNumber: String(n), PageSize: '10' });
      expect(p).toMatchObject({ TotalCount: 25, PageNumber: n, PageSize: 10 });
      expect(p.Links.Link).toHaveLength(n < 3 ? 10 : 5);
      expect(p.Links.Link.every((l) => l.VpcId === vpcId)).toBe(true);
      seen.push(...p.Links.Link.map((l) => l.InstanceId));
    }
    expect(seen).toEqual(sim.world.links(REGION, vpcId).map((l) => l.instanceId));
    expect(seen).toEqual([...seen].sort());
    const beyond = await page(sim, { VpcId: vpcId, PageNumber: '4', PageSize: '10' });
    expect(beyond).toMatchObject({ TotalCount: 25, PageNumber: 4, Links: { Link: [] } });
  });

  it('PageSize defaults to 10 and PageNumber to 1', async () => {
    const sim = await start({ linksPerVpc: 12 });
    const p = await page(sim, { VpcId: sim.world.vpcs(REGION)[0] as string });
    expect(p).toMatchObject({ TotalCount: 12, PageNumber: 1, PageSize: 10 });
    expect(p.Links.Link).toHaveLength(10);
  });

  it('InstanceId lookups find links in any VPC, ignore unknown or unlinked ids, and filter by VpcId', async () => {
    const sim = await start();
    const [a, b] = sim.world.vpcs(REGION);
    const la = sim.world.links(REGION, a)[0];
    const lb = sim.world.links(REGION, b)[0];
    const unlinked = sim.world.createInstance(REGION);
    const ids = [lb?.instanceId, 'i-bp1unknown0000000000', la?.instanceId, unlinked].join(' , ');
    const p = await page(sim, { InstanceId: ids, PageSize: '100' });
    expect(p.TotalCount).toBe(2);
    expect(p.Links.Link).toEqual(
      [
        { InstanceId: la?.instanceId, VpcId: a },
        { InstanceId: lb?.instanceId, VpcId: b },
      ].sort((x, y) => ((x.InstanceId ?? '') < (y.InstanceId ?? '') ? -1 : 1)),
    );
    const filtered = await page(sim, { InstanceId: ids, VpcId: a as string, PageSize: '100' });
    expect(filtered.Links.Link).toEqual([{ InstanceId: la?.instanceId, VpcId: a }]);
  });
});

describe('DescribeVpcs', () => {
  it('pages at most 50 VPCs, sorted by VpcId', async () => {
    const sim = await start({ regions: [REGION], vpcsPerRegion: 120, linksPerVpc: 0 });
    const all: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const r = await call(
        sim,
        'DescribeVpcs',
        { RegionId: REGION, PageNumber: String(n), PageSize: '50' },
        '2016-04-28',
      );
      const b = body(r) as { TotalCount: number; Vpcs: { Vpc: { VpcId: string; CidrBlock: string }[] } };
      expect(b.TotalCount).toBe(120);
      expect(b.Vpcs.Vpc).toHaveLength(n < 3 ? 50 : 20);
      all.push(...b.Vpcs.Vpc.map((v) => v.VpcId));
    }
    expect(all).toEqual(sim.world.vpcs(REGION));
    expect(all).toEqual([...all].sort());
    expect(all[0]).toMatch(/^vpc-bp1[0-9a-z]{20}$/);
  });
});

describe('AttachClassicLinkVpc / DetachClassicLinkVpc', () => {
  it('attach, already linked, detach, detach again', async () => {
    const sim = await start();
    const [vpcA, vpcB] = sim.world.vpcs(REGION) as [string, string];
    const instanceId = sim.world.createInstance(REGION);
    const p = { RegionId: REGION, InstanceId: instanceId };

    const attached = await call(sim, 'AttachClassicLinkVpc', { ...p, VpcId: vpcA });
    expect(attached.status).toBe(200);
    expect(Object.keys(body(attached))).toEqual(['RequestId']);
    expect(sim.world.links(REGION, vpcA).map((l) => l.instanceId)).toContain(instanceId);

    const again = await call(sim, 'AttachClassicLinkVpc', { ...p, VpcId: vpcB });
    expect(again.status).toBe(400);
    expect(body(again)).toMatchObject({ Code: 'InvalidInstanceId.MalFormed' });
    expect(String(body(again).Message)).toContain('already linked to another VPC');

    const wrongVpc = await call(sim, 'DetachClassicLinkVpc', { ...p, VpcId: vpcB });
    expect(wrongVpc.status).toBe(403);
    expect(body(wrongVpc).Code).toBe('InvalidInstanceId.NotFound');

    expect((await call(sim, 'DetachClassicLinkVpc', { ...p, VpcId: vpcA })).status).toBe(200);
    expect(sim.world.links(REGION, vpcA).map((l) => l.instanceId)).not.toContain(instanceId);
    const twice = await call(sim, 'DetachClassicLinkVpc', { ...p, VpcId: vpcA });
    expect(twice.status).toBe(403);
  });

  it('unknown instance, unknown VPC, missing InstanceId', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const noInstance = await call(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: 'i-bp1nope000000000000',
      VpcId: vpcId,
    });
    expect([noInstance.status, body(noInstance).Code]).toEqual([403, 'InvalidInstanceId.NotFound']);
    const instanceId = sim.world.createInstance(REGION);
    const noVpc = await call(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: instanceId,
      VpcId: 'vpc-x',
    });
    expect([noVpc.status, body(noVpc).Code]).toEqual([404, 'InvalidVpcId.NotFound']);
    const missing = await call(sim, 'AttachClassicLinkVpc', { RegionId: REGION, VpcId: vpcId });
    expect([missing.status, body(missing).Code]).toEqual([400, 'MissingParameter']);
  });

  it('a VPC holds at most 1,000 links', async () => {
    const sim = await start({ regions: [REGION], vpcsPerRegion: 1, linksPerVpc: 1000 });
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const r = await call(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: sim.world.createInstance(REGION),
      VpcId: vpcId,
    });
    expect([r.status, body(r).Code]).toEqual([400, 'QuotaExceed.ClassicLink']);
    expect(() => sim.world.attach(REGION, sim.world.createInstance(REGION), vpcId)).toThrow(
      /maximum of 1000/,
    );
    await expect(startSimulator({ linksPerVpc: 1001 })).rejects.toThrow(/linksPerVpc/);
  });
});

describe('determinism and world files', () => {
  it('the same seed gives the same world and keys; another seed does not', async () => {
    const a = await start({ seed: 99 });
    const b = await start({ seed: 99 });
    const c = await start({ seed: 100 });
    expect(a.world.snapshot()).toEqual(b.world.snapshot());
    expect(a.keys).toEqual(b.keys);
    expect(c.world.snapshot()).not.toEqual(a.world.snapshot());
    expect(c.keys).not.toEqual(a.keys);
    const snap = a.world.snapshot();
    expect(a.world.createInstance(REGION)).toBe(b.world.createInstance(REGION));
    expect(snap.regions.map((r) => r.regionId)).toEqual(['cn-hangzhou', 'cn-beijing']);
    expect(snap.regions[0]?.vpcs).toHaveLength(3);
    expect(snap.regions[0]?.links).toHaveLength(15);
    expect(snap.regions[0]?.instances).toHaveLength(25);
    expect(snap.regions[1]?.links[0]?.instanceId).toMatch(/^i-2ze[0-9a-z]{17}$/);
    expect(a.keys[0]?.accessKeyId).toMatch(/^LTAI5t[0-9A-Za-z]{18}$/);
  });

  it('loads a world file (the snapshot format) and refuses a broken one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-world-'));
    try {
      const world: WorldJson = {
        version: 1,
        regions: [
          {
            regionId: 'cn-shanghai',
            vpcs: [{ vpcId: 'vpc-uf6aaaa' }, { vpcId: 'vpc-uf6bbbb', vpcName: 'prod' }],
            instances: ['i-uf6free'],
            links: [
              { instanceId: 'i-uf6two', vpcId: 'vpc-uf6aaaa' },
              { instanceId: 'i-uf6one', vpcId: 'vpc-uf6aaaa' },
            ],
          },
        ],
      };
      const file = join(dir, 'world.json');
      writeFileSync(file, JSON.stringify(world));
      const sim = await start({ worldFile: file });
      expect(sim.world.regions()).toEqual(['cn-shanghai']);
      expect(sim.world.links('cn-shanghai')).toEqual([
        { instanceId: 'i-uf6one', vpcId: 'vpc-uf6aaaa' },
        { instanceId: 'i-uf6two', vpcId: 'vpc-uf6aaaa' },
      ]);
      const r = await rawCall({
        url: sim.url,
        key: sim.keys[0] as SimulatorKey,
        action: 'DescribeClassicLinkInstances',
        params: { RegionId: 'cn-shanghai', VpcId: 'vpc-uf6aaaa' },
      });
      expect((body(r) as unknown as LinksPage).Links.Link.map((l) => l.InstanceId)).toEqual([
        'i-uf6one',
        'i-uf6two',
      ]);
      // A snapshot round-trips.
      const again = join(dir, 'again.json');
      writeFileSync(again, JSON.stringify(sim.world.snapshot()));
      const sim2 = await start({ worldFile: again });
      expect(sim2.world.snapshot()).toEqual(sim.world.snapshot());

      const broken = join(dir, 'broken.json');
      writeFileSync(
        broken,
        JSON.stringify({
          ...world,
          regions: [{ ...world.regions[0], links: [{ instanceId: 'i-uf6one', vpcId: 'vpc-uf6zzzz' }] }],
        }),
      );
      await expect(startSimulator({ worldFile: broken })).rejects.toThrow(/broken\.json.*VpcId/);
      writeFileSync(broken, '{"version":2}');
      await expect(startSimulator({ worldFile: broken })).rejects.toThrow(/invalid world JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('admin API and recording', () => {
  it('GET/PUT faults, requests, world, attach, detach; bad input is 400', async () => {
    const sim = await start();
    expect(await http(sim, 'GET', '/_sim/faults')).toEqual({ status: 200, json: {} });
    expect(await http(sim, 'PUT', '/_sim/faults', { throttleRate: 0.5, actions: ['DescribeVpcs'] })).toEqual({
      status: 200,
      json: { throttleRate: 0.5, actions: ['DescribeVpcs'] },
    });
    expect(sim.faults).toEqual({ throttleRate: 0.5, actions: ['DescribeVpcs'] });
    const badRate = await http(sim, 'PUT', '/_sim/faults', { throttleRate: 2 });
    expect(badRate.status).toBe(400);
    expect(JSON.stringify(badRate.json)).toContain('throttleRate');
    expect((await http(sim, 'PUT', '/_sim/faults', { nonsense: true })).status).toBe(400);
    expect(sim.faults).toEqual({ throttleRate: 0.5, actions: ['DescribeVpcs'] });
    sim.setFaults({});

    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const created = (await http(sim, 'POST', '/_sim/instances', { regionId: REGION })).json as {
      instanceId: string;
    };
    expect(created.instanceId).toMatch(/^i-bp1/);
    const link = { regionId: REGION, instanceId: created.instanceId, vpcId };
    expect((await http(sim, 'POST', '/_sim/attach', link)).status).toBe(200);
    expect(sim.world.links(REGION, vpcId)).toContainEqual({ instanceId: created.instanceId, vpcId });
    const twice = await http(sim, 'POST', '/_sim/attach', link);
    expect(twice).toMatchObject({ status: 400, json: { code: 'InvalidInstanceId.MalFormed' } });
    expect((await http(sim, 'POST', '/_sim/detach', link)).status).toBe(200);
    expect((await http(sim, 'POST', '/_sim/detach', { regionId: REGION })).status).toBe(400);
    const notJson = await fetch(`${sim.url}/_sim/attach`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    expect((await http(sim, 'GET', '/_sim/nothing')).status).toBe(404);

    const world = (await http(sim, 'GET', '/_sim/world')).json as WorldJson;
    expect(world).toEqual(sim.world.snapshot());

    await call(sim, 'DescribeRegions', {});
    await call(sim, 'DescribeClassicLinkInstances', { RegionId: REGION, VpcId: vpcId });
    const recorded = (await http(sim, 'GET', '/_sim/requests')).json as { seq: number; action: string }[];
    expect(recorded.map((r) => r.action)).toEqual(['DescribeRegions', 'DescribeClassicLinkInstances']);
    expect(recorded.map((r) => r.seq)).toEqual([1, 2]);
    expect(sim.requests[1]).toMatchObject({
      action: 'DescribeClassicLinkInstances',
      regionId: REGION,
      params: { RegionId: REGION, VpcId: vpcId },
      signature: 'v3',
      status: 200,
    });
    expect(sim.requests[1]?.nonce).toMatch(/^[0-9a-f-]{36}$/);
    const held = sim.requests;
    expect((await http(sim, 'DELETE', '/_sim/requests')).status).toBe(200);
    expect(held).toHaveLength(0);
    expect(sim.requests).toBe(held);
  });

  it('maxRecordedRequests keeps the newest requests only', async () => {
    const sim = await start({ maxRecordedRequests: 5 });
    for (let i = 0; i < 30; i++) await call(sim, 'DescribeRegions', {});
    expect(sim.requests.length).toBeGreaterThanOrEqual(5);
    expect(sim.requests.length).toBeLessThanOrEqual(10);
    expect(sim.requests.at(-1)?.seq).toBe(30);
  });
});

describe('churn, banner, env keys', () => {
  it('churn changes the world by itself and stops on close', async () => {
    const sim = await start({ churn: { intervalMs: 5, attach: 2, detach: 1 } });
    const before = JSON.stringify(sim.world.snapshot());
    await expect.poll(() => JSON.stringify(sim.world.snapshot()) !== before, { timeout: 10_000 }).toBe(true);
    await sim.close();
    const closed = JSON.stringify(sim.world.snapshot());
    // A second churning simulator proves intervals have fired since; the closed one must not have moved.
    const witness = await start({ seed: 8, churn: { intervalMs: 5, attach: 1, detach: 0 } });
    const witnessBefore = JSON.stringify(witness.world.snapshot());
    await expect
      .poll(() => JSON.stringify(witness.world.snapshot()) !== witnessBefore, { timeout: 10_000 })
      .toBe(true);
    await expect.poll(() => witness.world.links(REGION).length >= 40, { timeout: 10_000 }).toBe(true);
    expect(JSON.stringify(sim.world.snapshot())).toBe(closed);
  });

  it('bad options fail startSimulator without leaving a server behind', async () => {
    await expect(startSimulator({ churn: { intervalMs: 0, attach: 1, detach: 1 } })).rejects.toThrow(
      /intervalMs/,
    );
    await expect(startSimulator({ faults: { throttleRate: 3 } })).rejects.toThrow(/throttleRate/);
    await expect(startSimulator({ keys: [] })).rejects.toThrow(/at least one key/);
    const sim = await start();
    const port = Number(new URL(sim.url).port);
    await expect(startSimulator({ port, churn: { intervalMs: 5, attach: 1, detach: 0 } })).rejects.toThrow(
      /EADDRINUSE/,
    );
  });

  it('describeSimulator prints the URL, keys, env lines and admin endpoints', async () => {
    const sim = await start();
    const text = describeSimulator(sim);
    const key = sim.keys[0] as SimulatorKey;
    expect(text).toContain(`listening on ${sim.url}`);
    expect(text).toContain(`ECS_ENDPOINT=${sim.url}`);
    expect(text).toContain(`VPC_ENDPOINT=${sim.url}`);
    expect(text).toContain(`SYNC_REGIONS=${sim.world.regions().join(',')}`);
    expect(text).toContain(`ALIBABA_CLOUD_ACCESS_KEY_ID=${key.accessKeyId}`);
    expect(text).toContain(`ALIBABA_CLOUD_ACCESS_KEY_SECRET=${key.accessKeySecret}`);
    expect(text).toContain('/_sim/faults');
    expect(text).toContain('6 VPC(s), 30 ClassicLink link(s)');
  });

  it('loadKeysFromEnv reads the standard variables', () => {
    expect(loadKeysFromEnv({})).toBeUndefined();
    expect(loadKeysFromEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' })).toBeUndefined();
    expect(
      loadKeysFromEnv({
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret',
        ALIBABA_CLOUD_SECURITY_TOKEN: 'tok',
      }),
    ).toEqual([{ accessKeyId: 'id', accessKeySecret: 'secret', securityToken: 'tok' }]);
  });
});

describe('benchmark-sized world', () => {
  it('10,000 VPCs × 100 links in one region: generated, paged and looked up', async () => {
    const t0 = performance.now();
    const sim = await start({
      regions: [REGION],
      vpcsPerRegion: 10_000,
      linksPerVpc: 100,
      unlinkedPerRegion: 0,
    });
    const startupMs = performance.now() - t0;
    const vpcs = sim.world.vpcs(REGION);
    expect(vpcs).toHaveLength(10_000);
    const last = vpcs.at(-1) as string;
    const p = await page(sim, { VpcId: last, PageSize: '100' });
    expect(p.TotalCount).toBe(100);
    expect(p.Links.Link.map((l) => l.InstanceId)).toEqual(
      sim.world.links(REGION, last).map((l) => l.instanceId),
    );
    const ids = p.Links.Link.map((l) => l.InstanceId).join(',');
    expect((await page(sim, { InstanceId: ids, PageSize: '100' })).TotalCount).toBe(100);
    // Generous bound: the point is "seconds, not minutes" on a busy CI machine.
    expect(startupMs).toBeLessThan(30_000);
  });
});
