/**
 * The EventBridge hook over real sockets, with the simulator pushing ActionTrail records to it as
 * EventBridge would: a change between two scans (SYNC_INTERVAL long, no poll) reaches
 * `link_events` through a targeted sync; the token as bearer or Basic password, refused without
 * it (401 with WWW-Authenticate); malformed bodies answered 400 naming the field, with nothing
 * stored; 413 over 1 MiB; duplicates (EventBridge resends, hook and poll both) stored once and
 * scheduling nothing new; batches; events not about links answered 200; the simulator's push
 * retried until the hook answers, and its drop / duplicate rules.
 */
import { describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServerOptions } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics.js';
import { hookReceiver } from '../../src/service.js';
import { cloudEventEnvelope, type Delivery, type TrailRecord } from '../../src/simulator/index.js';
import { admin, change, cloudEvents, newInstance, pollFeed, trailVisible } from '../helpers/feed.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { linkEvents, runs } from '../helpers/rows.js';
import { freePort } from '../helpers/servers.js';

const REGION = 'cn-hangzhou';
const HOOK_TOKEN = 'hook-token-0123456789abcdef';
const HTTP_TOKEN = 'http-token-0123456789abcdef';
const start = usePipeline({ checkSecret: true });

interface Hooked {
  pl: Pipeline;
  /** The hook's URL. */
  hook: string;
  base: string;
}

/**
 * A pipeline whose simulator pushes to a hook served in this process. The hook's port is picked
 * first, so the simulator knows its target before anything listens there (`listen: false` leaves
 * it unanswered: pushes fail until `listen()`).
 */
async function open(
  opts: { push?: boolean; token?: boolean; listen?: boolean; server?: Partial<HttpServerOptions> } = {},
): Promise<Hooked & { listen(): Promise<void> }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const hook = `${base}/v1/hooks/eventbridge`;
  const pl = await start({
    sim: {
      regions: [REGION],
      vpcsPerRegion: 3,
      linksPerVpc: 2,
      faults: { actionTrailDelayMs: 50 },
      ...(opts.push === false
        ? {}
        : { eventBridge: { url: hook, token: HOOK_TOKEN, retryBaseMs: 50, maxAttempts: 200 } }),
    },
    // The poll worker runs, but no schedule: a poll happens only when a test asks for one, so
    // what reaches the database comes by the hook.
    feed: true,
    env: { CHANGE_FEED: 'actiontrail', SYNC_INTERVAL: '1h' },
  });
  expect((await pl.round()).every((o) => o.ok)).toBe(true);
  const metrics = createMetrics({ log: pl.log, processMetrics: false });
  const server = createHttpServer({
    host: '127.0.0.1',
    port,
    log: pl.log,
    metrics,
    ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
    store: pl.database.store,
    account: pl.config.SYNC_ACCOUNT,
    staleAfterMs: 3_600_000,
    hook:
      opts.token === false
        ? undefined
        : hookReceiver(
            { ...pl.config, HOOK_TOKEN },
            {
              db: pl.database,
              msg: { queues: pl.queues },
              specs: [{ name: pl.config.SYNC_ACCOUNT, regions: pl.config.regions }],
              metrics,
              log: pl.log,
            },
          ),
    ...opts.server,
  });
  // Closed before the pipeline (usePipeline closes it after the test): registered on its lifecycle.
  const listen = async () => void (await server.listen());
  if (opts.listen !== false) await listen();
  const close = pl.close;
  pl.close = async () => {
    await server.close();
    await close();
  };
  return { pl, hook, base, listen };
}

function post(url: string, body: unknown, auth?: string, raw = false): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: raw ? (body as string) : JSON.stringify(body),
  });
}

const bearer = `Bearer ${HOOK_TOKEN}`;
const basic = (password: string) => `Basic ${Buffer.from(`eventbridge:${password}`).toString('base64')}`;

