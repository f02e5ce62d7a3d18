/**
 * Who made each change, end to end: the simulator records every attach, detach and delete in its
 * ActionTrail (with the writer's RAM user, visible after a short delay), the service's sync jobs
 * apply the changes, the after-applied hook enqueues one attribute job per region, and the
 * attribute worker settles each change's cause by DESIGN.md rule 7 — through real Postgres,
 * Redis and the simulator. Tests wait for the causes to settle, never for time.
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createEcsClient } from '../../src/aliyun/index.js';
import { printStatus } from '../../src/cli/index.js';
import { runAttribute } from '../../src/context/index.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { createLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import { closeApiServers, json, startServer } from '../helpers/api-server.js';
import { fakeClock } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { captureLog } from '../helpers/log.js';
import { type Pipeline, type PipelineOptions, usePipeline } from '../helpers/pipeline.js';
import { dbLinks, truthLinks } from '../helpers/rows.js';
import { admin } from '../helpers/sim-admin.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const R = 'cn-hangzhou';
const open = usePipeline();

/** A pipeline with the context side, one region of two VPCs, ActionTrail records visible after 200 ms. */
function openContext(env: Record<string, string>, more: Partial<PipelineOptions> = {}): Promise<Pipeline> {
  return open({
    context: true,
    sim: { regions: [R], vpcsPerRegion: 2, linksPerVpc: 2, faults: { actionTrailDelayMs: 200 } },
    env,
    ...more,
  });
}

interface CauseRow {
  instance_id: string;
  change: string;
  cause_status: string | null;
  cause_event_name: string | null;
  cause_actor_type: string | null;
  cause_actor_name: string | null;
  cause_source_ip: string | null;
}

/** The non-baseline changes with their causes (link_history), in the order they were recorded. */
async function causes(pool: pg.Pool): Promise<CauseRow[]> {
  const { rows } = await pool.query<CauseRow>(
    `SELECT instance_id, change, cause_status, cause_event_name, cause_actor_type, cause_actor_name, cause_source_ip
       FROM link_history WHERE NOT baseline ORDER BY id`,
  );
  return rows;
}

/** Waits until every non-baseline change has a settled cause; returns them. */
async function settled(pl: Pipeline, count: number, timeout = 30_000): Promise<CauseRow[]> {
  await expect
    .poll(async () => (await causes(pl.db.pool)).filter((c) => c.cause_status !== null).length, {
      timeout,
      interval: 100,
    })
    .toBe(count);
  return causes(pl.db.pool);
}

/** A VPC of the region with a link, the link, and a fresh unlinked instance. */
function pick(pl: Pipeline): { vpc: string; linked: string; fresh: string } {
  const vpc = pl.sim.world.vpcs(R)[0] ?? '';
  const linked = pl.sim.world.links(R, vpc)[0]?.instanceId ?? '';
  return { vpc, linked, fresh: pl.sim.world.createInstance(R) };
}

