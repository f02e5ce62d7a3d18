/**
 * The fleet-wide API limiter on both queue backends' stores — the machine's Redis, and the queue
 * schema of a Postgres database (QUEUE_BACKEND=postgres): two limiter instances on two backends
 * (two connections) stand for two worker processes sharing one key. Every admission time is
 * recorded; the assertions are about those timestamps (no window of one second ever holds more
 * than the cap, and the cap is nearly reached), with bounded counts so each test takes a few
 * seconds.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxInWindow } from '../../bench/lib.js';
import {
  type ApiLimiter,
  createFleetLimiter,
  LIMITER_WINDOW_MS,
  type LimitKey,
} from '../../src/aliyun/limiter.js';
import { createLogger } from '../../src/log.js';
import {
  migrateQueueSchema,
  openQueueBackend,
  type QueueBackend,
  type QueueBackendKind,
  queuePrefix,
  queueSchema,
} from '../../src/queue/index.js';
import { adminUrl } from '../helpers/db.js';
import { REDIS_URL } from '../helpers/queue-backend.js';

const QPS = 10;
const KEY: LimitKey = { api: 'ecs', regionId: 'cn-hangzhou', action: 'DescribeClassicLinkInstances' };
const log = createLogger({ level: 'silent' });

/** `workers` concurrent callers per limiter, `total` admissions overall; returns admission times. */
async function drive(
  limiters: readonly ApiLimiter[],
  total: number,
  workers: number,
  key = KEY,
): Promise<number[]> {
  const times: number[] = [];
  let left = total;
  const loops = limiters.flatMap((l) =>
    Array.from({ length: workers }, async () => {
      while (left > 0) {
        left--;
        const admission = await l.acquire(key);
        admission.sending();
        times.push(Date.now());
      }
    }),
  );
  await Promise.all(loops);
  return times;
}

describe.each(['redis', 'postgres'] as const)('createFleetLimiter on %s', (kind: QueueBackendKind) => {
  let backends: QueueBackend[] = [];
  const prefix = `test-limiter-${randomUUID()}`;

  beforeAll(async () => {
    const spec =
      kind === 'redis'
        ? ({ kind, redis: { REDIS_URL }, prefix } as const)
        : ({ kind, databaseUrl: adminUrl(), prefix } as const);
    if (kind === 'postgres') await migrateQueueSchema(adminUrl(), prefix);
    backends = [openQueueBackend(spec, log), openQueueBackend(spec, log)];
  });

  afterAll(async () => {
    const store = backends[0]?.limiterStore();
    if (store?.kind === 'redis') {
      const keys = await store.redis.keys(`${queuePrefix(prefix)}*`);
      if (keys.length > 0) await store.redis.del(...keys);
    }
    await Promise.all(backends.map((b) => b.close()));
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: adminUrl() });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${queueSchema(prefix)}" CASCADE`);
      await client.end();
    }
  });

  /** Two "processes": one limiter per backend, same account and prefix. */
  function fleet(qps = QPS): ApiLimiter[] {
    return backends.map((b) => createFleetLimiter({ store: b.limiterStore(), account: 'acct', qps }));
  }

  it('never admits more than the cap in any one-second window across two processes, and reaches ≥ 95 % of it', async () => {
    const limiters = fleet();
    const total = 4 * QPS;
    const times = await drive(limiters, total, 4);
    expect(times).toHaveLength(total);
    expect(maxInWindow(times, 1_000)).toBeLessThanOrEqual(QPS);
    // The margin is real: even a 1,020 ms window never holds more than the cap.
    expect(maxInWindow(times, LIMITER_WINDOW_MS - 5)).toBeLessThanOrEqual(QPS);
    // The floor: with at most QPS calls per second, the last call starts no earlier than
    // (total − QPS) / QPS seconds after the first. Reaching ≥ 95 % of the cap = within 1/0.95 of it.
    const span = Math.max(...times) - Math.min(...times);
    const floorMs = ((total - QPS) / QPS) * 1_000;
    expect(span).toBeGreaterThanOrEqual(floorMs);
    expect(floorMs / span).toBeGreaterThanOrEqual(0.95);
  }, 20_000);

  it('keeps keys apart: one region out of budget does not slow another', async () => {
    const [a, b] = fleet();
    if (!a || !b) throw new Error('two limiters');
    const busy: LimitKey = { api: 'ecs', regionId: 'cn-beijing', action: 'DescribeClassicLinkInstances' };
    await drive([a], QPS, 2, busy); // spends the whole window of cn-beijing
    const started = Date.now();
    await drive([b], QPS, 2, {
      api: 'ecs' as const,
      regionId: 'cn-shanghai',
      action: 'DescribeClassicLinkInstances',
    });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('keeps APIs apart: a call to ActionTrail never waits for the ECS budget of its region', async () => {
    const [a, b] = fleet();
    if (!a || !b) throw new Error('two limiters');
    const ecs: LimitKey = { api: 'ecs', regionId: 'cn-hongkong', action: 'LookupEvents' };
    await drive([a], QPS, 2, ecs); // spends the whole window of the ECS key
    const started = Date.now();
    await drive([b], QPS, 2, { ...ecs, api: 'actiontrail' });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('throttled() makes every process wait about a window before its next call', async () => {
    const [a, b] = fleet();
    if (!a || !b) throw new Error('two limiters');
    const key: LimitKey = { api: 'ecs', regionId: 'cn-shenzhen', action: 'DescribeClassicLinkInstances' };
    await a.acquire(key);
    const throttledAt = Date.now();
    await a.throttled(key);
    const times = await drive([b], QPS, 2, key);
    // Nothing started within most of a window after the throttle, and the cap still holds after.
    expect(Math.min(...times) - throttledAt).toBeGreaterThanOrEqual(LIMITER_WINDOW_MS - 100);
    expect(maxInWindow([throttledAt, ...times], 1_000)).toBeLessThanOrEqual(QPS);
  }, 10_000);

  it("restarts a lane's window when the call is sent, not when it was admitted", async () => {
    // One lane (cap 1): a call admitted now but sent 300 ms later closes the lane for a window
    // from the send. Restarting from the admission would reopen it 300 ms too early — a second
    // call could then reach the API less than a second after the first.
    const [a, b] = fleet(1);
    if (!a || !b) throw new Error('two limiters');
    const key: LimitKey = { api: 'ecs', regionId: 'cn-wulanchabu', action: 'DescribeClassicLinkInstances' };
    const first = await a.acquire(key);
    await new Promise((r) => setTimeout(r, 300));
    const sentAt = Date.now();
    first.sending();
    await b.acquire(key);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(LIMITER_WINDOW_MS - 5);
  }, 10_000);

  it('an aborted wait rejects and does not hang', async () => {
    const [a] = fleet(1);
    if (!a) throw new Error('limiter');
    const key: LimitKey = { api: 'ecs', regionId: 'cn-qingdao', action: 'DescribeClassicLinkInstances' };
    await a.acquire(key);
    const ctl = new AbortController();
    const waiting = a.acquire(key, ctl.signal);
    ctl.abort();
    await expect(waiting).rejects.toThrow();
  });
});
