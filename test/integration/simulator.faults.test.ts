/**
 * Every fault the simulator injects, seen over real HTTP: throttling (with x-acs-retry-after),
 * 503, 500, resets, latency, each malformed body, pagination drift, failVpcs, the QPS cap, the
 * `actions` filter, and seeded determinism of fractional rates.
 */
import Ecs, { DescribeClassicLinkInstancesRequest, DescribeRegionsRequest } from '@alicloud/ecs20140526';
import { $OpenApiUtil, ThrottlingError } from '@alicloud/openapi-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Faults,
  type MalformedKind,
  type RunningSimulator,
  type SimulatorKey,
  type SimulatorOptions,
  startSimulator,
} from '../../src/simulator/index.js';
import { type RawResponse, rawCall } from '../../src/simulator/raw-client.js';

const REGION = 'cn-hangzhou';
const running: RunningSimulator[] = [];

type EcsClient = typeof Ecs.default;
const EcsClient: EcsClient =
  typeof (Ecs as unknown) === 'function' ? (Ecs as unknown as EcsClient) : Ecs.default;

async function start(faults: Faults, opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({ port: 0, seed: 3, faults, ...opts });
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

function key(sim: RunningSimulator): SimulatorKey {
  return sim.keys[0] as SimulatorKey;
}

function links(
  sim: RunningSimulator,
  params: Record<string, string> = {},
  k = key(sim),
): Promise<RawResponse> {
  const vpcId = sim.world.vpcs(REGION)[0] as string;
  return rawCall({
    url: sim.url,
    key: k,
    action: 'DescribeClassicLinkInstances',
    params: { RegionId: REGION, VpcId: vpcId, ...params },
  });
}

/** The official SDK's ECS client, pointed at the simulator with its first key. */
function sdkClient(sim: RunningSimulator) {
  return new EcsClient(
    new $OpenApiUtil.Config({
      accessKeyId: key(sim).accessKeyId,
      accessKeySecret: key(sim).accessKeySecret,
      endpoint: new URL(sim.url).host,
      protocol: 'http',
      regionId: REGION,
    }),
  );
}

function parsed(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.text) as Record<string, unknown>;
}

interface LinksPage {
  TotalCount: number;
  PageNumber: number;
  Links: { Link: { InstanceId: string; VpcId: string }[] };
}

