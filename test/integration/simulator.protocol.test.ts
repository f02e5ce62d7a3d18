/**
 * The simulator speaks Alibaba's RPC protocol: the official SDKs (openapi-core V3 and its HMAC-SHA1
 * "v2" mode, pop-core GET and POST-form) get the world's data from it, and it refuses what the real
 * API refuses (tampering, wrong secret, unknown key, stale timestamp, reused nonce, STS token).
 */
import Ecs, { DescribeClassicLinkInstancesRequest, DescribeRegionsRequest } from '@alicloud/ecs20140526';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import PopCore from '@alicloud/pop-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, type SimulatorKey, startSimulator } from '../../src/simulator/index.js';
import { buildRequest, type RawResponse, rawCall, send } from '../../src/simulator/raw-client.js';

const REGION = 'cn-hangzhou';

// The SDK is CommonJS with `exports.default = Client`: Node's ESM loader hands us `module.exports`,
// Vitest's interop hands us the class itself. Accept both.
type EcsClient = typeof Ecs.default;
const EcsClient: EcsClient =
  typeof (Ecs as unknown) === 'function' ? (Ecs as unknown as EcsClient) : Ecs.default;

function ecsClient(sim: RunningSimulator, key: SimulatorKey, v2 = false, regionId = REGION) {
  const config = new $OpenApiUtil.Config({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    endpoint: new URL(sim.url).host,
    protocol: 'http',
    regionId,
    ...(key.securityToken ? { securityToken: key.securityToken } : {}),
    ...(v2 ? { signatureAlgorithm: 'v2' } : {}),
  });
  return new EcsClient(config);
}

function popClient(sim: RunningSimulator, key: SimulatorKey) {
  return new PopCore({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    endpoint: sim.url,
    apiVersion: '2014-05-26',
    ...(key.securityToken ? { securityToken: key.securityToken } : {}),
  });
}

function json(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.text) as Record<string, unknown>;
}