/** The non-baseline events as `change vpc/instance`. */
async function changes(pl: Pipeline): Promise<string[]> {
  return (await linkEvents(pl.db.pool))
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`);
}

async function settle(pl: Pipeline): Promise<void> {
  await expect
    .poll(async () => {
      const d = await pl.queues.depth();
      return d.sync + d.plan;
    })
    .toBe(0);
}

/** A record as the simulator's ActionTrail would write it for an attach (no call made). */
function attachRecord(n: number, over: Partial<TrailRecord> = {}): TrailRecord {
  return {
    eventId: `hook-test-${n}`,
    eventVersion: 1,
    eventName: 'AttachClassicLinkVpc',
    eventType: 'ApiCall',
    eventRW: 'Write',
    eventSource: `ecs.${REGION}.aliyuncs.com`,
    eventTime: '2026-01-02T06:11:36Z',
    acsRegion: REGION,
    serviceName: 'Ecs',
    apiVersion: '2014-05-26',
    requestId: `req-${n}`,
    requestParameters: { RegionId: REGION, InstanceId: `i-hooktest${n}`, VpcId: 'vpc-hooktest' },
    referencedResources: { 'ACS::ECS::Instance': [`i-hooktest${n}`] },
    resourceType: 'ACS::ECS::Instance',
    resourceName: `i-hooktest${n}`,
    userIdentity: {
      type: 'ram-user',
      principalId: '1',
      accountId: '1',
      userName: 'ops',
      accessKeyId: 'LTAI',
    },
    sourceIpAddress: '10.0.0.1',
    userAgent: 'test',
    isGlobal: false,
    ...over,
  };
}

const envelope = (record: TrailRecord, over: Record<string, unknown> = {}) => ({
  ...cloudEventEnvelope(record, { accountId: '1', id: `ce-${record.eventId}` }),
  ...over,
});

async function deliveries(h: Hooked): Promise<Delivery[]> {
  return ((await admin(h.pl.sim, 'GET', '/_sim/eventbridge')).json as { deliveries: Delivery[] }).deliveries;
}

describe('the EventBridge hook', () => {
  it('a change between two scans is recorded through the pushed record, by a targeted sync', async () => {
    const h = await open();
    const { pl } = h;
    const runsBefore = (await runs(pl.db.pool)).length;
    const vpcId = pl.sim.world.vpcs(REGION)[1] as string;
    const fresh = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    await expect.poll(() => changes(pl), { timeout: 20_000 }).toEqual([`added ${vpcId}/${fresh}`]);
    await settle(pl);
    expect((await runs(pl.db.pool)).slice(runsBefore).map((r) => `${r.vpc_id} ${r.status}`)).toEqual([
      `${vpcId} succeeded`,
    ]);
    expect(await cloudEvents(pl.db.pool)).toEqual([
      expect.objectContaining({ received_via: 'hook', event_name: 'AttachClassicLinkVpc' }),
    ]);
    expect((await deliveries(h)).map((d) => [d.state, d.last])).toEqual([['delivered', '202']]);
  });

  it('takes the token as bearer or Basic password; refuses none or a wrong one with WWW-Authenticate', async () => {
    const h = await open({ push: false, server: { token: HTTP_TOKEN } });
    const body = envelope(attachRecord(1, { eventName: 'StartInstance' }));
    const none = await post(h.hook, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer realm=.*Basic realm=/);
    expect((await post(h.hook, body, 'Bearer wrong-token-0123456789')).status).toBe(401);
    expect((await post(h.hook, body, basic('wrong'))).status).toBe(401);
    // HTTP_TOKEN opens the API, not the hook: EventBridge carries HOOK_TOKEN only.
    expect((await post(h.hook, body, `Bearer ${HTTP_TOKEN}`)).status).toBe(401);
    expect((await post(h.hook, body, bearer)).status).toBe(200);
    expect((await post(h.hook, body, basic(HOOK_TOKEN))).status).toBe(200);
    // The rest of the API still asks for HTTP_TOKEN, and not HOOK_TOKEN.
    expect((await fetch(`${h.base}/v1/status`, { headers: { authorization: bearer } })).status).toBe(401);
    expect(
      (await fetch(`${h.base}/v1/status`, { headers: { authorization: `Bearer ${HTTP_TOKEN}` } })).status,
    ).toBe(200);
  });

  it('without HOOK_TOKEN the route does not exist', async () => {
    const h = await open({ push: false, token: false });
    expect((await post(h.hook, envelope(attachRecord(1)), bearer)).status).toBe(404);
  });

  it('answers 400 naming the field of a malformed event, and stores nothing of its batch', async () => {
    const h = await open({ push: false });
    const good = envelope(attachRecord(1));
    const cases: [unknown, string, boolean?][] = [
      ['{"specversion":', '(body)', true],
      ['', '(body)', true],
      [[], '(body)'],
      [42, '(body)'],
      [{ ...good, specversion: '0.3' }, 'specversion'],
      [{ ...good, id: '' }, 'id'],
      [{ ...good, type: undefined }, 'type'],
      [{ ...good, data: 'not json' }, 'data'],
      [{ ...good, data: [] }, 'data'],
      [envelope(attachRecord(2, { eventTime: '2026-01-02 06:11:36' })), 'data.eventTime'],
      [envelope(attachRecord(3, { eventId: '' })), 'data.eventId'],
      [envelope(attachRecord(4, { userIdentity: undefined as never })), 'data.userIdentity'],
      [[good, envelope(attachRecord(5, { acsRegion: '' }))], '[1].data.acsRegion'],
    ];
    for (const [body, field, raw] of cases) {
      const res = await post(h.hook, body, bearer, raw);
      expect(res.status, field).toBe(400);
      const answer = (await res.json()) as { field: string; message: string };
      expect(answer.field, JSON.stringify(body).slice(0, 80)).toBe(field);
      expect(answer.message).toMatch(new RegExp(`^${field.replace(/[[\]().]/g, '\\$&')}: `));
    }
    expect(await cloudEvents(h.pl.db.pool)).toEqual([]);
  });

  it('answers 413 over 1 MiB, before storing anything', async () => {
    const h = await open({ push: false });
    const big = envelope(attachRecord(1, { userAgent: 'x'.repeat(1024 * 1024) }));
    const res = await post(h.hook, big, bearer);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'payload_too_large' });
    // Still 401 first without the token: the body is never read.
    expect((await post(h.hook, big)).status).toBe(401);
    expect(await cloudEvents(h.pl.db.pool)).toEqual([]);
  });

  it('answers 200 for valid events that are not about links, and stores none', async () => {
    const h = await open({ push: false });
    const stateChange = { ...envelope(attachRecord(1)), type: 'ecs:Instance:StateChange' };
    const start = envelope(attachRecord(2, { eventName: 'StartInstance' }));
    const otherRegion = envelope(attachRecord(3, { acsRegion: 'cn-shanghai' }));
    const res = await post(h.hook, [stateChange, start, otherRegion], bearer);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ events: 3, stored: 0, ignored: 3, scheduled: 0 });
    expect(await cloudEvents(h.pl.db.pool)).toEqual([]);
  });

  it('a batch: link records stored and scheduled, the rest ignored; a resend stores and schedules nothing', async () => {
    const h = await open({ push: false });
    const { pl } = h;
    const [vpcA, vpcB] = pl.sim.world.vpcs(REGION) as [string, string];
    const batch = [
      envelope(attachRecord(1, { requestParameters: { VpcId: vpcA, InstanceId: 'i-hooktest1' } })),
      envelope(attachRecord(2, { requestParameters: { VpcId: vpcB, InstanceId: 'i-hooktest2' } })),
      envelope(attachRecord(3, { eventName: 'RebootInstance' })),
    ];
    const first = await post(h.hook, batch, bearer);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({
      events: 3,
      stored: 2,
      duplicates: 0,
      ignored: 1,
      scheduled: 2,
    });
    await settle(pl);
    const runsAfterFirst = (await runs(pl.db.pool)).length;
    // EventBridge resends (same records): stored once, nothing scheduled.
    const again = await post(h.hook, batch, bearer);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ stored: 0, duplicates: 2, scheduled: 0 });
    await settle(pl);
    expect((await runs(pl.db.pool)).length).toBe(runsAfterFirst);
    expect((await cloudEvents(pl.db.pool)).map((e) => e.event_id)).toEqual(['hook-test-1', 'hook-test-2']);
  });

  it('a record pushed and then polled is stored once and scheduled once', async () => {
    const h = await open();
    const { pl } = h;
    const vpcId = pl.sim.world.vpcs(REGION)[0] as string;
    const fresh = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    await expect.poll(() => changes(pl), { timeout: 20_000 }).toEqual([`added ${vpcId}/${fresh}`]);
    await settle(pl);
    const runsBefore = (await runs(pl.db.pool)).length;
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      records: 1,
      fresh: 0,
      scheduled: 0,
    });
    await settle(pl);
    expect((await runs(pl.db.pool)).length).toBe(runsBefore);
    expect((await cloudEvents(pl.db.pool)).map((e) => e.received_via)).toEqual(['hook']);
  });

  it('the simulator retries a push until the hook answers', async () => {
    const h = await open({ listen: false });
    const { pl } = h;
    const vpcId = pl.sim.world.vpcs(REGION)[2] as string;
    const fresh = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: fresh, vpcId });
    // Nothing listens: the push fails and is retried.
    await expect
      .poll(async () => (await deliveries(h))[0]?.attempts ?? 0, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2);
    expect((await deliveries(h))[0]?.state).toBe('pending');
    await h.listen();
    await expect.poll(() => changes(pl), { timeout: 20_000 }).toEqual([`added ${vpcId}/${fresh}`]);
    expect((await deliveries(h))[0]?.state).toBe('delivered');
  });

  it('push rules: a duplicated push is stored once and schedules once; a dropped one never arrives', async () => {
    const h = await open();
    const { pl } = h;
    const [vpcA, vpcB] = pl.sim.world.vpcs(REGION) as [string, string];
    expect((await admin(pl.sim, 'POST', '/_sim/eventbridge/duplicate', { next: 1 })).status).toBe(200);
    const one = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: one, vpcId: vpcA });
    await expect.poll(() => changes(pl), { timeout: 20_000 }).toEqual([`added ${vpcA}/${one}`]);
    await expect.poll(async () => (await deliveries(h))[0]?.state, { timeout: 10_000 }).toBe('delivered');
    await settle(pl);
    expect((await deliveries(h))[0]?.duplicated).toBe(true);
    expect((await runs(pl.db.pool)).filter((r) => r.vpc_id === vpcA)).toHaveLength(2); // baseline + one

    expect((await admin(pl.sim, 'POST', '/_sim/eventbridge/drop', { next: 1 })).status).toBe(200);
    const two = await newInstance(pl.sim, REGION);
    await change(pl.sim, 'attach', { regionId: REGION, instanceId: two, vpcId: vpcB });
    await expect.poll(async () => (await deliveries(h))[1]?.state).toBe('dropped');
    expect(await changes(pl)).toEqual([`added ${vpcA}/${one}`]);
    // The record is still in ActionTrail: a poll finds it once visible.
    await trailVisible(pl.sim);
    expect(await pollFeed(pl.queues, pl.config.SYNC_ACCOUNT, REGION)).toMatchObject({
      fresh: 1,
      scheduled: 1,
    });
    await expect
      .poll(() => changes(pl), { timeout: 20_000 })
      .toEqual([`added ${vpcA}/${one}`, `added ${vpcB}/${two}`]);
  });
});
