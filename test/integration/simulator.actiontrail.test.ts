/**
 * The simulated ActionTrail over real HTTP: every Attach/Detach/Delete call — signed API, admin
 * endpoints, churn — becomes a record with the caller's identity, failed calls with their
 * errorCode, visible to LookupEvents only after the delay; LookupEvents' window, filters, paging
 * and Forbidden.RAM; drop rules that make a change leave no record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ACTIONTRAIL_VERSION,
  type RunningSimulator,
  type SimulatorKey,
  type SimulatorOptions,
  startSimulator,
  type TrailEntry,
  type TrailRecord,
} from '../../src/simulator/index.js';
import { type RawResponse, rawCall } from '../../src/simulator/raw-client.js';
import { admin } from '../helpers/sim-admin.js';

const REGION = 'cn-hangzhou';
const OTHER_REGION = 'cn-beijing';
const running: RunningSimulator[] = [];

const ALICE: SimulatorKey = {
  accessKeyId: 'LTAI5tAliceKey00000000000',
  accessKeySecret: 'alice-secret-00000000000000000',
  userName: 'alice',
};
const BOB: SimulatorKey = {
  accessKeyId: 'LTAI5tBobKey0000000000000',
  accessKeySecret: 'bob-secret-0000000000000000000',
  userName: 'bob',
};
const READER: SimulatorKey = {
  accessKeyId: 'LTAI5tReaderKey0000000000',
  accessKeySecret: 'reader-secret-0000000000000000',
  userName: 'reader',
  permissions: ['ecs:Describe*', 'vpc:*'],
};

/** Delay 0 unless a test is about the delay: records are then visible as soon as they are made. */
async function start(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({
    port: 0,
    seed: 13,
    keys: [ALICE, BOB, READER],
    faults: { actionTrailDelayMs: 0 },
    ...opts,
  });
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

interface LookupAnswer {
  RequestId: string;
  StartTime: string;
  EndTime: string;
  NextToken: string;
  Events: TrailRecord[];
}

interface ErrorBody {
  RequestId: string;
  HostId: string;
  Code: string;
  Message: string;
  Recommend: string;
}

function json<T>(r: RawResponse): T {
  return JSON.parse(r.text) as T;
}

function ecs(sim: RunningSimulator, action: string, params: Record<string, string>, key = ALICE) {
  return rawCall({ url: sim.url, key, action, params, userAgent: `test-agent/${key.userName}` });
}

function lookupRaw(sim: RunningSimulator, params: Record<string, string> = {}, key = ALICE, path?: string) {
  return rawCall({
    url: sim.url,
    key,
    action: 'LookupEvents',
    version: ACTIONTRAIL_VERSION,
    params,
    ...(path ? { path } : {}),
  });
}

async function lookup(
  sim: RunningSimulator,
  params: Record<string, string> = {},
  key = ALICE,
  path?: string,
) {
  const r = await lookupRaw(sim, params, key, path);
  expect(r.status, r.text).toBe(200);
  return json<LookupAnswer>(r);
}

/** Every page of a query, following NextToken. */
async function lookupAll(sim: RunningSimulator, params: Record<string, string>): Promise<TrailRecord[]> {
  const out: TrailRecord[] = [];
  let token = '';
  for (let pages = 0; pages < 100; pages++) {
    const a = await lookup(sim, { ...params, ...(token ? { NextToken: token } : {}) });
    out.push(...a.Events);
    token = a.NextToken;
    if (token === '') return out;
  }
  throw new Error('NextToken never ran out');
}

const byEvent = (name: string) => ({
  'LookupAttribute.1.Key': 'ServiceName',
  'LookupAttribute.1.Value': 'Ecs',
  'LookupAttribute.2.Key': 'EventName',
  'LookupAttribute.2.Value': name,
});

async function trail(sim: RunningSimulator): Promise<{ delayMs: number; events: TrailEntry[] }> {
  return (await admin(sim, 'GET', '/_sim/actiontrail')).json as { delayMs: number; events: TrailEntry[] };
}

function freeInstance(sim: RunningSimulator, regionId = REGION): string {
  return sim.world.createInstance(regionId);
}

describe('recording', () => {
  it('an attach becomes visible only after the delay, with the full record shape', async () => {
    const sim = await start({ faults: { actionTrailDelayMs: 400 } });
    const instanceId = freeInstance(sim);
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const called = Date.now();
    const r = await ecs(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: instanceId,
      VpcId: vpcId,
    });
    expect(r.status, r.text).toBe(200);
    const requestId = json<{ RequestId: string }>(r).RequestId;

    // Made at once, held back from LookupEvents until its visibleAt.
    const held = await trail(sim);
    expect(held.delayMs).toBe(400);
    expect(held.events).toHaveLength(1);
    const entry = held.events[0] as TrailEntry;
    expect(entry.visibleAt - entry.at).toBe(400);
    const early = await lookup(sim, byEvent('AttachClassicLinkVpc'));
    if (Date.now() < entry.visibleAt) expect(early.Events).toEqual([]);

    let seenAt = 0;
    await expect
      .poll(
        async () => {
          const a = await lookup(sim, byEvent('AttachClassicLinkVpc'));
          if (a.Events.length > 0 && seenAt === 0) seenAt = Date.now();
          return a.Events.length;
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBe(1);
    expect(seenAt - called).toBeGreaterThanOrEqual(400);

    const [record] = (await lookup(sim, byEvent('AttachClassicLinkVpc'))).Events as [TrailRecord];
    const identity = sim.identities().find((i) => i.accessKeyId === ALICE.accessKeyId);
    expect(record).toMatchObject({
      eventName: 'AttachClassicLinkVpc',
      eventType: 'ApiCall',
      eventRW: 'Write',
      acsRegion: REGION,
      serviceName: 'Ecs',
      apiVersion: '2014-05-26',
      requestId,
      requestParameters: { RegionId: REGION, InstanceId: instanceId, VpcId: vpcId },
      userIdentity: {
        type: 'ram-user',
        principalId: identity?.principalId,
        accountId: sim.accountId,
        userName: 'alice',
        accessKeyId: ALICE.accessKeyId,
      },
      sourceIpAddress: '127.0.0.1',
      userAgent: 'test-agent/alice',
      referencedResources: { 'ACS::ECS::Instance': [instanceId], 'ACS::VPC::VPC': [vpcId] },
    });
    expect(record.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(record.eventTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Math.abs(Date.parse(record.eventTime) - called)).toBeLessThan(5_000);
    expect(record.errorCode).toBeUndefined();
    expect(identity?.principalId).toMatch(/^\d{16}$/);
    expect(sim.accountId).toMatch(/^1\d{15}$/);
  });

  it('failed calls are recorded with errorCode and errorMessage, through the API and the admin endpoints', async () => {
    const sim = await start();
    const instanceId = freeInstance(sim);
    const missingVpc = 'vpc-bp1doesnotexist0000000';
    const r = await ecs(sim, 'AttachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: instanceId,
      VpcId: missingVpc,
    });
    expect(json<ErrorBody>(r).Code).toBe('InvalidVpcId.NotFound');
    const a = await admin(sim, 'POST', '/_sim/attach', {
      regionId: REGION,
      instanceId,
      vpcId: missingVpc,
      user: 'ops',
    });
    expect(a).toMatchObject({ status: 400, json: { code: 'InvalidVpcId.NotFound' } });
    const d = await ecs(sim, 'DetachClassicLinkVpc', {
      RegionId: REGION,
      InstanceId: instanceId,
      VpcId: sim.world.vpcs(REGION)[0] as string,
    });
    expect(json<ErrorBody>(d).Code).toBe('InvalidInstanceId.NotFound');

    const attaches = await lookup(sim, byEvent('AttachClassicLinkVpc'));
    expect(attaches.Events.map((e) => [e.userIdentity.userName, e.errorCode])).toEqual([
      ['ops', 'InvalidVpcId.NotFound'],
      ['alice', 'InvalidVpcId.NotFound'],
    ]);
    expect(attaches.Events.every((e) => typeof e.errorMessage === 'string' && e.errorMessage !== '')).toBe(
      true,
    );
    expect(attaches.Events.every((e) => e.responseElements === undefined)).toBe(true);
    const detaches = await lookup(sim, byEvent('DetachClassicLinkVpc'));
    expect(detaches.Events.map((e) => e.errorCode)).toEqual(['InvalidInstanceId.NotFound']);
    // Requests refused before the operation (bad signature, unknown action) are not audited.
    await rawCall({
      url: sim.url,
      key: { ...ALICE, accessKeySecret: 'wrong' },
      action: 'AttachClassicLinkVpc',
    });
    expect((await trail(sim)).events).toHaveLength(3);
  });

  it('each key is its RAM user; a renamed key records its new name; admin calls name their user', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const instanceId = freeInstance(sim);
    const p = { RegionId: REGION, InstanceId: instanceId, VpcId: vpcId };
    expect((await ecs(sim, 'AttachClassicLinkVpc', p, ALICE)).status).toBe(200);
    expect((await ecs(sim, 'DetachClassicLinkVpc', p, BOB)).status).toBe(200);
    sim.setIdentity(ALICE.accessKeyId, { userName: 'alice.renamed', sourceIp: '203.0.113.7' });
    expect((await ecs(sim, 'AttachClassicLinkVpc', p, ALICE)).status).toBe(200);
    // The admin endpoint with a key's user name acts as that key; another name gets a key of its own.
    const viaAdmin = { regionId: REGION, instanceId, vpcId };
    expect(
      (await admin(sim, 'POST', '/_sim/detach', { ...viaAdmin, user: 'bob', sourceIp: '198.51.100.9' }))
        .status,
    ).toBe(200);
    expect((await admin(sim, 'POST', '/_sim/attach', viaAdmin)).status).toBe(200);

    const events = await lookupAll(sim, { Direction: 'FORWARD' });
    expect(
      events.map((e) => [
        e.eventName,
        e.userIdentity.userName,
        e.userIdentity.accessKeyId,
        e.sourceIpAddress,
      ]),
    ).toEqual([
      ['AttachClassicLinkVpc', 'alice', ALICE.accessKeyId, '127.0.0.1'],
      ['DetachClassicLinkVpc', 'bob', BOB.accessKeyId, '127.0.0.1'],
      ['AttachClassicLinkVpc', 'alice.renamed', ALICE.accessKeyId, '203.0.113.7'],
      ['DetachClassicLinkVpc', 'bob', BOB.accessKeyId, '198.51.100.9'],
      ['AttachClassicLinkVpc', 'sim-admin', expect.stringMatching(/^LTAI5t\w{18}$/), '127.0.0.1'],
    ]);
    const principals = events.map((e) => e.userIdentity.principalId);
    expect(principals[0]).not.toBe(principals[2]);
    expect(principals[1]).toBe(principals[3]);
    const keys = (await admin(sim, 'GET', '/_sim/keys')).json as { accessKeyId: string; userName: string }[];
    expect(keys.map((k) => k.userName)).toEqual(['alice.renamed', 'bob', 'reader']);
    expect(JSON.stringify(keys)).not.toContain(ALICE.accessKeySecret);
    const renamed = await admin(sim, 'POST', '/_sim/keys', {
      accessKeyId: BOB.accessKeyId,
      userName: 'robert',
    });
    expect(renamed).toMatchObject({ status: 200, json: { userName: 'robert' } });
    expect(
      (await admin(sim, 'POST', '/_sim/keys', { accessKeyId: 'LTAI5tnobody', userName: 'x' })).status,
    ).toBe(404);
  });

  it('deletes are recorded: DeleteInstance with InstanceId, DeleteInstances with InstanceId.N, admin releases', async () => {
    const sim = await start();
    const [a, b, c, d] = [0, 1, 2, 3].map(() => freeInstance(sim)) as [string, string, string, string];
    for (const id of [a, b, c]) {
      await admin(sim, 'POST', '/_sim/instance', { regionId: REGION, instanceId: id, status: 'Stopped' });
    }
    expect((await ecs(sim, 'DeleteInstance', { InstanceId: a })).status).toBe(200);
    expect(
      (await ecs(sim, 'DeleteInstances', { RegionId: REGION, 'InstanceId.1': b, 'InstanceId.2': c }, BOB))
        .status,
    ).toBe(200);
    expect(
      (await admin(sim, 'POST', '/_sim/release', { regionId: REGION, instanceId: d, user: 'ops-admin' }))
        .status,
    ).toBe(200);

    const one = await lookup(sim, byEvent('DeleteInstance'));
    expect(
      one.Events.map((e) => [e.userIdentity.userName, e.requestParameters.InstanceId, e.acsRegion]),
    ).toEqual([
      ['ops-admin', d, REGION],
      ['alice', a, REGION],
    ]);
    const many = (await lookup(sim, byEvent('DeleteInstances'))).Events;
    expect(many).toHaveLength(1);
    expect(many[0]?.requestParameters).toMatchObject({
      RegionId: REGION,
      'InstanceId.1': b,
      'InstanceId.2': c,
    });
    expect(many[0]?.referencedResources['ACS::ECS::Instance']).toEqual([b, c]);
    expect(many[0]?.userIdentity.userName).toBe('bob');
  });

  it('churn acts as named RAM users', async () => {
    const sim = await start({ churn: { intervalMs: 5, attach: 2, detach: 1 } });
    await expect.poll(async () => (await trail(sim)).events.length, { timeout: 10_000 }).toBeGreaterThan(6);
    const users = new Set((await trail(sim)).events.map((e) => e.record.userIdentity.userName));
    expect([...users].every((u) => ['ops-admin', 'migration-bot', 'alice.wang'].includes(u))).toBe(true);
  });
});

describe('LookupEvents', () => {
  /** Seven recorded calls in a fixed order: attach ×3 by alice, detach ×2 by bob, a failed attach, a delete. */
  async function sevenCalls(sim: RunningSimulator) {
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const ids = [0, 1, 2].map(() => freeInstance(sim));
    for (const id of ids)
      await ecs(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: id, VpcId: vpcId });
    for (const id of ids.slice(0, 2)) {
      await ecs(sim, 'DetachClassicLinkVpc', { RegionId: REGION, InstanceId: id, VpcId: vpcId }, BOB);
    }
    await ecs(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: ids[2] as string, VpcId: vpcId });
    await ecs(sim, 'DeleteInstance', { InstanceId: ids[0] as string, Force: 'true' });
    return { vpcId, ids };
  }

  it('pages BACKWARD (newest first, the default) and FORWARD by NextToken', async () => {
    const sim = await start();
    await sevenCalls(sim);
    const all = (await trail(sim)).events.map((e) => e.record.eventId);
    expect(all).toHaveLength(7);
    const first = await lookup(sim, { MaxResults: '3' });
    expect(first.Events).toHaveLength(3);
    expect(first.NextToken).not.toBe('');
    expect(JSON.parse(Buffer.from(first.NextToken, 'base64').toString('utf8'))).toMatchObject({
      account: sim.accountId,
    });
    expect((await lookupAll(sim, { MaxResults: '3' })).map((e) => e.eventId)).toEqual([...all].reverse());
    expect((await lookupAll(sim, { MaxResults: '2', Direction: 'FORWARD' })).map((e) => e.eventId)).toEqual(
      all,
    );
    const exact = await lookup(sim, { MaxResults: '7' });
    expect([exact.Events.length, exact.NextToken]).toEqual([7, '']);
    // A token belongs to its query: other parameters with it are refused.
    const other = await lookupRaw(sim, { MaxResults: '3', NextToken: first.NextToken, Direction: 'FORWARD' });
    expect([other.status, json<ErrorBody>(other).Code]).toEqual([400, 'InvalidParameter']);
    const garbage = await lookupRaw(sim, { NextToken: 'not-a-token' });
    expect(json<ErrorBody>(garbage).Code).toBe('InvalidParameter');
  });

  it('filters: ServiceName+EventName, ResourceName+EventName, EventName alone, User; exact and case-sensitive', async () => {
    const sim = await start();
    const { ids, vpcId } = await sevenCalls(sim);
    const names = (a: LookupAnswer) => a.Events.map((e) => e.eventName);
    expect(names(await lookup(sim, byEvent('DetachClassicLinkVpc')))).toEqual([
      'DetachClassicLinkVpc',
      'DetachClassicLinkVpc',
    ]);
    const attachesOfOne = await lookup(sim, {
      'LookupAttribute.1.Key': 'ResourceName',
      'LookupAttribute.1.Value': ids[2] as string,
      'LookupAttribute.2.Key': 'EventName',
      'LookupAttribute.2.Value': 'AttachClassicLinkVpc',
    });
    expect(attachesOfOne.Events.map((e) => [e.requestParameters.InstanceId, e.errorCode])).toEqual([
      [ids[2], 'InvalidInstanceId.MalFormed'],
      [ids[2], undefined],
    ]);
    const byVpc = await lookup(sim, {
      'LookupAttribute.1.Key': 'ResourceName',
      'LookupAttribute.1.Value': vpcId,
    });
    expect(byVpc.Events).toHaveLength(6);
    expect(
      (
        await lookup(sim, {
          'LookupAttribute.1.Key': 'EventName',
          'LookupAttribute.1.Value': 'DeleteInstance',
        })
      ).Events,
    ).toHaveLength(1);
    expect(
      (
        await lookup(sim, {
          'LookupAttribute.1.Key': 'EventName',
          'LookupAttribute.1.Value': 'deleteinstance',
        })
      ).Events,
    ).toHaveLength(0);
    expect(
      (await lookup(sim, { 'LookupAttribute.1.Key': 'ServiceName', 'LookupAttribute.1.Value': 'ecs' }))
        .Events,
    ).toHaveLength(0);
    const bobs = await lookup(sim, { 'LookupAttribute.1.Key': 'User', 'LookupAttribute.1.Value': 'bob' });
    expect(names(bobs)).toEqual(['DetachClassicLinkVpc', 'DetachClassicLinkVpc']);
  });

  it('the same key twice counts the second; beyond two, the first two; an unknown key is refused', async () => {
    const sim = await start();
    await sevenCalls(sim);
    const twice = await lookup(sim, {
      'LookupAttribute.1.Key': 'EventName',
      'LookupAttribute.1.Value': 'AttachClassicLinkVpc',
      'LookupAttribute.2.Key': 'EventName',
      'LookupAttribute.2.Value': 'DeleteInstance',
    });
    expect(twice.Events.map((e) => e.eventName)).toEqual(['DeleteInstance']);
    const three = await lookup(sim, {
      ...byEvent('DetachClassicLinkVpc'),
      'LookupAttribute.3.Key': 'User',
      'LookupAttribute.3.Value': 'nobody',
    });
    expect(three.Events).toHaveLength(2);
    const unknown = await lookupRaw(sim, {
      'LookupAttribute.1.Key': 'Colour',
      'LookupAttribute.1.Value': 'x',
    });
    expect([unknown.status, json<ErrorBody>(unknown).Code]).toEqual([400, 'InvalidParameter']);
    const noValue = await lookupRaw(sim, { 'LookupAttribute.1.Key': 'EventName' });
    expect(json<ErrorBody>(noValue).Code).toBe('MissingParameter');
  });

  it('StartTime/EndTime: both or neither, ISO seconds, inclusive; default the last 7 days', async () => {
    const sim = await start();
    await sevenCalls(sim);
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const now = Date.now();
    const dflt = await lookup(sim, {});
    expect(Math.abs(Date.parse(dflt.EndTime) - now)).toBeLessThan(5_000);
    expect(Date.parse(dflt.EndTime) - Date.parse(dflt.StartTime)).toBe(7 * 86_400_000);
    const window = { StartTime: iso(now - 60_000), EndTime: iso(now + 60_000) };
    expect((await lookup(sim, window)).Events).toHaveLength(7);
    expect((await lookup(sim, window)).StartTime).toBe(window.StartTime);
    const future = { StartTime: iso(now + 3_600_000), EndTime: iso(now + 7_200_000) };
    expect((await lookup(sim, future)).Events).toHaveLength(0);
    const bads: Record<string, string>[] = [
      { StartTime: window.StartTime },
      { EndTime: window.EndTime },
      { StartTime: window.EndTime, EndTime: window.StartTime },
      { StartTime: '2026-01-01 00:00:00', EndTime: window.EndTime },
      { MaxResults: '51' },
      { MaxResults: '0' },
      { Direction: 'SIDEWAYS' },
    ];
    for (const bad of bads) {
      const r = await lookupRaw(sim, bad);
      expect([r.status, json<ErrorBody>(r).Code], JSON.stringify(bad)).toEqual([400, 'InvalidParameter']);
    }
  });

  it('a /<region> path scopes the lookup to that region; / answers every region', async () => {
    const sim = await start();
    const inOther = freeInstance(sim, OTHER_REGION);
    await ecs(sim, 'AttachClassicLinkVpc', {
      RegionId: OTHER_REGION,
      InstanceId: inOther,
      VpcId: sim.world.vpcs(OTHER_REGION)[0] as string,
    });
    await sevenCalls(sim);
    expect((await lookup(sim, {}, ALICE, `/${OTHER_REGION}`)).Events.map((e) => e.acsRegion)).toEqual([
      OTHER_REGION,
    ]);
    expect((await lookup(sim, {}, ALICE, `/${REGION}/`)).Events).toHaveLength(7);
    expect((await lookup(sim, {})).Events).toHaveLength(8);
    // Only ActionTrail takes a region path; the ECS API still lives at / alone.
    const ecsPath = await rawCall({
      url: sim.url,
      key: ALICE,
      action: 'DescribeRegions',
      path: `/${REGION}`,
    });
    expect(ecsPath.status).toBe(404);
  });

  it('a key without actiontrail:LookupEvents gets Forbidden.RAM (403), in the real error shape', async () => {
    const sim = await start();
    const r = await lookupRaw(sim, {}, READER);
    expect(r.status).toBe(403);
    const body = json<ErrorBody & { AccessDeniedDetail: Record<string, string> }>(r);
    expect(body).toMatchObject({
      Code: 'Forbidden.RAM',
      HostId: 'actiontrail.aliyuncs.com',
      AccessDeniedDetail: { AuthAction: 'actiontrail:LookupEvents', AuthPrincipalDisplayName: 'reader' },
    });
    expect(body.RequestId).toBe(r.headers['x-acs-request-id']);
    expect(sim.requests.at(-1)).toMatchObject({ action: 'LookupEvents', status: 403, code: 'Forbidden.RAM' });
    // A write without permission is refused too, and ActionTrail records the refusal.
    const instanceId = freeInstance(sim);
    const w = await ecs(
      sim,
      'AttachClassicLinkVpc',
      {
        RegionId: REGION,
        InstanceId: instanceId,
        VpcId: sim.world.vpcs(REGION)[0] as string,
      },
      READER,
    );
    expect([w.status, json<ErrorBody>(w).Code]).toEqual([403, 'Forbidden.RAM']);
    expect((await lookup(sim)).Events.map((e) => [e.userIdentity.userName, e.errorCode])).toEqual([
      ['reader', 'Forbidden.RAM'],
    ]);
    sim.setIdentity(READER.accessKeyId, { permissions: ['actiontrail:LookupEvents'] });
    expect((await lookupRaw(sim, {}, READER)).status).toBe(200);
  });

  it('throttles like every other action: qpsCap, throttleRate with an actions filter', async () => {
    const sim = await start({ faults: { actionTrailDelayMs: 0, qpsCap: 1 } });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await lookupRaw(sim, {})).status);
    expect(codes.filter((s) => s === 400).length).toBeGreaterThanOrEqual(1);
    expect(sim.requests.some((r) => r.action === 'LookupEvents' && r.code === 'Throttling.User')).toBe(true);
    sim.setFaults({ actionTrailDelayMs: 0, throttleRate: 1, actions: ['LookupEvents'] });
    const t = await lookupRaw(sim, {});
    expect([t.status, json<ErrorBody>(t).Code]).toEqual([400, 'Throttling.User']);
    expect((await ecs(sim, 'DescribeRegions', {})).status).toBe(200);
  });
});

