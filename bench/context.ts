/**
 * The context side's benchmarks (issue 14), as the service runs it: worker child processes of the
 * real CLI (`start --role worker`: plan, sync, enrich and attribute workers) on a fresh database
 * and Redis prefix, against the simulator in this process.
 *
 * - `attribution`: a baseline of 100 VPCs, then 1,000 attach/detach calls through the simulator's
 *   signed API by four named RAM users (so its ActionTrail records each, visible after its delay),
 *   then one sync round: the sync jobs apply the changes, their after-applied hook enqueues the
 *   region's attribute job, and it runs until every cause is settled. Figures: LookupEvents calls,
 *   and how long after detection each cause was settled. Every cause must be `found`, with the
 *   writer who made the call: the bench fails otherwise.
 * - `enrichment`: a world of 100 VPCs × 1,000 links (100,000 linked instances), synced and
 *   described once (the after-applied enrich jobs), then the periodic refresh (an enrich job
 *   without instance ids, as the ENRICH_INTERVAL schedule enqueues it) when nothing changed:
 *   API calls by action and rows written per table (pg_stat_user_tables, the workers stopped so
 *   their statistics are flushed). Once with discovery (VPC attributes come with the plan's own
 *   listing) and once with SYNC_TARGETS (the job refreshes the watched VPCs itself). Attribute or
 *   link rows written by a no-op refresh fail the bench.
 *
 * `--quick`: a tenth of the VPCs (and so of the changes and instances).
 */
import pg from 'pg';
import {
  DEFAULT_TRAIL_DELAY_MS,
  type RunningSimulator,
  type SimulatorKey,
  type SimulatorOptions,
  startSimulator,
} from '../src/simulator/index.js';
import { rawCall } from '../src/simulator/raw-client.js';
import {
  type BenchDb,
  type BenchRedis,
  createBenchDb,
  openBenchRedis,
  pgDelta,
  pgMark,
  progress,
  REDIS_URL,
  rng,
  sleep,
  spawnWorker,
  type WorkerProc,
  waitForWorkers,
} from './lib.js';
import { ACCOUNT } from './scenarios.js';

export interface ContextBenchOptions {
  /** 1, or 0.1 with `--quick`. */
  scale: number;
  /** Simulated API latency of every call, ms. */
  latencyMs: number;
  /** SYNC_CONCURRENCY of the worker process. */
  concurrency: number;
}

const REGION = 'cn-hangzhou';
/** The service's own key: a reader (the worker processes sign with it). */
const SERVICE_USER = 'classiclink-sync';

/** The RAM users who make the changes, each with a key of its own and an address to be seen from. */
const WRITERS = [
  { userName: 'ops-admin', sourceIp: '47.96.12.34', userAgent: 'AlibabaCloud (linux; x64) Terraform/1.9.5' },
  { userName: 'migration-bot', sourceIp: '10.0.3.17', userAgent: 'aliyun-cli/3.0.250' },
  { userName: 'alice.wang', sourceIp: '116.62.45.78', userAgent: 'AlibabaCloud (darwin; arm64) Node.js/20' },
  { userName: 'bob.li', sourceIp: '121.40.7.200', userAgent: 'aliyun-python-sdk-core/2.15.1' },
] as const;

/** Tables whose rows are link truth or context: a no-op refresh must write none of them. */
const QUIET_TABLES = [
  'instances',
  'vpcs',
  'classic_links',
  'link_events',
  'link_event_causes',
  'cloud_events',
];

export interface Spread {
  p50: number;
  p95: number;
  max: number;
  n: number;
}

/** Nearest-rank p50, p95 and max of `values`. */
function spread(values: readonly number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.max(0, Math.min(v.length - 1, Math.ceil(v.length * q) - 1))] ?? 0;
  return { p50: at(0.5), p95: at(0.95), max: v.at(-1) ?? 0, n: v.length };
}

// ---------------------------------------------------------------------------------------------
// The service: worker processes on the bench's database and Redis prefix

