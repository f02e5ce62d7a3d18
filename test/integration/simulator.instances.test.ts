/**
 * The simulator's instance and VPC attributes over real HTTP: DescribeInstances (the real nesting,
 * InstanceIds paging by NextToken, filters, the empty list a key without permission gets and the
 * DryRun that tells it apart), DescribeVpcs' names, CIDRs and tags, the admin endpoints that change
 * attributes (hostile values stored verbatim), and DeleteInstance / DeleteInstances releasing an
 * instance with its link.
 */
import Ecs, { DescribeInstancesRequest } from '@alicloud/ecs20140526';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RunningSimulator,
  type SimInstance,
  type SimulatorKey,
  type SimulatorOptions,
  type SimVpc,
  startSimulator,
} from '../../src/simulator/index.js';
import { type RawResponse, rawCall } from '../../src/simulator/raw-client.js';
import { admin } from '../helpers/sim-admin.js';

const REGION = 'cn-hangzhou';
const VPC_VERSION = '2016-04-28';
const running: RunningSimulator[] = [];

type EcsClient = typeof Ecs.default;
const EcsClient: EcsClient =
  typeof (Ecs as unknown) === 'function' ? (Ecs as unknown as EcsClient) : Ecs.default;

async function start(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({ port: 0, seed: 11, ...opts });
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

interface InstanceJson {
  InstanceId: string;
  InstanceName: string;
  Status: string;
  InstanceNetworkType: string;
  RegionId: string;
  ZoneId: string;
  ResourceGroupId: string;
  InnerIpAddress: { IpAddress: string[] };
  VpcAttributes: { VpcId: string };
  Tags?: { Tag: { TagKey: string; TagValue: string }[] };
}

interface InstancesPage {
  RequestId: string;
  TotalCount: number;
  PageSize: number;
  NextToken: string;
  Instances: { Instance: InstanceJson[] };
}

interface ErrorBody {
  RequestId: string;
  HostId: string;
  Code: string;
  Message: string;
  Recommend: string;
  AccessDeniedDetail?: Record<string, string>;
}

function json<T>(r: RawResponse): T {
  return JSON.parse(r.text) as T;
}

function call(sim: RunningSimulator, action: string, params: Record<string, string>, key?: SimulatorKey) {
  return rawCall({ url: sim.url, key: key ?? (sim.keys[0] as SimulatorKey), action, params });
}

async function describe200(sim: RunningSimulator, params: Record<string, string>, key?: SimulatorKey) {
  const r = await call(sim, 'DescribeInstances', { RegionId: REGION, ...params }, key);
  expect(r.status, r.text).toBe(200);
  return json<InstancesPage>(r);
}

/** Every instance of the region, in id order (the world's truth, through its public surface). */
function instanceIds(sim: RunningSimulator): string[] {
  const snap = sim.world.snapshot();
  return [...(snap.regions.find((r) => r.regionId === REGION)?.instances ?? [])].sort();
}

describe('DescribeInstances', () => {
  it('pages InstanceIds by MaxResults/NextToken, in id order, skipping unknown ids', async () => {
    const sim = await start({ linksPerVpc: 10 });
    const ids = instanceIds(sim).slice(0, 25);
    const asked = JSON.stringify([...ids].reverse().concat(['i-bp1unknown0000000000']));
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const p = await describe200(sim, {
        InstanceIds: asked,
        MaxResults: '10',
        ...(token ? { NextToken: token } : {}),
      });
      expect(p.TotalCount).toBe(25);
      expect(p.Instances.Instance.length).toBeLessThanOrEqual(10);
      seen.push(...p.Instances.Instance.map((i) => i.InstanceId));
      token = p.NextToken;
      pages++;
    } while (token !== '' && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('MaxResults below 10 means 10 and above 100 means 100; a full listing pages the whole region', async () => {
    const sim = await start({ linksPerVpc: 40, vpcsPerRegion: 3, unlinkedPerRegion: 10 });
    expect((await describe200(sim, { MaxResults: '3' })).Instances.Instance).toHaveLength(10);
    const all: string[] = [];
    let token: string | undefined;
    do {
      const p = await describe200(sim, { MaxResults: '500', ...(token ? { NextToken: token } : {}) });
      expect(p.PageSize).toBe(100);
      expect(p.TotalCount).toBe(130);
      all.push(...p.Instances.Instance.map((i) => i.InstanceId));
      token = p.NextToken || undefined;
    } while (token);
    expect(all).toEqual(instanceIds(sim));
    // The deprecated PageNumber/PageSize paging still works when no token is used.
    const p2 = await describe200(sim, { PageNumber: '2', PageSize: '50' });
    expect(p2.Instances.Instance.map((i) => i.InstanceId)).toEqual(all.slice(50, 100));
  });

  it('answers the real nesting: classic network, inner IP, zone, resource group, {TagKey,TagValue} tags', async () => {
    const sim = await start();
    const id = sim.world.links(REGION)[0]?.instanceId as string;
    await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: id,
      tags: [
        { key: 'env', value: 'prod' },
        { key: 'team', value: 'payments' },
      ],
    });
    const p = await describe200(sim, { InstanceIds: JSON.stringify([id]) });
    const i = p.Instances.Instance[0] as InstanceJson;
    expect(i).toMatchObject({
      InstanceId: id,
      InstanceNetworkType: 'classic',
      RegionId: REGION,
      VpcAttributes: { VpcId: '' },
      Tags: {
        Tag: [
          { TagKey: 'env', TagValue: 'prod' },
          { TagKey: 'team', TagValue: 'payments' },
        ],
      },
    });
    expect(i.InstanceName).toMatch(/^[a-z]+-[a-z-]+-\d{2}$/);
    expect(['Running', 'Stopped']).toContain(i.Status);
    expect(i.InnerIpAddress.IpAddress).toHaveLength(1);
    expect(i.InnerIpAddress.IpAddress[0]).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(i.ZoneId).toMatch(/^cn-hangzhou-[a-z]$/);
    expect(i.ResourceGroupId).toMatch(/^rg-acfm[0-9a-z]{11}$/);
    const world = sim.world.instance(REGION, id) as SimInstance;
    expect(world).toMatchObject({
      instanceName: i.InstanceName,
      status: i.Status,
      innerIp: i.InnerIpAddress.IpAddress[0],
    });
  });

  it('attributes come from the seed, apart from ids: same seed same answer, another seed another', async () => {
    const a = await start({ seed: 5 });
    const b = await start({ seed: 5 });
    const c = await start({ seed: 6 });
    const names = async (sim: RunningSimulator) => {
      const p = await describe200(sim, { MaxResults: '100' });
      return p.Instances.Instance.map(({ InstanceId, InstanceName, Status, InnerIpAddress, Tags }) => ({
        InstanceId,
        InstanceName,
        Status,
        InnerIpAddress,
        Tags,
      }));
    };
    const [na, nb, nc] = await Promise.all([names(a), names(b), names(c)]);
    expect(na).toEqual(nb);
    expect(na.map((x) => x.InstanceName)).not.toEqual(nc.map((x) => x.InstanceName));
    // Some instances are untagged: the real API then leaves `Tags` out.
    expect(na.some((x) => x.Tags === undefined)).toBe(true);
    expect(new Set(na.map((x) => x.Status))).toEqual(new Set(['Running', 'Stopped']));
  });

  it('filters by Status, InstanceName (with *), Tag.N and network type', async () => {
    const sim = await start();
    const [one, two] = instanceIds(sim) as [string, string];
    await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: one,
      instanceName: 'filter-me-1',
      status: 'Stopping',
      tags: { wave: 'w9' },
    });
    await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: two,
      instanceName: 'filter-me-2',
    });
    const ids = (p: InstancesPage) => p.Instances.Instance.map((i) => i.InstanceId);
    expect(ids(await describe200(sim, { Status: 'Stopping' }))).toEqual([one]);
    expect(ids(await describe200(sim, { InstanceName: 'filter-me-*' }))).toEqual([one, two].sort());
    expect(ids(await describe200(sim, { 'Tag.1.Key': 'wave', 'Tag.1.Value': 'w9' }))).toEqual([one]);
    expect(ids(await describe200(sim, { 'Tag.1.Key': 'wave', 'Tag.1.Value': 'w8' }))).toEqual([]);
    expect((await describe200(sim, { InstanceNetworkType: 'vpc' })).TotalCount).toBe(0);
    expect((await describe200(sim, { InstanceNetworkType: 'classic' })).TotalCount).toBe(
      instanceIds(sim).length,
    );
  });

  it('a bad InstanceIds is InvalidParameter in the real error shape', async () => {
    const sim = await start();
    const tooMany = JSON.stringify(
      Array.from({ length: 101 }, (_, n) => `i-bp1${String(n).padStart(17, '0')}`),
    );
    for (const bad of ['i-bp1abc', '{"a":1}', '[1,2]', tooMany]) {
      const r = await call(sim, 'DescribeInstances', { RegionId: REGION, InstanceIds: bad });
      expect(r.status, bad).toBe(400);
      const b = json<ErrorBody>(r);
      expect(b).toMatchObject({ Code: 'InvalidParameter', HostId: `ecs.${REGION}.aliyuncs.com` });
      expect(b.Message).toContain('InstanceIds');
      expect(b.RequestId).toBe(r.headers['x-acs-request-id']);
      expect(b.Recommend).toContain('InvalidParameter');
    }
    const badToken = await call(sim, 'DescribeInstances', { RegionId: REGION, NextToken: 'zz' });
    expect([badToken.status, json<ErrorBody>(badToken).Code]).toEqual([400, 'InvalidParameter']);
  });

  it('a key without ecs:DescribeInstances gets an empty list; DryRun tells it from a real empty answer', async () => {
    const allowed = {
      accessKeyId: 'LTAI5tAllowedKey000000000',
      accessKeySecret: 'secret-allowed-000000000000000',
    };
    const denied = {
      accessKeyId: 'LTAI5tDeniedKey0000000000',
      accessKeySecret: 'secret-denied-0000000000000000',
    };
    const sim = await start({
      keys: [
        allowed,
        { ...denied, userName: 'auditor', permissions: ['ecs:DescribeClassicLinkInstances', 'vpc:*'] },
      ],
    });
    const ids = JSON.stringify(instanceIds(sim).slice(0, 5));
    expect((await describe200(sim, { InstanceIds: ids }, allowed)).Instances.Instance).toHaveLength(5);
    const empty = await describe200(sim, { InstanceIds: ids }, denied);
    expect(empty).toMatchObject({ TotalCount: 0, NextToken: '', Instances: { Instance: [] } });

    const dryAllowed = await call(
      sim,
      'DescribeInstances',
      { RegionId: REGION, InstanceIds: ids, DryRun: 'true' },
      allowed,
    );
    expect([dryAllowed.status, json<ErrorBody>(dryAllowed).Code]).toEqual([400, 'DryRunOperation']);
    const dryDenied = await call(
      sim,
      'DescribeInstances',
      { RegionId: REGION, InstanceIds: ids, DryRun: 'true' },
      denied,
    );
    expect(dryDenied.status).toBe(403);
    const body = json<ErrorBody>(dryDenied);
    expect(body.Code).toBe('Forbidden.RAM');
    expect(body.AccessDeniedDetail).toMatchObject({
      AuthAction: 'ecs:DescribeInstances',
      AuthPrincipalDisplayName: 'auditor',
      AuthPrincipalOwnerId: sim.accountId,
    });
    // Other actions are refused outright, not emptied.
    const regions = await call(sim, 'DescribeRegions', {}, denied);
    expect([regions.status, json<ErrorBody>(regions).Code]).toEqual([403, 'Forbidden.RAM']);
    // Granting the permission at run time changes the answer.
    sim.setIdentity(denied.accessKeyId, { permissions: ['ecs:Describe*'] });
    expect((await describe200(sim, { InstanceIds: ids }, denied)).TotalCount).toBe(5);
  });

  it('the official SDK reads the answer (JSON-array InstanceIds, nested tags)', async () => {
    const sim = await start();
    const key = sim.keys[0] as SimulatorKey;
    const ids = instanceIds(sim).slice(0, 3);
    await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: ids[0],
      tags: { owner: 'sre' },
    });
    const client = new EcsClient(
      new $OpenApiUtil.Config({
        accessKeyId: key.accessKeyId,
        accessKeySecret: key.accessKeySecret,
        endpoint: new URL(sim.url).host,
        protocol: 'http',
        regionId: REGION,
      }),
    );
    const res = await client.describeInstances(
      new DescribeInstancesRequest({ regionId: REGION, instanceIds: JSON.stringify(ids), maxResults: 10 }),
    );
    const got = res.body?.instances?.instance ?? [];
    expect(got.map((i) => i.instanceId)).toEqual(ids);
    expect(got[0]?.tags?.tag).toEqual([expect.objectContaining({ tagKey: 'owner', tagValue: 'sre' })]);
    expect(got[0]?.innerIpAddress?.ipAddress?.[0]).toMatch(/^10\./);
    expect(sim.requests.at(-1)?.params.InstanceIds).toBe(JSON.stringify(ids));
  });
});

