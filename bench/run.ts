/**
 * `npm run bench` (`-- --quick` for A and B at a tenth of the size; `-- --only=F,G,H` for the
 * change feed's scenarios alone, bench/feed.ts, `--quick` with it for a smaller size;
 * `-- --only=A-pgb,B-pgb` for A and B direct and through PgBouncer): the sync pipeline against the
 * simulator, real Postgres (a fresh database per world, dropped after) and real Redis (a unique
 * prefix, obliterated after), with the workers as child processes of the real CLI. Prints a table
 * and writes bench/results/latest.json. Every figure is compared with a floor measured in the same
 * run: the latency bound (calls × latency ÷ concurrency) or the QPS cap (calls ÷ QPS). `console`:
 * the console's reads at 1,000,000 links and 2,000,000 events (bench/console.ts). `attribution`
 * and `enrichment`: the context side (bench/context.ts), in a full run or when named with `--only`
 * (`--quick` with it for a tenth of the size); they write bench/results/context-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createEcsClient } from '../src/aliyun/client.js';
import { staticCredentialsProvider } from '../src/credentials/index.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.js';
import { pgbouncerPath, startPgBouncer } from '../test/helpers/pgbouncer.js';
import { type ClientFigures, compareClients } from './client.js';
import { type ConsoleFigures, consoleScenario } from './console.js';
import { attributionScenario, enrichmentScenario } from './context.js';
import { type CostFigures, costScenario, type LatencyFigures, latencyScenario } from './feed.js';
import {
  type BenchBackend,
  type BenchDb,
  createBenchDb,
  ensureBuilt,
  progress,
  ROOT,
  rng,
  silent,
} from './lib.js';
import { LINK_ACTION, type RoundFigures, runRound } from './scenarios.js';

const quick = process.argv.includes('--quick');
/** `--trace-writes`: time each request's socket write in the workers, and its arrival (slower). */
const traceWrites = process.argv.includes('--trace-writes');
/** `--only A,D2,E,client`: a subset, for working on one figure (A runs whenever B or C does). */
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = onlyArg === undefined ? undefined : new Set(onlyArg.split(','));
const want = (name: string): boolean => only === undefined || only.has(name);
const scale = quick ? 0.1 : 1;
/**
 * `--backends=redis,postgres` (the default): the queue backends A, B and E run on, one after the
 * other against the same world; a Postgres figure is named with `-pg` (A-pg, B-pg, E2-pg). C, D and
 * the rest run on Redis.
 */
const backendsArg = process.argv.find((a) => a.startsWith('--backends='))?.slice('--backends='.length);
const BACKENDS = (backendsArg ?? 'redis,postgres').split(',').map((b) => {
  if (b !== 'redis' && b !== 'postgres')
    throw new Error(`--backends: expected redis and/or postgres, got ${b}`);
  return b as BenchBackend;
});
const named = (name: string, backend: BenchBackend) => (backend === 'redis' ? name : `${name}-pg`);
const LATENCY_MS = 50;
const CONCURRENCY = 4; // SYNC_CONCURRENCY's default
const REGION = 'cn-hangzhou';

interface ScenarioResult extends RoundFigures {
  name: string;
  description: string;
}

const results: ScenarioResult[] = [];
const notes: Record<string, unknown> = {};

function simOptions(vpcs: number, links: number, extra: SimulatorOptions = {}): SimulatorOptions {
  return {
    port: 0,
    seed: 1,
    regions: [REGION],
    vpcsPerRegion: vpcs,
    linksPerVpc: links,
    unlinkedPerRegion: 1_000,
    faults: { latencyMs: LATENCY_MS },
    maxRecordedRequests: 200_000,
    ...extra,
  };
}

