/**
 * The composition root: reads the configuration, builds the logger, pools, connections and
 * clients, wires the modules into the command actions, and owns the process: signals and exit
 * codes. Nothing else calls process.exit or installs signal handlers.
 */
import { homedir } from 'node:os';
import { type AccountSpec, describeAccount, resolveAccounts } from './accounts.js';
import { createAlertDispatcher, startStalenessMonitor } from './alerts/index.js';
import { type ApiName, probeEndpoint, resolveEndpoint, unreachableMessage } from './aliyun/index.js';
import {
  type CliActions,
  type CliIo,
  createProgress,
  loadDemo,
  type Progress,
  printAlerts,
  printEvents,
  printHistory,
  printLinks,
  printStatus,
  type Role,
  runCli,
  syncOnce,
  unknownRegions,
} from './cli/index.js';
import type { Config } from './config.js';
import { ConfigError, directDatabaseUrl, loadConfig, requireApiConfig, requireHttpConfig } from './config.js';
import {
  type CredentialsProvider,
  credentialsProviderFor,
  staticCredentialsProvider,
} from './credentials/index.js';
import { coerceError } from './errors.js';
import { applyHeapPolicy } from './heap.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger, reportLogLevel } from './log.js';
import { createMetrics, storeCollectors } from './metrics.js';
import { checkRedis, migrateQueueSchema } from './queue/index.js';
import { UnreachableError } from './reach.js';
import {
  type AccountRuntime,
  configuredChannels,
  contextAfterApplied,
  feedObservers,
  hookReceiver,
  type Messaging,
  type OpenAccountDeps,
  openAccount,
  openApiSlots,
  openDatabase,
  openMessaging,
  readinessProbes,
  recordVpcListings,
  startContextWorkers,
  startRetention,
  startScheduler,
  startWorkers,
} from './service.js';
import type { Database, Store } from './store/index.js';
import { checkPostgres, migrateDatabase } from './store/index.js';

interface Process {
  env: Record<string, string | undefined>;
  io: CliIo & { isTTY: boolean };
  /** Resolves when the process is asked to stop (first SIGTERM/SIGINT). */
  stopRequested: Promise<void>;
  /** Registers what a second signal does. */
  onForce(fn: () => void): void;
}

function makeLogger(config: Config, io: Process['io']): Logger {
  return createLogger({ level: config.LOG_LEVEL, pretty: io.isTTY });
}

/**
 * The logger of a command whose stdout is a report (sync --once): it logs to stderr, so the report
 * stays parseable, and only what went wrong unless LOG_LEVEL asks for more — the report says the
 * rest. On a terminal, one pretty line per entry, written above the progress line.
 */
async function makeReportLogger(config: Config, env: Process['env'], progress?: Progress): Promise<Logger> {
  const level = reportLogLevel(env, config.LOG_LEVEL);
  if (!progress) return createLogger({ level, destination: process.stderr });
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({ colorize: true, singleLine: true, ignore: 'pid,hostname,service' });
  return createLogger({ level, destination: { write: (line: string) => progress.above(pretty(line)) } });
}

async function withLifecycle(log: Logger, fn: (lifecycle: Lifecycle) => Promise<number>): Promise<number> {
  const lifecycle = new Lifecycle();
  try {
    return await fn(lifecycle);
  } finally {
    await lifecycle.close((name, err) =>
      log.warn({ resource: name, err: String(err) }, 'error while closing'),
    );
  }
}

/** The service's lifecycle: once every drain and releaser has run, `stopped` is its last line. */
async function withServiceLifecycle(
  log: Logger,
  fn: (lifecycle: Lifecycle) => Promise<number>,
): Promise<number> {
  try {
    return await withLifecycle(log, fn);
  } finally {
    log.info('stopped');
  }
}

/**
 * Attempts in a row that reach no server before a one-shot's API call fails for good: a few quick
 * tries (the client's first backoff steps, well under a second) ride out a blip.
 */
const ONE_SHOT_UNREACHABLE_ATTEMPTS = 3;