function serviceEnv(
  sim: RunningSimulator,
  db: BenchDb,
  redis: BenchRedis,
  o: ContextBenchOptions,
  extra: Record<string, string> = {},
): Record<string, string> {
  const key = sim.keys[0];
  if (!key) throw new Error('simulator has no key');
  return {
    DATABASE_URL: db.url,
    REDIS_URL,
    QUEUE_PREFIX: redis.prefix,
    SYNC_ACCOUNT: ACCOUNT,
    ECS_ENDPOINT: sim.url,
    VPC_ENDPOINT: sim.url,
    ACTIONTRAIL_ENDPOINT: `${sim.url}/{region}`,
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret,
    SYNC_REGIONS: REGION,
    SYNC_CONCURRENCY: String(o.concurrency),
    API_MAX_QPS: '10000',
    API_RETRY_DEADLINE: '30s',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function startService(redis: BenchRedis, env: Record<string, string>): Promise<WorkerProc> {
  const worker = spawnWorker(env);
  await waitForWorkers(redis, 1, [worker]);
  return worker;
}

function alive(worker: WorkerProc): void {
  if (worker.proc.exitCode !== null) throw new Error(`worker ${worker.pid} exited: ${worker.stderr()}`);
}

/** Waits until no queue holds a job (waiting, delayed, active). */
async function idle(redis: BenchRedis, worker: WorkerProc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await redis.queues.depth();
    if (d.plan + d.sync + d.enrich + d.attribute === 0) return;
    alive(worker);
    if (Date.now() > deadline) throw new Error(`queues not idle after ${timeoutMs} ms: ${JSON.stringify(d)}`);
    await sleep(100);
  }
}

/** One plan of the region and every job it leads to, until the queues are idle. */
async function syncRound(redis: BenchRedis, worker: WorkerProc, timeoutMs: number): Promise<void> {
  const id = await redis.queues.enqueuePlan({ account: ACCOUNT, regionId: REGION });
  await redis.queues.waitFor('plan', id, timeoutMs);
  await idle(redis, worker, timeoutMs);
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * ANALYZE, as autovacuum would after a bulk load on a server with its default (this one runs with
 * autovacuum off). Without statistics the planner takes the freshly filled tables for empty ones:
 * the periodic refresh's "instances never described" anti-join becomes a nested loop over both
 * tables (11 s at 10,000 instances, quadratic), which is not the steady state being measured.
 */
async function analyze(url: string): Promise<void> {
  await withClient(url, (c) => c.query('ANALYZE'));
}

/** Checkpoints begun so far, timed and requested (cluster-wide). */
async function checkpointCount(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT (checkpoints_timed + checkpoints_req)::text AS n FROM pg_stat_bgwriter',
    );
    return Number(rows[0]?.n ?? 0);
  });
}

/** The newest transaction id so far (32-bit, as xmin and xmax hold it). */
async function xidMark(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ x: string }>(
      'SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text AS x',
    );
    return Number(rows[0]?.x ?? 0);
  });
}

/**
 * Rows of the attribute tables written (xmin) or only locked (xmax) by a transaction after `xid`.
 * INSERT … ON CONFLICT DO UPDATE … WHERE locks the conflicting row before its WHERE skips the
 * update: a row left as it was still gets its xmax set and one heap LOCK record in the WAL.
 */
async function touchedRows(
  url: string,
  xid: number,
): Promise<Record<string, { written: number; locked: number }>> {
  return withClient(url, async (c) => {
    const out: Record<string, { written: number; locked: number }> = {};
    for (const table of ['instances', 'vpcs']) {
      const { rows } = await c.query<{ written: number; locked: number }>(
        `SELECT count(*) FILTER (WHERE xmin::text::bigint > $1)::int AS written,
                count(*) FILTER (WHERE xmin::text::bigint <= $1 AND xmax::text::bigint > $1)::int AS locked
           FROM ${table}`,
        [xid],
      );
      out[table] = rows[0] ?? { written: 0, locked: 0 };
    }
    return out;
  });
}

export interface WalFigures {
  /** Records that touch a block of this database, and their bytes (full-page images included). */
  records: number;
  bytes: number;
  /** Of those bytes, the full-page images'. */
  fpiBytes: number;
  /** Full-page images: a page's first change after a checkpoint is logged whole. */
  fullPageImages: number;
  /** Checkpoints the server began meanwhile (pg_stat_bgwriter, cluster-wide). */
  checkpoints: number;
  /** The instances table's size, in 8 KB pages, for the full-page images. */
  instancesPages: number;
  /** By `resource manager/record type`: records and bytes (full-page images included). */
  byType: Record<string, { records: number; bytes: number }>;
}

