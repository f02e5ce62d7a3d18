/**
 * One measured sync round: worker child processes on a fresh Redis prefix, one plan job per
 * region, every sync job it enqueues; then the figures from the simulator's request log, the
 * database and /proc.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { RunningSimulator } from '../src/simulator/index.js';
import type { BenchDb } from './lib.js';
import {
  type BenchBackend,
  endOtherBackends,
  maxInWindow,
  openBenchQueues,
  pgDelta,
  pgMark,
  sleep,
  spawnWorker,
  TRACE_WRITES_FLAGS,
  waitForWorkers,
  writeTiming,
} from './lib.js';

export const ACCOUNT = 'bench';
export const LINK_ACTION = 'DescribeClassicLinkInstances';

export interface RoundSpec {
  sim: RunningSimulator;
  db: BenchDb;
  /** Worker processes. */
  processes: number;
  /** SYNC_CONCURRENCY of each. */
  concurrency: number;
  /** API_MAX_QPS; default effectively uncapped. */
  qps?: number;
  /** Links the world holds (what a round reads). */
  links: number;
  /**
   * The workers' DATABASE_URL, e.g. through PgBouncer; `db.url` is then their DATABASE_DIRECT_URL.
   * Default `db.url`. The figures are read over `db.url` either way.
   */
  databaseUrl?: string;
  /** Trace each request's socket write in the workers (bench/trace-writes.mjs). */
  traceWrites?: boolean;
  /** What bounds the round from below: API latency, or the QPS cap. */
  floor: { kind: 'latency'; latencyMs: number } | { kind: 'cap'; qps: number };
  /** QUEUE_BACKEND of the workers. Default redis. */
  backend?: BenchBackend;
}

export interface RoundFigures {
  wallMs: number;
  apiCalls: number;
  callsByAction: Record<string, number>;
  callsPerSec: number;
  links: number;
  linksPerSec: number;
  pgRows: number;
  walBytes: number;
  peakRssMb: number[];
  /** CPU time of each worker process during the round, and of this process (the simulator). */
  workerCpuMs: number[];
  simCpuMs: number;
  floorMs: number;
  ratioToFloor: number;
  runs: Record<string, number>;
  targets: number;
  throttled: number;
  /** QPS-capped rounds: most calls of one limiter key in any sliding 1 s window, and the rate. */
  maxCallsInAnySecond?: number;
  achievedQps?: number;
  achievedShareOfCap?: number;
  /** With `traceWrites`: ms from our request() to the socket write, and from it to the simulator. */
  writeTiming?: ReturnType<typeof writeTiming>;
}

async function maxRunId(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM sync_runs');
    return rows[0]?.id ?? '0';
  } finally {
    await c.end();
  }
}

async function runOutcome(
  url: string,
  afterId: string,
): Promise<{ runs: Record<string, number>; lastFinished: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ status: string; n: number; last: Date | null }>(
      `SELECT status, count(*)::int AS n, max(finished_at) AS last
         FROM sync_runs WHERE id > $1::bigint GROUP BY status`,
      [afterId],
    );
    const runs: Record<string, number> = {};
    let lastFinished = 0;
    for (const r of rows) {
      runs[r.status] = r.n;
      if (r.last) lastFinished = Math.max(lastFinished, r.last.getTime());
    }
    return { runs, lastFinished };
  } finally {
    await c.end();
  }
}