/** The account whose rows the read commands and API show: all of them with ACCOUNTS_FILE. */
const readAccount = (c: Config): string | undefined => (c.ACCOUNTS_FILE ? undefined : c.SYNC_ACCOUNT);

/** An account whose credentials resolved: its spec and the provider built from it. */
type ReadyAccount = { spec: AccountSpec; credentials: CredentialsProvider };

/**
 * Checks every configured account's credentials resolve now, before anything is written, so a
 * missing or broken credential source stops the process at start with one line.
 */
async function resolveCredentials(
  specs: readonly AccountSpec[],
  env: Process['env'],
  log: Logger,
  signal: AbortSignal,
): Promise<ReadyAccount[]> {
  const ready: ReadyAccount[] = [];
  for (const spec of specs) {
    const credentials = credentialsProviderFor(spec.credentials, {
      env,
      homeDir: homedir(),
      log: log.child({ component: 'credentials', account: spec.name }),
    });
    await credentials.get(signal);
    log.info({ account: describeAccount(spec), credentials: credentials.name }, 'account ready');
    ready.push({ spec, credentials });
  }
  return ready;
}

/** Builds every account's API side over its resolved credentials, sharing one in-flight cap. */
function openAccounts(
  c: Config,
  opts: {
    ready: readonly ReadyAccount[];
    msg: Messaging;
    log: Logger;
    lifecycle: Lifecycle;
  } & Pick<OpenAccountDeps, 'onCall' | 'unreachableAttempts' | 'onVpcListing'>,
): AccountRuntime[] {
  const { ready, msg, log, lifecycle, ...extra } = opts;
  const apiSlots = openApiSlots(c);
  return ready.map(({ spec, credentials }) =>
    openAccount(c, spec, { credentials, backend: msg.backend, log, apiSlots, ...extra }, lifecycle),
  );
}

/**
 * The one-shot's last check before it writes: something answers at every API endpoint it will
 * call (ECS for each region, VPC where VPCs are discovered). A wrong ECS_ENDPOINT, a name that does
 * not resolve or a machine without network is one line now, not a run of retries.
 */
async function checkEndpoints(c: Config, specs: readonly AccountSpec[], regions: readonly string[]) {
  const endpoints = new Map<string, { api: ApiName; url: URL }>();
  for (const spec of specs) {
    for (const regionId of spec.regions) {
      if (regions.length > 0 && !regions.includes(regionId)) continue;
      const apis: ApiName[] = spec.targets ? ['ecs'] : ['ecs', 'vpc'];
      for (const api of apis) {
        const url = resolveEndpoint(api, regionId, api === 'ecs' ? c.ECS_ENDPOINT : c.VPC_ENDPOINT);
        if (!endpoints.has(url.origin)) endpoints.set(url.origin, { api, url });
      }
    }
  }
  const probed = await Promise.all(
    [...endpoints.values()].map(async (e) => ({ ...e, code: await probeEndpoint(e.url, c.API_TIMEOUT) })),
  );
  const down = probed.filter((p) => p.code !== undefined);
  const first = down[0];
  if (!first) return;
  const more = down.length > 1 ? `; ${down.length - 1} more endpoint(s) unreachable` : '';
  throw new UnreachableError(`${unreachableMessage(first.api, first.url, first.code ?? '')}${more}`);
}

/**
 * Postgres and the queue backend's server answer: checked before anything is written. Returns the
 * check of DATABASE_URL still to do once the migration created the database (`checkDatabases`).
 */
async function checkServers(c: Config): Promise<PendingCheck> {
  const pending = await checkDatabases(c);
  await checkQueueServer(c);
  return pending;
}

/**
 * The queues' server: Redis, or on the Postgres backend the queue database when it is not the
 * service's (a URL checked already is not asked again).
 */
