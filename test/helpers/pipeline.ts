/**
 * An in-process pipeline against real servers: the simulator (port 0, seeded), a database cloned
 * from the migrated template, a fresh BullMQ prefix on the machine's Redis, and the same wiring
 * `start` uses (service.ts). `round()` runs one sync round the way `sync --once` does and waits
 * for every job — tests wait for events, never for time.
 *
 * The fault suite's scenarios (test/faults/harness.ts) are built from the same pieces: the env
 * that points the service at the servers, the in-process wiring, and the round.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { Lifecycle } from '../../src/lifecycle.js';
import type { TargetRef } from '../../src/links.js';
import type { Logger } from '../../src/log.js';
import type { Queues, SyncJobResult } from '../../src/queue/index.js';
import {
  type AccountRuntime,
  contextAfterApplied,
  type Messaging,
  openAccount,
  openDatabase,
  openMessaging,
  recordVpcListings,
  startContextWorkers,
  startWorkers,
  type WorkerSet,
} from '../../src/service.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import type { Database } from '../../src/store/index.js';
import type { LinkSource } from '../../src/sync/source.js';
import { capturedOutput, killChildren } from './child.js';
import { createTestDb, type TestDb } from './db.js';
import { serviceLog } from './log.js';
import { prepareQueues, queueEnv } from './queue-backend.js';

export interface PipelineOptions {
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  /**
   * More env from the test database once it exists (after `env`): e.g. a DATABASE_URL through
   * PgBouncer, with DATABASE_DIRECT_URL the database's own URL. `db.pool` stays direct.
   */
  dbEnv?: (db: TestDb) => Record<string, string>;
  /** Start the plan/sync workers (default true). */
  workers?: boolean;
  /**
   * Also the context side as `start` wires it: discovery's VPC listings recorded, the sync's
   * after-applied hook, and the enrich/attribute workers (default false).
   */
  context?: boolean;
  /** BullMQ attempts of a sync job (default 2) and the first backoff delay (default 50 ms). */
  syncAttempts?: number;
  syncBackoffMs?: number;
  /** Wrap the link source (to inject behaviour between pages, count calls, …). */
  wrapSource?: (source: LinkSource) => LinkSource;
  /** The service's logger (default: silent, or TEST_LOG_LEVEL). */
  log?: Logger;
  /**
   * Run the change feed's poll worker too (with `env.CHANGE_FEED` not `off`); polls are enqueued
   * by the test (`pollFeed`) unless it starts the schedules.
   */
  feed?: boolean;
}

export interface Pipeline {
  sim: RunningSimulator;
  db: TestDb;
  database: Database;
  queues: Queues;
  config: Config;
  log: Logger;
  source: LinkSource;
  /** The account as the service runs it (its ECS client, limiter, link source). */
  account: AccountRuntime;
  prefix: string;
  /** Env that points a child process at the same servers, database, prefix and keys. */
  childEnv: Record<string, string>;
  /** One round: a plan job per region, then every sync job it enqueued; resolves with outcomes. */
  round(): Promise<RoundOutcome[]>;
  close(): Promise<void>;
}

/** How one target's sync job of a round ended. */
export type RoundOutcome =
  | { target: TargetRef; ok: true; result: SyncJobResult }
  | { target: TargetRef; ok: false; error: string };

/**
 * The env of a service on the simulator, a database, the test run's queue backend (Redis at
 * `redisUrl`, or the database's Postgres backend: queue-backend.ts) and a queue prefix (signing with
 * the sim's first key).
 */