async function ok(p: Promise<{ status: number; json: unknown }>): Promise<void> {
  const r = await p;
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** ActionTrail records carry whole seconds: waits until the clock is in the next one. */
async function nextSecond(): Promise<void> {
  const second = Math.floor(Date.now() / 1000);
  await expect.poll(() => Math.floor(Date.now() / 1000), { interval: 20 }).toBeGreaterThan(second);
}

/** Waits until every record the simulator's ActionTrail holds is visible to LookupEvents. */
async function trailVisible(pl: Pipeline): Promise<void> {
  await expect.poll(() => pl.sim.actionTrail.entries().every((e) => e.visibleAt <= Date.now())).toBe(true);
}

/** A client whose only reachable API is ActionTrail at `url` (ECS and VPC point nowhere). */
const trailClient = (url: string) =>
  createEcsClient({
    credentials: staticCredentialsProvider({ accessKeyId: 'id', accessKeySecret: 'secret' }),
    signature: 'v3',
    ecsEndpoint: 'http://127.0.0.1:9',
    vpcEndpoint: 'http://127.0.0.1:9',
    actiontrailEndpoint: url,
    timeoutMs: 2_000,
    retryDeadlineMs: 2_000,
    log: createLogger({ level: 'silent' }),
  });

describe('attribution', () => {
  it('an attach by one RAM user and a detach by another: both found, with the right actors', async () => {
    const pl = await openContext({ ATTRIBUTION_WINDOW: '10s' });
    await pl.round();
    const { vpc, linked, fresh } = pick(pl);
    await ok(
      admin(pl.sim, 'POST', '/_sim/attach', {
        regionId: R,
        instanceId: fresh,
        vpcId: vpc,
        user: 'alice',
        sourceIp: '203.0.113.7',
      }),
    );
    await ok(
      admin(pl.sim, 'POST', '/_sim/detach', {
        regionId: R,
        instanceId: linked,
        vpcId: vpc,
        user: 'bob',
        sourceIp: '198.51.100.9',
      }),
    );
    await pl.round();

    expect(await settled(pl, 2)).toEqual([
      {
        instance_id: fresh,
        change: 'added',
        cause_status: 'found',
        cause_event_name: 'AttachClassicLinkVpc',
        cause_actor_type: 'ram-user',
        cause_actor_name: 'alice',
        cause_source_ip: '203.0.113.7',
      },
      {
        instance_id: linked,
        change: 'removed',
        cause_status: 'found',
        cause_event_name: 'DetachClassicLinkVpc',
        cause_actor_type: 'ram-user',
        cause_actor_name: 'bob',
        cause_source_ip: '198.51.100.9',
      },
    ]);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
  });

  it('costs one LookupEvents query per event name per run, not one per change', async () => {
    const pl = await openContext({ ATTRIBUTION_WINDOW: '10s' });
    await pl.round();
    const vpcs = pl.sim.world.vpcs(R);
    // Six changes across both VPCs: three attaches, three detaches.
    for (const [i, vpc] of [vpcs[0], vpcs[1], vpcs[0]].entries()) {
      const fresh = pl.sim.world.createInstance(R);
      await ok(
        admin(pl.sim, 'POST', '/_sim/attach', { regionId: R, instanceId: fresh, vpcId: vpc, user: `u${i}` }),
      );
    }
    for (const vpc of [vpcs[0], vpcs[1], vpcs[1]]) {
      const l = pl.sim.world.links(R, vpc).at(-1);
      await ok(admin(pl.sim, 'POST', '/_sim/detach', { regionId: R, instanceId: l?.instanceId, vpcId: vpc }));
    }
    await trailVisible(pl);
    pl.sim.clearRequests();
    await pl.round();
    expect((await settled(pl, 6)).every((c) => c.cause_status === 'found')).toBe(true);
    const lookups = pl.sim.requests.filter((r) => r.action === 'LookupEvents');
    const names = lookups.map((r) => r.params['LookupAttribute.2.Value']);
    // Every record was visible before the round: one run, one query per event name, one page each.
    expect(names.sort()).toEqual([
      'AttachClassicLinkVpc',
      'DeleteInstance',
      'DeleteInstances',
      'DetachClassicLinkVpc',
    ]);
    expect(lookups.every((r) => r.params['LookupAttribute.1.Value'] === 'Ecs')).toBe(true);
  });

  it('a change whose ActionTrail record never comes: not_found once the window has passed', async () => {
    const pl = await openContext({ ATTRIBUTION_WINDOW: '1s' });
    await pl.round();
    const { vpc, fresh } = pick(pl);
    await ok(admin(pl.sim, 'POST', '/_sim/actiontrail/drop', { next: 1 }));
    await ok(
      admin(pl.sim, 'POST', '/_sim/attach', { regionId: R, instanceId: fresh, vpcId: vpc, user: 'alice' }),
    );
    await pl.round();
    expect(await settled(pl, 1)).toMatchObject([
      { instance_id: fresh, change: 'added', cause_status: 'not_found', cause_actor_name: null },
    ]);
    expect(pl.sim.actionTrail.entries().filter((e) => e.dropped)).toHaveLength(1);
  });

  it('a failed attach is recorded but never matched, even when it is the latest call', async () => {
    const pl = await openContext({ ATTRIBUTION_WINDOW: '10s' });
    await pl.round();
    const { vpc, fresh } = pick(pl);
    const link = { regionId: R, instanceId: fresh, vpcId: vpc };
    await ok(admin(pl.sim, 'POST', '/_sim/attach', { ...link, user: 'alice' }));
    await nextSecond();
    // Already linked: the call fails, and ActionTrail keeps it with its errorCode.
    expect((await admin(pl.sim, 'POST', '/_sim/attach', { ...link, user: 'mallory' })).status).toBe(400);
    await trailVisible(pl);
    await pl.round();
    expect(await settled(pl, 1)).toMatchObject([
      {
        instance_id: fresh,
        cause_status: 'found',
        cause_event_name: 'AttachClassicLinkVpc',
        cause_actor_name: 'alice',
      },
    ]);
    const { rows } = await pl.db.pool.query(
      `SELECT actor_name, error_code FROM cloud_events WHERE $1 = ANY(instance_ids) ORDER BY event_time`,
      [fresh],
    );
    expect(rows).toEqual([
      { actor_name: 'alice', error_code: null },
      { actor_name: 'mallory', error_code: 'InvalidInstanceId.MalFormed' },
    ]);
  });

  it('two attaches of one instance between two scans: the latest is the cause', async () => {
    const pl = await openContext({ ATTRIBUTION_WINDOW: '10s' });
    await pl.round();
    const { vpc, fresh } = pick(pl);
    const link = { regionId: R, instanceId: fresh, vpcId: vpc };
    await ok(admin(pl.sim, 'POST', '/_sim/attach', { ...link, user: 'alice' }));
    await ok(admin(pl.sim, 'POST', '/_sim/detach', { ...link, user: 'alice' }));
    await nextSecond();
    await ok(admin(pl.sim, 'POST', '/_sim/attach', { ...link, user: 'carol' }));
    await pl.round();
    expect(await settled(pl, 1)).toMatchObject([
      { instance_id: fresh, change: 'added', cause_status: 'found', cause_actor_name: 'carol' },
    ]);
  });

  it('LookupEvents forbidden: unavailable with one warning, status says so, links still exact', async () => {
    const captured = captureLog('info');
    const pl = await openContext({ ATTRIBUTION_WINDOW: '10s' }, { log: captured.log });
    const keyId = pl.sim.keys[0]?.accessKeyId ?? '';
    pl.sim.setIdentity(keyId, { permissions: ['ecs:*', 'vpc:*'] });
    await pl.round();
    for (let n = 1; n <= 2; n++) {
      const { vpc, fresh } = pick(pl);
      await ok(admin(pl.sim, 'POST', '/_sim/attach', { regionId: R, instanceId: fresh, vpcId: vpc }));
      await pl.round();
      expect((await settled(pl, n)).map((c) => c.cause_status)).toEqual(Array(n).fill('unavailable'));
    }
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const [health] = await pl.database.store.listContextHealth();
    expect(health?.actiontrail).toMatchObject({ state: 'permission_denied', lastOkAt: null });
    expect(health?.actiontrail?.detail).toContain('Forbidden.RAM');
    expect(health?.actiontrail?.detail).toContain('actiontrail:LookupEvents');
    const warnings = captured.lines.filter(
      (l) => l.includes('"source":"actiontrail"') && l.includes('"level":40'),
    );
    expect(warnings).toHaveLength(1);
    // `status` says so, in words.
    let out = '';
    const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } };
    expect(await printStatus(pl.database.store, pl.config, pl.config.SYNC_ACCOUNT, { json: false }, io)).toBe(
      0,
    );
    const line = out.split('\n').find((l) => /^cn-hangzhou\s+actiontrail\s/.test(l));
    expect(line).toMatch(/\spermission_denied\s.*LookupEvents was refused \(Forbidden\.RAM\)/);
    expect(out).toContain('1 permission(s) missing');

    // The permission back: the next change is found again, and the check says ok.
    pl.sim.setIdentity(keyId, { permissions: ['*'] });
    const { vpc, fresh } = pick(pl);
    await ok(admin(pl.sim, 'POST', '/_sim/attach', { regionId: R, instanceId: fresh, vpcId: vpc }));
    await pl.round();
    expect((await settled(pl, 3)).at(-1)).toMatchObject({ instance_id: fresh, cause_status: 'found' });
    const [after] = await pl.database.store.listContextHealth();
    expect(after?.actiontrail).toMatchObject({ state: 'ok', detail: null });
  });

  it('ATTRIBUTION=off: no attribute job at all, causes stay unsettled', async () => {
    const pl = await openContext({ ATTRIBUTION: 'off' });
    await pl.round();
    const { vpc, fresh } = pick(pl);
    await ok(admin(pl.sim, 'POST', '/_sim/attach', { regionId: R, instanceId: fresh, vpcId: vpc }));
    await pl.round();
    // The change's enrich job runs (names still come); it is the marker that the hook has run.
    await expect
      .poll(
        async () =>
          (await pl.db.pool.query('SELECT 1 FROM instances WHERE instance_id = $1', [fresh])).rowCount,
      )
      .toBe(1);
    expect(await pl.queues.attribute.getJobCounts()).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 0,
    });
    expect(pl.sim.requests.filter((r) => r.action === 'LookupEvents')).toHaveLength(0);
    expect((await causes(pl.db.pool)).map((c) => c.cause_status)).toEqual([null]);
  });
});