async function checkQueueServer(c: Config): Promise<void> {
  if (c.QUEUE_BACKEND === 'redis') return checkRedis(c);
  if (c.QUEUE_DATABASE_URL === c.DATABASE_URL || c.QUEUE_DATABASE_URL === directDatabaseUrl(c)) return;
  await checkPostgres(c.QUEUE_DATABASE_URL, { variable: 'QUEUE_DATABASE_URL' });
}

/** A check left for after the migration (run it then); a no-op when nothing was left. */
type PendingCheck = () => Promise<void>;

/**
 * DATABASE_URL answers, and DATABASE_DIRECT_URL when it names another URL (migrations and LISTEN
 * go there): that one first. When its database does not exist yet, DATABASE_URL — a pooler in
 * front of it — is checked only once the migration has created it: PgBouncer cannot log into a
 * database that does not exist, and after one failed login it holds every new client of that
 * database for `server_login_retry` (15 s by default), the service's first connections included.
 */
async function checkDatabases(c: Config): Promise<PendingCheck> {
  const done: PendingCheck = async () => {};
  if (c.DATABASE_DIRECT_URL === undefined || c.DATABASE_DIRECT_URL === c.DATABASE_URL) {
    await checkPostgres(c.DATABASE_URL);
    return done;
  }
  const exists = await checkPostgres(c.DATABASE_DIRECT_URL, { variable: 'DATABASE_DIRECT_URL' });
  if (!exists) return () => checkPostgres(c.DATABASE_URL).then(() => undefined);
  await checkPostgres(c.DATABASE_URL);
  return done;
}

/**
 * The service's database (created when missing; over DATABASE_DIRECT_URL, default DATABASE_URL:
 * DDL belongs on a direct connection, though the runner holds no session state and works through a
 * pooler too) and, on the Postgres queue backend, BullMQ's schema for the deployment's prefix in
 * the queue database. Returns what `migrate` prints.
 */
async function migrateAll(c: Config, log: Logger): Promise<string[]> {
  const variable = c.DATABASE_DIRECT_URL === undefined ? 'DATABASE_URL' : 'DATABASE_DIRECT_URL';
  const { applied } = await migrateDatabase({ databaseUrl: directDatabaseUrl(c), variable, log });
  const lines = [applied > 0 ? `applied ${applied} migration(s)` : 'database is up to date'];
  if (c.QUEUE_BACKEND === 'postgres') {
    const schema = await migrateQueueSchema(c.QUEUE_DATABASE_URL, c.QUEUE_PREFIX);
    lines.push(`queue schema ${schema} is up to date (QUEUE_BACKEND=postgres)`);
  }
  return lines;
}

function alertDispatcher(c: Config, db: Database, log: Logger, lifecycle: Lifecycle) {
  const dispatcher = createAlertDispatcher({
    store: db.store,
    channels: c,
    log: log.child({ component: 'alerts' }),
    contextWaitMs: c.ALERT_CONTEXT_WAIT,
    attribution: c.ATTRIBUTION === 'on',
  });
  lifecycle.add('alert dispatcher', () => dispatcher.close());
  return dispatcher;
}

