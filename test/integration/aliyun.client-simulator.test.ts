/**
 * The ECS client against the project's API simulator (real HTTP, real signature checks, seeded
 * faults). What the world holds is the truth every listing is compared with.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallEvent,
  createEcsClient,
  type EcsClient,
  type EcsClientOptions,
} from '../../src/aliyun/client.js';
import { type Credentials, staticCredentialsProvider } from '../../src/credentials/index.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import type { Link } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import {
  type MalformedKind,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from '../../src/simulator/index.js';
import type { LinkPage } from '../../src/sync/source.js';
import { caught } from '../helpers/errors.js';

const REGION = 'cn-hangzhou';
const silent = createLogger({ level: 'silent' });

const sims: RunningSimulator[] = [];
const clients: EcsClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function sim(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ port: 0, seed: 7, regions: [REGION, 'cn-beijing'], ...opts });
  sims.push(s);
  return s;
}

function client(s: RunningSimulator, over: Partial<EcsClientOptions> = {}, key?: Credentials) {
  const k = key ?? (s.keys[0] as Credentials);
  const events: CallEvent[] = [];
  const c = createEcsClient({
    credentials: staticCredentialsProvider(k),
    signature: 'v3',
    ecsEndpoint: s.url,
    vpcEndpoint: s.url,
    timeoutMs: 5_000,
    retryDeadlineMs: 10_000,
    backoff: { baseMs: 1, capMs: 10 },
    log: silent,
    onCall: (e) => events.push(e),
    ...over,
  });
  clients.push(c);
  return { c, events };
}

async function all(it: AsyncIterable<LinkPage>): Promise<{ pages: LinkPage[]; links: Link[] }> {
  const pages: LinkPage[] = [];
  for await (const p of it) pages.push(p);
  return { pages, links: pages.flatMap((p) => p.links) };
}

const truth = (s: RunningSimulator, regionId: string, vpcId?: string) =>
  s.world.links(regionId, vpcId).map((l) => ({ instanceId: l.instanceId, vpcId: l.vpcId }));

describe('listings equal the world', () => {
  it.each(['v3', 'v1'] as const)('pages every VPC of a region (signature %s)', async (signature) => {
    const s = await sim({ vpcsPerRegion: 3, linksPerVpc: 230 });
    const { c } = client(s, { signature });
    for (const vpcId of s.world.vpcs(REGION)) {
      const { pages, links } = await all(c.classicLinkPages({ regionId: REGION, vpcId }));
      expect(pages.map((p) => p.links.length)).toEqual([100, 100, 30]);
      expect(pages.every((p) => p.totalCount === 230)).toBe(true);
      expect(links).toEqual(truth(s, REGION, vpcId));
    }
    expect(s.requests.every((r) => r.status === 200 && r.signature === signature)).toBe(true);
  });

  it.each(['v3', 'v1'] as const)('works with STS credentials (signature %s)', async (signature) => {
    const key = {
      accessKeyId: 'STS.NTestKeyId',
      accessKeySecret: 'sts/secret+=',
      securityToken: 'CAIS+tok/en=&x',
    };
    const s = await sim({ keys: [key], linksPerVpc: 3 });
    const { c } = client(s, { signature }, key);
    const vpcId = s.world.vpcs(REGION)[0] as string;
    const { links } = await all(c.classicLinkPages({ regionId: REGION, vpcId }));
    expect(links).toEqual(truth(s, REGION, vpcId));
  });

  it('an STS key without its token is refused once, not retried', async () => {
    const key = { accessKeyId: 'STS.k', accessKeySecret: 'secret', securityToken: 'tok' };
    const s = await sim({ keys: [key] });
    const { c } = client(s, {}, { accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret });
    const err = await caught(c.describeVpcs(REGION));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('MissingSecurityToken');
    expect(s.requests).toHaveLength(1);
  });

  it('looks links up by InstanceIds across VPCs; unlinked instances are simply absent', async () => {
    const s = await sim({ linksPerVpc: 4 });
    const { c } = client(s);
    const linked = truth(s, REGION);
    const spare = s.world.createInstance(REGION);
    const asked = [spare, ...linked.map((l) => l.instanceId)];
    const { pages, links } = await all(c.classicLinkPages({ regionId: REGION, instanceIds: asked }));
    expect(pages).toHaveLength(1);
    expect([...links].sort((a, b) => a.instanceId.localeCompare(b.instanceId))).toEqual(
      [...linked].sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
    );
    expect(s.requests[0]?.params.InstanceId?.split(',')).toHaveLength(asked.length);
  });

  it('DescribeVpcs reads every page of 50', async () => {
    const s = await sim({ vpcsPerRegion: 120, linksPerVpc: 0 });
    const { c } = client(s);
    const vpcs = await c.describeVpcs(REGION);
    expect(vpcs.map((v) => v.vpcId)).toEqual(s.world.vpcs(REGION));
    expect(vpcs.every((v) => v.regionId === REGION && v.status === 'Available')).toBe(true);
    const calls = s.requests.filter((r) => r.action === 'DescribeVpcs');
    expect(calls.map((r) => [r.params.PageNumber, r.params.PageSize])).toEqual([
      ['1', '50'],
      ['2', '50'],
      ['3', '50'],
    ]);
  });

  it('DescribeVpcs by VpcId: 20 ids per call, only those asked; an unknown one is not listed', async () => {
    const s = await sim({ vpcsPerRegion: 45, linksPerVpc: 0 });
    const { c } = client(s);
    const wanted = s.world.vpcs(REGION).slice(0, 41);
    const vpcs = await c.describeVpcs(REGION, { vpcIds: [...wanted, 'vpc-nosuchvpc'] });
    expect(vpcs.map((v) => v.vpcId).sort()).toEqual([...wanted].sort());
    expect(vpcs.every((v) => v.attributes !== undefined)).toBe(true);
    const asked = s.requests
      .filter((r) => r.action === 'DescribeVpcs')
      .map((r) => r.params.VpcId?.split(','));
    expect(asked.map((ids) => ids?.length)).toEqual([20, 20, 2]);
    expect(asked.flat().sort()).toEqual([...wanted, 'vpc-nosuchvpc'].sort());
  });

  it.each(['v3', 'v1'] as const)(
    'LookupEvents at the simulator region path (ACTIONTRAIL_ENDPOINT=…/{region}), signed %s',
    async (signature) => {
      const s = await sim({ faults: { actionTrailDelayMs: 0 } });
      const [vpc] = s.world.vpcs(REGION);
      const fresh = s.world.createInstance(REGION);
      const res = await fetch(`${s.url}/_sim/attach`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ regionId: REGION, instanceId: fresh, vpcId: vpc, user: 'alice' }),
      });
      expect(res.status).toBe(200);
      const { c } = client(s, { signature, actiontrailEndpoint: `${s.url}/{region}` });
      const events = [];
      const now = Date.now();
      for await (const page of c.lookupEvents(REGION, {
        eventName: 'AttachClassicLinkVpc',
        startTime: new Date(now - 60_000),
        endTime: new Date(now + 1_000),
      })) {
        events.push(...page.events);
      }
      expect(events.map((e) => [e.instanceIds, e.vpcId, e.actor.name])).toEqual([[[fresh], vpc, 'alice']]);
      expect(s.requests.at(-1)).toMatchObject({ action: 'LookupEvents', status: 200 });
    },
  );

  it('DescribeRegions lists the regions', async () => {
    const s = await sim();
    const { c } = client(s);
    const regions = await c.describeRegions();
    expect(regions.map((r) => r.regionId).sort()).toEqual([...s.world.regions()].sort());
    expect(regions.every((r) => r.localName.length > 0)).toBe(true);
  });
});

describe('faults', () => {
  it('recovers from throttling, honouring x-acs-retry-after, each attempt with a fresh nonce', async () => {
    const s = await sim({ linksPerVpc: 5, faults: { throttleRate: 0.5, retryAfterMs: 2 } });
    // A computed backoff of 60 s would overrun the 10 s deadline on the first throttle: the calls can
    // only succeed if the server's 2 ms hint is what the client waits.
    const { c } = client(s, { backoff: { baseMs: 60_000, capMs: 60_000 } });
    for (const vpcId of s.world.vpcs(REGION)) {
      const { links } = await all(c.classicLinkPages({ regionId: REGION, vpcId }));
      expect(links).toEqual(truth(s, REGION, vpcId));
    }
    const throttled = s.requests.filter((r) => r.code === 'Throttling.User');
    expect(throttled.length).toBeGreaterThan(0);
    // The simulator rejects a reused nonce (SignatureNonceUsed); none was ever seen.
    expect(s.requests.some((r) => r.code === 'SignatureNonceUsed')).toBe(false);
    expect(new Set(s.requests.map((r) => r.nonce)).size).toBe(s.requests.length);
  });

  it('the simulator does reject a reused nonce (the check above can fail)', async () => {
    const s = await sim();
    const { c } = client(s, { nonce: () => 'always-the-same' });
    await c.describeRegions();
    const err = await caught(c.describeRegions());
    expect(err.code).toBe('SignatureNonceUsed');
  });

  it('gives up on persistent 503 at the deadline with a typed RetryableError', async () => {
    const s = await sim({ faults: { unavailableRate: 1 } });
    const { c } = client(s, { retryDeadlineMs: 200, backoff: { baseMs: 10, capMs: 40 } });
    const err = await caught(c.describeVpcs(REGION));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ code: 'ServiceUnavailable', httpStatus: 503 });
    expect(err.requestId).toBeTruthy();
    expect(s.requests.length).toBeGreaterThan(1);
  });

  it('does not retry a wrong secret (SignatureDoesNotMatch)', async () => {
    const s = await sim();
    const k = s.keys[0] as Credentials;
    const { c } = client(s, {}, { accessKeyId: k.accessKeyId, accessKeySecret: `${k.accessKeySecret}x` });
    const err = await caught(c.describeVpcs(REGION));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('SignatureDoesNotMatch');
    expect(s.requests).toHaveLength(1);
  });

  it('does not retry an unknown key (InvalidAccessKeyId.NotFound)', async () => {
    const s = await sim();
    const { c } = client(s, { signature: 'v1' }, { accessKeyId: 'LTAInobody', accessKeySecret: 'x' });
    const err = await caught(c.describeRegions());
    expect(err).toBeInstanceOf(FatalError);
    expect(err).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', httpStatus: 404 });
    expect(s.requests).toHaveLength(1);
  });

  it('a fatal API error names the VPC problem and is sent once', async () => {
    const s = await sim();
    const vpcId = s.world.vpcs(REGION)[0] as string;
    s.setFaults({ failVpcs: { [vpcId]: 'Forbidden.RAM' } });
    const { c } = client(s);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId }));
    expect(err).toMatchObject({ code: 'Forbidden.RAM', httpStatus: 403 });
    expect(s.requests).toHaveLength(1);
  });

  it('times out slow answers and retries them (latency > timeoutMs)', async () => {
    const s = await sim({ faults: { latencySpikeMs: 5_000, latencySpikeRate: 0.5 } });
    const { c, events } = client(s, { timeoutMs: 250 });
    for (let i = 0; i < 4; i++) await c.describeRegions();
    expect(events.filter((e) => e.code === 'UND_ERR_HEADERS_TIMEOUT').length).toBeGreaterThan(0);
    expect(events.filter((e) => e.code === 'OK')).toHaveLength(4);
  });

  it('a server that is always too slow ends in a retryable timeout at the deadline', async () => {
    const s = await sim({ faults: { latencyMs: 30_000 } });
    // undici checks headers/body timeouts with a coarse (~0.5-1 s) timer, so leave room for 2+ attempts.
    const { c, events } = client(s, { timeoutMs: 100, retryDeadlineMs: 2_500 });
    const err = await caught(c.describeRegions());
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(events.length).toBeGreaterThan(1);
  });

  it('retries connection resets', async () => {
    const s = await sim({ linksPerVpc: 50, faults: { resetRate: 0.4 } });
    const { c } = client(s);
    for (const vpcId of s.world.vpcs(REGION)) {
      const { links } = await all(c.classicLinkPages({ regionId: REGION, vpcId, pageSize: 10 }));
      expect(links).toEqual(truth(s, REGION, vpcId));
    }
    expect(s.requests.filter((r) => r.status === 0).length).toBeGreaterThan(0);
  });

  const kinds: [MalformedKind, RegExp][] = [
    ['non-json', /not JSON.*upstream answered/],
    ['truncated', /invalid or truncated JSON/],
    ['html', /not JSON \(content-type text\/html\).*502 Bad Gateway/],
    ['empty', /empty body/],
    ['wrong-types', /TotalCount: Invalid input: expected number, received string/],
    ['missing-fields', /TotalCount: Invalid input: expected number, received undefined/],
    ['negative-total', /TotalCount: Too small/],
    ['page-echo', /page 2 only repeats links of earlier pages/],
    ['foreign-vpc', /foreign VPC/],
    ['duplicates', /twice on one page/],
  ];
  it.each(kinds)('malformed %s → FatalError MalformedResponse, not retried', async (kind, message) => {
    const s = await sim({
      linksPerVpc: 5,
      faults: { malformedRate: 1, malformedKind: kind, actions: ['DescribeClassicLinkInstances'] },
    });
    const { c } = client(s);
    const vpcId = s.world.vpcs(REGION)[0] as string;
    const err = await caught(all(c.classicLinkPages({ regionId: REGION, vpcId, pageSize: 2 })));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('MalformedResponse');
    expect(err.message).toMatch(message);
    const faulted = s.requests.filter((r) => r.fault !== undefined);
    expect(faulted).toHaveLength(1);
    expect(faulted[0]?.fault).toBe(`malformed:${kind}`);
  });

  it('caps the response size', async () => {
    const s = await sim({ vpcsPerRegion: 1, linksPerVpc: 100 });
    const { c } = client(s, { maxResponseBytes: 2_048 });
    const vpcId = s.world.vpcs(REGION)[0] as string;
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId }));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('ResponseTooLarge');
    // Small answers still go through the same pool.
    expect(
      (await c.describeClassicLinkInstances({ regionId: REGION, vpcId, pageSize: 5 })).links,
    ).toHaveLength(5);
  });

  it('serves 50 concurrent calls through one client', async () => {
    const s = await sim({ linksPerVpc: 20 });
    const { c } = client(s, { connectionsPerOrigin: 4 });
    const vpcId = s.world.vpcs(REGION)[0] as string;
    const pages = await Promise.all(
      Array.from({ length: 50 }, () => c.describeClassicLinkInstances({ regionId: REGION, vpcId })),
    );
    expect(pages.every((p) => p.links.length === 20)).toBe(true);
    expect(s.requests).toHaveLength(50);
  });
});
