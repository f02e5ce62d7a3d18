/**
 * Benchmark plumbing: a fresh database per scenario (dropped after), a unique queue prefix on
 * either queue backend (obliterated after), worker child processes of the real CLI, Postgres write counters, and
 * small helpers (percentiles, sliding windows, formatting). Loopback only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createLogger } from '../src/log.js';
import {
  createQueues,
  migrateQueueSchema,
  openQueueBackend,
  type QueueBackendSpec,
  type Queues,
  queueSchema,
} from '../src/queue/index.js';
import { mulberry32 } from '../src/simulator/random.js';
import { migrateDatabase, quoteIdent } from '../src/store/migrate.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER = 'postgres://postgres@127.0.0.1:5432';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export const silent = createLogger({ level: 'silent' });

export function progress(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[${t}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Postgres

export interface BenchDb {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

export async function createBenchDb(): Promise<BenchDb> {
  const name = `classiclink_bench_${randomBytes(8).toString('hex')}`;
  const url = `${SERVER}/${name}`;
  await migrateDatabase({ databaseUrl: url, log: silent });
  return { name, url, drop: () => admin(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`) };
}

export interface PgMark {
  lsn: string;
  tuples: number;
}

/**
 * WAL position and this database's tuple writes. Call it when no worker backend is connected
 * (backends flush their statistics when they exit), after pg_stat_force_next_flush for ours.
 * WAL is cluster-wide: anything else writing on the server at the time is counted too.
 */
