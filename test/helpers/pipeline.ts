/**
 * An in-process pipeline against real servers: the simulator (port 0, seeded), a database cloned
 * from the migrated template, a fresh BullMQ prefix on the machine's Redis, and the same wiring
 * `start` uses (service.ts). `round()` runs one sync round the way `sync --once` does and waits
 * for every job — tests wait for events, never for time.
 */
import { randomUUID } from 'node:crypto';
import { type Config, loadConfig } from '../../src/config.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { Lifecycle } from '../../src/lifecycle.js';
import type { TargetRef } from '../../src/links.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { Queues, SyncJobResult } from '../../src/queue/index.js';
import { openAccount, openDatabase, openMessaging, startWorkers } from '../../src/service.js';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import type { Database } from '../../src/store/index.js';
import type { LinkSource } from '../../src/sync/source.js';
import { createTestDb, type TestDb } from './db.js';

export interface PipelineOptions {
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  /** Start the plan/sync workers (default true). */
  workers?: boolean;
  /** BullMQ attempts of a sync job (default 2) and the first backoff delay (default 50 ms). */
  syncAttempts?: number;
  syncBackoffMs?: number;
  /** Wrap the link source (to inject behaviour between pages, count calls, …). */
  wrapSource?: (source: LinkSource) => LinkSource;
  /** The service's logger (default: silent, or TEST_LOG_LEVEL). */
  log?: Logger;
}

export interface Pipeline {
  sim: RunningSimulator;
  db: TestDb;
  database: Database;
  queues: Queues;
  config: Config;
  log: Logger;
  source: LinkSource;
  prefix: string;
  /** Env that points a child process at the same servers, database, prefix and keys. */
  childEnv: Record<string, string>;
  /** One round: a plan job per region, then every sync job it enqueued; resolves with outcomes. */
  round(): Promise<RoundOutcome[]>;
  close(): Promise<void>;
}

export type RoundOutcome =
  | { target: TargetRef; ok: true; result: SyncJobResult }
  | { target: TargetRef; ok: false; error: string };

export async function startPipeline(opts: PipelineOptions = {}): Promise<Pipeline> {
  const lifecycle = new Lifecycle();
  const sim = await startSimulator({ port: 0, seed: 7, ...opts.sim });
  lifecycle.add('simulator', () => sim.close());
  const db = await createTestDb();
  lifecycle.add('test db', () => db.drop());
  const prefix = `test-${randomUUID()}`;
  const key = sim.keys[0];
  if (!key) throw new Error('simulator has no key');
  const childEnv: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    ECS_ENDPOINT: sim.url,
    VPC_ENDPOINT: sim.url,
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret,
    SYNC_REGIONS: sim.world.regions().join(','),
    API_MAX_QPS: '1000',
    API_RETRY_DEADLINE: '5s',
    LOG_LEVEL: 'warn',
    ...opts.env,
  };
  const config = loadConfig(childEnv);
  const log = opts.log ?? createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const database = openDatabase(config, log, lifecycle);
  const msg = openMessaging(config, log, lifecycle, {
    syncAttempts: opts.syncAttempts ?? 2,
    syncBackoffMs: opts.syncBackoffMs ?? 50,
  });
  lifecycle.add('obliterate', () => msg.queues.obliterate());
  const account = openAccount(
    config,
    { name: config.SYNC_ACCOUNT, regions: config.regions },
    { credentials: staticCredentialsProvider(key), redis: msg.redis, log },
    lifecycle,
  );
  const source = opts.wrapSource ? opts.wrapSource(account.source) : account.source;
  if (opts.workers !== false) {
    const workers = startWorkers(
      config,
      { ...database, ...msg, accounts: [account], wrapSource: opts.wrapSource, log },
      lifecycle,
    );
    await workers.ready();
  }
  const queues = msg.queues;
  return {
    sim,
    db,
    database,
    queues,
    config,
    log,
    source,
    prefix,
    childEnv,
    async round() {
      const planned = await Promise.all(
        config.regions.map(async (regionId) => {
          const jobId = await queues.enqueuePlan({ account: config.SYNC_ACCOUNT, regionId });
          return (await queues.waitFor('plan', jobId, 30_000)).targets;
        }),
      );
      return Promise.all(
        planned.flat().map(async ({ target, jobId }): Promise<RoundOutcome> => {
          try {
            return { target, ok: true, result: await queues.waitFor('sync', jobId, 60_000) };
          } catch (err) {
            return { target, ok: false, error: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
    },
    close: () => lifecycle.close(),
  };
}
