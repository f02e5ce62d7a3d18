/**
 * DESIGN.md correctness rule 7 through real Postgres: each non-baseline link event's cause is
 * `found` only with a successful record of the right action, instance and VPC, inside the window
 * (previous applied scan start − allowance, detection); the latest candidate wins; with no record
 * it is `not_found` only once the window has run out; a missing permission is `unavailable`.
 *
 * Times: a scan at minute m starts at `at(m)` and is detected 30 s later (`scan` helper).
 */
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { type CloudEventRecord, createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { cloudEvent, scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

const WINDOW = 15 * 60_000;
const ALLOWANCE = 60_000;
const det = (minute: number) => new Date(at(minute).getTime() + 30_000);
const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

const bob = { type: 'ram-user', name: 'bob', principalId: '2999', accountId: '1547353256850' };

describe('store causes (rule 7)', () => {
  let pool: pg.Pool;
  let store: Store;
  beforeAll(async () => {
    ({ pool } = await db());
    store = createStore({ pool, log });
  });

  const settle = (t: TargetRef, now: Date) =>
    store.settleCauses({
      account: t.account,
      regionId: t.regionId,
      now,
      windowMs: WINDOW,
      allowanceMs: ALLOWANCE,
    });

  /** The non-baseline events of the target's account with their cause, in order. */
  async function causes(t: TargetRef) {
    const { rows } = await pool.query<{ event: string; status: string | null; record: string | null }>(
      `SELECT e.change || ' ' || e.instance_id AS event, c.status, c.cloud_event_id AS record
         FROM link_events e LEFT JOIN link_event_causes c ON c.link_event_id = e.id
        WHERE e.account = $1 AND NOT e.baseline ORDER BY e.id`,
      [t.account],
    );
    return rows;
  }

  /** A target whose baseline (m0) has `before`, then a run at m10 that sees `after`. */
  async function changedAt10(before: string[], after: string[], t: TargetRef = uniqueTarget()) {
    await scan(store, t, before, { minute: 0 });
    await scan(store, t, after, { minute: 10 });
    return t;
  }

  const record = (
    t: TargetRef,
    over: Partial<CloudEventRecord> & Pick<CloudEventRecord, 'eventName' | 'eventTime'>,
  ) => cloudEvent(t, { instanceIds: ['i-1'], ...over });

  it('attach by one user and detach by another: both found, each with its record', async () => {
    const t = await changedAt10([], ['i-1']);
    await scan(store, t, [], { minute: 20 });
    const attach = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(5) });
    const detach = record(t, {
      eventName: 'DetachClassicLinkVpc',
      eventTime: at(15),
      actor: bob,
      sourceIp: '198.51.100.7',
    });
    await store.recordCloudEvents([attach, detach], 'poll');

    const pending = await store.pendingCauses({ account: t.account, regionId: t.regionId });
    expect(
      pending.map((p) => [p.change, p.instanceId, p.vpcId, p.detectedAt, p.previousScanStartedAt]),
    ).toEqual([
      ['added', 'i-1', t.vpcId, det(10), at(0)],
      ['removed', 'i-1', t.vpcId, det(20), at(10)],
    ]);

    expect(await settle(t, det(20))).toEqual({ found: 2, notFound: 0 });
    expect(await causes(t)).toEqual([
      { event: 'added i-1', status: 'found', record: attach.eventId },
      { event: 'removed i-1', status: 'found', record: detach.eventId },
    ]);
    expect(await store.pendingCauses({ account: t.account, regionId: t.regionId })).toEqual([]);
    // Settled once: nothing more to do.
    expect(await settle(t, plus(det(20), WINDOW * 2))).toEqual({ found: 0, notFound: 0 });

    const events = await store.listEvents({ account: t.account });
    expect(events.map((e) => e.cause)).toEqual([
      {
        status: 'found',
        eventId: attach.eventId,
        eventName: 'AttachClassicLinkVpc',
        eventTime: at(5),
        actor: attach.actor,
        sourceIp: '192.0.2.1',
        resolvedAt: det(20),
      },
      {
        status: 'found',
        eventId: detach.eventId,
        eventName: 'DetachClassicLinkVpc',
        eventTime: at(15),
        actor: bob,
        sourceIp: '198.51.100.7',
        resolvedAt: det(20),
      },
    ]);
  });

  it('never matches a failed call (error code set); an empty error code is a success', async () => {
    const t = await changedAt10([], ['i-1']);
    const ok = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(3), errorCode: '' });
    const failed = record(t, {
      eventName: 'AttachClassicLinkVpc',
      eventTime: at(6),
      errorCode: 'IncorrectInstanceStatus',
    });
    await store.recordCloudEvents([ok, failed], 'poll');
    expect(await settle(t, det(10))).toEqual({ found: 1, notFound: 0 });
    expect(await causes(t)).toEqual([{ event: 'added i-1', status: 'found', record: ok.eventId }]);

    const onlyFailed = await changedAt10([], ['i-1']);
    await store.recordCloudEvents(
      [
        record(onlyFailed, {
          eventName: 'AttachClassicLinkVpc',
          eventTime: at(6),
          errorCode: 'Forbidden.RAM',
        }),
      ],
      'hook',
    );
    expect(await settle(onlyFailed, plus(det(10), WINDOW + 1))).toEqual({ found: 0, notFound: 1 });
    expect(await causes(onlyFailed)).toEqual([{ event: 'added i-1', status: 'not_found', record: null }]);
  });

  it('matches only inside (previous applied scan start − allowance, detection)', async () => {
    // Outside on both sides: before the previous scan (beyond the allowance), and after detection.
    const outside = await changedAt10([], ['i-1']);
    await store.recordCloudEvents(
      [
        record(outside, { eventName: 'AttachClassicLinkVpc', eventTime: plus(at(0), -2 * ALLOWANCE) }),
        record(outside, { eventName: 'AttachClassicLinkVpc', eventTime: det(10) }),
        record(outside, { eventName: 'AttachClassicLinkVpc', eventTime: plus(det(10), 1_000) }),
      ],
      'poll',
    );
    expect(await settle(outside, plus(det(10), WINDOW + 1))).toEqual({ found: 0, notFound: 1 });

    // Inside the allowance: a record a little before the previous scan started is still a candidate.
    const inside = await changedAt10([], ['i-1']);
    const early = record(inside, {
      eventName: 'AttachClassicLinkVpc',
      eventTime: plus(at(0), -ALLOWANCE / 2),
    });
    await store.recordCloudEvents([early], 'poll');
    expect(await settle(inside, det(10))).toEqual({ found: 1, notFound: 0 });
    expect(await causes(inside)).toEqual([{ event: 'added i-1', status: 'found', record: early.eventId }]);
  });

  it('the previous applied scan is the latest succeeded run before the event’s, not a failed one', async () => {
    const t = uniqueTarget();
    await scan(store, t, [], { minute: 0 });
    const failed = await store.startRun({ target: t, jobId: 'job-failed', attempt: 1, startedAt: at(5) });
    await store.failRun({
      runId: failed,
      target: t,
      code: 'Throttling',
      message: 'slow down',
      finishedAt: at(6),
    });
    await scan(store, t, [], { minute: 7 });
    await scan(store, t, ['i-1'], { minute: 10 });
    const pending = await store.pendingCauses({ account: t.account, regionId: t.regionId });
    expect(pending.map((p) => p.previousScanStartedAt)).toEqual([at(7)]);
    // An attach between the baseline and the no-change scan at m7 cannot have caused the m10 change.
    await store.recordCloudEvents(
      [record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(3) })],
      'poll',
    );
    expect(await settle(t, plus(det(10), WINDOW + 1))).toEqual({ found: 0, notFound: 1 });
  });

  it('several candidates: the latest wins', async () => {
    const t = await changedAt10([], ['i-1']);
    const first = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(2) });
    const latest = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(7), actor: bob });
    await store.recordCloudEvents([latest], 'hook');
    await store.recordCloudEvents([first], 'poll');
    expect(await settle(t, det(10))).toEqual({ found: 1, notFound: 0 });
    expect(await causes(t)).toEqual([{ event: 'added i-1', status: 'found', record: latest.eventId }]);
  });

  it('a candidate undone by a later call is not the last word: pending until the later one arrives', async () => {
    const t = await changedAt10(['i-2'], ['i-1']);
    // i-1: attached by alice, detached by alice, attached again by bob (not yet in ActionTrail).
    const first = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(2) });
    const undo = record(t, { eventName: 'DetachClassicLinkVpc', eventTime: at(3) });
    // i-2: detached by alice, re-attached at the same second, detached again by bob (late).
    const gone = { instanceIds: ['i-2'] };
    const detach = record(t, { ...gone, eventName: 'DetachClassicLinkVpc', eventTime: at(4) });
    const back = record(t, { ...gone, eventName: 'AttachClassicLinkVpc', eventTime: at(4) });
    // Another VPC's attach of i-2 does not undo its removal from this one.
    const elsewhere = record(t, {
      ...gone,
      eventName: 'AttachClassicLinkVpc',
      eventTime: at(5),
      vpcId: 'vpc-9',
    });
    await store.recordCloudEvents([first, undo, detach, back, elsewhere], 'poll');
    expect(await settle(t, det(10))).toEqual({ found: 0, notFound: 0 });
    const last = record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(6), actor: bob });
    const lastGone = record(t, { ...gone, eventName: 'DetachClassicLinkVpc', eventTime: at(7), actor: bob });
    await store.recordCloudEvents([last, lastGone], 'poll');
    expect(await settle(t, det(10))).toEqual({ found: 2, notFound: 0 });
    expect(await causes(t)).toEqual([
      { event: 'added i-1', status: 'found', record: last.eventId },
      { event: 'removed i-2', status: 'found', record: lastGone.eventId },
    ]);
  });

  it('a delete (naming no VPC) causes a removal, never an addition', async () => {
    const t = await changedAt10(['i-1', 'i-2'], ['i-2', 'i-3']);
    const del = record(t, {
      eventName: 'DeleteInstances',
      eventTime: at(5),
      instanceIds: ['i-0', 'i-1'],
      vpcId: null,
    });
    // A delete of i-3 cannot explain i-3 being added.
    const other = record(t, {
      eventName: 'DeleteInstance',
      eventTime: at(6),
      instanceIds: ['i-3'],
      vpcId: null,
    });
    await store.recordCloudEvents([del, other], 'poll');
    expect(await settle(t, plus(det(10), WINDOW + 1))).toEqual({ found: 1, notFound: 1 });
    expect(await causes(t)).toEqual([
      { event: 'added i-3', status: 'not_found', record: null },
      { event: 'removed i-1', status: 'found', record: del.eventId },
    ]);
  });

  it('never matches another VPC, instance, account or region, nor an action of the other change', async () => {
    const t = await changedAt10([], ['i-1']);
    const base = { eventName: 'AttachClassicLinkVpc', eventTime: at(5) } as const;
    await store.recordCloudEvents(
      [
        record(t, { ...base, vpcId: 'vpc-other' }),
        record(t, { ...base, vpcId: null }),
        record(t, { ...base, instanceIds: ['i-10'] }),
        record(t, { ...base, account: `${t.account}-x` }),
        record(t, { ...base, regionId: 'cn-beijing' }),
        record(t, { ...base, eventName: 'DetachClassicLinkVpc' }),
        record(t, { ...base, eventName: 'ModifyInstanceAttribute' }),
      ],
      'poll',
    );
    expect(await settle(t, plus(det(10), WINDOW + 1))).toEqual({ found: 0, notFound: 1 });
  });

  it('with no record the cause stays pending until the window has run out, then is not_found for good', async () => {
    const t = await changedAt10([], ['i-1']);
    expect(await settle(t, plus(det(10), WINDOW - 1))).toEqual({ found: 0, notFound: 0 });
    expect(await settle(t, plus(det(10), WINDOW))).toEqual({ found: 0, notFound: 0 });
    expect(await causes(t)).toEqual([{ event: 'added i-1', status: null, record: null }]);
    expect(await settle(t, plus(det(10), WINDOW + 1))).toEqual({ found: 0, notFound: 1 });
    // A record arriving after the cause was settled changes nothing.
    await store.recordCloudEvents(
      [record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(5) })],
      'poll',
    );
    expect(await settle(t, plus(det(10), WINDOW + 2))).toEqual({ found: 0, notFound: 0 });
    expect(await causes(t)).toEqual([{ event: 'added i-1', status: 'not_found', record: null }]);
  });

  it('a missing permission settles pending events as unavailable, never not_found', async () => {
    const t = await changedAt10([], ['i-1']);
    await scan(store, t, [], { minute: 20 });
    const scope = { account: t.account, regionId: t.regionId };
    expect(await store.markCausesUnavailable({ ...scope, before: at(15) })).toBe(1);
    expect(await store.markCausesUnavailable({ ...scope, before: at(15) })).toBe(0);
    expect(await store.markCausesUnavailable(scope)).toBe(1);
    // A record found later does not overwrite what was settled.
    await store.recordCloudEvents(
      [record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(5) })],
      'poll',
    );
    expect(await settle(t, plus(det(20), WINDOW + 1))).toEqual({ found: 0, notFound: 0 });
    expect(await causes(t)).toEqual([
      { event: 'added i-1', status: 'unavailable', record: null },
      { event: 'removed i-1', status: 'unavailable', record: null },
    ]);
    const events = await store.listEvents({ account: t.account });
    expect(events.map((e) => e.cause?.status)).toEqual(['unavailable', 'unavailable']);
  });

  it('baseline events are never pending; pendingCauses pages oldest first', async () => {
    const t = uniqueTarget();
    await scan(store, t, ['i-0'], { minute: 0 });
    await scan(store, t, ['i-0', 'i-1'], { minute: 10 });
    await scan(store, t, ['i-0', 'i-1', 'i-2'], { minute: 20 });
    const scope = { account: t.account, regionId: t.regionId };
    expect((await store.pendingCauses(scope)).map((p) => p.instanceId)).toEqual(['i-1', 'i-2']);
    expect((await store.pendingCauses({ ...scope, limit: 1 })).map((p) => p.instanceId)).toEqual(['i-1']);
    expect(await store.pendingCauses({ ...scope, regionId: 'cn-beijing' })).toEqual([]);
    // Everything pending, settled at once (baseline untouched).
    expect(await settle(t, plus(det(20), WINDOW + 1))).toEqual({ found: 0, notFound: 2 });
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM link_event_causes c JOIN link_events e ON e.id = c.link_event_id
        WHERE e.account = $1 AND e.baseline`,
      [t.account],
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('two settles at once settle each event once', async () => {
    const t = await changedAt10([], ['i-1', 'i-2', 'i-3']);
    await store.recordCloudEvents(
      ['i-1', 'i-2'].map((id) =>
        record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(5), instanceIds: [id] }),
      ),
      'poll',
    );
    const now = plus(det(10), WINDOW + 1);
    const results = await Promise.all([settle(t, now), settle(t, now), settle(t, now)]);
    const total = results.reduce((a, r) => ({ found: a.found + r.found, notFound: a.notFound + r.notFound }));
    expect(total).toEqual({ found: 2, notFound: 1 });
    expect((await causes(t)).map((c) => c.status)).toEqual(['found', 'found', 'not_found']);
  });

  it('pruning an event drops its cause; a record no cause refers to is pruned, one that is stays', async () => {
    const t = await changedAt10([], ['i-1', 'i-2']);
    await scan(store, t, ['i-2'], { minute: 20 });
    const attach = (id: string) =>
      record(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(5), instanceIds: [id] });
    const [attach1, attach2] = [attach('i-1'), attach('i-2')];
    const detach1 = record(t, { eventName: 'DetachClassicLinkVpc', eventTime: at(15) });
    const unused = record(t, { eventName: 'DetachClassicLinkVpc', eventTime: at(1), instanceIds: ['i-9'] });
    await store.recordCloudEvents([attach1, attach2, detach1, unused], 'poll');
    expect(await settle(t, det(20))).toEqual({ found: 3, notFound: 0 });
    // i-1's events are all before the cutoff and it is unlinked: they go, with their causes. i-2's
    // add is what links_at() after the cutoff needs: it stays, and so do its cause and record.
    // (Pruning spans the whole database: only this target's rows are asserted on.)
    const pruned = await store.pruneHistory({ olderThan: at(25) });
    expect(pruned.cloudEvents).toBeGreaterThanOrEqual(3);
    expect(await causes(t)).toEqual([{ event: 'added i-2', status: 'found', record: attach2.eventId }]);
    const { rows } = await pool.query('SELECT event_id FROM cloud_events WHERE account = $1', [t.account]);
    expect(rows).toEqual([{ event_id: attach2.eventId }]);
  });
});
