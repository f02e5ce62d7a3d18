/**
 * The console's reads at scale (`npm run bench -- --only=console`): a fresh database seeded in SQL
 * with 1,000,000 links in 10,000 VPCs of 20 regions and 2,000,000 link events over 180 days
 * (1,000,000 baseline adds, 650,000 removals, 350,000 re-adds), written through link_events'
 * own trigger as the diff writes them. Then each read the overview needs, timed through the
 * store's verbs (the burn-down for 7, 30, 90 days and all), and whole pages through the HTTP
 * server, after one warm-up each.
 */
import pg from 'pg';
import { createHttpServer } from '../src/http/index.js';
import { createMetrics } from '../src/metrics.js';
import { createStore } from '../src/store/index.js';
import { createBenchDb, progress, silent } from './lib.js';

export const CONSOLE_REGIONS = [
  'cn-hangzhou',
  'cn-shanghai',
  'cn-beijing',
  'cn-shenzhen',
  'cn-qingdao',
  'cn-zhangjiakou',
  'cn-huhehaote',
  'cn-wulanchabu',
  'cn-chengdu',
  'cn-guangzhou',
  'cn-heyuan',
  'cn-hongkong',
  'ap-southeast-1',
  'ap-southeast-3',
  'ap-southeast-5',
  'ap-northeast-1',
  'ap-south-1',
  'eu-central-1',
  'eu-west-1',
  'us-west-1',
];

const ACCOUNT = 'bench';
const REPEAT = 15;

const SEED = `
INSERT INTO sync_targets (account, region_id, vpc_id, last_success_at)
SELECT '${ACCOUNT}', r[1 + v % 20], 'vpc-b' || v, now() FROM generate_series(0, 9999) v, (SELECT $1::text[] AS r) x;
INSERT INTO sync_runs (account, region_id, vpc_id, job_id, attempt, status, started_at, finished_at, baseline)
SELECT account, region_id, vpc_id, vpc_id || '-' || k, 1, 'succeeded', now(), now(), k = 0
  FROM sync_targets, generate_series(0, 2) k;
CREATE TEMP TABLE l AS
SELECT i, r[1 + (i % 10000) % 20] AS region_id, 'vpc-b' || (i % 10000) AS vpc_id,
       'i-b' || lpad(i::text, 12, '0') AS instance_id,
       now() - interval '180 days' + (i % 20) * interval '1 hour' AS t0,
       now() - interval '179 days' + (hashint4(i)::bigint % 178 + 178) % 178 * interval '1 day' AS t_rm
  FROM generate_series(0, 999999) i, (SELECT $1::text[] AS r) x;
INSERT INTO link_events (account, region_id, vpc_id, instance_id, change, detected_at, sync_run_id, baseline)
SELECT '${ACCOUNT}', l.region_id, l.vpc_id, l.instance_id, 'added', l.t0, r.id, true
  FROM l JOIN sync_runs r ON r.vpc_id = l.vpc_id AND r.baseline;
INSERT INTO link_events (account, region_id, vpc_id, instance_id, change, detected_at, sync_run_id, baseline)
SELECT '${ACCOUNT}', l.region_id, l.vpc_id, l.instance_id, 'removed', l.t_rm, r.id, false
  FROM l JOIN sync_runs r ON r.vpc_id = l.vpc_id AND r.job_id = l.vpc_id || '-1' WHERE l.i % 20 < 13;
INSERT INTO link_events (account, region_id, vpc_id, instance_id, change, detected_at, sync_run_id, baseline)
SELECT '${ACCOUNT}', l.region_id, l.vpc_id, l.instance_id, 'added', least(l.t_rm + interval '1 day', now()), r.id, false
  FROM l JOIN sync_runs r ON r.vpc_id = l.vpc_id AND r.job_id = l.vpc_id || '-2' WHERE l.i % 20 < 7;
INSERT INTO classic_links (account, region_id, vpc_id, instance_id, first_seen_at, removed_at, updated_at)
SELECT '${ACCOUNT}', l.region_id, l.vpc_id, l.instance_id, l.t0,
       CASE WHEN l.i % 20 BETWEEN 7 AND 12 THEN l.t_rm END,
       CASE WHEN l.i % 20 < 7 THEN least(l.t_rm + interval '1 day', now())
            WHEN l.i % 20 < 13 THEN l.t_rm ELSE l.t0 END
  FROM l;
`;

