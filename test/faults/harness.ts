/**
 * The fault suite's harness: a world of real servers (the simulator, Postgres, Redis, a webhook
 * receiver), a log of every change made to the simulated world, drivers that change the world
 * while scans run, rounds driven from the test side, and the invariant checks every scenario ends
 * with once the world has settled.
 *
 * Why a change log instead of before/after snapshots: "every change is recorded exactly once" can
 * only be checked against the changes themselves. The log wraps the world's own attach/detach (so
 * it also sees the simulator's pagination drift), and the churn driver changes each link at most
 * once per scenario, so every logged change is observable by some complete scan and the expected
 * non-baseline events are exactly the log.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { expect, inject } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { type Config, loadConfig } from '../../src/config.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { Lifecycle } from '../../src/lifecycle.js';
import type { TargetRef } from '../../src/links.js';
import { createLogger, type Logger } from '../../src/log.js';
import { createQueues, type Queues, type SyncJobResult } from '../../src/queue/index.js';
import { openAccount, openDatabase, openMessaging, startWorkers } from '../../src/service.js';
import {
  type RunningSimulator,
  type SimulatorOptions,
  type SimWorld,
  startSimulator,
} from '../../src/simulator/index.js';
import { mulberry32 } from '../../src/simulator/random.js';
import { migrateDatabase } from '../../src/store/migrate.js';
import { createTestDb } from '../helpers/db.js';
import { type Receiver, startReceiver } from '../helpers/receivers.js';

export const silent = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where each scenario writes its figures (merged into results/latest.json at teardown). */
    faultsRunDir: string;
  }
}

// ---------------------------------------------------------------------------------------------
// The world change log.

export interface WorldChange {
  op: 'attach' | 'detach';
  regionId: string;
  vpcId: string;
  instanceId: string;
  /** Who made it: the test's drivers, or the simulator itself (pagination drift). */
  by: 'test' | 'simulator';
}

export interface WorldLog {
  changes: WorldChange[];
  /** Links (vpc/instance) present when recording started. */
  baseline: Set<string>;
  /** Starts recording (after the baseline round). */
  start(): void;
  /** Links changed since recording started (a driver never changes one twice). */
  touched: Set<string>;
  /** Who the next changes are made by (the drivers set 'test' around their calls). */
  actor: 'test' | 'simulator';
}

const key = (vpcId: string, instanceId: string) => `${vpcId}/${instanceId}`;

/** Wraps the world's attach/detach: every change, from the test, churn or drift, is logged. */
export function recordWorld(sim: RunningSimulator): WorldLog {
  const world: SimWorld = sim.world;
  const attach = world.attach.bind(world);
  const detach = world.detach.bind(world);
  const log: WorldLog = {
    changes: [],
    baseline: new Set(),
    touched: new Set(),
    actor: 'simulator',
    start() {
      log.baseline = new Set(allTruth(sim));
      recording = true;
    },
  };
  let recording = false;
  world.attach = (regionId, instanceId, vpcId) => {
    attach(regionId, instanceId, vpcId);
    if (!recording) return;
    log.changes.push({ op: 'attach', regionId, vpcId, instanceId, by: log.actor });
    log.touched.add(key(vpcId, instanceId));
  };
  world.detach = (regionId, instanceId, vpcId) => {
    detach(regionId, instanceId, vpcId);
    if (!recording) return;
    log.changes.push({ op: 'detach', regionId, vpcId, instanceId, by: log.actor });
    log.touched.add(key(vpcId, instanceId));
  };
  return log;
}

export function allTruth(sim: RunningSimulator): string[] {
  return sim.world
    .regions()
    .flatMap((r) => sim.world.links(r))
    .map((l) => key(l.vpcId, l.instanceId))
    .sort();
}

/** A tiny seeded generator (the simulator's mulberry32): the drivers' choices repeat from run to run. */
export const seeded = mulberry32;

/**
 * One change to the world: attach a fresh instance to a random VPC, or detach a random link that
 * was there at the baseline and was never touched since. Returns false when nothing was left.
 */
export function changeOnce(sim: RunningSimulator, log: WorldLog, random: () => number): boolean {
  log.actor = 'test';
  try {
    return changeRandomLink(sim, log, random);
  } finally {
    log.actor = 'simulator';
  }
}