function createActions(proc: Process): CliActions {
  const config = () => loadConfig(proc.env);
  // Aborts what runs before a command's lifecycle exists (resolving credentials) on the first signal.
  const stopping = new AbortController();
  void proc.stopRequested.then(() => stopping.abort());
  /** A read command: Postgres only, through the store, on a migrated database (it creates nothing). */
  const read = async (fn: (store: Store, c: Config) => Promise<number>): Promise<number> => {
    const c = config();
    const log = makeLogger(c, proc.io);
    await checkPostgres(c.DATABASE_URL, { migrated: true });
    return withLifecycle(log, (lifecycle) => fn(openDatabase(c, log, lifecycle).store, c));
  };
  return {
    async migrate() {
      const c = config();
      const log = makeLogger(c, proc.io);
      // Only the URLs it uses: with DATABASE_DIRECT_URL set, DATABASE_URL plays no part, and
      // migrations write no Redis key.
      await checkPostgres(directDatabaseUrl(c), {
        variable: c.DATABASE_DIRECT_URL === undefined ? 'DATABASE_URL' : 'DATABASE_DIRECT_URL',
      });
      if (c.QUEUE_BACKEND === 'postgres') await checkQueueServer(c);
      for (const line of await migrateAll(c, log)) proc.io.stdout.write(`${line}\n`);
      return 0;
    },

    async start({ roles }) {
      const c = config();
      applyHeapPolicy();
      const has = (r: Role) => roles.includes(r);
      const usesApi = has('worker') || has('scheduler');
      // The hook maps each pushed record to an account and a watched region: it needs the accounts
      // (not their credentials) where it serves.
      const hook = has('http') && c.HOOK_TOKEN !== undefined;
      if (has('http')) requireHttpConfig(c);
      if (usesApi || hook) requireApiConfig(c);
      // The accounts file is configuration too: a bad one stops the process before it creates a
      // database, listens or touches Redis.
      const specs = usesApi || hook ? await resolveAccounts(c, proc.env) : [];
      const log = makeLogger(c, proc.io);
      const checkPooled = await checkServers(c);
      // Credentials too, before the database is created or migrated.
      const ready = await resolveCredentials(usesApi ? specs : [], proc.env, log, stopping.signal);
      await migrateAll(c, log);
      await checkPooled();
      return withServiceLifecycle(log, async (lifecycle) => {
        proc.onForce(() => log.error('second signal: exiting without draining'));
        const db = openDatabase(c, log, lifecycle);
        const msg = openMessaging(c, log, lifecycle);
        const metrics = createMetrics({
          log,
          collect: storeCollectors({
            store: db.store,
            account: readAccount(c),
            queueDepth: () => msg.queues.depth(),
          }),
        });
        // The HTTP server comes up first (so /healthz answers during start-up) and closes last.
        if (has('http')) {
          // Loaded only by a process that serves HTTP: fastify and bull-board would otherwise sit
          // in every worker's resident memory, unused.
          const { createHttpServer } = await import('./http/index.js');
          const server = createHttpServer({
            host: c.HTTP_HOST,
            port: c.HTTP_PORT,
            token: c.HTTP_TOKEN,
            log: log.child({ component: 'http' }),
            metrics,
            ready: readinessProbes(db, msg),
            store: db.store,
            account: readAccount(c),
            queues: [
              msg.queues.plan,
              msg.queues.sync,
              msg.queues.feed,
              msg.queues.enrich,
              msg.queues.attribute,
            ],
            staleAfterMs: c.ALERT_STALE_AFTER,
            changeFeed: { mode: c.CHANGE_FEED, intervalMs: c.CHANGE_FEED_INTERVAL },
            hook:
              c.HOOK_TOKEN === undefined
                ? undefined
                : hookReceiver({ ...c, HOOK_TOKEN: c.HOOK_TOKEN }, { db, msg, specs, metrics, log }),
          });
          lifecycle.add('http server', () => server.close());
          await server.listen();
        }
        let accounts: AccountRuntime[] = [];
        if (has('worker') || has('scheduler')) {
          accounts = openAccounts(c, {
            ready,
            msg,
            log,
            lifecycle,
            onCall: (e) => metrics.apiCall(e),
            onVpcListing: recordVpcListings(db, log),
          });
        }
        if (has('worker')) {
          const workers = startWorkers(
            c,
            {
              ...db,
              ...msg,
              accounts,
              log,
              feed: feedObservers(metrics),
              afterApplied: contextAfterApplied(c, msg.queues),
              onSyncDone: (r, err, durationMs) => {
                if (err !== undefined || !r) {
                  metrics.scanFinished({ status: 'failed', durationMs });
                  return;
                }
                metrics.scanFinished({
                  status: r.outcome === 'applied' ? 'succeeded' : r.outcome,
                  durationMs,
                });
                if (r.outcome === 'applied') metrics.eventsRecorded({ added: r.added, removed: r.removed });
              },
            },
            lifecycle,
          );
          const context = startContextWorkers(c, { ...db, ...msg, accounts, log }, lifecycle);
          await Promise.all([workers.ready(), context.ready()]);
        }
        if (has('alerts')) {
          const dispatcher = alertDispatcher(c, db, log, lifecycle);
          const loop = dispatcher.run(lifecycle.signal);
          // The loop stops at lifecycle.signal (aborted as close() starts); the drain awaits its pass.
          lifecycle.addDrain('alert loop', () =>
            loop.catch((err) => log.warn({ error: coerceError(err).summary() }, 'alert loop failed')),
          );
        }
        if (has('scheduler')) {
          await startScheduler(c, { queues: msg.queues, accounts, log }, lifecycle);
          const monitor = startStalenessMonitor({
            store: db.store,
            channels: configuredChannels(c),
            staleAfterMs: c.ALERT_STALE_AFTER,
            everyMs: Math.min(60_000, Math.max(1_000, Math.round(c.ALERT_STALE_AFTER / 10))),
            log,
          });
          lifecycle.addDrain('staleness monitor', () => monitor.stop());
          if (c.EVENT_RETENTION !== undefined) {
            const retention = startRetention({ store: db.store, retainMs: c.EVENT_RETENTION, log });
            lifecycle.addDrain('retention', () => retention.stop());
          }
        }
        log.info(
          { roles, accounts: accounts.map((a) => ({ name: a.name, regions: a.regions })) },
          'classiclink-sync started',
        );
        await proc.stopRequested;
        log.info({ drainMs: c.SHUTDOWN_TIMEOUT }, 'stopping: draining running jobs');
        return 0;
      });
    },

    async syncOnce(opts) {
      const c = config();
      requireApiConfig(c);
      applyHeapPolicy();
      const specs = await resolveAccounts(c, proc.env);
      const usage = unknownRegions(specs, opts.regions);
      if (usage !== undefined) {
        proc.io.stderr.write(`classiclink-sync sync: ${usage}\n`);
        return 2;
      }
      // On a terminal (stdout and stderr), a progress line on stderr and the logs above it.
      const terminal = proc.io.isTTY && process.stderr.isTTY;
      const progress = terminal ? createProgress(proc.io.stderr, !opts.json) : undefined;
      const log = await makeReportLogger(c, proc.env, progress);
      // Every check that can fail comes before the first write (CREATE DATABASE, a migration, a
      // Redis key): a one-shot that cannot run leaves nothing behind.
      const checkPooled = await checkServers(c);
      const ready = await resolveCredentials(specs, proc.env, log, stopping.signal);
      await checkEndpoints(c, specs, opts.regions);
      await migrateAll(c, log);
      await checkPooled();
      return withLifecycle(log, async (lifecycle) => {
        const db = openDatabase(c, log, lifecycle);
        const msg = openMessaging(c, log, lifecycle);
        // A one-shot reports what one attempt found: no job-level retries, and an endpoint that
        // stops answering mid-run fails its calls after a few quick tries instead of the deadline.
        const accounts = openAccounts(c, {
          ready,
          msg,
          log,
          lifecycle,
          unreachableAttempts: ONE_SHOT_UNREACHABLE_ATTEMPTS,
        });
        const workers = startWorkers(c, { ...db, ...msg, accounts, log }, lifecycle, { maxAttempts: 1 });
        await workers.ready();
        const channels = configuredChannels(c);
        const dispatcher = channels.length > 0 ? alertDispatcher(c, db, log, lifecycle) : undefined;
        return syncOnce(
          {
            accounts,
            queues: msg.queues,
            io: proc.io,
            progress,
            signal: lifecycle.signal,
            deliverAlerts: dispatcher
              ? (runIds) => dispatcher.deliverRuns(runIds, opts.alertWaitMs)
              : undefined,
          },
          opts,
        );
      });
    },

    links: (opts) => read((store, c) => printLinks(store, readAccount(c), opts, proc.io)),
    events: (opts) => read((store, c) => printEvents(store, readAccount(c), opts, proc.io)),
    history: (opts) => read((store, c) => printHistory(store, readAccount(c), opts, proc.io)),
    status: (opts) => read((store, c) => printStatus(store, c, readAccount(c), opts, proc.io)),
    alerts: (opts) => read((store) => printAlerts(store, opts, proc.io)),

    async simulate(opts) {
      const { describeSimulator, loadKeysFromEnv, startSimulator } = await import('./simulator/index.js');
      const sim = await startSimulator({
        host: opts.host,
        port: opts.port,
        seed: opts.seed,
        regions: opts.regions,
        vpcsPerRegion: opts.vpcs,
        linksPerVpc: opts.links,
        unlinkedPerRegion: opts.unlinked,
        worldFile: opts.world,
        keys: loadKeysFromEnv(proc.env),
        faults: {
          latencyMs: opts.latencyMs,
          throttleRate: opts.throttleRate,
          unavailableRate: opts.errorRate,
          qpsCap: opts.qpsCap,
          actionTrailDelayMs: opts.actionTrailDelayMs,
        },
        churn: opts.churn ? { intervalMs: opts.churnIntervalMs, attach: 1, detach: 1 } : undefined,
        eventBridge:
          opts.eventbridgeTarget === undefined
            ? undefined
            : {
                url: opts.eventbridgeTarget,
                token: opts.eventbridgeToken,
                auth: opts.eventbridgeAuth,
                delayMs: opts.eventbridgeDelayMs,
              },
        // A long-running simulator keeps only recent requests (tests read them through the admin API).
        maxRecordedRequests: 10_000,
      });
      proc.io.stdout.write(`${describeSimulator(sim)}\n`);
      await proc.stopRequested;
      await sim.close();
      return 0;
    },

    async demo(opts) {
      // The demo's settings are its own (demo.ts): only the servers of DATABASE_URL (and
      // DATABASE_DIRECT_URL) and REDIS_URL (or REDIS_CLUSTER_NODES) are taken from the environment,
      // never a deployment's database, prefix, account or alerts. With no Postgres to use (or
      // --embedded), it starts an embedded one (store/embedded.ts); with no Redis configured, its
      // queues are on BullMQ's Postgres backend in its own database.
      const { chooseDemoDatabase, demoSetup, runDemo } = await loadDemo();
      const setup = demoSetup(proc.env);
      const c = setup.config;
      applyHeapPolicy();
      const log = createLogger({
        level: c.LOG_LEVEL === 'info' ? 'warn' : c.LOG_LEVEL,
        pretty: proc.io.isTTY,
      });
      const database = await chooseDemoDatabase(proc.env, opts);
      // The demo's database is recreated over DATABASE_DIRECT_URL before anything uses DATABASE_URL.
      if (database.kind === 'server') await checkDatabases(c);
      if (c.QUEUE_BACKEND === 'redis') await checkRedis(c);
      return runDemo(
        {
          setup,
          database,
          log,
          io: proc.io,
          stopRequested: proc.stopRequested,
          credentialsFor: (key) => staticCredentialsProvider(key),
        },
        opts,
      );
    },
  };
}

/** Runs the CLI as this process: signals, exit code, one-line errors. */
export async function main(argv: readonly string[]): Promise<void> {
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: process.stdout.isTTY === true,
  };
  let signals = 0;
  let force: (() => void) | undefined;
  let requestStop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      io.stderr.write(`\n${signal}: shutting down (again to force)\n`);
      requestStop();
      return;
    }
    force?.();
    process.exit(130);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const actions = createActions({
    env: process.env,
    io,
    stopRequested,
    onForce: (fn) => {
      force = fn;
    },
  });
  try {
    process.exitCode = await runCli(argv, actions, io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`classiclink-sync: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      const e = coerceError(err);
      io.stderr.write(`classiclink-sync: ${e.summary()}\n`);
      if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace')
        io.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    }
  }
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // Everything was closed through the lifecycle; if a stray handle still holds the event loop,
  // do not hang a script or a container stop on it.
  setTimeout(() => process.exit(), 3_000).unref();
}

await main(process.argv.slice(2));
