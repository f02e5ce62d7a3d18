/**
 * The context of events and links through real Postgres: the `link_history` view and the read
 * verbs (listEvents, eventsPage, listLinks now and at a time, contextForRun) carry the instance's
 * and VPC's attributes and the settled cause where known, leave them out where not, and keep every
 * field they had before.
 */
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { type CloudEventRecord, createStore, type EventRow, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { cloudEvent, instanceAttrs, scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });
const det = (minute: number) => new Date(at(minute).getTime() + 30_000);

const hostile = `"'\\ <script>alert(1)</script> 🦄 ${'x'.repeat(4096)}`;

/**
 * One target: baseline {i-0} at m0 · +i-1 at m10 (its attach recorded: cause found) · −i-0 at m20
 * (no record: cause not_found) · +i-2 at m30 (cause pending). i-0 and i-1 are described, i-2 is
 * not; the VPC is described.
 */
describe('store context (link_history and the read verbs)', () => {
  let pool: pg.Pool;
  let store: Store;
  let t: TargetRef;
  let attach: CloudEventRecord;
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    ({ pool } = await db());
    store = createStore({ pool, log });
    t = uniqueTarget();
    const scope = { account: t.account, regionId: t.regionId };
    runs.m0 = (await scan(store, t, ['i-0'], { minute: 0 })).runId;
    runs.m10 = (await scan(store, t, ['i-0', 'i-1'], { minute: 10 })).runId;
    attach = cloudEvent(t, {
      eventName: 'AttachClassicLinkVpc',
      eventTime: at(5),
      instanceIds: ['i-1'],
      actor: { type: 'ram-user', name: hostile, principalId: '27418', accountId: '15473' },
    });
    await store.recordCloudEvents([attach], 'hook');
    await store.settleCauses({ ...scope, now: det(10), windowMs: 60_000, allowanceMs: 0 });
    runs.m20 = (await scan(store, t, ['i-1'], { minute: 20 })).runId;
    await store.settleCauses({ ...scope, now: at(22), windowMs: 60_000, allowanceMs: 0 });
    runs.m30 = (await scan(store, t, ['i-1', 'i-2'], { minute: 30 })).runId;
    await store.upsertInstances({
      ...scope,
      instances: [
        instanceAttrs('i-0', { name: 'db-0', status: 'Stopped' }),
        instanceAttrs('i-1', { name: hostile, tags: { [hostile]: hostile, env: 'prod' } }),
      ],
      seenAt: at(11),
    });
    await store.upsertVpcs({
      ...scope,
      vpcs: [{ vpcId: t.vpcId, name: 'prod-vpc', cidrBlock: '172.16.0.0/12', tags: { team: 'core' } }],
      seenAt: at(0),
    });
  });

  const instance1 = () => ({
    name: hostile,
    status: 'Running',
    privateIp: '10.0.0.1',
    zoneId: 'cn-hangzhou-h',
    resourceGroupId: 'rg-1',
    tags: { [hostile]: hostile, env: 'prod' },
    releasedAt: null,
  });
  const vpc = { name: 'prod-vpc', cidr: '172.16.0.0/12', tags: { team: 'core' }, deletedAt: null };
  const found = () => ({
    status: 'found',
    eventId: attach.eventId,
    eventName: 'AttachClassicLinkVpc',
    eventTime: at(5),
    actor: { type: 'ram-user', name: hostile, principalId: '27418', accountId: '15473' },
    sourceIp: '192.0.2.1',
    resolvedAt: det(10),
  });

  it('link_history shows each event with its instance’s name and tags, its VPC’s name and its cause', async () => {
    const { rows } = await pool.query(
      `SELECT instance_id, change, baseline, instance_name, instance_tags, vpc_name, vpc_cidr_block, cause_status,
              cause_event_name, cause_event_time, cause_actor_name, cause_actor_type, cause_source_ip
         FROM link_history WHERE account = $1 ORDER BY id`,
      [t.account],
    );
    const none = {
      cause_event_name: null,
      cause_event_time: null,
      cause_actor_name: null,
      cause_actor_type: null,
    };
    const vpcCols = { vpc_name: 'prod-vpc', vpc_cidr_block: '172.16.0.0/12' };
    expect(rows).toEqual([
      {
        instance_id: 'i-0',
        change: 'added',
        baseline: true,
        instance_name: 'db-0',
        instance_tags: { env: 'prod' },
        ...vpcCols,
        cause_status: null,
        ...none,
        cause_source_ip: null,
      },
      {
        instance_id: 'i-1',
        change: 'added',
        baseline: false,
        instance_name: hostile,
        instance_tags: { [hostile]: hostile, env: 'prod' },
        ...vpcCols,
        cause_status: 'found',
        cause_event_name: 'AttachClassicLinkVpc',
        cause_event_time: at(5),
        cause_actor_name: hostile,
        cause_actor_type: 'ram-user',
        cause_source_ip: '192.0.2.1',
      },
      {
        instance_id: 'i-0',
        change: 'removed',
        baseline: false,
        instance_name: 'db-0',
        instance_tags: { env: 'prod' },
        ...vpcCols,
        cause_status: 'not_found',
        ...none,
        cause_source_ip: null,
      },
      {
        instance_id: 'i-2',
        change: 'added',
        baseline: false,
        instance_name: null,
        instance_tags: null,
        ...vpcCols,
        cause_status: null,
        ...none,
        cause_source_ip: null,
      },
    ]);
  });

  it('listEvents and eventsPage carry instance, vpc and cause where known, and every field they had', async () => {
    const events = await store.listEvents({ account: t.account });
    expect(events.map(({ id: _, ...e }) => e)).toEqual([
      {
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        instanceId: 'i-0',
        change: 'added',
        detectedAt: det(0),
        syncRunId: runs.m0,
        baseline: true,
        instance: expect.objectContaining({ name: 'db-0', status: 'Stopped' }),
        vpc,
      },
      {
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        instanceId: 'i-1',
        change: 'added',
        detectedAt: det(10),
        syncRunId: runs.m10,
        baseline: false,
        instance: instance1(),
        vpc,
        cause: found(),
      },
      expect.objectContaining({
        instanceId: 'i-0',
        change: 'removed',
        cause: { status: 'not_found', resolvedAt: at(22) },
      }),
      expect.objectContaining({ instanceId: 'i-2', change: 'added', vpc }),
    ]);
    const pending = events[3] as EventRow;
    expect('instance' in pending || 'cause' in pending).toBe(false);

    const page = await store.eventsPage({ filter: { account: t.account, instanceId: 'i-1' }, limit: 10 });
    expect(page.events).toEqual([events[1]]);
    expect(await store.listEvents({ account: t.account, limit: 1, newest: true })).toEqual([events[3]]);
  });

  it('listLinks, now and at a time, carries the context of the change that linked each', async () => {
    const now = await store.listLinks({ account: t.account });
    expect(now).toEqual([
      {
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        instanceId: 'i-1',
        linkedSince: det(10),
        firstSeenAt: det(10),
        baseline: false,
        instance: instance1(),
        vpc,
        cause: found(),
      },
      {
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        instanceId: 'i-2',
        linkedSince: det(30),
        firstSeenAt: det(30),
        baseline: false,
        vpc,
      },
    ]);
    const past = await store.listLinks({ account: t.account, at: at(15) });
    expect(
      past.map((l) => [l.instanceId, l.linkedSince, l.instance?.name, l.cause?.status, l.baseline]),
    ).toEqual([
      ['i-0', det(0), 'db-0', undefined, true],
      ['i-1', det(10), hostile, 'found', false],
    ]);
    expect(past[1]).toEqual({ ...now[0], firstSeenAt: null });
    expect(await store.listLinks({ account: t.account, at: at(35) })).toEqual(
      now.map((l) => ({ ...l, firstSeenAt: null })),
    );
    expect(await store.listLinks({ account: t.account, at: at(15), vpcId: 'vpc-other' })).toEqual([]);
  });

  it('contextForRun gives a run’s changes with what is known, and what is still missing', async () => {
    const m10 = await store.contextForRun(runs.m10 ?? '');
    expect(m10).toEqual({
      events: [expect.objectContaining({ instanceId: 'i-1', instance: instance1(), vpc, cause: found() })],
      causesPending: 0,
      instancesUnknown: 0,
    });
    const m30 = await store.contextForRun(runs.m30 ?? '');
    expect(m30).toMatchObject({ causesPending: 1, instancesUnknown: 1 });
    expect(await store.contextForRun('not-a-run')).toEqual({
      events: [],
      causesPending: 0,
      instancesUnknown: 0,
    });
    // A baseline run's events are never attributed, so never pending.
    expect(await store.contextForRun(runs.m0 ?? '')).toMatchObject({ causesPending: 0, instancesUnknown: 0 });
  });
});