function changeRandomLink(sim: RunningSimulator, log: WorldLog, random: () => number): boolean {
  const regions = sim.world.regions();
  const regionId = regions[Math.floor(random() * regions.length)] ?? '';
  const vpcs = sim.world.vpcs(regionId);
  const vpcId = vpcs[Math.floor(random() * vpcs.length)] ?? '';
  if (random() < 0.5) {
    const instanceId = sim.world.createInstance(regionId);
    sim.world.attach(regionId, instanceId, vpcId);
    return true;
  }
  const candidates = sim.world
    .links(regionId, vpcId)
    .filter(
      (l) => log.baseline.has(key(l.vpcId, l.instanceId)) && !log.touched.has(key(l.vpcId, l.instanceId)),
    );
  const pick = candidates[Math.floor(random() * candidates.length)];
  if (!pick) return false;
  sim.world.detach(regionId, pick.instanceId, pick.vpcId);
  return true;
}

/** Changes the world every `everyMs` while scans run (a driver, not a wait); returns a stop function. */
export function startChurn(
  sim: RunningSimulator,
  log: WorldLog,
  opts: { everyMs: number; seed: number },
): () => void {
  const random = seeded(opts.seed);
  const timer = setInterval(() => changeOnce(sim, log, random), opts.everyMs);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------------------
// The servers of a scenario.

export interface Scenario {
  sim: RunningSimulator;
  log: WorldLog;
  /** The test's own view: a pool on the scenario's database. */
  pool: pg.Pool;
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  /** Test-side queues (enqueue rounds, wait for jobs). */
  queues: Queues;
  config: Config;
  receiver: Receiver;
  /** Env pointing a child process at the same servers, database, prefix, keys and receiver. */
  childEnv: Record<string, string>;
  /** One round driven from the test: a plan job per region, then each sync job it enqueued. */
  round(timeoutMs?: number): Promise<RoundOutcome[]>;
  /** Rounds until one in which every target applied (at most `max`); returns how many ran. */
  settle(max?: number): Promise<number>;
  close(): Promise<void>;
}

export type RoundOutcome =
  | { target: TargetRef; ok: true; result: SyncJobResult }
  | { target: TargetRef; ok: false; error: string };

export interface ScenarioOptions {
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  /** A database URL to use instead of a clone of the template on the shared server (migrated here). */
  databaseUrl?: string;
  /** A Redis URL instead of the shared server. */
  redisUrl?: string;
  /** Run the plan/sync workers and an alert dispatcher in this process. Default false (children do). */
  inProcess?: boolean;
  /** In-process sync job attempts / first backoff. Default 3 / 100 ms. */
  syncAttempts?: number;
  syncBackoffMs?: number;
}

export async function startScenario(opts: ScenarioOptions = {}): Promise<Scenario> {
  const lifecycle = new Lifecycle();
  const close = () =>
    lifecycle.close((name, err) => {
      if (process.env.TEST_LOG_LEVEL) console.warn(`closing ${name}: ${String(err)}`);
    });
  try {
    const sim = await startSimulator({ port: 0, seed: 11, ...opts.sim });
    lifecycle.add('simulator', () => sim.close());
    const log = recordWorld(sim);
    const receiver = await startReceiver('webhook');
    lifecycle.add('receiver', () => receiver.close());

    let dbUrl = opts.databaseUrl;
    if (dbUrl === undefined) {
      const db = await createTestDb();
      lifecycle.add('test db', () => db.drop());
      dbUrl = db.url;
    } else {
      await migrateDatabase({ databaseUrl: dbUrl, log: silent });
    }
    const redisUrl = opts.redisUrl ?? 'redis://127.0.0.1:6379';
    const prefix = `fault-${randomUUID()}`;
    const k = sim.keys[0];
    if (!k) throw new Error('simulator has no key');
    const childEnv: Record<string, string> = {
      DATABASE_URL: dbUrl,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      ECS_ENDPOINT: sim.url,
      VPC_ENDPOINT: sim.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: k.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: k.accessKeySecret,
      SYNC_REGIONS: sim.world.regions().join(','),
      API_MAX_QPS: '1000',
      API_RETRY_DEADLINE: '5s',
      JOB_LOCK_DURATION: '2s',
      SHUTDOWN_TIMEOUT: '2s',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: receiver.secret ?? '',
      ...opts.env,
    };
    const config = loadConfig(childEnv);

    const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
    // The scenario restarts servers under this pool: a lost idle client must not fail the test.
    pool.on('error', () => {});
    pool.on('connect', (c) => c.on('error', () => {}));
    lifecycle.add('check pool', () => pool.end());

    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    redis.on('error', () => {});
    lifecycle.add('test redis', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    const queues = createQueues({ connection: redis, prefix });
    lifecycle.add('obliterate', () => queues.obliterate().catch(() => {}));
    lifecycle.add('test queues', () => queues.close());

    if (opts.inProcess) startInProcess(config, opts, sim, lifecycle);

    const scenario: Scenario = {
      sim,
      log,
      pool,
      dbUrl,
      redisUrl,
      prefix,
      queues,
      config,
      receiver,
      childEnv,
      async round(timeoutMs = 60_000) {
        // A plan job that fails for good (say a malformed DescribeVpcs) leaves its region's
        // targets out of the round: they show as one failed outcome for the region.
        const planned = await Promise.all(
          config.regions.map(async (regionId) => {
            const jobId = await queues.enqueuePlan({ account: config.SYNC_ACCOUNT, regionId });
            try {
              return (await queues.waitFor('plan', jobId, timeoutMs)).targets;
            } catch (err) {
              const target = { account: config.SYNC_ACCOUNT, regionId, vpcId: '(plan)' };
              return [{ target, jobId: '', error: err instanceof Error ? err.message : String(err) }];
            }
          }),
        );
        return Promise.all(
          planned.flat().map(async (p): Promise<RoundOutcome> => {
            const { target, jobId } = p;
            if ('error' in p) return { target, ok: false, error: p.error };
            try {
              return { target, ok: true, result: await queues.waitFor('sync', jobId, timeoutMs) };
            } catch (err) {
              return { target, ok: false, error: err instanceof Error ? err.message : String(err) };
            }
          }),
        );
      },
      async settle(max = 3) {
        for (let n = 1; n <= max; n++) {
          const outcomes = await scenario.round();
          if (outcomes.every((o) => o.ok && o.result.outcome === 'applied')) return n;
        }
        throw new Error(`no clean round after ${max} rounds in a settled world`);
      },
      close,
    };
    return scenario;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The same wiring `start` uses, in this process: plan/sync workers and an alert dispatcher. */
function startInProcess(config: Config, opts: ScenarioOptions, sim: RunningSimulator, lifecycle: Lifecycle) {
  const key0 = sim.keys[0];
  if (!key0) throw new Error('simulator has no key');
  const log: Logger = silent;
  const database = openDatabase(config, log, lifecycle);
  const msg = openMessaging(config, log, lifecycle, {
    syncAttempts: opts.syncAttempts ?? 3,
    syncBackoffMs: opts.syncBackoffMs ?? 100,
  });
  const account = openAccount(
    config,
    { name: config.SYNC_ACCOUNT, regions: config.regions },
    { credentials: staticCredentialsProvider(key0), redis: msg.redis, log },
    lifecycle,
  );
  startWorkers(config, { ...database, ...msg, accounts: [account], log }, lifecycle);
  const dispatcher = createAlertDispatcher({
    store: database.store,
    channels: config,
    log,
    backoff: { baseMs: 50, capMs: 500 },
    pollMs: 200,
  });
  lifecycle.add('alert dispatcher', () => dispatcher.close());
  const ctl = new AbortController();
  const loop = dispatcher.run(ctl.signal);
  lifecycle.add('alert loop', async () => {
    ctl.abort();
    await loop.catch(() => {});
  });
}

// ---------------------------------------------------------------------------------------------
// Waiting on the database (events, never time).

export async function runningRuns(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'running'`,
  );
  return rows[0]?.n ?? 0;
}

export async function waitFor<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  opts: { timeout: number; what: string; interval?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeout;
  for (;;) {
    let v: T | undefined;
    try {
      v = await probe();
      if (ok(v)) return v;
    } catch {
      // a server being restarted: ask again
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeout}ms waiting for ${opts.what}`);
    await new Promise((r) => setTimeout(r, opts.interval ?? 100));
  }
}

/** Waits until the queues hold no waiting, delayed or active job and no run is 'running'. */
export async function drained(s: Scenario, timeout = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const d = await s.queues.depth();
      return d.plan + d.sync + (await runningRuns(s.pool));
    },
    (n) => n === 0,
    { timeout, what: 'the queues to drain' },
  );
}