/** The SDKs throw errors carrying the API's `code`; this pulls it out without `any`. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : `no code: ${String(err)}`;
  }
  return 'no error';
}

let sim: RunningSimulator;
let key: SimulatorKey;
let vpcId: string;

beforeEach(async () => {
  sim = await startSimulator({ port: 0, seed: 42 });
  key = sim.keys[0] as SimulatorKey;
  vpcId = sim.world.vpcs(REGION)[0] as string;
});

afterEach(async () => {
  await sim.close();
});

describe('official SDKs against the simulator', () => {
  const expectedLinks = () =>
    sim.world.links(REGION, vpcId).map((l) => ({ instanceId: l.instanceId, vpcId: l.vpcId }));

  for (const v2 of [false, true]) {
    it(`@alicloud/ecs20140526 (${v2 ? 'v2 / HMAC-SHA1' : 'V3 / ACS3-HMAC-SHA256'}) lists a VPC's links`, async () => {
      const client = ecsClient(sim, key, v2);
      const res = await client.describeClassicLinkInstances(
        new DescribeClassicLinkInstancesRequest({ regionId: REGION, vpcId, pageSize: '100' }),
      );
      expect(res.statusCode).toBe(200);
      expect(res.body?.totalCount).toBe(5);
      expect(res.body?.pageNumber).toBe(1);
      expect(res.body?.pageSize).toBe(100);
      expect(res.body?.links?.link?.map((l) => ({ instanceId: l.instanceId, vpcId: l.vpcId }))).toEqual(
        expectedLinks(),
      );
      expect(sim.requests.at(-1)).toMatchObject({
        action: 'DescribeClassicLinkInstances',
        signature: v2 ? 'v1' : 'v3',
        status: 200,
        accessKeyId: key.accessKeyId,
        regionId: REGION,
        params: { RegionId: REGION, VpcId: vpcId, PageSize: '100' },
      });
    });

    it(`@alicloud/ecs20140526 (${v2 ? 'v2' : 'V3'}) DescribeRegions returns the world's regions`, async () => {
      const res = await ecsClient(sim, key, v2).describeRegions(new DescribeRegionsRequest({}));
      const regions = res.body?.regions?.region ?? [];
      expect(regions.map((r) => r.regionId)).toEqual(['cn-hangzhou', 'cn-beijing']);
      expect(regions[0]).toMatchObject({
        status: 'available',
        regionEndpoint: 'ecs.cn-hangzhou.aliyuncs.com',
      });
    });

    it(`@alicloud/ecs20140526 (${v2 ? 'v2' : 'V3'}) signed with the wrong secret gets SignatureDoesNotMatch`, async () => {
      const client = ecsClient(sim, { accessKeyId: key.accessKeyId, accessKeySecret: 'wrong-secret' }, v2);
      const code = await codeOf(client.describeRegions(new DescribeRegionsRequest({})));
      expect(code).toBe('SignatureDoesNotMatch');
      expect(sim.requests.at(-1)).toMatchObject({ status: 400, code: 'SignatureDoesNotMatch' });
    });
  }

  it('@alicloud/pop-core GET (v1) lists a VPC by InstanceId and by VpcId', async () => {
    const client = popClient(sim, key);
    const byVpc = (await client.request(
      'DescribeClassicLinkInstances',
      { RegionId: REGION, VpcId: vpcId, PageSize: 100 },
      { method: 'GET' },
    )) as { TotalCount: number; Links: { Link: { InstanceId: string; VpcId: string }[] } };
    expect(byVpc.TotalCount).toBe(5);
    expect(byVpc.Links.Link.map((l) => ({ instanceId: l.InstanceId, vpcId: l.VpcId }))).toEqual(
      expectedLinks(),
    );
    const first = expectedLinks()[0]?.instanceId as string;
    const byInstance = (await client.request(
      'DescribeClassicLinkInstances',
      { RegionId: REGION, InstanceId: first },
      { method: 'GET' },
    )) as { TotalCount: number; Links: { Link: { InstanceId: string; VpcId: string }[] } };
    expect(byInstance.Links.Link).toEqual([{ InstanceId: first, VpcId: vpcId }]);
    expect(sim.requests.at(-1)?.signature).toBe('v1');
  });

  it('@alicloud/pop-core POST form body (v1) is accepted', async () => {
    const res = (await popClient(sim, key).request('DescribeRegions', {}, { method: 'POST' })) as {
      Regions: { Region: { RegionId: string }[] };
    };
    expect(res.Regions.Region.map((r) => r.RegionId)).toEqual(['cn-hangzhou', 'cn-beijing']);
  });

  it('the VPC API (2016-04-28) answers DescribeVpcs through pop-core', async () => {
    const vpcClient = new PopCore({
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
      endpoint: sim.url,
      apiVersion: '2016-04-28',
    });
    const res = (await vpcClient.request('DescribeVpcs', { RegionId: REGION }, { method: 'POST' })) as {
      TotalCount: number;
      PageSize: number;
      Vpcs: { Vpc: { VpcId: string; RegionId: string; Status: string; IsDefault: boolean }[] };
    };
    expect(res.TotalCount).toBe(3);
    expect(res.PageSize).toBe(10);
    expect(res.Vpcs.Vpc.map((v) => v.VpcId)).toEqual(sim.world.vpcs(REGION));
    expect(res.Vpcs.Vpc[0]).toMatchObject({ RegionId: REGION, Status: 'Available', IsDefault: false });
  });
});

describe('STS credentials', () => {
  const sts: SimulatorKey = {
    accessKeyId: 'STS.NTestKey',
    accessKeySecret: 'sts-secret',
    securityToken: 'CAIS+tok/en=',
  };

  beforeEach(async () => {
    await sim.close();
    sim = await startSimulator({ port: 0, seed: 42, keys: [key, sts] });
  });

  it('accepts the right token with both SDK signature modes', async () => {
    for (const v2 of [false, true]) {
      const res = await ecsClient(sim, sts, v2).describeRegions(new DescribeRegionsRequest({}));
      expect(res.statusCode).toBe(200);
    }
  });

  it('refuses a wrong or missing token, and a token on a long-term key', async () => {
    const wrong = { ...sts, securityToken: 'other' };
    expect(await codeOf(ecsClient(sim, wrong).describeRegions(new DescribeRegionsRequest({})))).toBe(
      'InvalidSecurityToken.MismatchWithAccessKey',
    );
    expect(await codeOf(ecsClient(sim, wrong, true).describeRegions(new DescribeRegionsRequest({})))).toBe(
      'InvalidSecurityToken.MismatchWithAccessKey',
    );
    const { securityToken: _dropped, ...noToken } = sts;
    const missing = await rawCall({ url: sim.url, key: noToken, action: 'DescribeRegions' });
    expect(missing.status).toBe(400);
    expect(json(missing).Code).toBe('MissingSecurityToken');
    const extra = await rawCall({
      url: sim.url,
      key: { ...key, securityToken: 'x' },
      action: 'DescribeRegions',
    });
    expect(json(extra).Code).toBe('InvalidSecurityToken.Malformed');
  });
});

describe('refusals', () => {
  it('a captured V1 URL re-sent with another VpcId is SignatureDoesNotMatch, with the string to sign', async () => {
    const [other] = sim.world.vpcs(REGION).slice(1);
    const wire = buildRequest({
      url: sim.url,
      key,
      action: 'DescribeClassicLinkInstances',
      scheme: 'v1',
      method: 'GET',
      params: { RegionId: REGION, VpcId: vpcId },
    });
    wire.path = wire.path.replace(vpcId, other as string);
    const res = await send(sim.url, 'GET', wire);
    expect(res.status).toBe(400);
    const body = json(res);
    expect(Object.keys(body).sort()).toEqual(['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
    expect(body.Code).toBe('SignatureDoesNotMatch');
    expect(body.Message).toContain(`server string to sign is:GET&%2F&AccessKeyId%3D${key.accessKeyId}`);
    expect(body.Message).toContain(`VpcId%3D${other}`);
    expect(body.RequestId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    expect(res.headers['x-acs-request-id']).toBe(body.RequestId);
  });

  it('a V3 request with a changed query, host or body hash is refused', async () => {
    const base = {
      url: sim.url,
      key,
      action: 'DescribeClassicLinkInstances',
      params: { RegionId: REGION, VpcId: vpcId },
    };
    const ok = await rawCall(base);
    expect(ok.status).toBe(200);
    const query = await rawCall({
      ...base,
      tamper: (w) => {
        w.path = w.path.replace(REGION, 'cn-beijing');
      },
    });
    expect(json(query).Code).toBe('SignatureDoesNotMatch');
    expect(json(query).Message).toContain('ACS3-HMAC-SHA256\n');
    const host = await rawCall({
      ...base,
      tamper: (w) => {
        w.headers.host = 'ecs.cn-hangzhou.aliyuncs.com';
      },
    });
    expect(json(host).Code).toBe('SignatureDoesNotMatch');
    const body = await rawCall({
      ...base,
      tamper: (w) => {
        w.body = 'RegionId=cn-beijing';
      },
    });
    expect(body.status).toBe(400);
    expect(json(body).Message).toContain('x-acs-content-sha256');
  });

  it('V3 with an unsigned x-acs-date is IncompleteSignature', async () => {
    const res = await rawCall({
      url: sim.url,
      key,
      action: 'DescribeRegions',
      tamper: (w) => {
        w.headers.authorization = (w.headers.authorization as string).replace('x-acs-date;', '');
      },
    });
    expect(res.status).toBe(400);
    expect(json(res).Code).toBe('IncompleteSignature');
  });

  for (const scheme of ['v1', 'v3'] as const) {
    it(`${scheme}: unknown key → 404 InvalidAccessKeyId.NotFound`, async () => {
      const res = await rawCall({
        url: sim.url,
        key: { accessKeyId: 'LTAInobody', accessKeySecret: 'x' },
        action: 'DescribeRegions',
        scheme,
      });
      expect(res.status).toBe(404);
      expect(json(res)).toMatchObject({ Code: 'InvalidAccessKeyId.NotFound', HostId: 'ecs.aliyuncs.com' });
      expect(sim.requests.at(-1)).toMatchObject({
        accessKeyId: 'LTAInobody',
        status: 404,
        signature: scheme,
      });
    });

    it(`${scheme}: a timestamp 16 minutes off → InvalidTimeStamp.Expired; 14 minutes is fine`, async () => {
      const call = (offsetMin: number) =>
        rawCall({
          url: sim.url,
          key,
          action: 'DescribeRegions',
          scheme,
          timestamp: new Date(Date.now() + offsetMin * 60_000),
        });
      const stale = await call(-16);
      expect(stale.status).toBe(400);
      expect(json(stale).Code).toBe('InvalidTimeStamp.Expired');
      expect((await call(14)).status).toBe(200);
    });

    it(`${scheme}: a reused nonce → SignatureNonceUsed (a refused request does not burn it)`, async () => {
      const call = (secret: string) =>
        rawCall({
          url: sim.url,
          key: { ...key, accessKeySecret: secret },
          action: 'DescribeRegions',
          scheme,
          nonce: `nonce-${scheme}`,
        });
      expect(json(await call('wrong')).Code).toBe('SignatureDoesNotMatch');
      expect((await call(key.accessKeySecret)).status).toBe(200);
      const again = await call(key.accessKeySecret);
      expect(again.status).toBe(400);
      expect(json(again).Code).toBe('SignatureNonceUsed');
    });
  }

  it('an unsigned request is MissingParameter and recorded as signature none', async () => {
    const res = await send(sim.url, 'GET', {
      path: '/?Action=DescribeRegions&Version=2014-05-26',
      headers: {},
      body: '',
    });
    expect(res.status).toBe(400);
    expect(json(res).Code).toBe('MissingParameter');
    expect(sim.requests.at(-1)).toMatchObject({ signature: 'none', action: 'DescribeRegions', status: 400 });
  });
});

describe('parameter errors', () => {
  const call = (action: string, params: Record<string, string>, version?: string) =>
    rawCall({ url: sim.url, key, action, params, ...(version ? { version } : {}) });

  it.each([
    ['missing RegionId', 'DescribeClassicLinkInstances', { VpcId: 'vpc-x' }, 400, 'MissingParameter'],
    [
      'unknown region',
      'DescribeClassicLinkInstances',
      { RegionId: 'xx-nowhere-1', VpcId: 'v' },
      400,
      'InvalidRegionId.NotFound',
    ],
    [
      'neither VpcId nor InstanceId',
      'DescribeClassicLinkInstances',
      { RegionId: REGION },
      400,
      'MissingParameter',
    ],
    [
      'PageSize 0',
      'DescribeClassicLinkInstances',
      { RegionId: REGION, VpcId: 'VPC', PageSize: '0' },
      400,
      'InvalidParameter',
    ],
    [
      'PageSize 101',
      'DescribeClassicLinkInstances',
      { RegionId: REGION, VpcId: 'VPC', PageSize: '101' },
      400,
      'InvalidParameter',
    ],
    [
      'PageNumber abc',
      'DescribeClassicLinkInstances',
      { RegionId: REGION, VpcId: 'VPC', PageNumber: 'abc' },
      400,
      'InvalidParameter',
    ],
    [
      'unknown VPC',
      'DescribeClassicLinkInstances',
      { RegionId: REGION, VpcId: 'vpc-bp1doesnotexist00000' },
      404,
      'InvalidVpcId.NotFound',
    ],
    ['unknown action', 'DescribeEverything', { RegionId: REGION }, 404, 'InvalidAction.NotFound'],
  ])('%s', async (_name, action, params, status, code) => {
    const resolved = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v === 'VPC' ? vpcId : v]));
    const res = await call(action, resolved);
    expect(res.status).toBe(status);
    expect(json(res).Code).toBe(code);
  });

  it('more than 100 InstanceIds is InvalidParameter; exactly 100 is fine', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
    const over = await call('DescribeClassicLinkInstances', { RegionId: REGION, InstanceId: ids.join(',') });
    expect(over.status).toBe(400);
    expect(json(over).Code).toBe('InvalidParameter');
    const at = await call('DescribeClassicLinkInstances', {
      RegionId: REGION,
      InstanceId: ids.slice(1).join(','),
    });
    expect(json(at)).toMatchObject({ TotalCount: 0, Links: { Link: [] } });
  });

  it('DescribeVpcs caps PageSize at 50 and is unknown under the ECS version', async () => {
    expect(json(await call('DescribeVpcs', { RegionId: REGION, PageSize: '51' }, '2016-04-28')).Code).toBe(
      'InvalidParameter',
    );
    expect(
      json(await call('DescribeVpcs', { RegionId: REGION, PageSize: '50' }, '2016-04-28')).PageSize,
    ).toBe(50);
    const wrongVersion = await call('DescribeVpcs', { RegionId: REGION });
    expect(wrongVersion.status).toBe(404);
    expect(json(wrongVersion).Code).toBe('InvalidAction.NotFound');
  });
});
