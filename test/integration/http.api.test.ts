/**
 * The read-only JSON API and /metrics over real HTTP, on rows written the way sync writes them
 * (`startRun` + `applyScan` through the store fixtures): filters, `at`, cursor walks, 400s, and
 * the scrape-time gauges reading the database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelName } from '../../src/alerts/index.js';
import { createHttpServer } from '../../src/http/server.js';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, type Metrics, storeCollectors } from '../../src/metrics.js';
import { createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });
const TOKEN = 'api-test-token-0123456789';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

interface LinkJson {
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  linkedSince: string;
  firstSeenAt: string | null;
}
interface EventJson {
  id: string;
  vpcId: string;
  instanceId: string;
  change: 'added' | 'removed';
  detectedAt: string;
  baseline: boolean;
}
interface TargetJson {
  regionId: string;
  vpcId: string;
  activeLinks: number;
  secondsSinceSuccess: number | null;
  stale: boolean;
}
interface Page {
  nextCursor: string | null;
}

async function setup(
  opts: { staleAfterMs?: number; metrics?: (store: Store, account: string) => Metrics } = {},
) {
  const { pool } = await db();
  const store = createStore({ pool, log });
  const a = uniqueTarget('vpc-a');
  const b: TargetRef = { ...a, vpcId: 'vpc-b' };
  const metrics = opts.metrics?.(store, a.account) ?? createMetrics({ log, processMetrics: false });
  const server = createHttpServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    log,
    metrics,
    ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
    store,
    account: a.account,
    staleAfterMs: opts.staleAfterMs ?? 3_600_000,
    now: () => at(60),
  });
  closers.push(() => server.close());
  const { url } = await server.listen();
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, body: (await res.json()) as T };
  };
  return { store, a, b, get, metrics, url };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `i-${from + i}`);

/**
 * vpc-a: i-1..i-5 at minute 0, then at minute 10 i-3..i-5 removed and i-8 added.
 * vpc-b: i-6, i-7 at minute 0. Every run's events share one detection instant.
 */
async function history(store: Store, a: TargetRef, b: TargetRef, channels: ChannelName[] = []) {
  await scan(store, a, range(1, 5), { minute: 0 });
  await scan(store, b, range(6, 7), { minute: 0 });
  await scan(store, a, ['i-1', 'i-2', 'i-8'], { minute: 10, channels });
}