/**
 * Keeps the server from recycling WAL from now until `release()`: a temporary physical replication
 * slot, reserved at once, which Postgres drops itself when this session ends (even if the bench
 * dies), so nothing is left behind on a shared server.
 */
async function retainWal(url: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const name = `classiclink_bench_${process.pid}_${Date.now()}`;
    await c.query('SELECT pg_create_physical_replication_slot($1, true, true)', [name]);
  } catch (err) {
    await c.end();
    throw err;
  }
  return { release: () => c.end() };
}

/**
 * The WAL this database's blocks got between two positions (pg_walinspect): unlike pgDelta's
 * cluster-wide figure, other databases' writes at the time are left out. Commit records name no
 * block and are not counted.
 */
async function walOfDatabase(
  url: string,
  from: string,
  to: string,
  checkpoints: number,
): Promise<WalFigures> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{
      type: string;
      records: number;
      bytes: string;
      fpi: string;
      fpis: number;
    }>(
      `SELECT resource_manager || '/' || record_type AS type, count(*)::int AS records,
              sum(record_length)::text AS bytes, sum(fpi_length)::text AS fpi,
              count(*) FILTER (WHERE fpi_length > 0)::int AS fpis
         FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
        WHERE block_ref LIKE '%rel %/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/%'
        GROUP BY 1 ORDER BY 3 DESC`,
      [from, to],
    );
    const size = await c.query<{ pages: number }>(
      `SELECT (pg_relation_size('instances') / current_setting('block_size')::int)::int AS pages`,
    );
    const out: WalFigures = {
      records: 0,
      bytes: 0,
      fpiBytes: 0,
      fullPageImages: 0,
      checkpoints,
      instancesPages: size.rows[0]?.pages ?? 0,
      byType: {},
    };
    for (const r of rows) {
      out.fullPageImages += r.fpis;
      out.records += r.records;
      out.bytes += Number(r.bytes);
      out.fpiBytes += Number(r.fpi);
      out.byType[r.type] = { records: r.records, bytes: Number(r.bytes) };
    }
    return out;
  });
}

/** Tuples inserted, updated and deleted per table of the database, flushed for this backend. */
async function tableWrites(url: string): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    await c.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await c.query<{ table: string; n: string }>(
      `SELECT relname AS table, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables`,
    );
    return Object.fromEntries(rows.map((r) => [r.table, Number(r.n)]));
  });
}