export function serviceEnv(servers: {
  sim: RunningSimulator;
  databaseUrl: string;
  redisUrl?: string | undefined;
  prefix: string;
}): Record<string, string> {
  const { sim } = servers;
  const key = sim.keys[0];
  if (!key) throw new Error('simulator has no key');
  return {
    DATABASE_URL: servers.databaseUrl,
    ...queueEnv({ redisUrl: servers.redisUrl }),
    QUEUE_PREFIX: servers.prefix,
    ECS_ENDPOINT: sim.url,
    VPC_ENDPOINT: sim.url,
    ACTIONTRAIL_ENDPOINT: `${sim.url}/{region}`,
    // Off unless a test turns it on: these tests count the scans their rounds make, and the
    // change feed would add targeted ones for every change made through the admin endpoints.
    CHANGE_FEED: 'off',
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret,
    SYNC_REGIONS: sim.world.regions().join(','),
    API_MAX_QPS: '1000',
    API_RETRY_DEADLINE: '5s',
    // Alerts go at once, whatever is known of their context: the tests of the context wait set
    // their own (alerts.context.test.ts), the others are about delivery, not about what it says.
    ALERT_CONTEXT_WAIT: '0',
  };
}

export interface InProcessService {
  database: Database;
  messaging: Messaging;
  account: AccountRuntime;
  /** The plan/sync workers, unless `workers: false`. */
  workers: WorkerSet | undefined;
  /** The enrich/attribute workers, with `context: true`. */
  context: WorkerSet | undefined;
}

/**
 * The wiring `start` uses (service.ts), in this process: the database, the queues, the single
 * account signing with the simulator's first key, and the plan/sync workers.
 */
export function startInProcess(
  config: Config,
  opts: {
    sim: RunningSimulator;
    log: Logger;
    syncAttempts: number;
    syncBackoffMs: number;
    workers?: boolean | undefined;
    context?: boolean | undefined;
    wrapSource?: ((source: LinkSource) => LinkSource) | undefined;
    /** Also the change feed's poll worker (service.ts `startWorkers` `feed`). */
    feed?: boolean | undefined;
    /** Obliterate the queues on close, once the workers have stopped. */
    obliterate?: boolean;
  },
  lifecycle: Lifecycle,
): InProcessService {
  const { log } = opts;
  const key = opts.sim.keys[0];
  if (!key) throw new Error('simulator has no key');
  const database = openDatabase(config, log, lifecycle);
  const messaging = openMessaging(config, log, lifecycle, {
    syncAttempts: opts.syncAttempts,
    syncBackoffMs: opts.syncBackoffMs,
  });
  if (opts.obliterate) lifecycle.add('obliterate', () => messaging.queues.obliterate());
  const account = openAccount(
    config,
    { name: config.SYNC_ACCOUNT, regions: config.regions, targets: config.SYNC_TARGETS },
    {
      credentials: staticCredentialsProvider(key),
      backend: messaging.backend,
      log,
      onVpcListing: opts.context ? recordVpcListings(database, log) : undefined,
    },
    lifecycle,
  );
  const workers =
    opts.workers === false
      ? undefined
      : startWorkers(
          config,
          {
            ...database,
            ...messaging,
            accounts: [account],
            wrapSource: opts.wrapSource,
            log,
            feed: opts.feed ? {} : undefined,
            afterApplied: opts.context ? contextAfterApplied(config, messaging.queues) : undefined,
          },
          lifecycle,
        );
  const context = opts.context
    ? startContextWorkers(config, { ...database, ...messaging, accounts: [account], log }, lifecycle)
    : undefined;
  return { database, messaging, account, workers, context };
}

/**
 * One round driven from the test: a plan job per region, then each sync job it enqueued. A plan
 * job that fails for good (say a malformed DescribeVpcs) leaves its region's targets out of the
 * round: they show as one failed outcome for the region.
 */