function record(name: string, description: string, f: RoundFigures): ScenarioResult {
  const r = { name, description, ...f };
  results.push(r);
  progress(
    `${name}: ${(f.wallMs / 1000).toFixed(1)} s, ${f.apiCalls} calls, ${Math.round(f.linksPerSec)} links/s, ` +
      `${f.pgRows} rows, worker CPU ${f.workerCpuMs.map((c) => (c / 1000).toFixed(1)).join('/')} s, ` +
      `sim CPU ${(f.simCpuMs / 1000).toFixed(1)} s, ratio to floor ${f.ratioToFloor.toFixed(2)}, runs ${JSON.stringify(f.runs)}`,
  );
  if (f.writeTiming) {
    const q = (x: { p50: number; p99: number; max: number }) =>
      `p50 ${x.p50} / p99 ${x.p99} / max ${x.max} ms`;
    progress(
      `${name}: request() to socket write ${q(f.writeTiming.requestToWrite)}; ` +
        `write to the simulator's clock ${q(f.writeTiming.writeToArrival)} (${f.writeTiming.writeToArrival.n} calls)`,
    );
  }
  return r;
}

/** The bare client: page fetches only (no queue, no database), same simulator and concurrency. */
async function bareClient(
  sim: RunningSimulator,
  calls: number,
): Promise<{ linksPerSec: number; callsPerSec: number }> {
  const key = sim.keys[0];
  if (!key) throw new Error('no key');
  const client = createEcsClient({
    credentials: staticCredentialsProvider(key),
    signature: 'v3',
    ecsEndpoint: sim.url,
    vpcEndpoint: sim.url,
    timeoutMs: 10_000,
    retryDeadlineMs: 0,
    log: silent,
  });
  const vpcs = sim.world.vpcs(REGION);
  let next = 0;
  let links = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < calls) {
        const vpcId = vpcs[next++ % vpcs.length] as string;
        const page = await client.describeClassicLinkInstances({ regionId: REGION, vpcId, pageSize: 100 });
        links += page.links.length;
      }
    }),
  );
  const ms = performance.now() - t0;
  await client.close();
  return { linksPerSec: (links / ms) * 1000, callsPerSec: (calls / ms) * 1000 };
}

/** 1 % churn: half detaches of random links, half attaches of unlinked instances to random VPCs. */
function churn(sim: RunningSimulator, share: number): { attached: number; detached: number } {
  const random = rng(42);
  const links = sim.world.links(REGION);
  const vpcs = sim.world.vpcs(REGION);
  const n = Math.round(links.length * share);
  let detached = 0;
  const picked = new Set<number>();
  while (detached < n / 2) {
    const i = Math.floor(random() * links.length);
    if (picked.has(i)) continue;
    picked.add(i);
    const l = links[i];
    if (!l) continue;
    sim.world.detach(REGION, l.instanceId, l.vpcId);
    detached++;
  }
  let attached = 0;
  while (attached < n - detached) {
    const instance = sim.world.createInstance(REGION);
    sim.world.attach(REGION, instance, vpcs[Math.floor(random() * vpcs.length)] as string);
    attached++;
  }
  return { attached, detached };
}

async function withWorld<T>(
  opts: SimulatorOptions,
  fn: (sim: RunningSimulator, db: BenchDb) => Promise<T>,
): Promise<T> {
  const sim = await startSimulator(opts);
  const db = await createBenchDb();
  try {
    return await fn(sim, db);
  } finally {
    await sim.close();
    await db.drop();
  }
}

/** PgBouncer's own default_pool_size: more server connections than a worker's pool (14) opens. */
const PGBOUNCER_POOL_SIZE = 20;