function callsByAction(sim: RunningSimulator, from: number, to = Number.POSITIVE_INFINITY) {
  const out: Record<string, number> = {};
  for (const r of sim.requests) if (r.at >= from && r.at <= to) out[r.action] = (out[r.action] ?? 0) + 1;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attribution

export interface AttributionFigures {
  name: 'attribution';
  description: string;
  vpcs: number;
  linksPerVpc: number;
  attached: number;
  detached: number;
  writers: string[];
  /** The simulator's ActionTrail visibility delay: a record is returned this long after its call. */
  actionTrailDelayMs: number;
  /** ATTRIBUTION_WINDOW (the service's default): the retry of a run with causes left is a fifth of it, ≤ 60 s. */
  attributionWindowMs: number;
  latencyMs: number;
  /** Writers' calls: from the first to the last. */
  changesMs: number;
  /** From the plan's enqueue (right after the last change) to the last cause settled. */
  settledAfterMs: number;
  /** From the plan's enqueue to the last sync run finished. */
  roundMs: number;
  lookupEvents: {
    calls: number;
    /** First pages (a query without NextToken): one per event name per attribute run. */
    queries: number;
    /** Attribute runs that queried (queries ÷ 4 event names). */
    runs: number;
    perChange: number;
  };
  /** Every API call from the round's start to the last cause settled, by action. */
  callsByAction: Record<string, number>;
  detectionToSettledMs: Spread;
  callToDetectedMs: Spread;
  callToSettledMs: Spread;
  /**
   * Causes settled more than 30 s after detection (by a later run of the attribute job), and of
   * those, how many had their ActionTrail record visible already when the change was detected.
   */
  late: { n: number; visibleAtDetection: number };
  causes: Record<string, number>;
  cloudEventsStored: number;
}

interface Change {
  vpcId: string;
  instanceId: string;
  change: 'added' | 'removed';
  writer: (typeof WRITERS)[number];
}

interface CauseRow {
  vpc_id: string;
  instance_id: string;
  change: string;
  detected_at: Date;
  cause_status: string | null;
  cause_resolved_at: Date | null;
  cause_event_name: string | null;
  cause_actor_type: string | null;
  cause_actor_name: string | null;
  cause_source_ip: string | null;
}

/** Makes `changes` through the signed API, `parallel` at a time, each with its writer's key. */
async function makeChanges(
  sim: RunningSimulator,
  keys: ReadonlyMap<string, SimulatorKey>,
  changes: readonly Change[],
  parallel: number,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < changes.length) {
        const c = changes[next++] as Change;
        const key = keys.get(c.writer.userName);
        if (!key) throw new Error(`no key for ${c.writer.userName}`);
        const res = await rawCall({
          url: sim.url,
          key,
          action: c.change === 'added' ? 'AttachClassicLinkVpc' : 'DetachClassicLinkVpc',
          params: { RegionId: REGION, InstanceId: c.instanceId, VpcId: c.vpcId },
          userAgent: c.writer.userAgent,
        });
        if (res.status !== 200) {
          throw new Error(
            `${c.change} ${c.instanceId} ${c.vpcId}: HTTP ${res.status} ${res.text.slice(0, 300)}`,
          );
        }
      }
    }),
  );
}

/** 5 detaches of linked instances and 5 attaches of new ones per VPC, shuffled, writers in turn. */
function planChanges(sim: RunningSimulator, perVpc: number): Change[] {
  const random = rng(14);
  const changes: Change[] = [];
  let w = 0;
  const writer = () => WRITERS[w++ % WRITERS.length] as (typeof WRITERS)[number];
  for (const vpcId of sim.world.vpcs(REGION)) {
    const links = sim.world.links(REGION, vpcId);
    for (let i = 0; i < perVpc / 2; i++) {
      const l = links[i];
      if (!l) throw new Error(`${vpcId} has only ${links.length} links`);
      changes.push({ vpcId, instanceId: l.instanceId, change: 'removed', writer: writer() });
      changes.push({
        vpcId,
        instanceId: sim.world.createInstance(REGION),
        change: 'added',
        writer: writer(),
      });
    }
  }
  for (let i = changes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [changes[i], changes[j]] = [changes[j] as Change, changes[i] as Change];
  }
  return changes;
}

async function causeRows(url: string): Promise<CauseRow[]> {
  return withClient(
    url,
    async (c) =>
      (
        await c.query<CauseRow>(
          `SELECT vpc_id, instance_id, change, detected_at, cause_status, cause_resolved_at, cause_event_name,
                  cause_actor_type, cause_actor_name, cause_source_ip
             FROM link_history WHERE NOT baseline ORDER BY id`,
        )
      ).rows,
  );
}

