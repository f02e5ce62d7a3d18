/**
 * The console over HTTP (no browser): the burn-down equals a cumulative sum taken straight from
 * link_events and outlives pruning; each page's JSON twin carries the numbers the page shows;
 * paging walks the change log once; bad parameters are a 400 naming them, unknown records a 404;
 * the change feed's health and dead-lettered alerts reach the overview.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createStore, type Store } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { CONSOLE_NOW, type ConsoleWorld, consoleWorld } from '../helpers/console-world.js';
import { useTestDb } from '../helpers/db.js';

const db = useTestDb();
const defer = useCleanup();
const HTML = { accept: 'text/html' };

async function start(): Promise<{ url: string; store: Store; pool: pg.Pool; w: ConsoleWorld }> {
  const { pool } = await db();
  const log = createLogger({ level: 'silent' });
  const store = createStore({ pool, log });
  const w = await consoleWorld(store);
  const server = createHttpServer({
    host: '127.0.0.1',
    port: 0,
    log,
    metrics: createMetrics({ log, processMetrics: false }),
    ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
    store,
    account: w.target.account,
    staleAfterMs: 3_600_000,
    now: () => CONSOLE_NOW,
  });
  defer(() => server.close());
  const { url } = await server.listen();
  return { url, store, pool, w };
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
}

/** Links active at the end of each day, straight from link_events (no daily counts). */
async function referenceBurnDown(pool: pg.Pool): Promise<Record<string, number[]>> {
  const { rows } = await pool.query<{ region_id: string; active: number }>(
    `WITH days AS (SELECT d::date AS day FROM generate_series('2025-01-01'::date, '2025-01-09'::date, '1 day') d),
          regions AS (SELECT DISTINCT region_id FROM link_events)
     SELECT r.region_id,
            (SELECT coalesce(sum(CASE change WHEN 'added' THEN 1 ELSE -1 END), 0)::int FROM link_events e
              WHERE e.region_id = r.region_id AND e.detected_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC') AS active
       FROM regions r, days d ORDER BY r.region_id, d.day`,
  );
  const out: Record<string, number[]> = {};
  for (const r of rows) out[r.region_id] = [...(out[r.region_id] ?? []), r.active];
  return out;
}

interface Overview {
  activeTotal: number;
  active: { regionId: string; active: number }[];
  burnDown: { days: string[]; series: { regionId: string; active: number[] }[] };
  changes24h: { added: number; removed: number };
  alerts: { dead: number };
  changeFeed: { running: boolean; feeds: { regionId: string; lastError: string | null }[] };
  targets: { watched: number; problems: { vpcId: string; state: string }[] };
}

describe('the burn-down', () => {
  it('equals the cumulative sum of link_events per day and region, and outlives pruning', async () => {
    const { url, pool, store } = await start();
    const reference = await referenceBurnDown(pool);
    expect(reference['cn-beijing']).toEqual([4, 4, 4, 3, 3, 3, 1, 1, 1]);
    const all = await json<Overview>(`${url}/v1/overview?window=all`);
    expect(all.burnDown.days[0]).toBe('2025-01-01');
    expect(all.burnDown.days).toHaveLength(9);
    expect(Object.fromEntries(all.burnDown.series.map((s) => [s.regionId, s.active]))).toEqual(reference);
    const week = await json<Overview>(`${url}/v1/overview?window=7`);
    expect(Object.fromEntries(week.burnDown.series.map((s) => [s.regionId, s.active]))).toEqual(
      Object.fromEntries(Object.entries(reference).map(([r, a]) => [r, a.slice(2)])),
    );
    // Its last day is the links active now.
    const { rows } = await pool.query<{ region_id: string; n: number }>(
      'SELECT region_id, count(*)::int AS n FROM active_links GROUP BY 1 ORDER BY 1',
    );
    expect(all.active.map((a) => [a.regionId, a.active])).toEqual(rows.map((r) => [r.region_id, r.n]));

    await store.pruneHistory({ olderThan: new Date('2025-01-05T00:00:00Z') });
    const pruned = await json<Overview>(`${url}/v1/overview?window=all`);
    expect(pruned.burnDown.series).toEqual(all.burnDown.series);
  });

  it('narrows to one region, and answers 400 for a window it does not know', async () => {
    const { url } = await start();
    const one = await json<Overview>(`${url}/v1/overview?window=30&region=cn-beijing`);
    expect(one.burnDown.series.map((s) => s.regionId)).toEqual(['cn-beijing']);
    // The history is shorter than 30 days: the window starts at its first day.
    expect(one.burnDown.days).toHaveLength(9);
    expect(one.burnDown.series[0]?.active).toEqual([4, 4, 4, 3, 3, 3, 1, 1, 1]);
    expect(one.activeTotal).toBe(1);

    const bad = await fetch(`${url}/v1/overview?window=8`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'bad_request',
      parameter: 'window',
      message: 'window: expected 7, 30, 90 or all',
    });
    const page = await fetch(`${url}/?window=8`, { headers: HTML });
    expect(page.status).toBe(400);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('window: expected 7, 30, 90 or all');
  });
});