export async function pgMark(url: string): Promise<PgMark> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await c.query<{ lsn: string; tuples: string }>(
      `SELECT pg_current_wal_lsn()::text AS lsn,
              (tup_inserted + tup_updated + tup_deleted)::text AS tuples
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    const r = rows[0];
    if (!r) throw new Error('no pg_stat_database row');
    return { lsn: r.lsn, tuples: Number(r.tuples) };
  } finally {
    await c.end();
  }
}

/**
 * Ends every other backend of the database, and waits until they are gone: a pooler (PgBouncer)
 * keeps its server connections after the workers exit, and a backend flushes its statistics only
 * when it exits (or up to 10 s after it goes idle) — `pgMark` would miss the round's last writes
 * and count them in the next round.
 */
export async function endOtherBackends(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (;;) {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      if ((rows[0]?.n ?? 0) === 0) return;
      await sleep(50);
    }
  } finally {
    await c.end();
  }
}

export async function pgDelta(
  url: string,
  from: PgMark,
  to: PgMark,
): Promise<{ rows: number; walBytes: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS d', [
      to.lsn,
      from.lsn,
    ]);
    return { rows: to.tuples - from.tuples, walBytes: Number(rows[0]?.d ?? 0) };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Queues (QUEUE_BACKEND: the machine's Redis, or BullMQ's Postgres backend)

export type BenchBackend = 'redis' | 'postgres';

/** The queue database of the Postgres backend's runs: apart from the scenario's, whose rows are counted. */
const QUEUE_DB = 'classiclink_bench_queues';

export interface BenchQueues {
  backend: BenchBackend;
  prefix: string;
  queues: Queues;
  /** The workers' queue settings: REDIS_URL, or QUEUE_BACKEND=postgres and QUEUE_DATABASE_URL. */
  env: Record<string, string>;
  /**
   * Worker processes connected: BullMQ's list of the sync queue's workers on Redis; on Postgres the
   * LISTEN connections on the queue database (one per process: BullMQ finds Postgres workers by
   * their connection's name, and one connection serves all of a process's workers).
   */
  workers(): Promise<number>;
  /** Obliterates the queues and removes every other key or row of the prefix (limiter lanes). */
  close(): Promise<void>;
}

export async function openBenchQueues(kind: BenchBackend = 'redis'): Promise<BenchQueues> {
  const prefix = `bench-${randomUUID()}`;
  let spec: QueueBackendSpec;
  let env: Record<string, string>;
  if (kind === 'redis') {
    spec = { kind, redis: { REDIS_URL }, prefix };
    env = { REDIS_URL };
  } else {
    const databaseUrl = `${SERVER}/${QUEUE_DB}`;
    await admin(`CREATE DATABASE ${quoteIdent(QUEUE_DB)}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // exists
    });
    await migrateQueueSchema(databaseUrl, prefix);
    spec = { kind, databaseUrl, prefix };
    env = { QUEUE_BACKEND: 'postgres', QUEUE_DATABASE_URL: databaseUrl };
  }
  const backend = openQueueBackend(spec, silent);
  const queues = createQueues({ backend, syncAttempts: 3, syncBackoffMs: 200 });
  return {
    backend: kind,
    prefix,
    queues,
    env,
    async workers() {
      const store = backend.limiterStore();
      if (store.kind === 'redis') return (await queues.sync.getWorkers()).length;
      const { rows } = await store.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND query ~ 'LISTEN bullmq_jobs'`,
      );
      return rows[0]?.n ?? 0;
    },
    async close() {
      await queues.obliterate().catch(() => undefined);
      await queues.close();
      const store = backend.limiterStore();
      if (store.kind === 'redis') {
        let cursor = '0';
        do {
          const [next, keys] = await store.redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await store.redis.del(...keys);
        } while (cursor !== '0');
      } else {
        await store.pool.query(`DROP SCHEMA IF EXISTS "${queueSchema(prefix)}" CASCADE`);
      }
      await backend.close();
    },
  };
}

/** The Redis backend's queues (the scenarios that compare nothing across backends). */
export const openBenchRedis = (): Promise<BenchQueues> => openBenchQueues('redis');
export type BenchRedis = BenchQueues;

// ---------------------------------------------------------------------------------------------
// Worker child processes (`bin/classiclink-sync.js start --role worker`, compiled dist/)

/** Rebuilds dist/ (transpile only) when a source file is newer than it; the children run dist. */
export function ensureBuilt(): void {
  const newest = (dir: string): number => {
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      m = Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return m;
  };
  let built = 0;
  try {
    built = newest(join(ROOT, 'dist'));
  } catch {
    built = 0;
  }
  if (newest(join(ROOT, 'src')) <= built) return;
  progress('building dist/ for the worker processes (tsc --noCheck)…');
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
}

export interface WorkerProc {
  pid: number;
  proc: ChildProcess;
  /** Peak resident set (VmHWM), bytes, read from /proc while it runs. */
  peakRss(): number;
  /** CPU time (user + system) so far, ms, from /proc/<pid>/stat. */
  cpuMs(): number;
  stop(): Promise<void>;
  stderr(): string;
}

let home: string | undefined;

/** Node flags for the workers (`BENCH_WORKER_NODE_FLAGS="--trace-gc"`), to look inside a round. */
const workerNodeFlags = (process.env.BENCH_WORKER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

/** `--import` of bench/trace-writes.mjs, for a round run with `--trace-writes`. */
export const TRACE_WRITES_FLAGS = ['--import', join(ROOT, 'bench/trace-writes.mjs')];

export interface Quantiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

/** p50, p95 and max of `values` (ms), with how many. */
export function latencies(values: readonly number[]): { p50: number; p95: number; max: number; n: number } {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.ceil(v.length * q) - 1)] ?? 0;
  return { p50: at(0.5), p95: at(0.95), max: v.at(-1) ?? 0, n: v.length };
}

export function quantiles(values: readonly number[]): Quantiles {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(v.length * q))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: v.at(-1) ?? 0, n: v.length };
}

/**
 * For the requests the simulator recorded (nonce, arrival), how long each took from our
 * `request()` to undici's socket write, and from that write to the simulator's clock, from the
 * trace files that bench/trace-writes.mjs left in `dir`.
 */
export function writeTiming(
  dir: string,
  requests: readonly { nonce?: string; at: number }[],
): { requestToWrite: Quantiles; writeToArrival: Quantiles } {
  const created = new Map<string, number>();
  const written = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const [kind, nonce, ms] = line.split(' ');
      if (nonce === undefined || ms === undefined) continue;
      (kind === 'c' ? created : written).set(nonce, Number(ms));
    }
  }
  const toWrite: number[] = [];
  const toArrival: number[] = [];
  for (const r of requests) {
    const c = r.nonce === undefined ? undefined : created.get(r.nonce);
    const w = r.nonce === undefined ? undefined : written.get(r.nonce);
    if (c === undefined || w === undefined) continue;
    toWrite.push(w - c);
    toArrival.push(r.at - w);
  }
  return { requestToWrite: quantiles(toWrite), writeToArrival: quantiles(toArrival) };
}

export function spawnWorker(
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
  roles = 'worker',
): WorkerProc {
  home ??= mkdtempSync(join(tmpdir(), 'classiclink-bench-home-'));
  const proc = spawn(
    process.execPath,
    [...workerNodeFlags, ...nodeFlags, join(ROOT, 'bin/classiclink-sync.js'), 'start', '--role', roles],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
        ...env,
      },
      stdio: [
        'ignore',
        process.env.BENCH_WORKER_STDOUT ? openSync(process.env.BENCH_WORKER_STDOUT, 'a') : 'ignore',
        'pipe',
      ],
    },
  );
  let err = '';
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err = (err + s).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const pid = proc.pid ?? -1;
  return {
    pid,
    proc,
    peakRss() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    cpuMs() {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
        return (Number(fields[11]) + Number(fields[12])) * 10;
      } catch {
        return 0;
      }
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    stderr: () => err,
  };
}

/** Resolves once `n` worker processes are connected to the queues (`BenchQueues.workers`). */
export async function waitForWorkers(
  bench: Pick<BenchQueues, 'workers'>,
  n: number,
  procs: readonly WorkerProc[],
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await bench.workers()) >= n) return;
    for (const p of procs) {
      if (p.proc.exitCode !== null) throw new Error(`worker ${p.pid} exited: ${p.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error('workers did not connect within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Most timestamps in any half-open window [t, t + ms). */
export function maxInWindow(times: readonly number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** A small seeded PRNG for reproducible churn (the simulator's mulberry32). */
export const rng = mulberry32;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