describe('admin attribute endpoints', () => {
  const hostile = [
    `"quoted" 'single' <script>alert(1)</script> & \\ \u0000 \u202e`,
    `emoji 🦄🚀 中文 ${'Ü'.repeat(10)}`,
    'x'.repeat(4096),
    '🦄'.repeat(1024),
  ];

  it('stores hostile names and tags verbatim and answers them through the API', async () => {
    const sim = await start();
    const id = instanceIds(sim)[0] as string;
    for (const value of hostile) {
      const set = await admin(sim, 'POST', '/_sim/instance', {
        regionId: REGION,
        instanceId: id,
        instanceName: value,
        tags: [{ key: value, value }],
      });
      expect(set.status).toBe(200);
      expect(set.json).toMatchObject({ instanceName: value, tags: [{ key: value, value }] });
      const i = (await describe200(sim, { InstanceIds: JSON.stringify([id]) })).Instances.Instance[0];
      expect(i?.InstanceName).toBe(value);
      expect(i?.Tags?.Tag).toEqual([{ TagKey: value, TagValue: value }]);
      const got = await admin(sim, 'GET', `/_sim/instance?regionId=${REGION}&instanceId=${id}`);
      expect((got.json as SimInstance).instanceName).toBe(value);
    }
  });

  it('refuses values over maxAttributeBytes, bad statuses and unknown instances', async () => {
    const sim = await start({ maxAttributeBytes: 4096 });
    const id = instanceIds(sim)[0] as string;
    const before = sim.world.instance(REGION, id);
    const big = await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: id,
      instanceName: 'x'.repeat(4097),
    });
    expect(big).toMatchObject({ status: 400, json: { code: 'InvalidParameter' } });
    expect(JSON.stringify(big.json)).toContain('maxAttributeBytes');
    const emoji = await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: id,
      tags: { k: '🦄'.repeat(1025) },
    });
    expect(emoji.status).toBe(400);
    expect(
      (await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: id, status: 'Exploded' }))
        .status,
    ).toBe(400);
    const none = await admin(sim, 'POST', '/_sim/instance', {
      regionId: REGION,
      instanceId: 'i-bp1nope',
      instanceName: 'n',
    });
    expect(none).toMatchObject({ status: 400, json: { code: 'InvalidInstanceId.NotFound' } });
    expect(sim.world.instance(REGION, id)).toEqual(before);
    expect((await admin(sim, 'GET', `/_sim/instance?regionId=${REGION}&instanceId=i-bp1nope`)).status).toBe(
      404,
    );
  });

  it('a status other than Running or Stopped refuses AttachClassicLinkVpc', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const id = sim.world.createInstance(REGION);
    await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: id, status: 'Starting' });
    const r = await call(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: id, VpcId: vpcId });
    expect([r.status, json<ErrorBody>(r).Code]).toEqual([403, 'IncorrectInstanceStatus']);
    await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: id, status: 'Stopped' });
    expect(
      (await call(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: id, VpcId: vpcId })).status,
    ).toBe(200);
  });
});