async function syncScenarios(): Promise<void> {
  const vpcs = Math.round(1_000 * scale);
  const links = vpcs * 100;
  const latencyFloor = { kind: 'latency' as const, latencyMs: LATENCY_MS };
  /** One round of one worker process against `sim`, bound below by API latency. */
  const latencyRound = (
    sim: RunningSimulator,
    db: BenchDb,
    links: number,
    opts: { backend?: BenchBackend; databaseUrl?: string } = {},
  ) =>
    runRound({
      sim,
      db,
      processes: 1,
      concurrency: CONCURRENCY,
      links,
      floor: latencyFloor,
      traceWrites,
      backend: opts.backend,
      databaseUrl: opts.databaseUrl,
    });
  // A-pgb and B-pgb are compared with A and B of the same run: wanting them runs those too.
  const pgb = want('A-pgb') || want('B-pgb');
  if (want('A') || want('B') || want('C') || pgb)
    await withWorld(simOptions(vpcs, 100), async (sim, db) => {
      progress(
        `bare client: page fetches against the A world (${LATENCY_MS} ms, concurrency ${CONCURRENCY})`,
      );
      const bare = await bareClient(sim, Math.round(400 * (quick ? 0.5 : 1)));
      notes.bareClient = bare;
      progress(
        `bare client: ${Math.round(bare.linksPerSec)} links/s, ${bare.callsPerSec.toFixed(1)} calls/s`,
      );

      // A then B per backend; the world's links stay as they are, so each backend's A starts from
      // an empty database of its own.
      for (const [i, backend] of BACKENDS.entries()) {
        const on = backend === 'redis' ? '' : ' (QUEUE_BACKEND=postgres)';
        const target = i === 0 ? db : await createBenchDb();
        try {
          progress(
            `${named('A', backend)}: initial sync of ${vpcs} VPCs × 100 links at ${LATENCY_MS} ms${on}`,
          );
          const a = await latencyRound(sim, target, links, { backend });
          const ra = record(
            named('A', backend),
            `initial sync, ${vpcs} VPCs × 100 links, ${LATENCY_MS} ms latency${on}`,
            a,
          );
          if (backend === 'redis') notes.aLinksPerSecVsBareClient = ra.linksPerSec / bare.linksPerSec;

          if (!want('B') && !want('C') && !pgb) continue;
          progress(`${named('B', backend)}: no-op resync of the same world${on}`);
          const b = await latencyRound(sim, target, links, { backend });
          const rb = record(named('B', backend), `no-op resync of the same world${on}`, b);
          if (backend === 'redis') notes.bRowsPerTarget = rb.pgRows / Math.max(1, rb.targets);
        } finally {
          if (i > 0) await target.drop();
        }
      }
      ratios('A');
      ratios('B');

      if (quick || !want('C')) return;
      const changed = churn(sim, 0.01);
      progress(`C: resync after 1 % churn (${changed.attached} attached, ${changed.detached} detached)`);
      // C follows the Redis A and B in the first database (the world changed after them).
      const c = await latencyRound(sim, db, links);
      record('C', `resync after 1 % churn (+${changed.attached} / −${changed.detached})`, c);
    });
  if (pgb) await pgbouncerScenarios(vpcs, links, latencyRound);
  if (quick) return;

  if (want('D1'))
    await withWorld(simOptions(10, 1_000), async (sim, db) => {
      progress('D1: 10 VPCs × 1,000 links (pages dominate)');
      const d = await latencyRound(sim, db, 10_000);
      record('D1', '10 VPCs × 1,000 links (10 pages each)', d);
    });

  if (!want('D2')) return;
  progress('D2: building a world of 10,000 VPCs × 100 links');
  await withWorld(simOptions(10_000, 100), async (sim, db) => {
    progress('D2: 10,000 VPCs × 100 links (1,000,000 links)');
    const d = await latencyRound(sim, db, 1_000_000);
    record('D2', '10,000 VPCs × 100 links (1,000,000 links)', d);
  });
}

/**
 * A-pgb, B-pgb: A and B again, on a world of their own (the same seed), with the worker's
 * DATABASE_URL through a PgBouncer 1.18 in pool_mode=transaction on loopback (test/helpers/
 * pgbouncer.ts) and DATABASE_DIRECT_URL direct; their wall time over A's and B's of this run.
 */
