/**
 * The fault suite's harness: a world of real servers (the simulator, Postgres, Redis, a webhook
 * receiver), a log of every change made to the simulated world (world-log.ts), rounds driven from
 * the test side, and a wait that rides out servers being restarted. Scenarios end with the
 * invariant checks (invariants.ts) and report their figures (figures.ts); setup.ts wires a
 * scenario file's hooks.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { type Config, loadConfig } from '../../src/config.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { createQueues, openQueueBackend, type Queues } from '../../src/queue/index.js';
import { queueBackendSpec } from '../../src/service.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import { migrateDatabase } from '../../src/store/migrate.js';
import { createTestDb } from '../helpers/db.js';
import { serviceLog } from '../helpers/log.js';
import { type RoundOutcome, runRound, serviceEnv, startInProcess } from '../helpers/pipeline.js';
import { prepareQueues } from '../helpers/queue-backend.js';
import { channelEnv, type Receiver, startReceiver } from '../helpers/receivers.js';
import { recordWorld, type WorldLog } from './world-log.js';

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

export interface ScenarioOptions {
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  /** A database URL to use instead of a clone of the template on the shared server (migrated here). */
  databaseUrl?: string;
  /** A Redis URL instead of the shared server. */
  redisUrl?: string;
  /** A Redis Cluster instead (REDIS_CLUSTER_NODES): the service and the test's queues use it. */
  redisClusterNodes?: string;
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
      await migrateDatabase({ databaseUrl: dbUrl, log: serviceLog() });
    }
    const redisUrl = opts.redisUrl ?? 'redis://127.0.0.1:6379';
    const prefix = `fault-${randomUUID()}`;
    const childEnv: Record<string, string> = {
      ...serviceEnv({ sim, databaseUrl: dbUrl, redisUrl, prefix }),
      // A scenario that brings its own Redis (one server or a cluster) is about that Redis, on
      // either test run's backend.
      ...(opts.redisUrl === undefined ? {} : { REDIS_URL: opts.redisUrl, QUEUE_BACKEND: 'redis' }),
      ...(opts.redisClusterNodes === undefined
        ? {}
        : { REDIS_CLUSTER_NODES: opts.redisClusterNodes, QUEUE_BACKEND: 'redis' }),
      JOB_LOCK_DURATION: '2s',
      SHUTDOWN_TIMEOUT: '2s',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      ...channelEnv([receiver]),
      ...opts.env,
    };
    const config = loadConfig(childEnv);

    const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
    // The scenario restarts servers under this pool: a lost idle client must not fail the test.
    pool.on('error', () => {});
    pool.on('connect', (c) => c.on('error', () => {}));
    lifecycle.add('check pool', () => pool.end());

    await prepareQueues(config);
    const backend = openQueueBackend(queueBackendSpec(config), serviceLog());
    lifecycle.add('test queue backend', () => backend.close());
    const queues = createQueues({ backend });
    // Released in reverse: the queues are emptied while still open, then closed.
    lifecycle.add('test queues', () => queues.close());
    lifecycle.add('obliterate', () => queues.obliterate().catch(() => {}));

    if (opts.inProcess) startServiceInProcess(config, opts, sim, lifecycle);

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
      round: (timeoutMs = 60_000) => runRound(queues, config, { planMs: timeoutMs, syncMs: timeoutMs }),
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
function startServiceInProcess(
  config: Config,
  opts: ScenarioOptions,
  sim: RunningSimulator,
  lifecycle: Lifecycle,
): void {
  const log = serviceLog();
  const { database } = startInProcess(
    config,
    { sim, log, syncAttempts: opts.syncAttempts ?? 3, syncBackoffMs: opts.syncBackoffMs ?? 100 },
    lifecycle,
  );
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

/**
 * Polls `probe` until `ok` (events, never a fixed sleep). A probe that throws — a server being
 * restarted — is asked again; past `timeout` the wait fails naming `what`.
 */
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

/**
 * Makes every diff with a change block inside its transaction, after its first writes: a trigger
 * on link_events waits for advisory lock `lock`, which the test takes and holds.
 */
export async function blockDiffs(pool: pg.Pool, lock: number): Promise<void> {
  await pool.query(`
    CREATE FUNCTION fault_block() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(${lock}); RETURN NULL; END $$;
    CREATE TRIGGER fault_block AFTER INSERT ON link_events FOR EACH STATEMENT EXECUTE FUNCTION fault_block();`);
}

/** The backends of the diffs blocked on `lock`. */
export async function blockedDiffs(pool: pg.Pool, lock: number): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
    [lock],
  );
  return rows.map((r) => r.pid);
}