export async function runRound(
  queues: Queues,
  config: Config,
  timeouts: { planMs: number; syncMs: number },
): Promise<RoundOutcome[]> {
  const planned = await Promise.all(
    config.regions.map(async (regionId) => {
      const jobId = await queues.enqueuePlan({ account: config.SYNC_ACCOUNT, regionId });
      try {
        return (await queues.waitFor('plan', jobId, timeouts.planMs)).targets;
      } catch (err) {
        const target = { account: config.SYNC_ACCOUNT, regionId, vpcId: '(plan)' };
        return [{ target, jobId: '', error: errorText(err) }];
      }
    }),
  );
  return Promise.all(
    planned.flat().map(async (p): Promise<RoundOutcome> => {
      const { target, jobId } = p;
      if ('error' in p) return { target, ok: false, error: p.error };
      try {
        return { target, ok: true, result: await queues.waitFor('sync', jobId, timeouts.syncMs) };
      } catch (err) {
        return { target, ok: false, error: errorText(err) };
      }
    }),
  );
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function startPipeline(opts: PipelineOptions = {}): Promise<Pipeline> {
  const lifecycle = new Lifecycle();
  const sim = await startSimulator({ port: 0, seed: 7, ...opts.sim });
  lifecycle.add('simulator', () => sim.close());
  const db = await createTestDb();
  lifecycle.add('test db', () => db.drop());
  const prefix = `test-${randomUUID()}`;
  const childEnv: Record<string, string> = {
    ...serviceEnv({ sim, databaseUrl: db.url, prefix }),
    LOG_LEVEL: 'warn',
    ...opts.env,
    ...opts.dbEnv?.(db),
  };
  const config = loadConfig(childEnv);
  await prepareQueues(config);
  const log = opts.log ?? serviceLog();
  const service = startInProcess(
    config,
    {
      sim,
      log,
      syncAttempts: opts.syncAttempts ?? 2,
      syncBackoffMs: opts.syncBackoffMs ?? 50,
      workers: opts.workers,
      context: opts.context,
      wrapSource: opts.wrapSource,
      feed: opts.feed,
      obliterate: true,
    },
    lifecycle,
  );
  const { queues } = service.messaging;
  await service.workers?.ready();
  await service.context?.ready();
  const source = opts.wrapSource ? opts.wrapSource(service.account.source) : service.account.source;
  return {
    sim,
    db,
    database: service.database,
    queues,
    config,
    log,
    source,
    account: service.account,
    prefix,
    childEnv,
    round: () => runRound(queues, config, { planMs: 30_000, syncMs: 60_000 }),
    close: () => lifecycle.close(),
  };
}

/**
 * A pipeline per test: `start(opts)` opens one; after the test, every child process is killed and
 * the pipeline closed. With `checkSecret`, no child may have printed the AccessKey secret.
 */
export function usePipeline(
  check: { checkSecret?: boolean } = {},
): (opts?: PipelineOptions) => Promise<Pipeline> {
  const open: Pipeline[] = [];
  afterEach(async () => {
    await killChildren();
    for (const pl of open.splice(0)) {
      const secret = pl.childEnv.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
      await pl.close();
      if (check.checkSecret && secret) expect(capturedOutput()).not.toContain(secret);
    }
  });
  return async (opts) => {
    const pl = await startPipeline(opts);
    open.push(pl);
    return pl;
  };
}

/**
 * One pipeline for the whole file, started before its first test (the returned object is filled
 * in then). After each test, child processes are killed and simulator faults cleared; after the
 * last, the pipeline is closed — and with `checkSecret`, no child of the file may have printed
 * the AccessKey secret.
 */
export function useFilePipeline(opts: PipelineOptions, check: { checkSecret?: boolean } = {}): Pipeline {
  const pl = {} as Pipeline;
  beforeAll(async () => {
    Object.assign(pl, await startPipeline(opts));
  });
  afterEach(async () => {
    await killChildren();
    pl.sim.setFaults({});
  });
  afterAll(async () => {
    await killChildren();
    const secret = pl.childEnv.ALIBABA_CLOUD_ACCESS_KEY_SECRET ?? '';
    await pl.close();
    if (check.checkSecret) {
      // Every byte every child of this file wrote.
      expect(secret.length).toBeGreaterThan(10);
      expect(capturedOutput()).not.toContain(secret);
    }
  });
  return pl;
}