async function pgbouncerScenarios(
  vpcs: number,
  links: number,
  round: (
    sim: RunningSimulator,
    db: BenchDb,
    links: number,
    opts: { databaseUrl?: string },
  ) => Promise<RoundFigures>,
): Promise<void> {
  if (pgbouncerPath() === undefined) {
    progress('A-pgb, B-pgb: skipped, no pgbouncer (apt-get install -y pgbouncer)');
    return;
  }
  const bouncer = await startPgBouncer({ poolSize: PGBOUNCER_POOL_SIZE });
  try {
    await withWorld(simOptions(vpcs, 100), async (sim, db) => {
      const via = bouncer.via(db.url);
      progress(`A-pgb: initial sync of ${vpcs} VPCs × 100 links, DATABASE_URL through PgBouncer`);
      const a = record(
        'A-pgb',
        'A through PgBouncer (transaction pooling)',
        await round(sim, db, links, { databaseUrl: via }),
      );
      progress('B-pgb: no-op resync, DATABASE_URL through PgBouncer');
      const b = record(
        'B-pgb',
        'B through PgBouncer (transaction pooling)',
        await round(sim, db, links, { databaseUrl: via }),
      );
      const direct = new Map(results.map((r) => [r.name, r]));
      const ratio = (pooled: ScenarioResult, name: string) => {
        const d = direct.get(name);
        return d === undefined ? undefined : pooled.wallMs / d.wallMs;
      };
      notes.pgbouncerWallVsDirect = { A: ratio(a, 'A'), B: ratio(b, 'B'), poolSize: PGBOUNCER_POOL_SIZE };
      progress(`PgBouncer vs direct, wall time: ${JSON.stringify(notes.pgbouncerWallVsDirect)}`);
    });
  } finally {
    await bouncer.close();
  }
}

/**
 * E: API_MAX_QPS=20, 2,000 calls, with 1, 2 and 4 worker processes, one after another, each
 * against its own simulator, database and Redis prefix. (Run at the same time they were shorter,
 * but three simulators in one loaded process added arrival jitter that the simulator's sliding
 * window then counted against the cap.)
 */
async function qpsScenarios(): Promise<void> {
  const qps = 20;
  // 1,960 sync calls (one page each) + 40 DescribeVpcs pages = 2,000 calls.
  const vpcs = 1_960;
  progress(`E: API_MAX_QPS=${qps}, ${vpcs + 40} calls each, 1 / 2 / 4 worker processes, one after another`);
  const figures: { processes: number; backend: BenchBackend; f: RoundFigures }[] = [];
  for (const backend of BACKENDS)
    for (const processes of [1, 2, 4]) {
      figures.push({
        processes,
        backend,
        f: await withWorld(
          simOptions(vpcs, 10, {
            seed: 100 + processes,
            // The simulator throttles what passes the cap in its sliding window: any overshoot of
            // ours shows up as a Throttling answer, too.
            faults: { latencyMs: LATENCY_MS, qpsCap: qps, actions: [LINK_ACTION] },
          }),
          (sim, db) =>
            runRound({
              sim,
              db,
              processes,
              concurrency: CONCURRENCY,
              qps,
              links: vpcs * 10,
              floor: { kind: 'cap', qps },
              traceWrites,
              backend,
            }),
        ),
      });
    }
  for (const { processes, backend, f } of figures) {
    const on = backend === 'redis' ? '' : ' (QUEUE_BACKEND=postgres)';
    record(
      named(`E${processes}`, backend),
      `API_MAX_QPS=${qps}, ${f.apiCalls} calls, ${processes} worker process(es)${on}`,
      f,
    );
  }
  for (const p of [1, 2, 4]) ratios(`E${p}`);
}

/** A figure on Postgres over the same figure on Redis, from this run (notes.backendRatios). */
function ratios(name: string): void {
  const redis = results.find((r) => r.name === name);
  const pg = results.find((r) => r.name === `${name}-pg`);
  if (!redis || !pg) return;
  const r = {
    wall: pg.wallMs / redis.wallMs,
    linksPerSec: pg.linksPerSec / redis.linksPerSec,
    workerCpu:
      pg.workerCpuMs.reduce((a, b) => a + b, 0) /
      Math.max(
        1,
        redis.workerCpuMs.reduce((a, b) => a + b, 0),
      ),
    peakRss: Math.max(...pg.peakRssMb) / Math.max(1, ...redis.peakRssMb),
    maxCallsInAnySecond: [redis.maxCallsInAnySecond, pg.maxCallsInAnySecond],
  };
  notes.backendRatios = { ...(notes.backendRatios as Record<string, unknown> | undefined), [name]: r };
  progress(
    `${name} Postgres/Redis: wall ${r.wall.toFixed(2)}×, links/s ${r.linksPerSec.toFixed(2)}×, worker CPU ${r.workerCpu.toFixed(2)}×, peak RSS ${r.peakRss.toFixed(2)}×` +
      (redis.maxCallsInAnySecond === undefined
        ? ''
        : `, max calls in any second ${redis.maxCallsInAnySecond} / ${pg.maxCallsInAnySecond}`),
  );
}

