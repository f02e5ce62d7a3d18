/**
 * `context_health` through real Postgres: a check that finds what the last one found moves only
 * `checked_at` (and `last_ok_at` when ok), a new state moves `since`, the caller learns whether
 * anything changed (one log line per change, not per check), and the list groups each
 * account+region's two sources. Also discovery's proof that a VPC is gone (markUnlistedVpcsDeleted).
 */
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { attributeVersions } from '../helpers/rows.js';
import { uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

describe('store context health', () => {
  let pool: pg.Pool;
  let store: Store;
  beforeAll(async () => {
    ({ pool } = await db());
    store = createStore({ pool, log });
  });

  it('records each check; since moves with the state, last ok with every ok', async () => {
    const t = uniqueTarget();
    const scope = { account: t.account, regionId: t.regionId, source: 'actiontrail' as const };
    const check = (minute: number, state: 'ok' | 'permission_denied' | 'failing', detail: string | null) =>
      store.recordContextCheck({ ...scope, state, detail, at: at(minute) });

    expect(await check(1, 'ok', null)).toEqual({ changed: true, previous: null });
    expect(await check(2, 'ok', null)).toEqual({ changed: false, previous: 'ok' });
    expect(await check(3, 'permission_denied', 'refused (Forbidden.RAM)')).toEqual({
      changed: true,
      previous: 'ok',
    });
    expect(await check(4, 'permission_denied', 'refused (Forbidden.RAM)')).toEqual({
      changed: false,
      previous: 'permission_denied',
    });
    // Another detail in the same state is a change worth a line; the state's start stays.
    expect(await check(5, 'permission_denied', 'refused (NoPermission)')).toEqual({
      changed: true,
      previous: 'permission_denied',
    });
    expect(await store.listContextHealth({ account: t.account })).toEqual([
      {
        account: t.account,
        regionId: t.regionId,
        instances: null,
        actiontrail: {
          state: 'permission_denied',
          detail: 'refused (NoPermission)',
          since: at(3),
          checkedAt: at(5),
          lastOkAt: at(2),
        },
      },
    ]);
    expect(await check(6, 'ok', null)).toEqual({ changed: true, previous: 'permission_denied' });
    const [row] = await store.listContextHealth({ account: t.account });
    expect(row?.actiontrail).toEqual({
      state: 'ok',
      detail: null,
      since: at(6),
      checkedAt: at(6),
      lastOkAt: at(6),
    });
  });

  it('lists both sources of each account+region, sorted, of one account or all', async () => {
    const a = uniqueTarget();
    const b = uniqueTarget();
    await store.recordContextCheck({
      account: a.account,
      regionId: 'cn-shanghai',
      source: 'instances',
      state: 'ok',
      detail: null,
      at: at(1),
    });
    await store.recordContextCheck({
      account: a.account,
      regionId: 'cn-beijing',
      source: 'actiontrail',
      state: 'failing',
      detail: 'InternalError: x',
      at: at(2),
    });
    await store.recordContextCheck({
      account: a.account,
      regionId: 'cn-beijing',
      source: 'instances',
      state: 'ok',
      detail: null,
      at: at(2),
    });
    await store.recordContextCheck({
      account: b.account,
      regionId: 'cn-beijing',
      source: 'instances',
      state: 'ok',
      detail: null,
      at: at(3),
    });
    const mine = await store.listContextHealth({ account: a.account });
    expect(mine.map((r) => [r.regionId, r.instances?.state ?? null, r.actiontrail?.state ?? null])).toEqual([
      ['cn-beijing', 'ok', 'failing'],
      ['cn-shanghai', 'ok', null],
    ]);
    const all = await store.listContextHealth();
    expect(all.filter((r) => r.account === a.account || r.account === b.account)).toHaveLength(3);
  });

  it('marks deleted exactly the VPCs a complete listing no longer gives, once', async () => {
    const t = uniqueTarget();
    const scope = { account: t.account, regionId: t.regionId };
    const vpc = (vpcId: string) => ({ vpcId, name: vpcId, cidrBlock: '10.0.0.0/8', tags: {} });
    await store.upsertVpcs({ ...scope, vpcs: [vpc('vpc-a'), vpc('vpc-b'), vpc('vpc-c')], seenAt: at(0) });
    expect(await store.markUnlistedVpcsDeleted({ ...scope, listed: ['vpc-a', 'vpc-c'], at: at(5) })).toBe(1);
    const before = await attributeVersions(pool, 'vpcs', t.account);
    expect(await store.markUnlistedVpcsDeleted({ ...scope, listed: ['vpc-a', 'vpc-c'], at: at(6) })).toBe(0);
    expect(await attributeVersions(pool, 'vpcs', t.account)).toEqual(before);
    const { rows } = await pool.query(
      'SELECT vpc_id, deleted_at FROM vpcs WHERE account = $1 ORDER BY vpc_id',
      [t.account],
    );
    expect(rows).toEqual([
      { vpc_id: 'vpc-a', deleted_at: null },
      { vpc_id: 'vpc-b', deleted_at: at(5) },
      { vpc_id: 'vpc-c', deleted_at: null },
    ]);
    // Listed again: known again.
    expect(await store.upsertVpcs({ ...scope, vpcs: [vpc('vpc-b')], seenAt: at(7) })).toBe(1);
  });
});