export async function runRound(spec: RoundSpec): Promise<RoundFigures> {
  const { sim, db } = spec;
  const key = sim.keys[0];
  if (!key) throw new Error('simulator has no key');
  const regions = sim.world.regions();
  const bench = await openBenchQueues(spec.backend ?? 'redis');
  const env: Record<string, string> = {
    DATABASE_URL: spec.databaseUrl ?? db.url,
    ...(spec.databaseUrl === undefined ? {} : { DATABASE_DIRECT_URL: db.url }),
    ...bench.env,
    QUEUE_PREFIX: bench.prefix,
    SYNC_ACCOUNT: ACCOUNT,
    ECS_ENDPOINT: sim.url,
    VPC_ENDPOINT: sim.url,
    // The workers' context jobs (attributes, causes) read the simulator too, never the cloud.
    ACTIONTRAIL_ENDPOINT: `${sim.url}/{region}`,
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret,
    SYNC_REGIONS: regions.join(','),
    SYNC_CONCURRENCY: String(spec.concurrency),
    API_MAX_QPS: String(spec.qps ?? 10_000),
    API_RETRY_DEADLINE: '30s',
    LOG_LEVEL: 'warn',
  };
  const before = await pgMark(db.url);
  const afterId = await maxRunId(db.url);
  const traceDir = spec.traceWrites ? mkdtempSync(join(tmpdir(), 'classiclink-bench-trace-')) : undefined;
  if (traceDir) env.BENCH_TRACE_DIR = traceDir;
  const flags = traceDir ? TRACE_WRITES_FLAGS : [];
  const workers = Array.from({ length: spec.processes }, () => spawnWorker(env, flags));
  try {
    await waitForWorkers(bench, spec.processes, workers);
    sim.clearRequests();
    const cpu0 = workers.map((w) => w.cpuMs());
    const simCpu0 = process.cpuUsage();
    const t0 = Date.now();
    const planIds = await Promise.all(
      regions.map((regionId) => bench.queues.enqueuePlan({ account: ACCOUNT, regionId })),
    );
    let targets = 0;
    for (const id of planIds) targets += (await bench.queues.waitFor('plan', id, 900_000)).targets.length;
    for (;;) {
      const depth = await bench.queues.depth();
      if (depth.sync === 0 && depth.plan === 0) break;
      for (const w of workers) {
        if (w.proc.exitCode !== null) throw new Error(`worker ${w.pid} exited: ${w.stderr()}`);
      }
      await sleep(100);
    }
    const { runs, lastFinished } = await runOutcome(db.url, afterId);
    const wallMs = Math.max(1, lastFinished - t0);
    const peakRssMb = workers.map((w) => Math.round(w.peakRss() / 1024 / 1024));
    const workerCpuMs = workers.map((w, i) => w.cpuMs() - (cpu0[i] ?? 0));
    const simCpu = process.cpuUsage(simCpu0);
    const simCpuMs = Math.round((simCpu.user + simCpu.system) / 1000);
    await Promise.all(workers.map((w) => w.stop()));
    // PgBouncer's server connections outlive the workers: their statistics must reach pgMark.
    if (spec.databaseUrl !== undefined) await endOtherBackends(db.url);
    const after = await pgMark(db.url);
    const { rows, walBytes } = await pgDelta(db.url, before, after);

    const requests = sim.requests.filter((r) => r.at >= t0);
    const extra: Partial<RoundFigures> = {};
    if (traceDir) {
      extra.writeTiming = writeTiming(
        traceDir,
        requests.filter((r) => r.action === LINK_ACTION),
      );
    }
    const callsByAction: Record<string, number> = {};
    for (const r of requests) callsByAction[r.action] = (callsByAction[r.action] ?? 0) + 1;
    const apiCalls = requests.length;
    const throttled = requests.filter((r) => r.code?.startsWith('Throttling') === true).length;
    const slots = spec.concurrency * spec.processes;
    let floorMs: number;
    if (spec.floor.kind === 'latency') {
      floorMs = (apiCalls * spec.floor.latencyMs) / slots;
    } else {
      const qps = spec.floor.qps;
      const linkTimes = requests.filter((r) => r.action === LINK_ACTION).map((r) => r.at);
      floorMs = (linkTimes.length / qps) * 1000;
      const span = Math.max(...linkTimes) - Math.min(...linkTimes);
      extra.maxCallsInAnySecond = maxInWindow(linkTimes, 1000);
      // Calls after the first second's allowance, over the time they took: the sustained rate.
      extra.achievedQps = ((linkTimes.length - qps) / span) * 1000;
      extra.achievedShareOfCap = extra.achievedQps / qps;
    }
    return {
      wallMs,
      apiCalls,
      callsByAction,
      callsPerSec: (apiCalls / wallMs) * 1000,
      links: spec.links,
      linksPerSec: (spec.links / wallMs) * 1000,
      pgRows: rows,
      walBytes,
      peakRssMb,
      workerCpuMs,
      simCpuMs,
      floorMs,
      ratioToFloor: wallMs / floorMs,
      runs,
      targets,
      throttled,
      ...extra,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await bench.close();
    if (traceDir) rmSync(traceDir, { recursive: true, force: true });
  }
}