/** F, G, H: the change feed (bench/feed.ts). Full size unless `--quick`. */
interface FeedResults {
  F?: LatencyFigures;
  G?: LatencyFigures;
  H?: CostFigures;
}

async function feedScenarios(): Promise<FeedResults> {
  const out: FeedResults = {};
  const changes = quick ? 20 : 50;
  const windowMs = quick ? 40_000 : 100_000;
  const world = { vpcs: 100, changes, windowMs, actionTrailDelayMs: 2_000, feedIntervalMs: 5_000 };
  if (want('F')) out.F = await latencyScenario({ kind: 'poll', ...world });
  // EventBridge's delivery lag is not documented; 0.5 s after the call stands for it (the hook's own
  // part, push → committed event, is reported apart).
  if (want('G')) out.G = await latencyScenario({ kind: 'hook', ...world, pushDelayMs: 500 });
  if (want('H')) {
    out.H = await costScenario({
      regions: 20,
      vpcsPerRegion: 50,
      changesPerHour: 10,
      windowMs: quick ? 60_000 : 180_000,
      actionTrailDelayMs: 2_000,
      feedIntervalMs: 15_000,
      safetyNetMs: 3_600_000,
    });
  }
  return out;
}

function feedTable(r: FeedResults): string {
  const l = (x: { p50: number; p95: number; max: number }) =>
    `${(x.p50 / 1000).toFixed(2)} / ${(x.p95 / 1000).toFixed(2)} / ${(x.max / 1000).toFixed(2)}`;
  const lines: string[] = [];
  for (const f of [r.F, r.G]) {
    if (!f) continue;
    lines.push(
      `${f.name}: call→event s (p50/p95/max) ${l(f.callToEventMs)}; call→alert ${l(f.callToAlertMs)}` +
        (f.pushToEventMs ? `; push→event ${l(f.pushToEventMs)}` : '') +
        `; ${f.events} events / ${f.changes} changes, exactly once ${f.exactlyOnce}, false ${f.falseEvents}; target met ${f.met}`,
    );
  }
  if (r.H) {
    lines.push(
      `H: feed ${r.H.feed.totalPerHour} calls/h vs scan-only every ${r.H.scanOnly.intervalMs / 1000} s ${r.H.scanOnly.callsPerHour} calls/h: ${r.H.ratio.toFixed(1)}× fewer; target met ${r.H.met}`,
    );
  }
  return lines.join('\n');
}

