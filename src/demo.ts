/**
 * `classiclink-sync demo` (`npm run demo`): the simulator with a world that changes by itself,
 * the real service (scheduler + workers) against it on a short interval, and each change printed
 * as it lands — Postgres LISTEN on the store's NOTIFY channel, then the run's events.
 */
import pg from 'pg';
import type { CliIo, DemoOptions } from './cli.js';
import type { Config } from './config.js';
import type { CredentialsProvider } from './credentials.js';
import { Lifecycle } from './lifecycle.js';
import type { Logger } from './log.js';
import { databaseName, migrateDatabase, quoteIdent } from './migrate.js';
import { openAccount, openDatabase, openMessaging, startScheduler, startWorkers } from './service.js';
import { type SimulatorKey, startSimulator } from './simulator/index.js';
import { type ChangesNotification, DEFAULT_NOTIFY_CHANNEL, type Store } from './store.js';

export const DEMO_DATABASE = 'classiclink_demo';

export interface DemoDeps {
  baseConfig: Config;
  log: Logger;
  io: CliIo;
  stopRequested: Promise<void>;
  credentialsFor(key: SimulatorKey): CredentialsProvider;
}

const clock = (d: Date) => d.toISOString().slice(11, 19);

/** Starts the demo from a clean slate: its own database (dropped and recreated) and queues. */
async function resetDemoDatabase(databaseUrl: string): Promise<void> {
  if (databaseName(databaseUrl) !== DEMO_DATABASE) return; // never drop a database the user named
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(DEMO_DATABASE)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

async function printRun(store: Store, note: ChangesNotification, io: CliIo): Promise<void> {
  const events = (
    await store.listEvents({ account: note.account, regionId: note.regionId, vpcId: note.vpcId })
  ).filter((e) => e.syncRunId === note.runId);
  if (note.baseline) {
    io.stdout.write(
      `${clock(new Date())}  baseline  ${note.regionId}  ${note.vpcId}: ${note.added} link(s) recorded (no alert for a first scan)\n`,
    );
    return;
  }
  for (const e of events) {
    const verb = e.change === 'added' ? '+ linked  ' : '- unlinked';
    io.stdout.write(
      `${clock(e.detectedAt)}  ${verb}  ${e.regionId}  ${e.vpcId}  ${e.instanceId}  (run ${e.syncRunId})\n`,
    );
  }
}

export async function runDemo(deps: DemoDeps, opts: DemoOptions): Promise<number> {
  const { io, log } = deps;
  const lifecycle = new Lifecycle();
  try {
    const regions = ['cn-hangzhou', 'cn-beijing'];
    const sim = await startSimulator({
      port: 0,
      seed: 42,
      regions,
      vpcsPerRegion: 3,
      linksPerVpc: 4,
      unlinkedPerRegion: 30,
      churn: { intervalMs: Math.max(1_000, Math.round(opts.intervalMs * 0.8)), attach: 1, detach: 1 },
      maxRecordedRequests: 1_000,
    });
    lifecycle.add('simulator', () => sim.close());
    const key = sim.keys[0];
    if (!key) throw new Error('the simulator has no key');
    const config: Config = Object.freeze({
      ...deps.baseConfig,
      ECS_ENDPOINT: sim.url,
      VPC_ENDPOINT: sim.url,
      SYNC_REGIONS: regions,
      SYNC_TARGETS: undefined,
      regions,
      SYNC_INTERVAL: opts.intervalMs,
    });

    await resetDemoDatabase(config.DATABASE_URL);
    await migrateDatabase({ databaseUrl: config.DATABASE_URL, log });
    const db = openDatabase(config, log, lifecycle);
    const msg = openMessaging(config, log, lifecycle);
    await msg.queues.obliterate();

    const listener = new pg.Client({ connectionString: config.DATABASE_URL });
    await listener.connect();
    lifecycle.add('listener', () => listener.end());
    let printing = Promise.resolve();
    listener.on('notification', (n) => {
      if (!n.payload) return;
      const note = JSON.parse(n.payload) as ChangesNotification;
      printing = printing.then(() => printRun(db.store, note, io)).catch(() => {});
    });
    await listener.query(`LISTEN ${quoteIdent(DEFAULT_NOTIFY_CHANNEL)}`);

    const account = openAccount(
      config,
      { name: config.SYNC_ACCOUNT, regions, credentials: deps.credentialsFor(key) },
      { redis: msg.redis, log },
      lifecycle,
    );
    const workers = startWorkers(config, { ...db, ...msg, accounts: [account], log }, lifecycle);
    await workers.ready();
    io.stdout.write(
      [
        `classiclink-sync demo`,
        `  simulator  ${sim.url}  (${regions.length} regions x 3 VPCs; a link is attached and one detached every ${Math.round(Math.max(1_000, opts.intervalMs * 0.8) / 1000)}s)`,
        `  database   ${DEMO_DATABASE} (recreated for the demo)   queues  {${config.QUEUE_PREFIX}}`,
        `  syncing every ${opts.intervalMs / 1000}s; each change prints below as it lands. Ctrl-C to stop.`,
        `  Try meanwhile:  DATABASE_URL=${config.DATABASE_URL} npx classiclink-sync events`,
        '',
      ].join('\n'),
    );
    await startScheduler(config, msg.queues, [account], log, lifecycle);

    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      if (opts.durationMs !== undefined) timer = setTimeout(resolve, opts.durationMs);
    });
    await Promise.race([deps.stopRequested, elapsed]);
    clearTimeout(timer);
    await printing;
    const events = await db.store.listEvents({ account: config.SYNC_ACCOUNT });
    const changes = events.filter((e) => !e.baseline);
    io.stdout.write(
      `\ndemo stopped: ${events.length - changes.length} baseline link(s), ${changes.length} change(s) recorded; ` +
        `the simulator's truth now has ${regions.reduce((n, r) => n + sim.world.links(r).length, 0)} link(s)\n`,
    );
    return 0;
  } finally {
    await lifecycle.close((name, err) =>
      log.warn({ resource: name, err: String(err) }, 'error while closing'),
    );
  }
}