/** Every change has its event and its cause found, by the RAM user who made the call. */
function checkCauses(changes: readonly Change[], rows: readonly CauseRow[]): void {
  const problems: string[] = [];
  const byKey = new Map(rows.map((r) => [`${r.vpc_id}/${r.instance_id}/${r.change}`, r]));
  if (rows.length !== changes.length) problems.push(`${rows.length} events for ${changes.length} changes`);
  for (const c of changes) {
    const r = byKey.get(`${c.vpcId}/${c.instanceId}/${c.change}`);
    const want = {
      cause_status: 'found',
      cause_event_name: c.change === 'added' ? 'AttachClassicLinkVpc' : 'DetachClassicLinkVpc',
      cause_actor_type: 'ram-user',
      cause_actor_name: c.writer.userName,
      cause_source_ip: c.writer.sourceIp,
    };
    if (!r) {
      problems.push(`${c.instanceId} ${c.change} in ${c.vpcId}: no link event`);
      continue;
    }
    const got = {
      cause_status: r.cause_status,
      cause_event_name: r.cause_event_name,
      cause_actor_type: r.cause_actor_type,
      cause_actor_name: r.cause_actor_name,
      cause_source_ip: r.cause_source_ip,
    };
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      problems.push(
        `${c.instanceId} ${c.change}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `attribution: ${problems.length} cause(s) wrong or missing, e.g.:\n  ${problems.slice(0, 10).join('\n  ')}`,
    );
  }
}

export async function attributionScenario(o: ContextBenchOptions): Promise<AttributionFigures> {
  const vpcs = Math.round(100 * o.scale);
  const linksPerVpc = 100;
  const perVpc = 10;
  const delayMs = DEFAULT_TRAIL_DELAY_MS;
  const writerKeys: SimulatorKey[] = WRITERS.map((w, i) => ({
    accessKeyId: `LTAI5tBenchWriter${String(i).padStart(7, '0')}`,
    accessKeySecret: `bench-writer-secret-${i}-0123456789abcdef`,
    userName: w.userName,
    permissions: ['ecs:*'],
  }));
  const opts: SimulatorOptions = {
    port: 0,
    seed: 14,
    regions: [REGION],
    vpcsPerRegion: vpcs,
    linksPerVpc,
    unlinkedPerRegion: 10,
    keys: [
      {
        accessKeyId: 'LTAI5tBenchService0000000',
        accessKeySecret: 'bench-service-secret-0123456789abcdef',
        userName: SERVICE_USER,
      },
      ...writerKeys,
    ],
    faults: { latencyMs: o.latencyMs, actionTrailDelayMs: delayMs },
    maxRecordedRequests: 200_000,
  };
  progress(
    `attribution: ${vpcs} VPCs × ${linksPerVpc} links, ${vpcs * perVpc} changes by ${WRITERS.length} RAM users`,
  );
  const sim = await startSimulator(opts);
  const db = await createBenchDb();
  const redis = await openBenchRedis();
  let worker: WorkerProc | undefined;
  try {
    for (const [i, w] of WRITERS.entries()) {
      sim.setIdentity((writerKeys[i] as SimulatorKey).accessKeyId, { sourceIp: w.sourceIp });
    }
    worker = await startService(redis, serviceEnv(sim, db, redis, o));
    const t = Date.now();
    await syncRound(redis, worker, 300_000);
    progress(`attribution: baseline synced and described in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await analyze(db.url);

    const changes = planChanges(sim, perVpc);
    const keys = new Map(writerKeys.map((k) => [k.userName as string, k]));
    const changesStart = Date.now();
    await makeChanges(sim, keys, changes, 8);
    const t0 = Date.now();
    progress(
      `attribution: ${changes.length} changes made through the API in ${((t0 - changesStart) / 1000).toFixed(1)} s; ` +
        `ActionTrail shows each ${delayMs} ms after its call; sync round now`,
    );

    // The round: the plan, its sync jobs, their hooks' attribute (and enrich) jobs.
    const planId = await redis.queues.enqueuePlan({ account: ACCOUNT, regionId: REGION });
    await redis.queues.waitFor('plan', planId, 300_000);
    const deadline = Date.now() + 300_000;
    let rows: CauseRow[] = [];
    for (;;) {
      rows = await causeRows(db.url);
      if (rows.length >= changes.length && rows.every((r) => r.cause_status !== null)) break;
      alive(worker);
      if (Date.now() > deadline) {
        const pending = rows.filter((r) => r.cause_status === null).length;
        throw new Error(`attribution: ${rows.length} events, ${pending} causes still pending after 300 s`);
      }
      await sleep(100);
    }
    const settledAt = Math.max(...rows.map((r) => r.cause_resolved_at?.getTime() ?? 0));
    await idle(redis, worker, 120_000);
    checkCauses(changes, rows);

    const roundMs = await withClient(db.url, async (c) => {
      const { rows: r } = await c.query<{ last: Date }>(
        'SELECT max(finished_at) AS last FROM sync_runs WHERE finished_at >= $1',
        [new Date(t0)],
      );
      return (r[0]?.last?.getTime() ?? t0) - t0;
    });
    const cloudEventsStored = await withClient(db.url, async (c) => {
      const { rows: r } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM cloud_events');
      return r[0]?.n ?? 0;
    });
    // The call behind each change, by instance (each instance changed once).
    const callAt = new Map<string, number>();
    const visibleAt = new Map<string, number>();
    for (const e of sim.actionTrail.entries()) {
      if (e.at < changesStart) continue;
      for (const id of e.instanceIds) {
        callAt.set(id, e.at);
        visibleAt.set(id, e.visibleAt);
      }
    }
    const lookups = sim.requests.filter((r) => r.at >= t0 && r.action === 'LookupEvents');
    const queries = lookups.filter((r) => r.params.NextToken === undefined).length;
    const causes: Record<string, number> = {};
    for (const r of rows)
      causes[r.cause_status ?? 'pending'] = (causes[r.cause_status ?? 'pending'] ?? 0) + 1;
    const detected = rows.map((r) => r.detected_at.getTime());
    const resolved = rows.map((r) => r.cause_resolved_at?.getTime() ?? 0);
    const called = rows.map((r) => callAt.get(r.instance_id) ?? Number.NaN);
    const late = rows.filter((_, i) => (resolved[i] as number) - (detected[i] as number) > 30_000);
    const visibleLate = late.filter(
      (r) => (visibleAt.get(r.instance_id) ?? Number.POSITIVE_INFINITY) <= r.detected_at.getTime(),
    );
    const figures: AttributionFigures = {
      name: 'attribution',
      description: `attribution of ${changes.length} changes across ${vpcs} VPCs`,
      vpcs,
      linksPerVpc,
      attached: changes.filter((c) => c.change === 'added').length,
      detached: changes.filter((c) => c.change === 'removed').length,
      writers: WRITERS.map((w) => w.userName),
      actionTrailDelayMs: delayMs,
      attributionWindowMs: 15 * 60_000,
      latencyMs: o.latencyMs,
      changesMs: t0 - changesStart,
      settledAfterMs: settledAt - t0,
      roundMs,
      lookupEvents: {
        calls: lookups.length,
        queries,
        runs: queries / 4,
        perChange: lookups.length / changes.length,
      },
      callsByAction: callsByAction(sim, t0, settledAt),
      detectionToSettledMs: spread(rows.map((_, i) => (resolved[i] as number) - (detected[i] as number))),
      callToDetectedMs: spread(rows.map((_, i) => (detected[i] as number) - (called[i] as number))),
      callToSettledMs: spread(rows.map((_, i) => (resolved[i] as number) - (called[i] as number))),
      late: { n: late.length, visibleAtDetection: visibleLate.length },
      causes,
      cloudEventsStored,
    };
    const d = figures.detectionToSettledMs;
    const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    progress(
      `attribution: ${JSON.stringify(causes)} with the right actors; ${lookups.length} LookupEvents calls ` +
        `(${queries} queries); detection → settled p50 ${sec(d.p50)} / p95 ${sec(d.p95)} / max ${sec(d.max)}; ` +
        `${late.length} settled > 30 s after detection (${visibleLate.length} of them visible in ActionTrail at detection)`,
    );
    return figures;
  } finally {
    await worker?.stop();
    await redis.close();
    await sim.close();
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Enrichment

export interface RefreshFigures {
  /** `discovery`: VPC attributes come with the plan's listing; `targets`: SYNC_TARGETS, the job's own DescribeVpcs. */
  mode: 'discovery' | 'targets';
  instances: number;
  /** From the enrich job's enqueue to its result. */
  wallMs: number;
  /** From the enqueue to the first API call (the job's reads of what to refresh). */
  firstCallMs: number;
  /** From the first API call to the last. */
  callsMs: number;
  /** Calls in a row at the simulated latency (the job reads one call after another). */
  floorMs: number;
  ratioToFloor: number;
  callsByAction: Record<string, number>;
  describeInstancesCalls: number;
  idsPerDescribeInstances: number;
  describeVpcsCalls: number;
  /** The job's own account of itself (EnrichJobResult). */
  job: Record<string, unknown>;
  /** Tuples written per table (inserted + updated + deleted) while the workers ran the refresh. */
  rowsByTable: Record<string, number>;
  /** Of those, in the attribute and link tables (must be 0). */
  attributeAndLinkRows: number;
  /** Attribute rows with a new version (xmin) and rows only locked (xmax) by the refresh. */
  touched: Record<string, { written: number; locked: number }>;
  /** WAL written meanwhile: cluster-wide, so other databases' writes at the time count too. */
  walBytes: number;
  /** Of it, the records of this database's blocks. */
  wal: WalFigures;
}

export interface EnrichmentFigures {
  name: 'enrichment';
  description: string;
  vpcs: number;
  instances: number;
  latencyMs: number;
  /** The first sync of the world and the after-applied descriptions of its 100,000 instances. */
  baseline: {
    wallMs: number;
    callsByAction: Record<string, number>;
    instancesRows: number;
    vpcsRows: number;
  };
  refresh: RefreshFigures[];
}

async function counts(url: string): Promise<{ instances: number; vpcs: number }> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ instances: number; vpcs: number }>(
      `SELECT (SELECT count(*)::int FROM instances WHERE released_at IS NULL) AS instances,
              (SELECT count(*)::int FROM vpcs WHERE deleted_at IS NULL) AS vpcs`,
    );
    return rows[0] ?? { instances: 0, vpcs: 0 };
  });
}