function table(): string {
  const head = [
    'scenario',
    'wall s',
    'calls',
    'calls/s',
    'links/s',
    'pg rows',
    'WAL MB',
    'peak RSS MB',
    'floor s',
    'ratio',
    'max/1s',
  ];
  const rows = results.map((r) => [
    r.name,
    (r.wallMs / 1000).toFixed(1),
    String(r.apiCalls),
    r.callsPerSec.toFixed(1),
    String(Math.round(r.linksPerSec)),
    String(r.pgRows),
    (r.walBytes / 1024 / 1024).toFixed(1),
    r.peakRssMb.join('/'),
    (r.floorMs / 1000).toFixed(1),
    r.ratioToFloor.toFixed(2),
    r.maxCallsInAnySecond === undefined ? '' : String(r.maxCallsInAnySecond),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The context side's scenarios (bench/context.ts). */
const CONTEXT = ['attribution', 'enrichment'];

/** `attribution` and `enrichment`: in a full run, or when named (`--quick` then for a tenth). */
async function contextScenarios(started: number): Promise<void> {
  if (only === undefined ? quick : !CONTEXT.some((n) => only.has(n))) return;
  const o = { scale, latencyMs: LATENCY_MS, concurrency: CONCURRENCY };
  const attribution = want('attribution') ? await attributionScenario(o) : undefined;
  const enrichment = want('enrichment') ? await enrichmentScenario(o) : undefined;
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const out = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    quick,
    machine: { cpus: cpus().length, node: process.version },
    attribution,
    enrichment,
  };
  writeFileSync(join(dir, 'context-latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  progress('wrote bench/results/context-latest.json');
}

async function main(): Promise<void> {
  const started = Date.now();
  ensureBuilt();
  await contextScenarios(started);
  if (only !== undefined && [...only].every((n) => CONTEXT.includes(n))) return;
  let clients: { ours: ClientFigures; sdk: ClientFigures } | undefined;
  if (!quick && want('client')) {
    progress('client: our undici client vs @alicloud/ecs20140526, 0 ms latency, concurrency 8');
    clients = await compareClients(3_000, 8);
    progress(
      `client: ours ${clients.ours.callsPerSec.toFixed(0)} calls/s at ${clients.ours.cpuUsPerCall.toFixed(0)} µs CPU/call; ` +
        `SDK ${clients.sdk.callsPerSec.toFixed(0)} calls/s at ${clients.sdk.cpuUsPerCall.toFixed(0)} µs CPU/call`,
    );
  }
  const feedOnly = only !== undefined && [...only].every((n) => ['F', 'G', 'H'].includes(n));
  let consoleFigures: ConsoleFigures | undefined;
  if (!feedOnly) {
    await syncScenarios();
    if (!quick && want('E')) await qpsScenarios();
    if (!quick && want('console')) consoleFigures = await consoleScenario();
  }
  // The feed's scenarios: in a full run, and when named (`--only=F,G,H`, `--quick` for smaller).
  const feed = !quick || only !== undefined ? await feedScenarios() : {};
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  if (feed.F || feed.G || feed.H) {
    writeFileSync(
      join(dir, 'feed-latest.json'),
      `${JSON.stringify({ startedAt: new Date(started).toISOString(), quick, machine: { cpus: cpus().length, node: process.version }, ...feed }, null, 2)}\n`,
    );
    process.stdout.write(`\n${feedTable(feed)}\n`);
  }
  if (feedOnly) {
    progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote bench/results/feed-latest.json`);
    return;
  }

  const byName = new Map(results.map((r) => [r.name, r]));
  const a = byName.get('A');
  const d2 = byName.get('D2');
  if (a && d2) notes.d2TimePerLinkVsA = d2.wallMs / d2.links / (a.wallMs / a.links);
  const out = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    quick,
    machine: { cpus: cpus().length, node: process.version },
    latencyMs: LATENCY_MS,
    concurrency: CONCURRENCY,
    scenarios: Object.fromEntries(results.map((r) => [r.name, r])),
    clients,
    console: consoleFigures,
    notes,
  };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\n${table()}\n\n`);
  if (clients) {
    process.stdout.write(
      `client (0 ms, concurrency ${clients.ours.concurrency}): ours ${clients.ours.callsPerSec.toFixed(0)} calls/s, ` +
        `${clients.ours.cpuUsPerCall.toFixed(0)} µs CPU/call; SDK ${clients.sdk.callsPerSec.toFixed(0)} calls/s, ` +
        `${clients.sdk.cpuUsPerCall.toFixed(0)} µs CPU/call\n`,
    );
  }
  if (consoleFigures) {
    process.stdout.write(
      `console (${consoleFigures.links} links, ${consoleFigures.events} events): ${Object.entries(
        consoleFigures.reads,
      )
        .map(([name, f]) => `${name} p50 ${f.p50} / max ${f.max} ms`)
        .join('; ')}\n`,
    );
  }
  process.stdout.write(`notes: ${JSON.stringify(notes)}\n`);
  progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote bench/results/latest.json`);
}

await main();
// Stray handles (a pg client closing, an ioredis reconnect timer) must not keep the script alive.
process.exit(0);