/** Follows nextCursor from `path` to the end; returns every page's items. */
async function walk<T>(
  get: <R>(p: string) => Promise<{ status: number; body: R }>,
  path: string,
  items: (body: Page & Record<string, unknown>) => T[],
): Promise<{ pages: T[][]; all: T[] }> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: { status: number; body: Page & Record<string, unknown> } = await get(
      cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`,
    );
    expect(res.status).toBe(200);
    pages.push(items(res.body));
    cursor = res.body.nextCursor;
    expect(pages.length).toBeLessThan(1_000);
  } while (cursor !== null);
  return { pages, all: pages.flat() };
}

describe('GET /v1/links', () => {
  it('answers the links now, with the region and VPC filters', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    const now = await get<{ account: string; at: null; links: LinkJson[] } & Page>('/v1/links');
    expect(now.status).toBe(200);
    expect(now.body.account).toBe(a.account);
    expect(now.body.at).toBeNull();
    expect(now.body.links.map((l) => `${l.vpcId}/${l.instanceId}`)).toEqual([
      'vpc-a/i-1',
      'vpc-a/i-2',
      'vpc-a/i-8',
      'vpc-b/i-6',
      'vpc-b/i-7',
    ]);
    expect(now.body.nextCursor).toBeNull();
    expect(now.body.links[0]?.firstSeenAt).toBe(new Date(at(0).getTime() + 30_000).toISOString());

    const vpcB = await get<{ links: LinkJson[] }>('/v1/links?vpc=vpc-b');
    expect(vpcB.body.links.map((l) => l.instanceId)).toEqual(['i-6', 'i-7']);
    const region = await get<{ links: LinkJson[] }>('/v1/links?region=cn-hangzhou&vpc=vpc-a');
    expect(region.body.links.map((l) => l.instanceId)).toEqual(['i-1', 'i-2', 'i-8']);
    const elsewhere = await get<{ links: LinkJson[] }>('/v1/links?region=cn-shanghai');
    expect(elsewhere.body.links).toEqual([]);
  });

  it('answers the links as they were at `at`', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    const before = await get<{ at: string; links: LinkJson[] }>(`/v1/links?at=${at(5).toISOString()}`);
    expect(before.status).toBe(200);
    expect(before.body.at).toBe(at(5).toISOString());
    expect(before.body.links.map((l) => l.instanceId)).toEqual([...range(1, 5), 'i-6', 'i-7']);
    const ancient = await get<{ links: LinkJson[] }>('/v1/links?at=2024-01-01');
    expect(ancient.body.links).toEqual([]);
    const atB = await get<{ links: LinkJson[] }>(
      `/v1/links?vpc=vpc-a&at=${encodeURIComponent('2025-01-01T00:05:00+00:00')}`,
    );
    expect(atB.body.links.map((l) => l.instanceId)).toEqual(range(1, 5));
  });

  it('pages with limit and a cursor that walks every link exactly once', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    const expected = ['i-1', 'i-2', 'i-8', 'i-6', 'i-7'];
    for (const limit of [1, 2, 3, 5]) {
      const { pages, all } = await walk<LinkJson>(
        get,
        `/v1/links?limit=${limit}`,
        (b) => b.links as LinkJson[],
      );
      expect(all.map((l) => l.instanceId)).toEqual(expected);
      expect(pages.length).toBe(Math.ceil(expected.length / limit));
    }
    const past = await walk<LinkJson>(
      get,
      `/v1/links?limit=2&at=${at(5).toISOString()}`,
      (b) => b.links as LinkJson[],
    );
    expect(past.all.map((l) => l.instanceId)).toEqual([...range(1, 5), 'i-6', 'i-7']);
  });
});

describe('GET /v1/events', () => {
  it('answers the change log oldest first, with the CLI filters', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    const all = await get<{ events: EventJson[] } & Page>('/v1/events');
    expect(all.status).toBe(200);
    expect(all.body.events).toHaveLength(11);
    expect(all.body.events.filter((e) => e.change === 'removed').map((e) => e.instanceId)).toEqual([
      'i-3',
      'i-4',
      'i-5',
    ]);
    const since = await get<{ events: EventJson[] }>(`/v1/events?since=${at(5).toISOString()}`);
    expect(since.body.events.map((e) => `${e.change} ${e.instanceId}`).sort()).toEqual([
      'added i-8',
      'removed i-3',
      'removed i-4',
      'removed i-5',
    ]);
    // psql's timestamptz form, pasted as is (URL-encoded): the same instant.
    const psql = encodeURIComponent(at(5).toISOString().replace('T', ' ').replace('Z', '+00'));
    const sincePsql = await get<{ events: EventJson[] }>(`/v1/events?since=${psql}`);
    expect(sincePsql.status).toBe(200);
    expect(sincePsql.body.events).toEqual(since.body.events);
    const until = await get<{ events: EventJson[] }>(`/v1/events?until=${at(5).toISOString()}`);
    expect(until.body.events).toHaveLength(7);
    expect(until.body.events.every((e) => e.baseline)).toBe(true);
    const one = await get<{ events: EventJson[] }>('/v1/events?instance=i-3');
    expect(one.body.events.map((e) => e.change)).toEqual(['added', 'removed']);
    const vpcB = await get<{ events: EventJson[] }>('/v1/events?region=cn-hangzhou&vpc=vpc-b');
    expect(vpcB.body.events.map((e) => e.instanceId)).toEqual(['i-6', 'i-7']);
    const limited = await get<{ events: EventJson[] } & Page>('/v1/events?limit=3');
    expect(limited.body.events).toEqual(all.body.events.slice(0, 3));
    expect(limited.body.nextCursor).toEqual(expect.any(String));
  });

  it('walks every event exactly once, even when a page ends inside one instant', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    // 40 more events at one instant: pages must split them without losing or repeating any.
    await scan(store, { ...a, vpcId: 'vpc-c' }, range(100, 139), { minute: 20 });
    const full = await get<{ events: EventJson[] } & Page>('/v1/events?limit=1000');
    expect(full.body.events).toHaveLength(51);
    expect(full.body.nextCursor).toBeNull();
    const ids = full.body.events.map((e) => e.id);
    for (const limit of [1, 3, 7, 50, 51]) {
      const { all } = await walk<EventJson>(get, `/v1/events?limit=${limit}`, (b) => b.events as EventJson[]);
      expect(all.map((e) => e.id)).toEqual(ids);
    }
    const filtered = await walk<EventJson>(
      get,
      `/v1/events?vpc=vpc-c&limit=4&since=${at(20).toISOString()}`,
      (b) => b.events as EventJson[],
    );
    expect(filtered.all.map((e) => e.instanceId)).toEqual(range(100, 139));
  });
});

describe('GET /v1/status', () => {
  it('answers every target with its state and age, paginated', async () => {
    const { store, a, b, get } = await setup({ staleAfterMs: 3_000_000 });
    await history(store, a, b);
    const res = await get<{ staleAfterMs: number; targets: TargetJson[] } & Page>('/v1/status');
    expect(res.status).toBe(200);
    expect(res.body.staleAfterMs).toBe(3_000_000);
    expect(res.body.targets).toMatchObject([
      // now = minute 60; vpc-a last succeeded at minute 10:30, vpc-b at 0:30.
      { vpcId: 'vpc-a', activeLinks: 3, secondsSinceSuccess: 2_970, stale: false },
      { vpcId: 'vpc-b', activeLinks: 2, secondsSinceSuccess: 3_570, stale: true },
    ]);
    const { pages, all } = await walk<TargetJson>(
      get,
      '/v1/status?limit=1',
      (b) => b.targets as TargetJson[],
    );
    expect(pages).toHaveLength(2);
    expect(all.map((t) => t.vpcId)).toEqual(['vpc-a', 'vpc-b']);
  });

  it('a target whose last run failed is failing; a success after a failure leaves the error as old', async () => {
    const { store, a, b, get } = await setup({ staleAfterMs: 3_000_000 });
    await history(store, a, b);
    const fail = async (target: TargetRef, minute: number) => {
      const runId = await store.startRun({
        target,
        jobId: `fail-${minute}`,
        attempt: 1,
        startedAt: at(minute),
      });
      await store.failRun({
        runId,
        target,
        code: 'Forbidden.RAM',
        message: 'not authorized',
        requestId: `req-fail-${minute}`,
        finishedAt: at(minute),
      });
    };
    // vpc-a succeeded at minute 10:30, then failed at 20: failing, though not stale.
    await fail(a, 20);
    // vpc-b failed at minute 0:10… then succeeded at 40:30: ok, its error an old one.
    await fail(b, 0.1);
    await scan(store, b, ['i-6', 'i-7'], { minute: 40 });
    type Row = TargetJson & {
      state: string;
      consecutiveFailures: number;
      lastErrorBeforeLastSuccess: boolean;
    };
    const res = await get<{ targets: Row[] }>('/v1/status');
    expect(res.status).toBe(200);
    expect(res.body.targets).toMatchObject([
      {
        vpcId: 'vpc-a',
        state: 'failing',
        stale: false,
        consecutiveFailures: 1,
        lastErrorCode: 'Forbidden.RAM',
        lastErrorBeforeLastSuccess: false,
      },
      {
        vpcId: 'vpc-b',
        state: 'ok',
        stale: false,
        consecutiveFailures: 0,
        lastErrorCode: 'Forbidden.RAM',
        lastFailureAt: at(0.1).toISOString(),
        lastErrorBeforeLastSuccess: true,
      },
    ]);
  });
});

describe('bad query parameters', () => {
  it.each([
    ['/v1/links?region=Hangzhou', 'region'],
    ['/v1/links?vpc=vpc_1', 'vpc'],
    ['/v1/links?at=yesterday', 'at'],
    ['/v1/links?at=2025-13-45T00:00:00Z', 'at'],
    ['/v1/links?limit=0', 'limit'],
    ['/v1/links?limit=1001', 'limit'],
    ['/v1/links?limit=ten', 'limit'],
    ['/v1/links?region=cn-hangzhou&region=cn-shanghai', 'region'],
    ['/v1/links?instanceId=i-1', 'instanceId'],
    ['/v1/links?cursor=not-a-cursor', 'cursor'],
    ['/v1/events?since=12:00', 'since'],
    ['/v1/events?until=2025-01-01T00:00:00', 'until'],
    ['/v1/events?instance=vm-1', 'instance'],
    ['/v1/events?since=2025-01-02&until=2025-01-01', 'until'],
    ['/v1/events?limit=-1', 'limit'],
    ['/v1/status?region=cn-hangzhou', 'region'],
  ])('%s → 400 naming %s', async (path, parameter) => {
    const { get } = await setup();
    const res = await get<{ error: string; parameter: string; message: string }>(path);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'bad_request', parameter });
    expect(res.body.message.startsWith(`${parameter}: `)).toBe(true);
    expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /);
  });

  it('refuses a cursor of another list or of other filters', async () => {
    const { store, a, b, get } = await setup();
    await history(store, a, b);
    const links = await get<Page>('/v1/links?limit=1');
    const cursor = encodeURIComponent(links.body.nextCursor ?? '');
    const other = await get<{ parameter: string }>(`/v1/events?cursor=${cursor}`);
    expect(other).toMatchObject({ status: 400, body: { parameter: 'cursor' } });
    const filters = await get<{ parameter: string; message: string }>(`/v1/links?vpc=vpc-a&cursor=${cursor}`);
    expect(filters).toMatchObject({ status: 400, body: { parameter: 'cursor' } });
    const same = await get<{ links: LinkJson[] }>(`/v1/links?limit=1&cursor=${cursor}`);
    expect(same.status).toBe(200);
  });
});

describe('GET /metrics', () => {
  it('exposes the metric names, moves when something is recorded, and its gauges read the database', async () => {
    const { store, a, b, get, metrics, url } = await setup({
      metrics: (s, account) =>
        createMetrics({
          log,
          processMetrics: false,
          collect: storeCollectors({
            store: s,
            account,
            queueDepth: async () => ({ plan: 0, sync: 2 }),
            now: () => at(60),
          }),
        }),
    });
    const scrape = async () => {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const value = (text: string, series: string) =>
      text
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.slice(series.length + 1);

    let text = await scrape();
    expect(value(text, 'classiclink_links_active')).toBe('0');
    expect(value(text, 'classiclink_queue_jobs{queue="sync"}')).toBe('2');

    await history(store, a, b, ['webhook']);
    metrics.eventsRecorded({ added: 1, removed: 3 });
    metrics.scanFinished({ status: 'succeeded', durationMs: 2_000 });
    metrics.apiCall({
      api: 'ecs',
      action: 'DescribeClassicLinkInstances',
      regionId: 'cn-hangzhou',
      code: 'OK',
      durationMs: 80,
      attempt: 0,
    });

    text = await scrape();
    expect(value(text, 'classiclink_links_active')).toBe('5');
    expect(value(text, 'classiclink_alert_outbox{status="pending"}')).toBe('1');
    expect(value(text, 'classiclink_alert_outbox{status="dead"}')).toBe('0');
    expect(
      value(
        text,
        `classiclink_target_seconds_since_success{account="${a.account}",region="cn-hangzhou",vpc="vpc-a"}`,
      ),
    ).toBe('2970');
    expect(
      value(
        text,
        `classiclink_target_seconds_since_success{account="${a.account}",region="cn-hangzhou",vpc="vpc-b"}`,
      ),
    ).toBe('3570');
    expect(value(text, 'classiclink_link_events_total{change="removed"}')).toBe('3');
    expect(value(text, 'classiclink_scans_total{status="succeeded"}')).toBe('1');
    expect(value(text, 'classiclink_api_calls_total{action="DescribeClassicLinkInstances",code="OK"}')).toBe(
      '1',
    );
    // Instance ids never become labels.
    expect(text).not.toMatch(/i-\d/);
    // The JSON API and the gauges agree.
    const links = await get<{ links: LinkJson[] }>('/v1/links');
    expect(links.body.links).toHaveLength(5);
  });
});
