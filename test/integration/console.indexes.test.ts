/**
 * The console's reads are served by indexes: the search by name (a prefix of `lower(name)`) and the
 * change log filtered by who. Each verb runs on a connection where sequential scans are priced out
 * (`enable_seqscan = off`: the planner still scans when no index can serve the predicate), and the
 * index's own scan counter (pg_stat_user_indexes) must move. The store's pool has one connection,
 * so that its statistics can be flushed on demand.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { instanceAttrs, uniqueTarget } from '../helpers/store.js';

const db = useTestDb({ each: 'test' });
const defer = useCleanup();

async function indexScans(pool: pg.Pool, index: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT coalesce(sum(idx_scan), 0)::text AS n FROM pg_stat_user_indexes WHERE indexrelname = $1',
    [index],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Waits until the statistics show more scans of `index` than `before` (they are flushed lazily). */
async function scannedAfter(pool: pg.Pool, index: string, before: number): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await pool.query('SELECT pg_stat_clear_snapshot()');
    if ((await indexScans(pool, index)) > before) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** The one connection's statistics, flushed now rather than within the next 10 s. */
const flush = (pool: pg.Pool) => pool.query('SELECT pg_stat_force_next_flush()');

async function setup(): Promise<{ store: Store; stats: pg.Pool; flush: () => Promise<unknown> }> {
  const { url, pool: stats } = await db();
  const pool = new pg.Pool({ connectionString: url, max: 1, options: '-c enable_seqscan=off' });
  defer(() => pool.end());
  return { store: createStore({ pool, log: silentLog }), stats, flush: () => flush(pool) };
}

describe('console reads use indexes', () => {
  it('the search by name reads the lower(name) prefix indexes of instances and VPCs', async () => {
    const { store, stats, flush } = await setup();
    const target = uniqueTarget();
    const scope = { account: target.account, regionId: target.regionId };
    await store.upsertInstances({
      ...scope,
      instances: [instanceAttrs('i-1', { name: 'Web-01' }), instanceAttrs('i-2', { name: 'db-01' })],
      seenAt: at(1),
    });
    await store.upsertVpcs({
      ...scope,
      vpcs: [{ vpcId: target.vpcId, name: 'web-vpc', cidrBlock: '10.0.0.0/8', tags: {} }],
      seenAt: at(1),
    });
    const inst = await indexScans(stats, 'instances_name_prefix_idx');
    const vpc = await indexScans(stats, 'vpcs_name_prefix_idx');

    const found = await store.findByName({ text: 'WEB', limit: 10 });
    expect(found.map((m) => `${m.kind}:${m.id}`).sort()).toEqual(['instance:i-1', `vpc:${target.vpcId}`]);
    // A prefix, not a part: `01` starts no name.
    expect(await store.findByName({ text: '01', limit: 10 })).toEqual([]);
    // `%` and `_` are themselves, not wildcards.
    expect(await store.findByName({ text: 'w_b', limit: 10 })).toEqual([]);
    await flush();

    expect(await scannedAfter(stats, 'instances_name_prefix_idx', inst)).toBe(true);
    expect(await scannedAfter(stats, 'vpcs_name_prefix_idx', vpc)).toBe(true);
  });

  it('the change log filtered by who reads cloud_events by actor_name', async () => {
    const { store, stats, flush } = await setup();
    const before = await indexScans(stats, 'cloud_events_actor_idx');
    const page = await store.changesPage({ filter: { actor: 'alice' }, limit: 10 });
    expect(page.events).toEqual([]);
    await flush();
    expect(await scannedAfter(stats, 'cloud_events_actor_idx', before)).toBe(true);
  });
});