describe('DescribeVpcs attributes', () => {
  interface VpcJson {
    VpcId: string;
    VpcName: string;
    CidrBlock: string;
    OwnerId: number;
    ResourceGroupId: string;
    Tags: { Tag: { Key: string; Value: string }[] };
  }

  async function vpcs(sim: RunningSimulator): Promise<VpcJson[]> {
    const r = await rawCall({
      url: sim.url,
      key: sim.keys[0] as SimulatorKey,
      action: 'DescribeVpcs',
      version: VPC_VERSION,
      params: { RegionId: REGION, PageSize: '50' },
    });
    expect(r.status, r.text).toBe(200);
    return json<{ Vpcs: { Vpc: VpcJson[] } }>(r).Vpcs.Vpc;
  }

  it('names, CIDR blocks and {Key,Value} tags, deterministic from the seed', async () => {
    const a = await vpcs(await start({ seed: 21 }));
    const b = await vpcs(await start({ seed: 21 }));
    expect(a).toEqual(b);
    for (const v of a) {
      expect(v.VpcName).toMatch(/^sim-vpc-\d+$/);
      expect(v.CidrBlock).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
      expect(v.Tags.Tag.length).toBeGreaterThan(0);
      expect(Object.keys(v.Tags.Tag[0] ?? {})).toEqual(['Key', 'Value']);
      expect(v.ResourceGroupId).toMatch(/^rg-acfm/);
    }
  });

  it('an admin rename or retag shows in DescribeVpcs; OwnerId is the account', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[1] as string;
    const set = await admin(sim, 'POST', '/_sim/vpc', {
      regionId: REGION,
      vpcId,
      vpcName: 'prod <core> "vpc" 🦄',
      cidrBlock: '10.8.0.0/16',
      tags: [{ key: 'env', value: 'prod' }],
    });
    expect((set.json as SimVpc).vpcName).toBe('prod <core> "vpc" 🦄');
    const v = (await vpcs(sim)).find((x) => x.VpcId === vpcId);
    expect(v).toMatchObject({
      VpcName: 'prod <core> "vpc" 🦄',
      CidrBlock: '10.8.0.0/16',
      OwnerId: Number(sim.accountId),
      Tags: { Tag: [{ Key: 'env', Value: 'prod' }] },
    });
    expect((await admin(sim, 'GET', `/_sim/vpc?regionId=${REGION}&vpcId=${vpcId}`)).json).toMatchObject({
      cidrBlock: '10.8.0.0/16',
    });
  });
});

