/**
 * Instance and VPC attributes against local HTTP servers: DescribeInstances' wire form (InstanceIds
 * as a JSON array string of ≤ 100, MaxResults / NextToken), normalisation and lenient records,
 * the DryRun permission probe, and DescribeVpcs' attributes from the one discovery listing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEcsClient, type EcsClient, type EcsClientOptions } from '../../src/aliyun/client.js';
import { classicLinkSource, type VpcInfo } from '../../src/aliyun/index.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { FatalError, isPermissionDenied } from '../../src/errors.js';
import { closeApiServers, type Handler, json, startServer, type TestServer } from '../helpers/api-server.js';
import { caught } from '../helpers/errors.js';
import { silentLog } from '../helpers/log.js';

const REGION = 'cn-hangzhou';
const clients: EcsClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeApiServers();
});

function client(server: TestServer, over: Partial<EcsClientOptions> = {}): EcsClient {
  const c = createEcsClient({
    credentials: staticCredentialsProvider({ accessKeyId: 'testid', accessKeySecret: 'secret' }),
    signature: 'v3',
    ecsEndpoint: server.url,
    vpcEndpoint: server.url,
    timeoutMs: 2_000,
    retryDeadlineMs: 2_000,
    backoff: { baseMs: 1, capMs: 5 },
    log: silentLog,
    ...over,
  });
  clients.push(c);
  return c;
}

/** An instance record in the real nesting (reference/alibaba-actiontrail.md §3.2). */
function instance(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    InstanceId: id,
    InstanceName: `name-${id}`,
    HostName: 'host',
    Status: 'Running',
    InstanceNetworkType: 'classic',
    RegionId: REGION,
    ZoneId: 'cn-hangzhou-b',
    ResourceGroupId: 'rg-bp67acfmxazb4p0001',
    InnerIpAddress: { IpAddress: ['10.170.1.2'] },
    PublicIpAddress: { IpAddress: [] },
    VpcAttributes: { VpcId: '', VSwitchId: '', PrivateIpAddress: { IpAddress: [] } },
    Tags: { Tag: [{ TagKey: 'env', TagValue: 'prod' }] },
    OperationLocks: { LockReason: [] },
    ...over,
  };
}

function asked(req: { url: URL }): string[] {
  return JSON.parse(req.url.searchParams.get('InstanceIds') ?? '[]') as string[];
}

/** Lists every asked instance, on one page. */
function instances(): Handler {
  return (req, res, i) => {
    json(res, 200, {
      RequestId: `r${i}`,
      TotalCount: 0,
      NextToken: '',
      Instances: { Instance: asked(req).map((id) => instance(id)) },
    });
  };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `i-${String(i).padStart(4, '0')}`);