export interface ConsoleFigures {
  links: number;
  events: number;
  seedMs: number;
  /** Per read: median and slowest of REPEAT runs, ms. */
  reads: Record<string, { p50: number; max: number }>;
}

async function timed(fn: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { p50: round(ms[Math.floor(ms.length / 2)] ?? 0), max: round(ms[ms.length - 1] ?? 0) };
}

export async function consoleScenario(): Promise<ConsoleFigures> {
  const db = await createBenchDb();
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  try {
    progress('console: seeding 1,000,000 links and 2,000,000 events in 20 regions');
    const t0 = performance.now();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (const statement of SEED.split(';').map((s) => s.trim())) {
        if (statement === '') continue;
        await client.query(statement, statement.includes('$1') ? [CONSOLE_REGIONS] : []);
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await pool.query('VACUUM ANALYZE');
    const seedMs = performance.now() - t0;
    const { rows } = await pool.query<{ links: number; events: number }>(
      'SELECT (SELECT count(*)::int FROM classic_links) AS links, (SELECT count(*)::int FROM link_events) AS events',
    );
    const store = createStore({ pool, log: silent });
    const now = new Date();
    const today = now.toISOString().slice(0, 10);
    const daysAgo = (n: number) => new Date(now.getTime() - (n - 1) * 86_400_000).toISOString().slice(0, 10);
    const reads: ConsoleFigures['reads'] = {};
    for (const w of [7, 30, 90] as const) {
      reads[`burnDown ${w} days`] = await timed(() =>
        store.burnDown({ account: ACCOUNT, from: daysAgo(w), today }),
      );
    }
    reads['burnDown all'] = await timed(() => store.burnDown({ account: ACCOUNT, today }));
    reads['burnDown all, one region'] = await timed(() =>
      store.burnDown({ account: ACCOUNT, regionId: 'cn-beijing', today }),
    );
    reads.activeByRegion = await timed(() => store.activeByRegion({ account: ACCOUNT }));
    reads['changes, newest 50'] = await timed(() =>
      store.changesPage({ filter: { account: ACCOUNT }, limit: 50 }),
    );
    reads['changes of one VPC'] = await timed(() =>
      store.changesPage({ filter: { account: ACCOUNT, vpcId: 'vpc-b42' }, limit: 50 }),
    );

    const server = createHttpServer({
      host: '127.0.0.1',
      port: 0,
      log: silent,
      metrics: createMetrics({ log: silent, processMetrics: false }),
      ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
      store,
      account: ACCOUNT,
      staleAfterMs: 86_400_000,
    });
    const { url } = await server.listen();
    const page = (path: string) => async () => {
      const res = await fetch(`${url}${path}`, { headers: { accept: 'text/html' } });
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
      await res.text();
    };
    try {
      reads['page / (30 days)'] = await timed(page('/'));
      reads['page / (all)'] = await timed(page('/?window=all'));
      reads['page /changes'] = await timed(page('/changes'));
      reads['page /vpcs/…'] = await timed(page(`/vpcs/${ACCOUNT}/cn-beijing/vpc-b2`));
    } finally {
      await server.close();
    }
    for (const [name, f] of Object.entries(reads))
      progress(`console: ${name}: p50 ${f.p50} ms, max ${f.max} ms`);
    return { links: rows[0]?.links ?? 0, events: rows[0]?.events ?? 0, seedMs: Math.round(seedMs), reads };
  } finally {
    await pool.end();
    await db.drop();
  }
}
