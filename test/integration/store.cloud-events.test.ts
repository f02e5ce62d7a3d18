/**
 * `cloud_events` through real Postgres: each ActionTrail record is stored once, whichever path it
 * came by and however often; only new records come back (the change feed schedules syncs for
 * those); hostile strings are kept verbatim.
 */
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { count } from '../helpers/rows.js';
import { cloudEvent, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

describe('store cloud events', () => {
  let pool: pg.Pool;
  let store: Store;
  beforeAll(async () => {
    ({ pool } = await db());
    store = createStore({ pool, log });
  });

  it('stores each record once, however often and by whichever path it arrives', async () => {
    const t = uniqueTarget();
    const a = cloudEvent(t, { eventName: 'AttachClassicLinkVpc', eventTime: at(1), instanceIds: ['i-1'] });
    const b = cloudEvent(t, { eventName: 'DeleteInstances', eventTime: at(2), instanceIds: ['i-2', 'i-1'] });
    const n = () =>
      count(pool, 'SELECT count(*)::int AS n FROM cloud_events WHERE account = $1', [t.account]);

    expect(await store.recordCloudEvents([a], 'hook')).toEqual([a]);
    // A repeat within the batch, one already stored, and one new: only the new one is new.
    expect(await store.recordCloudEvents([a, b, b], 'poll')).toEqual([b]);
    expect(await store.recordCloudEvents([b, a], 'hook')).toEqual([]);
    expect(await store.recordCloudEvents([], 'poll')).toEqual([]);
    expect(await n()).toBe(2);

    // Concurrent arrivals of the same records (poll and hook at once): still once each.
    const many = Array.from({ length: 20 }, (_, i) =>
      cloudEvent(t, { eventName: 'DetachClassicLinkVpc', eventTime: at(3), instanceIds: [`i-${i}`] }),
    );
    const results = await Promise.all([
      store.recordCloudEvents(many, 'poll'),
      store.recordCloudEvents([...many].reverse(), 'hook'),
    ]);
    expect(
      results
        .flat()
        .map((r) => r.eventId)
        .sort(),
    ).toEqual(many.map((r) => r.eventId).sort());
    expect(await n()).toBe(22);

    const { rows } = await pool.query(
      `SELECT event_id, account, region_id, event_name, event_time, instance_ids, vpc_id, actor_type, actor_name,
              actor_principal_id, actor_account_id, access_key_id, source_ip, user_agent, api_request_id,
              error_code, received_via
         FROM cloud_events WHERE event_id = $1`,
      [b.eventId],
    );
    expect(rows).toEqual([
      {
        event_id: b.eventId,
        account: t.account,
        region_id: t.regionId,
        event_name: 'DeleteInstances',
        event_time: at(2),
        instance_ids: ['i-2', 'i-1'],
        vpc_id: null,
        actor_type: 'ram-user',
        actor_name: 'alice',
        actor_principal_id: '2741806465482',
        actor_account_id: '1547353256850',
        access_key_id: 'LTAI-alice',
        source_ip: '192.0.2.1',
        user_agent: 'aliyun-cli/3.0',
        api_request_id: b.apiRequestId,
        error_code: null,
        received_via: 'poll',
      },
    ]);
  });

  it('keeps failed calls, with their error code, and records naming no instance', async () => {
    const t = uniqueTarget();
    const failed = cloudEvent(t, {
      eventName: 'AttachClassicLinkVpc',
      eventTime: at(1),
      instanceIds: ['i-1'],
      errorCode: 'InvalidInstanceId.NotFound',
    });
    const none = cloudEvent(t, { eventName: 'DeleteInstance', eventTime: at(1), instanceIds: [] });
    expect(await store.recordCloudEvents([failed, none], 'poll')).toHaveLength(2);
    const { rows } = await pool.query(
      'SELECT error_code, instance_ids FROM cloud_events WHERE account = $1 ORDER BY error_code NULLS LAST',
      [t.account],
    );
    expect(rows).toEqual([
      { error_code: 'InvalidInstanceId.NotFound', instance_ids: ['i-1'] },
      { error_code: null, instance_ids: [] },
    ]);
  });

  it('stores hostile strings verbatim', async () => {
    const t = uniqueTarget();
    const hostile = `"'\\ <script>alert('x')</script> 🦄👩‍👩‍👧 ${'é'.repeat(4096)}`;
    const record = cloudEvent(t, {
      eventName: 'AttachClassicLinkVpc',
      eventTime: at(1),
      instanceIds: ['i-1', `i-"{,}"`],
      actor: { type: hostile, name: hostile, principalId: hostile, accountId: hostile },
      userAgent: hostile,
      sourceIp: hostile,
    });
    expect(await store.recordCloudEvents([record], 'hook')).toEqual([record]);
    const { rows } = await pool.query(
      'SELECT instance_ids, actor_type, actor_name, user_agent, source_ip FROM cloud_events WHERE event_id = $1',
      [record.eventId],
    );
    expect(rows).toEqual([
      {
        instance_ids: ['i-1', `i-"{,}"`],
        actor_type: hostile,
        actor_name: hostile,
        user_agent: hostile,
        source_ip: hostile,
      },
    ]);
  });
});