// ---------------------------------------------------------------------------------------------
// The invariants.

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

interface EventRow {
  id: string;
  vpc_id: string;
  instance_id: string;
  change: 'added' | 'removed';
  baseline: boolean;
  sync_run_id: string;
}

/**
 * Checks every invariant of a settled world and returns the named results (each also asserted).
 * `alerts` (default true): the changes outbox is delivered to the receiver, waiting up to
 * `alertTimeoutMs` for the dispatcher.
 */
export async function checkInvariants(
  s: Scenario,
  opts: { alerts?: boolean; alertTimeoutMs?: number } = {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = (name: string, actual: unknown, expected: unknown) => {
    const ok = JSON.stringify(actual) === JSON.stringify(expected);
    results.push({
      name,
      ok,
      detail: ok ? undefined : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    });
    expect(actual, name).toEqual(expected);
  };

  // 1. The links in Postgres equal the simulator's truth.
  const { rows: active } = await s.pool.query<{ k: string }>(
    `SELECT vpc_id || '/' || instance_id AS k FROM classic_links WHERE removed_at IS NULL ORDER BY 1`,
  );
  check(
    'links equal the truth',
    active.map((r) => r.k),
    allTruth(s.sim),
  );

  // 2. Every change that happened is recorded exactly once (non-baseline events = the change log).
  const { rows: events } = await s.pool.query<EventRow>(
    `SELECT id::text, vpc_id, instance_id, change, baseline, sync_run_id::text FROM link_events ORDER BY link_events.id`,
  );
  const recorded = events
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`)
    .sort();
  const happened = s.log.changes
    .map((c) => `${c.op === 'attach' ? 'added' : 'removed'} ${c.vpcId}/${c.instanceId}`)
    .sort();
  check('every change recorded exactly once', recorded, happened);

  // 3. The events of each link alternate added/removed, starting with added.
  const perLink = new Map<string, string[]>();
  for (const e of events) {
    const k = key(e.vpc_id, e.instance_id);
    perLink.set(k, [
      ...(perLink.get(k) ?? []),
      `${e.change}#${e.id}@${e.sync_run_id}${e.baseline ? 'b' : ''}`,
    ]);
  }
  const broken = [...perLink].filter(([, changes]) =>
    changes.some((c, i) => !c.startsWith(i % 2 === 0 ? 'added#' : 'removed#')),
  );
  check('events of each link alternate', broken, []);

  // 4. Nothing else changed: baseline events are the baseline links; link rows are exactly the
  //    links ever seen; run counters match the events; no run stays 'running'.
  const baselineEvents = events
    .filter((e) => e.baseline)
    .map((e) => key(e.vpc_id, e.instance_id))
    .sort();
  check('baseline events are the baseline links', baselineEvents, [...s.log.baseline].sort());
  const { rows: linkRows } = await s.pool.query<{ k: string }>(
    `SELECT vpc_id || '/' || instance_id AS k FROM classic_links ORDER BY 1`,
  );
  check(
    'no link row beyond the links ever seen',
    linkRows.map((r) => r.k),
    [...new Set([...s.log.baseline, ...s.log.changes.map((c) => key(c.vpcId, c.instanceId))])].sort(),
  );
  const { rows: counters } = await s.pool.query<{ run: string; added: number; removed: number }>(
    `SELECT id::text AS run, added, removed FROM sync_runs WHERE status = 'succeeded' AND (added > 0 OR removed > 0)`,
  );
  const fromEvents = new Map<string, { added: number; removed: number }>();
  for (const e of events) {
    const c = fromEvents.get(e.sync_run_id) ?? { added: 0, removed: 0 };
    c[e.change]++;
    fromEvents.set(e.sync_run_id, c);
  }
  check(
    'run counters match their events',
    counters.map((r) => `${r.run}:${r.added}:${r.removed}`).sort(),
    [...fromEvents].map(([run, c]) => `${run}:${c.added}:${c.removed}`).sort(),
  );
  check('no run left running', await runningRuns(s.pool), 0);

  if (opts.alerts !== false) results.push(...(await checkAlerts(s, events, opts.alertTimeoutMs ?? 60_000)));
  return results;
}