describe('DeleteInstance / DeleteInstances', () => {
  async function linkedInstance(sim: RunningSimulator, status: 'Running' | 'Stopped') {
    const link = sim.world.links(REGION)[0] as { instanceId: string; vpcId: string };
    await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: link.instanceId, status });
    return link;
  }

  it('a Running instance needs Force=true; the release takes the link with it', async () => {
    const sim = await start();
    const { instanceId, vpcId } = await linkedInstance(sim, 'Running');
    const refused = await call(sim, 'DeleteInstance', { InstanceId: instanceId });
    expect([refused.status, json<ErrorBody>(refused).Code]).toEqual([403, 'IncorrectInstanceStatus']);
    expect(sim.world.instance(REGION, instanceId)).toBeDefined();

    const dry = await call(sim, 'DeleteInstance', { InstanceId: instanceId, Force: 'true', DryRun: 'true' });
    expect([dry.status, json<ErrorBody>(dry).Code]).toEqual([400, 'DryRunOperation']);
    expect(sim.world.instance(REGION, instanceId)).toBeDefined();

    // No RegionId: the SDK's DeleteInstance has none (the host names the region); the instance's own is used.
    const released = await call(sim, 'DeleteInstance', { InstanceId: instanceId, Force: 'true' });
    expect(released.status, released.text).toBe(200);
    expect(Object.keys(json<object>(released))).toEqual(['RequestId']);
    expect(sim.world.instance(REGION, instanceId)).toBeUndefined();
    expect(sim.world.links(REGION, vpcId).map((l) => l.instanceId)).not.toContain(instanceId);
    const lookup = await call(sim, 'DescribeClassicLinkInstances', {
      RegionId: REGION,
      InstanceId: instanceId,
    });
    expect(json<{ TotalCount: number }>(lookup).TotalCount).toBe(0);
    expect((await describe200(sim, { InstanceIds: JSON.stringify([instanceId]) })).TotalCount).toBe(0);
    expect(instanceIds(sim)).not.toContain(instanceId);

    const again = await call(sim, 'DeleteInstance', { RegionId: REGION, InstanceId: instanceId });
    expect(json<ErrorBody>(again).Code).toBe('InvalidInstanceId.NotFound');
    const attach = await call(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: instanceId,
      VpcId: vpcId,
    });
    expect(json<ErrorBody>(attach).Code).toBe('InvalidInstanceId.NotFound');
  });

  it('DeleteInstances releases InstanceId.1..N together, or none when one cannot go', async () => {
    const sim = await start();
    const [a, b, c] = instanceIds(sim) as [string, string, string];
    for (const id of [a, b])
      await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: id, status: 'Stopped' });
    await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: c, status: 'Running' });
    const partial = await call(sim, 'DeleteInstances', {
      RegionId: REGION,
      'InstanceId.1': a,
      'InstanceId.2': c,
    });
    expect(json<ErrorBody>(partial).Code).toBe('IncorrectInstanceStatus');
    expect(sim.world.instance(REGION, a)).toBeDefined();
    const dry = await call(sim, 'DeleteInstances', { RegionId: REGION, 'InstanceId.1': a, DryRun: 'true' });
    expect([dry.status, json<ErrorBody>(dry).Code]).toEqual([400, 'DRYRUN.SUCCESS']);
    const ok = await call(sim, 'DeleteInstances', { RegionId: REGION, 'InstanceId.1': a, 'InstanceId.2': b });
    expect(ok.status, ok.text).toBe(200);
    expect([sim.world.instance(REGION, a), sim.world.instance(REGION, b)]).toEqual([undefined, undefined]);
    const none = await call(sim, 'DeleteInstances', { RegionId: REGION });
    expect(json<ErrorBody>(none).Code).toBe('MissingParameter');
  });

  it('the admin release takes a Running instance and its link; the world snapshot drops it', async () => {
    const sim = await start();
    const { instanceId, vpcId } = await linkedInstance(sim, 'Running');
    const r = await admin(sim, 'POST', '/_sim/release', { regionId: REGION, instanceId });
    expect(r.status).toBe(200);
    expect(sim.world.links(REGION, vpcId).map((l) => l.instanceId)).not.toContain(instanceId);
    expect(JSON.stringify(sim.world.snapshot())).not.toContain(instanceId);
    const twice = await admin(sim, 'POST', '/_sim/release', { regionId: REGION, instanceId });
    expect(twice).toMatchObject({ status: 400, json: { code: 'InvalidInstanceId.NotFound' } });
  });
});
