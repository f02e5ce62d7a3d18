/**
 * EVENT_RETENTION: pruning removes old history in batches while every point-in-time answer after
 * the cutoff stays exactly what it was.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { startRetention } from '../../src/service.js';
import { createStore } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

async function setup() {
  const { pool } = await db();
  return { pool, store: createStore({ pool, log }) };
}

const keys = (rows: { vpcId: string; instanceId: string }[]) =>
  rows.map((r) => `${r.vpcId}/${r.instanceId}`).sort();

describe('pruneHistory', () => {
  it('keeps what links_at() needs after the cutoff, and drops the rest in batches', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    // i-1 linked throughout; i-2 linked then unlinked before the cutoff; i-3 flaps across it.
    await scan(store, t, ['i-1', 'i-2', 'i-3'], { minute: 0 }); // baseline
    await scan(store, t, ['i-1', 'i-3'], { minute: 10 }); // i-2 removed
    await scan(store, t, ['i-1'], { minute: 20 }); // i-3 removed
    await scan(store, t, ['i-1', 'i-3'], { minute: 30 }); // i-3 added again
    await scan(store, t, ['i-1'], { minute: 60 }); // i-3 removed, after the cutoff
    const cutoff = at(45);
    const probes = [at(45), at(50), at(61), at(90)];
    const before = await Promise.all(probes.map((p) => store.listLinks({ account: t.account, at: p })));
    const eventsBefore = await store.listEvents({ account: t.account });
    expect(eventsBefore).toHaveLength(7);

    const pruned = await store.pruneHistory({ olderThan: cutoff, batchSize: 2 });
    const after = await Promise.all(probes.map((p) => store.listLinks({ account: t.account, at: p })));
    expect(after.map(keys)).toEqual(before.map(keys));
    expect(after[0]?.map((r) => r.instanceId).sort()).toEqual(['i-1', 'i-3']);

    // Left before the cutoff: only the last 'added' of each link still linked at the cutoff.
    const left = await store.listEvents({ account: t.account, until: cutoff });
    expect(left.map((e) => `${e.change} ${e.instanceId}`).sort()).toEqual(['added i-1', 'added i-3']);
    expect(pruned.events).toBe(eventsBefore.length - (await store.listEvents({ account: t.account })).length);
    expect(pruned.events).toBe(4);
    // Runs no event refers to any more are gone, but not the target's last run.
    const runs = await pool.query('SELECT count(*)::int AS n FROM sync_runs WHERE account = $1', [t.account]);
    expect(runs.rows[0]?.n).toBeLessThan(5);
    expect(pruned.runs).toBe(5 - (runs.rows[0]?.n as number));
    const target = (await store.listTargets({ account: t.account }))[0];
    expect(await store.getRun(target?.lastRunId ?? '')).toBeDefined();

    // Idempotent: a second pass finds nothing.
    expect(await store.pruneHistory({ olderThan: cutoff })).toEqual({
      events: 0,
      outbox: 0,
      runs: 0,
      cloudEvents: 0,
    });
  });

  it('never prunes pending alerts', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    await scan(store, t, ['i-2'], { minute: 5, channels: ['webhook'] });
    await store.pruneHistory({ olderThan: new Date('2100-01-01T00:00:00Z') });
    const outbox = await pool.query(
      'SELECT o.status FROM alert_outbox o JOIN sync_runs r ON r.id = o.sync_run_id WHERE r.account = $1',
      [t.account],
    );
    expect(outbox.rows).toEqual([{ status: 'pending' }]);
  });

  it('the retention loop prunes with its cutoff and stops cleanly', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    await scan(store, t, [], { minute: 10 });
    const seen: Date[] = [];
    const loop = startRetention({
      store: {
        pruneHistory: async (input) => {
          seen.push(input.olderThan);
          return store.pruneHistory(input);
        },
      },
      retainMs: 60 * 60_000,
      log,
      now: () => at(24 * 60),
    });
    await expect.poll(() => seen.length).toBe(1);
    await loop.stop();
    expect(seen[0]).toEqual(at(23 * 60));
    expect(await store.listEvents({ account: t.account })).toEqual([]);
  });
});