/** Every alert-worthy run delivered at least once under its outbox id, never two bodies per id. */
async function checkAlerts(s: Scenario, events: EventRow[], timeoutMs: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = (name: string, actual: unknown, expected: unknown) => {
    const ok = JSON.stringify(actual) === JSON.stringify(expected);
    results.push({
      name,
      ok,
      detail: ok ? undefined : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    });
    expect(actual, name).toEqual(expected);
  };
  const changedRuns = [...new Set(events.filter((e) => !e.baseline).map((e) => e.sync_run_id))].sort();
  const { rows: outbox } = await s.pool.query<{ id: string; run: string }>(
    `SELECT id::text, sync_run_id::text AS run FROM alert_outbox WHERE kind = 'changes' AND channel = 'webhook'`,
  );
  check('one outbox row per alert-worthy run', outbox.map((r) => r.run).sort(), changedRuns);
  const ids = outbox.map((r) => r.id).sort();
  const acceptedIds = () => new Set(s.receiver.accepted().map((r) => String(r.headers['webhook-id'])));
  await waitFor(
    async () => acceptedIds(),
    (got) => ids.every((id) => got.has(id)),
    { timeout: timeoutMs, what: `delivery of outbox rows ${ids.join(', ')}` },
  ).catch(() => undefined);
  check(
    'every changes-outbox row delivered to the receiver',
    ids.filter((id) => !acceptedIds().has(id)),
    [],
  );
  const { rows: undelivered } = await s.pool.query<{ id: string }>(
    `SELECT id::text FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
  );
  // A row can be received and not yet recorded delivered for a moment: wait for the record.
  if (undelivered.length > 0) {
    await waitFor(
      async () =>
        (
          await s.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
          )
        ).rows[0]?.n ?? 0,
      (n) => n === 0,
      { timeout: timeoutMs, what: 'outbox rows recorded delivered' },
    ).catch(() => undefined);
  }
  const { rows: notDelivered } = await s.pool.query<{ id: string; status: string }>(
    `SELECT id::text, status FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
  );
  check('every changes-outbox row recorded delivered', notDelivered, []);
  const bodies = new Map<string, Set<string>>();
  for (const r of s.receiver.requests) {
    const id = String(r.headers['webhook-id']);
    bodies.set(id, (bodies.get(id) ?? new Set()).add(r.raw));
  }
  check(
    'no outbox id in two different bodies',
    [...bodies].filter(([, b]) => b.size > 1).map(([id]) => id),
    [],
  );
  const known = new Set(outbox.map((r) => r.id));
  const { rows: allOutbox } = await s.pool.query<{ id: string }>(`SELECT id::text FROM alert_outbox`);
  for (const r of allOutbox) known.add(r.id);
  check(
    'no delivery of an id the outbox does not hold',
    [...bodies.keys()].filter((id) => !known.has(id)),
    [],
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// Figures.

export interface ScenarioFigures {
  scenario: string;
  proves: string;
  rounds: number;
  apiCalls: number;
  /** Fault name → how many times it was injected (simulator faults from its request log, plus ours). */
  faults: Record<string, number>;
  checks: CheckResult[];
  changes: number;
  durationMs: number;
}

/** Faults the simulator injected, by kind, from its request log. */
export function simulatorFaults(sim: RunningSimulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of sim.requests) {
    if (r.fault === undefined) continue;
    const kind = r.fault.startsWith('failVpc:') ? 'failVpc' : r.fault;
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

export function writeFigures(f: ScenarioFigures): void {
  const dir = inject('faultsRunDir');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${f.scenario.replace(/[^a-z0-9]+/gi, '-')}.json`),
    `${JSON.stringify(f, null, 2)}\n`,
  );
}
