/**
 * At-least-once delivery: outages lose nothing, a claim is a lease (a dead deliverer's row is sent
 * later with the same idempotency key), the last attempt dead-letters, the loop wakes on NOTIFY,
 * and `deliverRuns` waits a bounded time.
 */
import { describe, expect, it } from 'vitest';
import type { AlertDispatcher } from '../../src/alerts/dispatcher.js';
import { createStore } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { channelConfig, type Receiver, startReceiver, testDispatcher } from '../helpers/receivers.js';
import { changedRun } from '../helpers/store.js';

// Registered after useTestDb's: vitest runs afterEach hooks in reverse ('stack'), so dispatchers
// and receivers close before the database is checked for leaks and dropped.
const db = useTestDb({ each: 'test', checkLeaks: true });
const defer = useCleanup();

async function setup(kinds: Receiver['kind'][] = ['webhook']) {
  const { pool } = await db();
  const store = createStore({ pool, log: silentLog });
  const receivers = await Promise.all(kinds.map((k) => startReceiver(k)));
  defer(() => Promise.all(receivers.map((r) => r.close())));
  return { pool, store, receivers, config: channelConfig(receivers) };
}

function track(d: AlertDispatcher): AlertDispatcher {
  defer(() => d.close());
  return d;
}

async function rows(pool: import('pg').Pool, runIds: string[]) {
  const res = await pool.query<{
    id: string;
    channel: string;
    status: string;
    attempts: number;
    last_error: string | null;
  }>(
    `SELECT id::text, channel, status, attempts, last_error FROM alert_outbox
      WHERE sync_run_id = ANY($1::bigint[]) ORDER BY created_at, channel`,
    [runIds],
  );
  return res.rows;
}

