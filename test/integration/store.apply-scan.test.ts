import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../src/errors.js';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { type ChangesAlertPayload, type ChangesNotification, createStore } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { linkEvents } from '../helpers/rows.js';
import { appliesRacingOnTheLock, scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

async function setup(opts: { notifyChannel?: string; max?: number } = {}) {
  const { pool, url } = await db();
  // A pool of its own when a test needs to know which backend ran the writes (pg_stat).
  const storePool = opts.max === undefined ? pool : new pg.Pool({ connectionString: url, max: opts.max });
  const store = createStore({ pool: storePool, log, notifyChannel: opts.notifyChannel });
  return { pool, storePool, store };
}

/** The target's events without their ids and VPC (one VPC per test target). */
async function events(pool: pg.Pool, t: TargetRef) {
  const rows = await linkEvents(pool, { account: t.account });
  return rows.map(({ instance_id, change, baseline, sync_run_id }) => ({
    instance_id,
    change,
    baseline,
    sync_run_id,
  }));
}

async function outbox(pool: pg.Pool, runId: string) {
  const { rows } = await pool.query<{
    channel: string;
    kind: string;
    status: string;
    payload: ChangesAlertPayload;
  }>(`SELECT channel, kind, status, payload FROM alert_outbox WHERE sync_run_id = $1 ORDER BY channel`, [
    runId,
  ]);
  return rows;
}

/** Every classic_links row of the account with its physical identity: a rewrite changes xmin/ctid. */
async function linkRowVersions(pool: pg.Pool, t: TargetRef) {
  const { rows } = await pool.query<{ v: string }>(
    `SELECT instance_id || ' ' || xmin::text || ' ' || ctid::text AS v FROM classic_links
      WHERE account = $1 ORDER BY instance_id`,
    [t.account],
  );
  return rows.map((r) => r.v);
}

/** Waits for the next NOTIFY on `channel` (resolves on the event, no timers). */
async function listen(url: string, channel: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const queue: ChangesNotification[] = [];
  const waiters: ((n: ChangesNotification) => void)[] = [];
  client.on('notification', (msg) => {
    if (msg.channel !== channel || msg.payload === undefined) return;
    const n = JSON.parse(msg.payload) as ChangesNotification;
    const w = waiters.shift();
    if (w) w(n);
    else queue.push(n);
  });
  await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
  return {
    next: () =>
      new Promise<ChangesNotification>((resolve) => {
        const n = queue.shift();
        if (n) resolve(n);
        else waiters.push(resolve);
      }),
    close: () => client.end(),
  };
}

describe('store.applyScan', () => {
  it('records a baseline: events flagged, links inserted, no outbox row', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    const { runId, result } = await scan(store, t, ['i-2', 'i-1'], { minute: 0, channels: ['webhook'] });

    expect(result).toEqual({
      outcome: 'applied',
      baseline: true,
      added: [
        { vpcId: 'vpc-1', instanceId: 'i-1' },
        { vpcId: 'vpc-1', instanceId: 'i-2' },
      ],
      removed: [],
    });
    expect(await events(pool, t)).toEqual([
      { instance_id: 'i-1', change: 'added', baseline: true, sync_run_id: runId },
      { instance_id: 'i-2', change: 'added', baseline: true, sync_run_id: runId },
    ]);
    expect(await outbox(pool, runId)).toEqual([]);
    expect(await store.activeLinks(t)).toEqual([
      { vpcId: 'vpc-1', instanceId: 'i-1' },
      { vpcId: 'vpc-1', instanceId: 'i-2' },
    ]);

    const run = await store.getRun(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      baseline: true,
      added: 2,
      removed: 0,
      linksSeen: 2,
      pages: 1,
      requestId: 'req-0',
      scanStartedAt: at(0),
      finishedAt: new Date(at(0).getTime() + 30_000),
    });
    const [target] = await store.listTargets({ account: t.account });
    expect(target).toMatchObject({
      consecutiveFailures: 0,
      lastAppliedScanStartedAt: at(0),
      lastRunId: runId,
      activeLinks: 2,
      retiredAt: null,
    });
  });

  it('alerts on a baseline when asked to', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    const { runId } = await scan(store, t, ['i-1'], {
      minute: 0,
      channels: ['webhook'],
      alertOnBaseline: true,
    });
    const rows = await outbox(pool, runId);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.payload).toMatchObject({ baseline: true, addedCount: 1, removedCount: 0 });
  });

  it('records an attach and a detach: exact events, one outbox row per channel, a NOTIFY', async () => {
    const channel = `cl_test_${Math.random().toString(36).slice(2, 10)}`;
    const { pool, store } = await setup({ notifyChannel: channel });
    const { url } = await db();
    const listener = await listen(url, channel);
    try {
      const t = uniqueTarget();
      const base = await scan(store, t, ['i-1', 'i-2'], { minute: 0, channels: ['slack', 'webhook'] });
      expect(await listener.next()).toMatchObject({
        runId: base.runId,
        baseline: true,
        added: 2,
        removed: 0,
      });

      const { runId, result } = await scan(store, t, ['i-2', 'i-3'], {
        minute: 5,
        channels: ['webhook', 'slack'],
      });
      expect(result).toEqual({
        outcome: 'applied',
        baseline: false,
        added: [{ vpcId: 'vpc-1', instanceId: 'i-3' }],
        removed: [{ vpcId: 'vpc-1', instanceId: 'i-1' }],
      });
      expect((await events(pool, t)).filter((e) => e.sync_run_id === runId)).toEqual([
        { instance_id: 'i-3', change: 'added', baseline: false, sync_run_id: runId },
        { instance_id: 'i-1', change: 'removed', baseline: false, sync_run_id: runId },
      ]);

      const rows = await outbox(pool, runId);
      expect(rows.map((r) => [r.channel, r.kind, r.status])).toEqual([
        ['slack', 'changes', 'pending'],
        ['webhook', 'changes', 'pending'],
      ]);
      const detectedAt = new Date(at(5).getTime() + 30_000).toISOString();
      expect(rows[0]?.payload).toEqual({
        runId,
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        detectedAt,
        baseline: false,
        added: [{ instanceId: 'i-3', vpcId: 'vpc-1' }],
        removed: [{ instanceId: 'i-1', vpcId: 'vpc-1' }],
        addedCount: 1,
        removedCount: 1,
      });

      expect(await listener.next()).toEqual({
        runId,
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        baseline: false,
        added: 1,
        removed: 1,
      });

      const { rows: links } = await pool.query(
        `SELECT instance_id, removed_at FROM classic_links WHERE account = $1 ORDER BY instance_id`,
        [t.account],
      );
      expect(links).toEqual([
        { instance_id: 'i-1', removed_at: new Date(detectedAt) },
        { instance_id: 'i-2', removed_at: null },
        { instance_id: 'i-3', removed_at: null },
      ]);
    } finally {
      await listener.close();
    }
  });

  it('an unchanged rescan writes no classic_links row, no event, no outbox row and no NOTIFY', async () => {
    const channel = `cl_test_${Math.random().toString(36).slice(2, 10)}`;
    // One connection: the pg_stat counters below are those of the backend that ran the scans.
    const { pool, storePool, store } = await setup({ notifyChannel: channel, max: 1 });
    const { url } = await db();
    const listener = await listen(url, channel);
    try {
      const t = uniqueTarget();
      await scan(store, t, ['i-1', 'i-2'], { minute: 0, channels: ['webhook'] });
      await scan(store, t, ['i-1', 'i-2', 'i-3'], { minute: 1, channels: ['webhook'] });
      await listener.next();
      await listener.next();

      const writes = async () => {
        // Flushes this backend's pending table counters at the end of this statement's transaction
        // (PG15), so the next statement reads them without waiting for the periodic flush.
        await storePool.query('SELECT pg_stat_force_next_flush()');
        const { rows } = await storePool.query<{ n: string }>(
          `SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables WHERE relname = 'classic_links'`,
        );
        return Number(rows[0]?.n);
      };
      const versionsBefore = await linkRowVersions(pool, t);
      const eventsBefore = await events(pool, t);
      const writesBefore = await writes();

      const { runId, result } = await scan(store, t, ['i-3', 'i-2', 'i-1'], {
        minute: 2,
        channels: ['webhook'],
      });
      expect(result).toEqual({ outcome: 'applied', baseline: false, added: [], removed: [] });

      expect(await writes()).toBe(writesBefore);
      expect(await linkRowVersions(pool, t)).toEqual(versionsBefore);
      expect(await events(pool, t)).toEqual(eventsBefore);
      expect(await outbox(pool, runId)).toEqual([]);
      expect(await store.getRun(runId)).toMatchObject({
        status: 'succeeded',
        added: 0,
        removed: 0,
        linksSeen: 3,
      });
      const [target] = await store.listTargets({ account: t.account });
      expect(target).toMatchObject({ lastRunId: runId, lastAppliedScanStartedAt: at(2) });

      // NOTIFYs arrive in commit order: the next one is the following change, not the no-op.
      const next = await scan(store, t, ['i-1'], { minute: 3 });
      expect((await listener.next()).runId).toBe(next.runId);
    } finally {
      await listener.close();
      await storePool.end();
    }
  });

  it('reactivates a re-added link: same row, first_seen_at kept, a new added event', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    await scan(store, t, [], { minute: 10 });
    expect(await store.activeLinks(t)).toEqual([]);
    await scan(store, t, ['i-1'], { minute: 20 });

    const { rows } = await pool.query(
      `SELECT first_seen_at, removed_at, updated_at FROM classic_links WHERE account = $1`,
      [t.account],
    );
    expect(rows).toEqual([
      {
        first_seen_at: new Date(at(0).getTime() + 30_000),
        removed_at: null,
        updated_at: new Date(at(20).getTime() + 30_000),
      },
    ]);
    expect((await events(pool, t)).map((e) => e.change)).toEqual(['added', 'removed', 'added']);
    expect(await store.listLinks({ account: t.account })).toEqual([
      {
        account: t.account,
        regionId: t.regionId,
        vpcId: t.vpcId,
        instanceId: 'i-1',
        firstSeenAt: new Date(at(0).getTime() + 30_000),
        linkedSince: new Date(at(20).getTime() + 30_000),
        baseline: false,
      },
    ]);
  });

  it('refuses an unconfirmed removal with RetryableError RemovalNotConfirmed and applies nothing', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1', 'i-2', 'i-3'], { minute: 0 });
    const eventsBefore = await events(pool, t);
    const runId = await store.startRun({ target: t, jobId: 'j', attempt: 1, startedAt: at(5) });

    // i-2 and i-3 are gone from the scan, but only i-3 was confirmed by lookup; i-4 is new.
    const err = await scan(store, t, ['i-1', 'i-4'], { minute: 5, runId, confirm: ['vpc-1/i-3'] }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ code: 'RemovalNotConfirmed' });
    expect(String(err.message)).toContain('vpc-1/i-2');

    expect(await events(pool, t)).toEqual(eventsBefore);
    expect((await store.activeLinks(t)).map((l) => l.instanceId)).toEqual(['i-1', 'i-2', 'i-3']);
    expect(await store.getRun(runId)).toMatchObject({ status: 'running', finishedAt: null });
    const [target] = await store.listTargets({ account: t.account });
    expect(target?.lastAppliedScanStartedAt).toEqual(at(0));

    // The caller rescans and confirms both: the same run now applies.
    const again = await scan(store, t, ['i-1', 'i-4'], {
      minute: 5,
      runId,
      confirm: ['vpc-1/i-2', 'vpc-1/i-3'],
    });
    expect(again.result).toMatchObject({
      outcome: 'applied',
      removed: [{ instanceId: 'i-2' }, { instanceId: 'i-3' }],
    });
  });

  it('applies a run once: a second applyScan of the same run is already-finished, no duplicate events', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    const first = await scan(store, t, ['i-1', 'i-2'], { minute: 5, channels: ['webhook'] });
    expect(first.result.outcome).toBe('applied');
    const second = await scan(store, t, ['i-1', 'i-2'], {
      minute: 5,
      runId: first.runId,
      channels: ['webhook'],
    });
    expect(second.result).toEqual({ outcome: 'already-finished', status: 'succeeded' });
    // A scan by a retried job that saw something else still applies nothing for this run.
    const third = await scan(store, t, ['i-9'], {
      minute: 6,
      runId: first.runId,
      confirm: ['vpc-1/i-1', 'vpc-1/i-2'],
    });
    expect(third.result).toEqual({ outcome: 'already-finished', status: 'succeeded' });

    expect((await events(pool, t)).filter((e) => e.sync_run_id === first.runId)).toHaveLength(1);
    expect(await outbox(pool, first.runId)).toHaveLength(1);
    expect((await store.activeLinks(t)).map((l) => l.instanceId)).toEqual(['i-1', 'i-2']);
  });

  it('supersedes a scan that started before the last applied one; nothing changes', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    // The older scan's run starts first but is applied after the newer one.
    const older = await store.startRun({ target: t, jobId: 'old', attempt: 1, startedAt: at(5) });
    await scan(store, t, ['i-1', 'i-2'], { minute: 10 });
    const eventsBefore = await events(pool, t);

    const { result } = await scan(store, t, [], { minute: 5, runId: older, channels: ['webhook'] });
    expect(result).toEqual({ outcome: 'superseded' });
    expect(await store.getRun(older)).toMatchObject({ status: 'superseded', added: null, removed: null });
    expect(await events(pool, t)).toEqual(eventsBefore);
    expect(await outbox(pool, older)).toEqual([]);
    expect((await store.activeLinks(t)).map((l) => l.instanceId)).toEqual(['i-1', 'i-2']);
    const [target] = await store.listTargets({ account: t.account });
    expect(target?.lastAppliedScanStartedAt).toEqual(at(10));

    // A scan that started at the same instant as the applied one is not newer either.
    const same = await scan(store, t, [], { minute: 10 });
    expect(same.result).toEqual({ outcome: 'superseded' });
  });

  it('rejects links of another VPC and an unknown run as fatal', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    const runId = await store.startRun({ target: t, jobId: 'j', attempt: 1, startedAt: at(0) });
    const base = {
      runId,
      target: t,
      scanStartedAt: at(0),
      pages: 1,
      confirmedRemovals: new Set<string>(),
      channels: [],
      alertOnBaseline: false,
      detectedAt: at(1),
    };
    await expect(
      store.applyScan({ ...base, links: [{ vpcId: 'vpc-other', instanceId: 'i-1' }] }),
    ).rejects.toMatchObject({
      name: 'FatalError',
      code: 'LinkOutsideTarget',
    });
    await expect(store.applyScan({ ...base, runId: '987654321', links: [] })).rejects.toMatchObject({
      name: 'FatalError',
      code: 'RunNotFound',
    });
    await expect(
      store.applyScan({ ...base, target: { ...t, vpcId: 'vpc-2' }, links: [] }),
    ).rejects.toMatchObject({ name: 'FatalError', code: 'RunTargetMismatch' });
  });

  it('serialises concurrent applies of one target on the advisory lock', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });

    // Hold the target's lock from another connection, start two applies, see both wait for it.
    const results = await appliesRacingOnTheLock(store, t, pool, pool);

    // Whichever went first added i-2; the other either found nothing to do (newer scan) or was
    // superseded (older scan). Never two 'added' events, never a ConcurrentChange.
    const outcomes = results.map((r) => r.result);
    const added = outcomes.filter((r) => r.outcome === 'applied' && r.added.length === 1);
    expect(added).toHaveLength(1);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM link_events WHERE account = $1 AND instance_id = 'i-2'`,
      [t.account],
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('keeps exactly one added event when many applies of one target race', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, [], { minute: 0 });
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.startRun({ target: t, jobId: `j${i}`, attempt: 1, startedAt: at(1 + i) }),
      ),
    );
    const results = await Promise.all(
      runs.map((runId, i) =>
        scan(store, t, ['i-1', 'i-2', 'i-3'], { minute: 1 + i, runId, channels: ['webhook'] }),
      ),
    );
    const changed = results.filter((r) => r.result.outcome === 'applied' && r.result.added.length > 0);
    expect(changed).toHaveLength(1);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM link_events WHERE account = $1`,
      [t.account],
    );
    expect(rows[0]?.n).toBe(3);
    const { rows: ob } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM alert_outbox o JOIN sync_runs r ON r.id = o.sync_run_id WHERE r.account = $1`,
      [t.account],
    );
    expect(ob[0]?.n).toBe(1);
    for (const r of results) expect(['applied', 'superseded']).toContain(r.result.outcome);
  });
});