describe('DescribeInstances', () => {
  it('250 ids: three calls of 100, 100 and 50 as JSON array strings, MaxResults 100', async () => {
    const server = await startServer(instances());
    const c = client(server);
    const all = ids(250);
    const got = await c.describeInstances(REGION, [...all, all[0] as string]);
    expect(server.seen.map((r) => asked(r).length)).toEqual([100, 100, 50]);
    expect(server.seen.flatMap(asked)).toEqual(all);
    for (const r of server.seen) {
      expect(r.headers['x-acs-action']).toBe('DescribeInstances');
      expect(r.headers['x-acs-version']).toBe('2014-05-26');
      expect(r.url.searchParams.get('MaxResults')).toBe('100');
      expect(r.url.searchParams.get('RegionId')).toBe(REGION);
      expect(r.url.searchParams.get('InstanceIds')).toMatch(/^\["i-\d{4}"(,"i-\d{4}")*\]$/);
    }
    expect(got.instances.map((i) => i.instanceId)).toEqual(all);
    expect(got.refused).toEqual([]);
    expect(got.missing).toEqual([]);
  });

  it('normalises the attributes: first inner IP, else the VPC IP; tags; empty means none', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'r',
        Instances: {
          Instance: [
            instance('i-a'),
            instance('i-b', {
              InstanceName: '',
              ResourceGroupId: '',
              InstanceNetworkType: 'vpc',
              InnerIpAddress: { IpAddress: [] },
              VpcAttributes: { PrivateIpAddress: { IpAddress: ['172.16.0.9', '172.16.0.10'] } },
              Tags: { Tag: [] },
            }),
            instance('i-c', {
              InstanceName: null,
              ZoneId: null,
              InnerIpAddress: null,
              VpcAttributes: null,
              Tags: {
                Tag: [
                  { TagKey: 'owner', TagValue: '<script>"x"</script> 🚀' },
                  { TagKey: '__proto__', TagValue: 'kept' },
                  { TagKey: 'flag' },
                ],
              },
              SomethingNew: { nested: true },
            }),
          ],
        },
      }),
    );
    const got = await client(server).describeInstances(REGION, ['i-a', 'i-b', 'i-c']);
    expect(got.instances).toEqual([
      {
        instanceId: 'i-a',
        instanceName: 'name-i-a',
        status: 'Running',
        privateIp: '10.170.1.2',
        zoneId: 'cn-hangzhou-b',
        resourceGroupId: 'rg-bp67acfmxazb4p0001',
        tags: { env: 'prod' },
        networkType: 'classic',
      },
      {
        instanceId: 'i-b',
        instanceName: undefined,
        status: 'Running',
        privateIp: '172.16.0.9',
        zoneId: 'cn-hangzhou-b',
        resourceGroupId: undefined,
        tags: {},
        networkType: 'vpc',
      },
      {
        instanceId: 'i-c',
        instanceName: undefined,
        status: 'Running',
        privateIp: undefined,
        zoneId: undefined,
        resourceGroupId: 'rg-bp67acfmxazb4p0001',
        tags: { owner: '<script>"x"</script> 🚀', ['__proto__']: 'kept', flag: '' },
        networkType: 'classic',
      },
    ]);
    expect(Object.keys(got.instances[2]?.tags ?? {})).toEqual(['owner', '__proto__', 'flag']);
  });

  it('pages by NextToken with the same InstanceIds, and lists what the API did not know as missing', async () => {
    const server = await startServer((req, res, i) => {
      const token = req.url.searchParams.get('NextToken');
      if (token === null) {
        json(res, 200, {
          RequestId: `r${i}`,
          NextToken: 'page-2',
          Instances: { Instance: [instance('i-0001')] },
        });
      } else {
        expect(token).toBe('page-2');
        json(res, 200, { RequestId: `r${i}`, Instances: { Instance: [instance('i-0002')] } });
      }
    });
    const got = await client(server).describeInstances(REGION, ['i-0001', 'i-0002', 'i-0003']);
    expect(server.seen.map((r) => [asked(r), r.url.searchParams.get('NextToken')])).toEqual([
      [['i-0001', 'i-0002', 'i-0003'], null],
      [['i-0001', 'i-0002', 'i-0003'], 'page-2'],
    ]);
    expect(got.instances.map((i) => i.instanceId)).toEqual(['i-0001', 'i-0002']);
    expect(got.missing).toEqual(['i-0003']);
  });

  it('a NextToken that comes back again is a broken answer, not an endless loop', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, { RequestId: 'r', NextToken: 'again', Instances: { Instance: [instance('i-0001')] } }),
    );
    const err = await caught(client(server).describeInstances(REGION, ['i-0001']));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('MalformedResponse');
    expect(server.seen).toHaveLength(2);
  });

  it('refuses one record that does not validate, naming the field, and keeps the others', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'r',
        Instances: {
          Instance: [
            instance('i-0001'),
            instance('i-0002', { Status: 7 }),
            instance('i-0003', { Tags: { Tag: [{ TagKey: 1, TagValue: 'x' }] } }),
            { InstanceName: 'no id' },
          ],
        },
      }),
    );
    const got = await client(server).describeInstances(REGION, ['i-0001', 'i-0002', 'i-0003']);
    expect(got.instances.map((i) => i.instanceId)).toEqual(['i-0001']);
    expect(got.refused.map((r) => [r.instanceId, r.field])).toEqual([
      ['i-0002', 'Status'],
      ['i-0003', 'Tags.Tag.0.TagKey'],
      [undefined, 'InstanceId'],
    ]);
    expect(got.missing).toEqual([]);
  });

  it('an answer listing an instance that was not asked is refused as a whole', async () => {
    const server = await startServer(instances());
    const other = await startServer((_req, res) =>
      json(res, 200, { RequestId: 'r', Instances: { Instance: [instance('i-0001'), instance('i-other')] } }),
    );
    await client(server).describeInstances(REGION, ['i-0001']);
    const err = await caught(client(other).describeInstances(REGION, ['i-0001']));
    expect(err.code).toBe('MalformedResponse');
    expect(err.message).toContain('i-other');
  });

  it('a broken page (Instances.Instance not a list) fails the call', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, { RequestId: 'r', Instances: { Instance: 'i-0001' } }),
    );
    const err = await caught(client(server).describeInstances(REGION, ['i-0001']));
    expect(err.code).toBe('MalformedResponse');
    expect(err.message).toContain('Instances.Instance');
  });

  it('no ids: no call; an id that is no instance id: refused before anything is sent', async () => {
    const server = await startServer(instances());
    const c = client(server);
    expect(await c.describeInstances(REGION, [])).toEqual({ instances: [], refused: [], missing: [] });
    const err = await caught(c.describeInstances(REGION, ['i-ok', 'vpc-nope']));
    expect(err.code).toBe('InvalidParameter');
    expect(server.seen).toHaveLength(0);
  });

  it('Forbidden.RAM on a real call is a fatal permission error, sent once', async () => {
    const server = await startServer((_req, res) =>
      json(res, 403, { Code: 'Forbidden.RAM', Message: 'User not authorized', RequestId: 'rid' }),
    );
    const err = await caught(client(server).describeInstances(REGION, ['i-0001']));
    expect(err).toBeInstanceOf(FatalError);
    expect(isPermissionDenied(err)).toBe(true);
    expect(server.seen).toHaveLength(1);
  });
});