describe('JSON twins', () => {
  it('carry the numbers their pages show', async () => {
    const { url, w } = await start();
    const twin = await json<Overview>(`${url}/v1/overview`);
    const page = await (await fetch(`${url}/`, { headers: HTML })).text();
    expect(page).toContain(`<div class="figure" id="active-total">${twin.activeTotal}</div>`);
    expect(twin.activeTotal).toBe(9);
    expect(page).toContain(`<link rel="alternate" type="application/json" href="/v1/overview">`);

    const changes = await json<{ events: { instanceId: string }[] }>(`${url}/v1/changes?region=cn-beijing`);
    const html = await (await fetch(`${url}/changes?region=cn-beijing`, { headers: HTML })).text();
    const shown = [...html.matchAll(/href="\/instances\/[^/]+\/[^/]+\/(i-[a-z0-9]+)"/g)].map((m) => m[1]);
    expect(shown).toEqual(changes.events.map((e) => e.instanceId));
    expect(shown).toHaveLength(7);

    const { account, regionId } = w.target;
    const vpc = await json<{ vpc: { name: string }; links: unknown[]; runs: unknown[] }>(
      `${url}/v1/vpcs/${account}/${regionId}/vpc-ctx`,
    );
    expect(vpc.vpc.name).toBe('prod-vpc');
    expect(vpc.links).toHaveLength(6);
    expect(vpc.runs).toHaveLength(5);
    const vpcPage = await (
      await fetch(`${url}/vpcs/${account}/${regionId}/vpc-ctx`, { headers: HTML })
    ).text();
    expect(vpcPage).toContain('Linked now (6)');

    const inst = await json<{ linkedTo: string; history: { cause: { actor: { name: string } } | null }[] }>(
      `${url}/v1/instances/${account}/${regionId}/i-found`,
    );
    expect(inst.linkedTo).toBe('vpc-ctx');
    expect(inst.history[0]?.cause?.actor.name).toBe('ops-admin');
  });

  it('walks the change log newest first, each event once, following next', async () => {
    const { url } = await start();
    const every = await json<{ events: { id: string }[] }>(`${url}/v1/changes?limit=500`);
    const seen: string[] = [];
    let before: string | null = null;
    do {
      const page: { events: { id: string }[]; next: string | null } = await json(
        `${url}/v1/changes?limit=3${before ? `&before=${before}` : ''}`,
      );
      seen.push(...page.events.map((e) => e.id));
      before = page.next;
    } while (before !== null);
    expect(seen).toEqual(every.events.map((e) => e.id));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
  });

  it('answers 400 naming a bad parameter, 404 for what it has no record of', async () => {
    const { url, w } = await start();
    for (const [path, parameter] of [
      ['/v1/changes?since=yesterday', 'since'],
      ['/v1/changes?vpc=VPC', 'vpc'],
      ['/v1/changes?colour=red', 'colour'],
      ['/v1/changes?since=2025-01-02&until=2025-01-01', 'until'],
      ['/v1/overview?account=someone-else', 'account'],
    ] as const) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { parameter: string }).parameter, path).toBe(parameter);
    }
    const { account, regionId } = w.target;
    const missing = await fetch(`${url}/vpcs/${account}/${regionId}/vpc-nowhere`, { headers: HTML });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain(`no VPC vpc-nowhere in ${account} / ${regionId}`);
    const twin = await fetch(`${url}/v1/instances/${account}/${regionId}/i-nowhere`);
    expect(twin.status).toBe(404);
  });
});

describe('the overview', () => {
  it('says the change feed is not running until it has a row, then shows its last error', async () => {
    const { url, pool, w } = await start();
    const before = await json<Overview>(`${url}/v1/overview`);
    expect(before.changeFeed).toEqual({ running: false, feeds: [] });
    expect(await (await fetch(`${url}/`, { headers: HTML })).text()).toContain('change feed: not running');

    // The change feed's own verbs write this row; the console only reads the table.
    await pool.query(
      `INSERT INTO change_feed (account, region_id, cursor_at, last_poll_at, last_error, last_error_at, consecutive_failures)
       VALUES ($1, 'cn-hangzhou', $2, $2, 'Forbidden.RAM: <no> LookupEvents', $2, 3)`,
      [w.target.account, CONSOLE_NOW],
    );
    const after = await json<Overview>(`${url}/v1/overview`);
    expect(after.changeFeed.running).toBe(true);
    expect(after.changeFeed.feeds[0]?.lastError).toBe('Forbidden.RAM: <no> LookupEvents');
    const page = await (await fetch(`${url}/`, { headers: HTML })).text();
    expect(page).toContain('Forbidden.RAM: &lt;no&gt; LookupEvents');
    expect(page).not.toContain('change feed: not running');
  });

  it('counts dead-lettered alerts and lists failing and stale targets with their last error', async () => {
    const { url, pool, store, w } = await start();
    await store.failRun({
      runId: await store.startRun({ target: w.history, jobId: 'j-fail', attempt: 1, startedAt: CONSOLE_NOW }),
      target: w.history,
      finishedAt: CONSOLE_NOW,
      code: 'Forbidden.RAM',
      message: 'no <permission>',
      requestId: 'req-1',
    });
    await pool.query(
      `INSERT INTO alert_outbox (kind, channel, payload, status, attempts) VALUES ('stale', 'webhook', '{}', 'dead', 8)`,
    );
    const o = await json<Overview>(`${url}/v1/overview`);
    expect(o.alerts.dead).toBe(1);
    // Every target's last success is days before the console's clock: all stale, vpc-old failing.
    expect(o.targets.watched).toBe(4);
    expect(o.targets.problems.find((t) => t.vpcId === 'vpc-old')?.state).toBe('failing');
    expect(o.targets.problems).toHaveLength(4);
    const page = await (await fetch(`${url}/`, { headers: HTML })).text();
    expect(page).toContain('<code>Forbidden.RAM</code> no &lt;permission&gt;');
    expect(page).toContain('<div class="figure" id="dead-alerts">1</div>');
  });
});