describe('drop rules', () => {
  it('drops the next N records, or every record of an instance, until cleared', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const [a, b] = [freeInstance(sim), freeInstance(sim)];
    expect((await admin(sim, 'POST', '/_sim/actiontrail/drop', { next: 1 })).json).toEqual({
      next: 1,
      instanceIds: [],
    });
    await ecs(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: a, VpcId: vpcId });
    await ecs(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: b, VpcId: vpcId });
    expect((await lookup(sim)).Events.map((e) => e.requestParameters.InstanceId)).toEqual([b]);

    await admin(sim, 'POST', '/_sim/actiontrail/drop', { instanceId: a });
    await ecs(sim, 'DetachClassicLinkVpc', { RegionId: REGION, InstanceId: a, VpcId: vpcId });
    await admin(sim, 'POST', '/_sim/release', { regionId: REGION, instanceId: a });
    await ecs(sim, 'DetachClassicLinkVpc', { RegionId: REGION, InstanceId: b, VpcId: vpcId });
    // The changes happened; only b's records are visible.
    expect(sim.world.links(REGION, vpcId).map((l) => l.instanceId)).not.toContain(a);
    expect((await lookup(sim)).Events.map((e) => [e.eventName, e.requestParameters.InstanceId])).toEqual([
      ['DetachClassicLinkVpc', b],
      ['AttachClassicLinkVpc', b],
    ]);
    const listed = (await trail(sim)).events;
    expect(listed.map((e) => e.dropped)).toEqual([true, false, true, true, false]);

    expect((await admin(sim, 'DELETE', '/_sim/actiontrail/drop')).json).toEqual({ next: 0, instanceIds: [] });
    await ecs(sim, 'AttachClassicLinkVpc', { RegionId: REGION, InstanceId: b, VpcId: vpcId });
    expect((await lookup(sim)).Events).toHaveLength(3);
    expect((await admin(sim, 'POST', '/_sim/actiontrail/drop', {})).status).toBe(400);

    sim.actionTrail.dropNext(1);
    await admin(sim, 'POST', '/_sim/detach', { regionId: REGION, instanceId: b, vpcId });
    expect(sim.actionTrail.entries().at(-1)?.dropped).toBe(true);
    expect((await admin(sim, 'DELETE', '/_sim/actiontrail')).status).toBe(200);
    expect(sim.actionTrail.entries()).toEqual([]);
  });

  it('maxActionTrailRecords keeps the newest records only', async () => {
    const sim = await start({ maxActionTrailRecords: 3 });
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const id = freeInstance(sim);
    const link = { regionId: REGION, instanceId: id, vpcId };
    for (let i = 0; i < 5; i++) {
      await admin(sim, 'POST', '/_sim/attach', link);
      await admin(sim, 'POST', '/_sim/detach', link);
    }
    const kept = sim.actionTrail.entries();
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThanOrEqual(6);
    expect(kept.at(-1)?.seq).toBe(10);
    await expect(startSimulator({ maxActionTrailRecords: 0 })).rejects.toThrow(/maxActionTrailRecords/);
  });

  it('world methods change the truth without any record', async () => {
    const sim = await start();
    const vpcId = sim.world.vpcs(REGION)[0] as string;
    const id = freeInstance(sim);
    sim.world.attach(REGION, id, vpcId);
    sim.world.releaseInstance(REGION, id);
    expect(sim.actionTrail.entries()).toEqual([]);
  });
});