describe('error faults', () => {
  it('throttleRate 1: 400 Throttling.User with x-acs-retry-after, seen by the SDK as ThrottlingError', async () => {
    const sim = await start({ throttleRate: 1, retryAfterMs: 1500 });
    const r = await links(sim);
    expect(r.status).toBe(400);
    expect(r.headers['x-acs-retry-after']).toBe('1500');
    expect(parsed(r)).toMatchObject({ Code: 'Throttling.User', HostId: `ecs.${REGION}.aliyuncs.com` });
    expect(sim.requests.at(-1)).toMatchObject({ status: 400, code: 'Throttling.User', fault: 'throttle' });

    const client = sdkClient(sim);
    const err = await client.describeRegions(new DescribeRegionsRequest({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottlingError);
    expect((err as ThrottlingError).retryAfter).toBe(1500);
    expect((err as ThrottlingError).code).toBe('Throttling.User');
  });

  it('without retryAfterMs there is no x-acs-retry-after header', async () => {
    const sim = await start({ throttleRate: 1 });
    const r = await links(sim);
    expect(r.status).toBe(400);
    expect(r.headers['x-acs-retry-after']).toBeUndefined();
  });

  it('unavailableRate 1 → 503 ServiceUnavailable; internalErrorRate 1 → 500 InternalError', async () => {
    const sim = await start({ unavailableRate: 1 });
    const r = await links(sim);
    expect([r.status, parsed(r).Code]).toEqual([503, 'ServiceUnavailable']);
    sim.setFaults({ internalErrorRate: 1 });
    const r2 = await links(sim);
    expect([r2.status, parsed(r2).Code]).toEqual([500, 'InternalError']);
    expect(sim.requests.map((q) => q.fault)).toEqual(['unavailable', 'internal']);
  });

  it('resetRate 1 destroys the socket without an answer', async () => {
    const sim = await start({ resetRate: 1 });
    await expect(links(sim)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(sim.requests.at(-1)).toMatchObject({ status: 0, fault: 'reset' });
  });

  it('faults apply only to the listed actions, and only after authentication', async () => {
    const sim = await start({ unavailableRate: 1, actions: ['DescribeClassicLinkInstances'] });
    const regions = await rawCall({ url: sim.url, key: key(sim), action: 'DescribeRegions' });
    expect(regions.status).toBe(200);
    expect((await links(sim)).status).toBe(503);
    const badKey = await links(sim, {}, { accessKeyId: key(sim).accessKeyId, accessKeySecret: 'wrong' });
    expect(parsed(badKey).Code).toBe('SignatureDoesNotMatch');
  });

  it('fractional rates are seeded: the same seed injects the same faults in the same order', async () => {
    const pattern = async () => {
      const sim = await start({ throttleRate: 0.3, unavailableRate: 0.3 }, { seed: 11 });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await links(sim)).status);
      return out;
    };
    const a = await pattern();
    const b = await pattern();
    expect(a).toEqual(b);
    const ok = a.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThan(5);
    expect(ok).toBeLessThan(35);
    expect(new Set(a)).toEqual(new Set([200, 400, 503]));
  });
});

describe('latency', () => {
  it('latencyMs delays every answer, errors included', async () => {
    const sim = await start({ latencyMs: 150 });
    const t0 = performance.now();
    const r = await links(sim, { PageSize: '0' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    expect(parsed(r).Code).toBe('InvalidParameter');
  });

  it('latency spikes add to the base latency', async () => {
    const sim = await start({ latencySpikeMs: 120, latencySpikeRate: 1 });
    const t0 = performance.now();
    expect((await links(sim)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
  });
});

describe('malformed bodies', () => {
  const kinds: [MalformedKind, (r: RawResponse, page1: LinksPage, vpcId: string) => void][] = [
    ['non-json', (r) => expect(() => JSON.parse(r.text)).toThrow()],
    [
      'truncated',
      (r) => {
        expect(r.text.startsWith('{"RequestId":')).toBe(true);
        expect(() => JSON.parse(r.text)).toThrow();
      },
    ],
    [
      'html',
      (r) => {
        expect(r.headers['content-type']).toBe('text/html');
        expect(r.text).toMatch(/^<!DOCTYPE html>/);
      },
    ],
    ['empty', (r) => expect(r.text).toBe('')],
    [
      'wrong-types',
      (r) => {
        const b = parsed(r) as { TotalCount: unknown; Links: { Link: { InstanceId: unknown }[] } };
        expect(b.TotalCount).toBe('25');
        expect(b.Links.Link[0]?.InstanceId).toBe(12345);
      },
    ],
    [
      'missing-fields',
      (r) => {
        const b = parsed(r);
        expect(b.RequestId).toBeTypeOf('string');
        expect(b.TotalCount).toBeUndefined();
        expect(b.Links).toBeUndefined();
      },
    ],
    ['negative-total', (r) => expect(parsed(r).TotalCount).toBe(-1)],
    [
      'page-echo',
      (r, page1) => {
        const b = parsed(r) as unknown as LinksPage;
        expect(b.PageNumber).toBe(2);
        expect(b.Links.Link).toEqual(page1.Links.Link);
      },
    ],
    [
      'foreign-vpc',
      (r, _p, vpcId) => {
        const b = parsed(r) as unknown as LinksPage;
        expect(b.Links.Link).toHaveLength(10);
        expect(b.Links.Link.some((l) => l.VpcId !== vpcId)).toBe(true);
      },
    ],
    [
      'duplicates',
      (r) => {
        const ids = (parsed(r) as unknown as LinksPage).Links.Link.map((l) => l.InstanceId);
        expect(ids).toHaveLength(10);
        expect(new Set(ids).size).toBe(9);
      },
    ],
  ];

  it.each(kinds)('%s', async (kind, check) => {
    const sim = await start({}, { linksPerVpc: 25 });
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const page1 = parsed(await links(sim, { PageSize: '10' })) as unknown as LinksPage;
    sim.setFaults({ malformedRate: 1, malformedKind: kind });
    const r = await links(sim, { PageSize: '10', PageNumber: '2' });
    expect(r.status).toBe(200);
    check(r, page1, vpcId);
    expect(sim.requests.at(-1)).toMatchObject({ status: 200, fault: `malformed:${kind}` });
    // The truth is untouched.
    expect(sim.world.links(REGION, vpcId)).toHaveLength(25);
  });

  it('the SDK fails on a non-JSON body', async () => {
    const sim = await start({ malformedRate: 1, malformedKind: 'non-json' });
    const client = sdkClient(sim);
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    await expect(
      client.describeClassicLinkInstances(
        new DescribeClassicLinkInstancesRequest({ regionId: REGION, vpcId }),
      ),
    ).rejects.toThrow();
  });
});

describe('pagination drift', () => {
  it('after each non-last page a link appears before it: TotalCount grows and later pages shift', async () => {
    const sim = await start({ paginationDrift: true }, { linksPerVpc: 25 });
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const p1 = parsed(await links(sim, { PageSize: '10' })) as unknown as LinksPage;
    expect(p1.TotalCount).toBe(25);
    expect(sim.world.links(REGION, vpcId)).toHaveLength(26);
    const p2 = parsed(await links(sim, { PageSize: '10', PageNumber: '2' })) as unknown as LinksPage;
    expect(p2.TotalCount).toBe(26);
    // The shift: page 1's last link shows up again at the top of page 2.
    expect(p2.Links.Link[0]).toEqual(p1.Links.Link.at(-1));
    expect(sim.world.links(REGION, vpcId)).toHaveLength(27);
    const p3 = parsed(await links(sim, { PageSize: '10', PageNumber: '3' })) as unknown as LinksPage;
    expect(p3.TotalCount).toBe(27);
    expect(p3.Links.Link).toHaveLength(7);
    // The last page causes no drift.
    expect(sim.world.links(REGION, vpcId)).toHaveLength(27);
  });
});

describe('failVpcs', () => {
  it('answers the configured code, with its real status, every time, for that VPC only', async () => {
    const [a, b, c] = (await start({})).world.vpcs(REGION) as [string, string, string];
    const sim = await start({ failVpcs: { [a]: 'Forbidden.RAM', [b]: 'InternalError' } });
    for (let i = 0; i < 2; i++) {
      const ra = await links(sim, { VpcId: a });
      expect([ra.status, parsed(ra).Code]).toEqual([403, 'Forbidden.RAM']);
      const rb = await links(sim, { VpcId: b });
      expect([rb.status, parsed(rb).Code]).toEqual([500, 'InternalError']);
    }
    expect((await links(sim, { VpcId: c })).status).toBe(200);
    expect(sim.requests.map((r) => r.fault)).toEqual([
      `failVpc:${a}`,
      `failVpc:${b}`,
      `failVpc:${a}`,
      `failVpc:${b}`,
      undefined,
    ]);
  });
});

describe('qpsCap', () => {
  it('admits the first N requests of a key in a second, throttles the rest, and counts keys apart', async () => {
    const main: SimulatorKey = { accessKeyId: 'LTAImain', accessKeySecret: 'main-secret' };
    const other: SimulatorKey = { accessKeyId: 'LTAIother', accessKeySecret: 'other-secret' };
    const sim = await start({ qpsCap: 3, retryAfterMs: 1000 }, { keys: [main, other] });
    const answers = await Promise.all(Array.from({ length: 10 }, () => links(sim)));
    const bySeq = [...sim.requests].sort((x, y) => x.seq - y.seq);
    expect(bySeq.slice(0, 3).map((r) => r.status)).toEqual([200, 200, 200]);
    const throttled = answers.filter((r) => r.status === 400);
    expect(throttled.length).toBeGreaterThan(0);
    expect(parsed(throttled[0] as RawResponse).Code).toBe('Throttling.User');
    expect((throttled[0] as RawResponse).headers['x-acs-retry-after']).toBe('1000');
    expect(sim.requests.filter((r) => r.fault === 'qps-cap')).toHaveLength(throttled.length);
    expect((await links(sim, {}, other)).status).toBe(200);
  });
});