describe('attribution of records that do not validate', () => {
  const db = useTestDb({ checkLeaks: true });
  afterEach(() => closeApiServers());

  it('skips a record that does not validate with a log line naming its field, settles the rest', async () => {
    const { pool } = await db();
    const store: Store = createStore({ pool, log: createLogger({ level: 'silent' }) });
    const target = uniqueTarget('vpc-a');
    await scan(store, target, ['i-1'], { minute: 0 });
    await scan(store, target, ['i-1', 'i-2'], { minute: 10 });
    const valid = {
      eventId: 'ev-good',
      eventName: 'AttachClassicLinkVpc',
      eventTime: '2025-01-01T00:05:00Z',
      acsRegion: 'cn-hangzhou',
      requestParameters: { InstanceId: 'i-2', VpcId: 'vpc-a' },
      userIdentity: { type: 'ram-user', userName: 'alice' },
    };
    const broken = { ...valid, eventId: 'ev-bad', eventTime: '2025-01-01 00:06' };
    const server = await startServer((req, res) => {
      const asked = req.url.searchParams.get('LookupAttribute.2.Value');
      const events = asked === 'AttachClassicLinkVpc' ? [broken, valid] : [];
      json(res, 200, { RequestId: `rid-${asked}`, NextToken: '', Events: events });
    });
    const client = trailClient(server.url);
    const captured = captureLog('info');
    const clock = fakeClock(new Date('2025-01-01T00:10:31Z'));
    const again: number[] = [];
    try {
      const result = await runAttribute(
        {
          apiFor: () => client,
          store,
          windowMs: 60_000,
          again: async (_d, delayMs) => void again.push(delayMs),
          now: clock.now,
        },
        { account: target.account, regionId: target.regionId, log: captured.log },
      );
      expect(result).toMatchObject({ pending: 1, calls: 4, recorded: 1, found: 1, stillPending: 0 });
    } finally {
      await client.close();
    }
    // One query per link-changing name, over the window the pending change needs.
    expect(server.seen.map((s) => s.url.searchParams.get('LookupAttribute.2.Value'))).toEqual([
      'AttachClassicLinkVpc',
      'DetachClassicLinkVpc',
      'DeleteInstance',
      'DeleteInstances',
    ]);
    expect(
      server.seen.map((s) => [s.url.searchParams.get('StartTime'), s.url.searchParams.get('EndTime')]),
    ).toEqual(Array(4).fill(['2024-12-31T23:59:55Z', '2025-01-01T00:10:30Z']));
    const refused = captured.lines.filter((l) => l.includes('ActionTrail record refused'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('"eventId":"ev-bad"');
    expect(refused[0]).toContain('"field":"eventTime"');
    expect(again).toEqual([]);
    const { rows } = await pool.query('SELECT event_id FROM cloud_events ORDER BY event_id');
    expect(rows).toEqual([{ event_id: 'ev-good' }]);
  });

  it('a change detected while a run is under way gets a prompt run, not the delayed retry', async () => {
    const { pool } = await db();
    const store: Store = createStore({ pool, log: createLogger({ level: 'silent' }) });
    const target = uniqueTarget('vpc-a');
    await scan(store, target, ['i-1'], { minute: 0 });
    await scan(store, target, ['i-1', 'i-2'], { minute: 10 });
    const server = await startServer((_req, res) =>
      json(res, 200, { RequestId: 'rid', NextToken: '', Events: [] }),
    );
    const client = trailClient(server.url);
    // i-3 is detected just after the run has read what is pending.
    let reads = 0;
    const racing: Store = {
      ...store,
      pendingCauses: async (input) => {
        const found = await store.pendingCauses(input);
        if (reads++ === 0) await scan(store, target, ['i-1', 'i-2', 'i-3'], { minute: 11 });
        return found;
      },
    };
    const again: number[] = [];
    const run = (now: Date) =>
      runAttribute(
        {
          apiFor: () => client,
          store: racing,
          windowMs: 600_000,
          again: async (_d, ms) => void again.push(ms),
          now: () => now,
        },
        { account: target.account, regionId: target.regionId, log: createLogger({ level: 'silent' }) },
      );
    try {
      expect(await run(new Date('2025-01-01T00:10:31Z'))).toMatchObject({ pending: 1, stillPending: 2 });
      // Nothing arrives during the next run: its retry waits for ActionTrail as usual.
      expect(await run(new Date('2025-01-01T00:10:32Z'))).toMatchObject({ pending: 2, stillPending: 2 });
    } finally {
      await client.close();
    }
    expect(again).toHaveLength(2);
    expect(again[0]).toBe(200);
    expect(again[1]).toBeGreaterThan(1_000);
  });
});