describe('describeInstancesDryRun: may this identity read instances?', () => {
  const answer =
    (status: number, Code: string): Handler =>
    (_req, res) =>
      json(res, status, { Code, Message: 'm', RequestId: `rid-${Code}` });

  it.each([
    [400, 'DryRunOperation', true],
    [403, 'Forbidden.RAM', false],
    [403, 'NoPermission', false],
    [403, 'Forbidden', false],
  ])('HTTP %i %s → allowed %s, asked once with DryRun=true', async (status, code, allowed) => {
    const server = await startServer(answer(status, code));
    const got = await client(server).describeInstancesDryRun(REGION);
    expect(got).toEqual({ allowed, code, requestId: `rid-${code}` });
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]?.url.searchParams.get('DryRun')).toBe('true');
    expect(server.seen[0]?.url.searchParams.get('RegionId')).toBe(REGION);
    expect(server.seen[0]?.headers['x-acs-action']).toBe('DescribeInstances');
  });

  it('a server that ignores DryRun and lists instances: the call succeeded, allowed', async () => {
    const server = await startServer((_req, res, i) =>
      json(res, 200, { RequestId: `r${i}`, Instances: { Instance: [instance('i-0001')] } }),
    );
    expect(await client(server).describeInstancesDryRun(REGION)).toEqual({
      allowed: true,
      code: 'OK',
      requestId: 'r0',
    });
  });

  it('any other error is thrown, never read as a permission answer', async () => {
    const server = await startServer(answer(400, 'InvalidRegionId.NotFound'));
    const err = await caught(client(server).describeInstancesDryRun(REGION));
    expect(err.code).toBe('InvalidRegionId.NotFound');
    const throttled = await startServer(answer(400, 'Throttling.User'));
    const slow = await caught(client(throttled, { retryDeadlineMs: 0 }).describeInstancesDryRun(REGION));
    expect(slow.code).toBe('Throttling.User');
  });
});

describe('DescribeVpcs attributes: the discovery listing carries them', () => {
  const vpc = (id: string, over: Record<string, unknown> = {}) => ({
    VpcId: id,
    RegionId: REGION,
    Status: 'Available',
    VpcName: `net-${id}`,
    CidrBlock: '172.16.0.0/12',
    Description: '',
    IsDefault: false,
    Tags: { Tag: [{ Key: 'team', Value: 'core' }] },
    VSwitchIds: { VSwitchId: [] },
    ...over,
  });

  async function listing(vpcs: Record<string, unknown>[]): Promise<TestServer> {
    return startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'r',
        TotalCount: vpcs.length,
        PageNumber: 1,
        PageSize: 50,
        Vpcs: { Vpc: vpcs },
      }),
    );
  }

  it('name, CIDR and {Key, Value} tags; a VPC whose attributes do not validate is still discovered', async () => {
    const server = await listing([
      vpc('vpc-a'),
      vpc('vpc-b', { VpcName: '', Tags: null }),
      vpc('vpc-c', { Tags: { Tag: [{ Key: 5, Value: 'x' }] } }),
    ]);
    const got = await client(server).describeVpcs(REGION);
    expect(got).toEqual([
      {
        vpcId: 'vpc-a',
        regionId: REGION,
        status: 'Available',
        attributes: {
          vpcId: 'vpc-a',
          vpcName: 'net-vpc-a',
          cidrBlock: '172.16.0.0/12',
          tags: { team: 'core' },
        },
      },
      {
        vpcId: 'vpc-b',
        regionId: REGION,
        status: 'Available',
        attributes: { vpcId: 'vpc-b', vpcName: '', cidrBlock: '172.16.0.0/12', tags: {} },
      },
      {
        vpcId: 'vpc-c',
        regionId: REGION,
        status: 'Available',
        refused: { vpcId: 'vpc-c', field: 'Tags.Tag.0.Key', message: expect.any(String) },
      },
    ]);
  });

  it('one DescribeVpcs serves discovery (ids) and enrichment (the listing hook)', async () => {
    const server = await listing([vpc('vpc-a'), vpc('vpc-b')]);
    const heard: [string, readonly VpcInfo[]][] = [];
    const source = classicLinkSource(client(server), { onVpcListing: (r, v) => heard.push([r, v]) });
    expect(await source.discover(REGION)).toEqual(['vpc-a', 'vpc-b']);
    expect(server.seen).toHaveLength(1);
    expect(heard.map(([r, v]) => [r, v.map((x) => x.attributes?.vpcName)])).toEqual([
      [REGION, ['net-vpc-a', 'net-vpc-b']],
    ]);
    // A fault in enrichment never fails discovery.
    const failing = classicLinkSource(client(server), {
      onVpcListing: () => {
        throw new Error('enrichment bug');
      },
    });
    expect(await failing.discover(REGION)).toEqual(['vpc-a', 'vpc-b']);
  });
});