describe('alert delivery', () => {
  it('a receiver outage (503, then connection refused) loses nothing and sends no event under two ids', async () => {
    const { pool, store, receivers, config } = await setup(['webhook', 'wecom']);
    const [webhook, wecom] = receivers as [Receiver, Receiver];
    webhook.fail({ status: 503, body: 'Service Unavailable' }, 3);
    await wecom.stop();

    const dispatcher = track(testDispatcher(store, config, { maxAttempts: 1000, pollMs: 50 }));
    const loop = new AbortController();
    const running = dispatcher.run(loop.signal);

    const runs = [];
    for (let i = 0; i < 5; i++) {
      runs.push(await changedRun(store, ['webhook', 'wecom'], { after: [`i-${i}a`, `i-${i}b`] }));
    }
    // The webhook receiver refused the first three attempts; WeCom was unreachable until now.
    await webhook.waitFor(
      (r) => r.status === 503 && webhook.requests.filter((x) => x.status === 503).length === 3,
    );
    await expect
      .poll(async () => {
        const refused = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM alert_outbox
            WHERE channel = 'wecom' AND status = 'pending' AND last_error LIKE 'ECONNREFUSED%'`,
        );
        return refused.rows[0]?.n;
      })
      .toBeGreaterThan(0);
    await wecom.restart();

    const accepted = await Promise.all([webhook.waitForAccepted(5), wecom.waitForAccepted(5)]);
    loop.abort();
    await running;

    const outbox = await rows(
      pool,
      runs.map((r) => r.runId),
    );
    expect(outbox).toHaveLength(10);
    expect(outbox.every((r) => r.status === 'delivered')).toBe(true);
    for (const [receiver, got] of [
      [webhook, accepted[0]],
      [wecom, accepted[1]],
    ] as const) {
      // Every outbox row of the channel arrived, under its own id ...
      const ids = outbox.filter((r) => r.channel === receiver.kind).map((r) => r.id);
      expect(new Set(got.map((r) => r.idempotencyKey))).toEqual(new Set(ids));
      // ... each request for one id carried the same message (retries resend, never re-render) ...
      const bodies = new Map<string, Set<string>>();
      for (const r of receiver.requests) {
        const key = r.idempotencyKey ?? '';
        const content = receiver.kind === 'webhook' ? r.raw : JSON.stringify(r.json);
        bodies.set(key, (bodies.get(key) ?? new Set()).add(content));
      }
      expect([...bodies.values()].every((s) => s.size === 1)).toBe(true);
      // ... and no link event appears under two ids.
      const seen = new Map<string, string>();
      for (const r of receiver.accepted()) {
        for (const instance of r.raw.match(/i-\d[ab]/g) ?? []) {
          expect(seen.get(instance) ?? r.idempotencyKey).toBe(r.idempotencyKey);
          seen.set(instance, r.idempotencyKey ?? '');
        }
      }
      expect(seen.size).toBe(10);
    }
  });

  it('killed between claim and send: the row is due after the lease and sent with the same key', async () => {
    const { pool, store, receivers, config } = await setup(['webhook']);
    const webhook = receivers[0]!;
    const { runId } = await changedRun(store, ['webhook']);

    // A deliverer claims the row with a 30 s lease, then dies before sending.
    const claimedAt = new Date();
    const [claimed] = await store.claimOutbox({ limit: 10, leaseMs: 30_000, now: claimedAt });
    expect(claimed?.syncRunId).toBe(runId);
    const later = (ms: number) => () => new Date(claimedAt.getTime() + ms);
    // While its lease runs, nobody else can take it: a dispatcher 29 s later finds nothing due.
    const early = track(testDispatcher(store, config, { now: later(29_000) }));
    expect(await early.deliverDue()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(webhook.requests).toHaveLength(0);
    expect((await rows(pool, [runId]))[0]).toMatchObject({ status: 'delivering', attempts: 1 });

    // A new process after the lease (its clock 31 s on, well inside the receiver's 5-minute
    // timestamp window): delivers it, with the same idempotency key.
    const dispatcher = track(testDispatcher(store, config, { now: later(31_000) }));
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    const [req] = webhook.accepted();
    expect(req?.headers['webhook-id']).toBe(claimed?.id);
    expect(req?.idempotencyKey).toBe(claimed?.id);
    expect((await rows(pool, [runId]))[0]).toMatchObject({
      id: claimed?.id,
      status: 'delivered',
      attempts: 2,
    });
  });

  it('dead-letters after the last attempt: status dead, last error kept, counted, never sent again', async () => {
    const { pool, store, receivers, config } = await setup(['webhook']);
    const webhook = receivers[0]!;
    webhook.fail({ status: 503, body: 'upstream down' });
    const { runId } = await changedRun(store, ['webhook']);
    const dispatcher = track(testDispatcher(store, config, { maxAttempts: 3 }));

    // Poll the dispatcher (not the clock): each pass sends what is due after its 1-5 ms backoff.
    await expect
      .poll(async () => {
        await dispatcher.deliverDue();
        return (await rows(pool, [runId]))[0]?.status;
      })
      .toBe('dead');

    const [row] = await rows(pool, [runId]);
    expect(row).toMatchObject({ status: 'dead', attempts: 3 });
    expect(row?.last_error).toBe('HTTP_503: webhook answered HTTP 503: upstream down');
    expect(webhook.requests).toHaveLength(3);
    expect(new Set(webhook.requests.map((r) => r.idempotencyKey))).toEqual(new Set([row?.id]));
    const counts = await store.outboxCounts({ runIds: [runId] });
    expect(counts).toMatchObject({ pending: 0, delivering: 0, delivered: 0, dead: 1 });
    expect(counts.byChannel.webhook).toEqual({ pending: 0, delivering: 0, delivered: 0, dead: 1 });
    expect(await store.listOutbox({ status: 'dead', runIds: [runId] })).toHaveLength(1);

    webhook.clearFaults();
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(webhook.requests).toHaveLength(3);

    // An operator's retry after the outage: the same id, delivered.
    expect(await store.requeueDeadOutbox({ channel: 'webhook' })).toBe(1);
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(webhook.accepted().map((r) => r.idempotencyKey)).toEqual([row?.id]);
    expect(await store.requeueDeadOutbox({})).toBe(0);
  });

  it('run() wakes on the NOTIFY of an applied scan, not on its poll interval, and stops on abort', async () => {
    const { store, receivers, config } = await setup(['slack']);
    const slack = receivers[0]!;
    // A poll interval far beyond the test timeout: only a NOTIFY can wake the loop in time.
    const dispatcher = track(testDispatcher(store, config, { pollMs: 600_000 }));
    const loop = new AbortController();
    const running = dispatcher.run(loop.signal);
    // The loop LISTENs before its first pass; a row made before that is found by the pass.
    const first = await changedRun(store, ['slack']);
    await slack.waitFor((r) => r.accepted && r.raw.includes(`run ${first.runId}`));
    const second = await changedRun(store, ['slack']);
    await slack.waitFor((r) => r.accepted && r.raw.includes(`run ${second.runId}`));
    loop.abort();
    await running;
    expect(slack.accepted()).toHaveLength(2);
  });

  it('deliverRuns waits for retries within its bound, and leaves what is undelivered to the service', async () => {
    const { pool, store, receivers, config } = await setup(['webhook', 'lark']);
    const [webhook, lark] = receivers as [Receiver, Receiver];
    const other = await changedRun(store, ['webhook', 'lark']);
    const mine = await changedRun(store, ['webhook', 'lark']);

    // Two failures, then success: within the bound, deliverRuns retries and returns all delivered.
    webhook.fail({ status: 429, body: 'slow down', headers: { 'retry-after': '0' } }, 2);
    const dispatcher = track(testDispatcher(store, config, { maxAttempts: 10_000 }));
    expect(await dispatcher.deliverRuns([mine.runId], 30_000)).toEqual({ delivered: 2, pending: 0, dead: 0 });
    expect(webhook.requests.filter((r) => r.status === 429)).toHaveLength(2);
    // Only the runs asked for: the other run's rows stay for the service.
    expect((await rows(pool, [other.runId])).map((r) => r.status)).toEqual(['pending', 'pending']);

    // A receiver that stays down: deliverRuns returns at its bound with the rows still pending.
    lark.fail({ status: 502, body: 'Bad Gateway' });
    const started = Date.now();
    const result = await dispatcher.deliverRuns([other.runId], 300);
    const elapsed = Date.now() - started;
    expect(result).toEqual({ delivered: 1, pending: 1, dead: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(10_000);
    const left = await rows(pool, [other.runId]);
    expect(left.find((r) => r.channel === 'lark')).toMatchObject({ status: 'pending' });

    // The service's dispatcher delivers it once the receiver is back.
    lark.clearFaults();
    // (As many attempts allowed as deliverRuns had: its 300 ms of retries used more than the default 12.)
    const service = track(testDispatcher(store, config, { maxAttempts: 10_000 }));
    await expect
      .poll(async () => {
        await service.deliverDue();
        return (await rows(pool, [other.runId])).map((r) => r.status);
      })
      .toEqual(['delivered', 'delivered']);
  });

  it('close() is idempotent and ends a running loop', async () => {
    const { store, config } = await setup(['webhook']);
    const dispatcher = testDispatcher(store, config, { pollMs: 600_000 });
    const running = dispatcher.run(new AbortController().signal);
    const a = dispatcher.close();
    const b = dispatcher.close();
    expect(a).toBe(b);
    await a;
    await running;
  });
});