async function noopRefresh(
  sim: RunningSimulator,
  db: BenchDb,
  redis: BenchRedis,
  o: ContextBenchOptions,
  mode: RefreshFigures['mode'],
  instances: number,
): Promise<RefreshFigures> {
  await withClient(db.url, (c) => c.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect'));
  const slot = await retainWal(db.url);
  try {
    return await measuredRefresh(sim, db, redis, o, mode, instances);
  } finally {
    await slot.release();
  }
}

/** One periodic enrich job (no instance ids) on a fresh worker, its calls and its writes. */
async function measuredRefresh(
  sim: RunningSimulator,
  db: BenchDb,
  redis: BenchRedis,
  o: ContextBenchOptions,
  mode: RefreshFigures['mode'],
  instances: number,
): Promise<RefreshFigures> {
  const extra: Record<string, string> =
    mode === 'targets'
      ? {
          SYNC_TARGETS: sim.world
            .vpcs(REGION)
            .map((v) => `${REGION}:${v}`)
            .join(','),
        }
      : {};
  const before = await tableWrites(db.url);
  const xid = await xidMark(db.url);
  const checkpoints = await checkpointCount(db.url);
  const mark = await pgMark(db.url);
  const worker = await startService(redis, serviceEnv(sim, db, redis, o, extra));
  let wallMs: number;
  let t0: number;
  let job: Record<string, unknown>;
  try {
    t0 = Date.now();
    const id = await redis.queues.enqueueEnrich({ account: ACCOUNT, regionId: REGION });
    job = { ...(await redis.queues.waitFor('enrich', id, 600_000)) };
    wallMs = Date.now() - t0;
    // The refresh asks for an attribute job of its region (nothing pending: no call).
    await idle(redis, worker, 60_000);
  } finally {
    await worker.stop();
  }
  const end = await pgMark(db.url);
  const { walBytes } = await pgDelta(db.url, mark, end);
  const wal = await walOfDatabase(db.url, mark.lsn, end.lsn, (await checkpointCount(db.url)) - checkpoints);
  const after = await tableWrites(db.url);
  const touched = await touchedRows(db.url, xid);
  const rowsByTable: Record<string, number> = {};
  for (const [table, n] of Object.entries(after)) {
    const d = n - (before[table] ?? 0);
    if (d !== 0) rowsByTable[table] = d;
  }
  const calls = callsByAction(sim, t0, t0 + wallMs);
  const times = sim.requests.filter((r) => r.at >= t0 && r.at <= t0 + wallMs).map((r) => r.at);
  const describeInstancesCalls = calls.DescribeInstances ?? 0;
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const floorMs = total * o.latencyMs;
  const attributeAndLinkRows = QUIET_TABLES.reduce((a, t) => a + (rowsByTable[t] ?? 0), 0);
  const figures: RefreshFigures = {
    mode,
    instances,
    wallMs,
    floorMs,
    ratioToFloor: wallMs / floorMs,
    firstCallMs: (times[0] ?? t0) - t0,
    callsMs: (times.at(-1) ?? t0) - (times[0] ?? t0),
    callsByAction: calls,
    describeInstancesCalls,
    idsPerDescribeInstances: instances / Math.max(1, describeInstancesCalls),
    describeVpcsCalls: calls.DescribeVpcs ?? 0,
    job,
    rowsByTable,
    attributeAndLinkRows,
    touched,
    walBytes,
    wal,
  };
  progress(
    `enrichment (${mode}): no-op refresh of ${instances} instances in ${(wallMs / 1000).toFixed(1)} s ` +
      `(floor ${(floorMs / 1000).toFixed(1)} s), calls ${JSON.stringify(calls)}, rows ${JSON.stringify(rowsByTable)}, ` +
      `attribute rows written/locked ${JSON.stringify(touched)}, ` +
      `WAL of its database ${(wal.bytes / 1024 / 1024).toFixed(1)} MB (${JSON.stringify(wal.byType)}; ` +
      `${wal.fullPageImages} full-page images of a ${wal.instancesPages}-page table, ${wal.checkpoints} checkpoint(s))`,
  );
  const newVersions = Object.values(touched).reduce((a, t) => a + t.written, 0);
  if (
    attributeAndLinkRows !== 0 ||
    newVersions !== 0 ||
    job.written !== 0 ||
    job.released !== 0 ||
    job.vpcsWritten !== 0
  ) {
    throw new Error(
      `enrichment: a no-op refresh wrote ${attributeAndLinkRows} attribute/link row(s): ${JSON.stringify({ rowsByTable, touched, job })}`,
    );
  }
  if (describeInstancesCalls !== Math.ceil(instances / 100)) {
    throw new Error(
      `enrichment: ${describeInstancesCalls} DescribeInstances calls for ${instances} instances (expected ${Math.ceil(instances / 100)})`,
    );
  }
  return figures;
}

export async function enrichmentScenario(o: ContextBenchOptions): Promise<EnrichmentFigures> {
  const vpcs = Math.round(100 * o.scale);
  const linksPerVpc = 1_000;
  const instances = vpcs * linksPerVpc;
  progress(`enrichment: building ${vpcs} VPCs × ${linksPerVpc} links (${instances} linked instances)`);
  const sim = await startSimulator({
    port: 0,
    seed: 15,
    regions: [REGION],
    vpcsPerRegion: vpcs,
    linksPerVpc,
    unlinkedPerRegion: 10,
    faults: { latencyMs: o.latencyMs },
    maxRecordedRequests: 200_000,
  });
  const db = await createBenchDb();
  const redis = await openBenchRedis();
  try {
    const worker = await startService(redis, serviceEnv(sim, db, redis, o));
    const t0 = Date.now();
    try {
      await syncRound(redis, worker, 900_000);
    } finally {
      await worker.stop();
    }
    const baselineMs = Date.now() - t0;
    const rows = await counts(db.url);
    progress(
      `enrichment: baseline synced and described in ${(baselineMs / 1000).toFixed(1)} s ` +
        `(${rows.instances} instances, ${rows.vpcs} VPCs described)`,
    );
    if (rows.instances !== instances || rows.vpcs !== vpcs) {
      throw new Error(
        `enrichment: baseline described ${rows.instances}/${instances} instances, ${rows.vpcs}/${vpcs} VPCs`,
      );
    }
    await analyze(db.url);
    const baseline = {
      wallMs: baselineMs,
      callsByAction: callsByAction(sim, t0),
      instancesRows: rows.instances,
      vpcsRows: rows.vpcs,
    };
    const refresh = [
      await noopRefresh(sim, db, redis, o, 'discovery', instances),
      await noopRefresh(sim, db, redis, o, 'targets', instances),
    ];
    return {
      name: 'enrichment',
      description: `no-op enrichment refresh of ${instances} linked instances in ${vpcs} VPCs`,
      vpcs,
      instances,
      latencyMs: o.latencyMs,
      baseline,
      refresh,
    };
  } finally {
    await redis.close();
    await sim.close();
    await db.drop();
  }
}
