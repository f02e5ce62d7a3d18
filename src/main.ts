/**
 * The composition root: reads the configuration, builds the logger, pools, connections and
 * clients, wires the modules into the command actions, and owns the process: signals and exit
 * codes. Nothing else calls process.exit or installs signal handlers.
 */

import { type CliActions, type CliIo, runCli } from './cli.js';
import type { Config } from './config.js';
import { ConfigError, loadConfig, requireApiConfig } from './config.js';
import { envCredentialsProvider, staticCredentialsProvider } from './credentials.js';
import { runDemo } from './demo.js';
import { coerceError } from './errors.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './log.js';
import { migrateDatabase } from './migrate.js';
import { checkPostgres, checkRedis } from './preflight.js';
import { printEvents, printHistory, printLinks, printStatus } from './report.js';
import { openDatabase, openEcs, openMessaging, startScheduler, startWorkers } from './service.js';
import { describeSimulator, loadKeysFromEnv, startSimulator } from './simulator/index.js';
import { syncOnce } from './sync-once.js';

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

export function createActions(proc: Process): CliActions {
  const config = () => loadConfig(proc.env);
  return {
    async migrate() {
      const c = config();
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      const { applied } = await migrateDatabase({ databaseUrl: c.DATABASE_URL, log });
      proc.io.stdout.write(applied > 0 ? `applied ${applied} migration(s)\n` : 'database is up to date\n');
      return 0;
    },

    async start({ roles }) {
      const c = config();
      if (roles.includes('worker')) requireApiConfig(c);
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      await checkRedis(c.REDIS_URL);
      await migrateDatabase({ databaseUrl: c.DATABASE_URL, log });
      return withLifecycle(log, async (lifecycle) => {
        proc.onForce(() => {
          log.error('second signal: exiting without draining');
        });
        const db = openDatabase(c, log, lifecycle);
        const msg = openMessaging(c, log, lifecycle);
        if (roles.includes('worker')) {
          const { source } = openEcs(c, envCredentialsProvider(proc.env), msg.limiter, log, lifecycle);
          const workers = startWorkers(c, { ...db, ...msg, source, log }, lifecycle);
          await workers.ready();
        }
        if (roles.includes('scheduler')) await startScheduler(c, msg.queues, log, lifecycle);
        log.info({ roles, regions: c.regions, account: c.SYNC_ACCOUNT }, 'classiclink-sync started');
        await proc.stopRequested;
        log.info({ drainMs: c.SHUTDOWN_TIMEOUT }, 'stopping: draining running jobs');
        return 0;
      });
    },

    async syncOnce(opts) {
      const c = config();
      requireApiConfig(c);
      // stdout is the report (`--json` must parse): log lines go to stderr unless a person is
      // watching a terminal.
      const log = createLogger({
        level: c.LOG_LEVEL === 'info' ? 'warn' : c.LOG_LEVEL,
        pretty: proc.io.isTTY,
        destination: proc.io.isTTY ? undefined : proc.io.stderr,
      });
      await checkPostgres(c.DATABASE_URL);
      await checkRedis(c.REDIS_URL);
      await migrateDatabase({ databaseUrl: c.DATABASE_URL, log });
      return withLifecycle(log, async (lifecycle) => {
        const db = openDatabase(c, log, lifecycle);
        const msg = openMessaging(c, log, lifecycle);
        const { source } = openEcs(c, envCredentialsProvider(proc.env), msg.limiter, log, lifecycle);
        const workers = startWorkers(c, { ...db, ...msg, source, log }, lifecycle);
        await workers.ready();
        return syncOnce({ config: c, queues: msg.queues, io: proc.io, signal: lifecycle.signal }, opts);
      });
    },

    async links(opts) {
      const c = config();
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      return withLifecycle(log, async (lifecycle) => {
        const { store } = openDatabase(c, log, lifecycle);
        return printLinks(store, c.SYNC_ACCOUNT, opts, proc.io);
      });
    },

    async events(opts) {
      const c = config();
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      return withLifecycle(log, async (lifecycle) => {
        const { store } = openDatabase(c, log, lifecycle);
        return printEvents(store, c.SYNC_ACCOUNT, opts, proc.io);
      });
    },

    async history(opts) {
      const c = config();
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      return withLifecycle(log, async (lifecycle) => {
        const { store } = openDatabase(c, log, lifecycle);
        return printHistory(store, c.SYNC_ACCOUNT, opts, proc.io);
      });
    },

    async status(opts) {
      const c = config();
      const log = makeLogger(c, proc.io);
      await checkPostgres(c.DATABASE_URL);
      return withLifecycle(log, async (lifecycle) => {
        const { store } = openDatabase(c, log, lifecycle);
        return printStatus(store, c, opts, proc.io);
      });
    },

    async simulate(opts) {
      const envKeys = loadKeysFromEnv(proc.env);
      const sim = await startSimulator({
        host: opts.host,
        port: opts.port,
        seed: opts.seed,
        regions: opts.regions,
        vpcsPerRegion: opts.vpcs,
        linksPerVpc: opts.links,
        unlinkedPerRegion: opts.unlinked,
        worldFile: opts.world,
        keys: envKeys,
        faults: {
          latencyMs: opts.latencyMs,
          throttleRate: opts.throttleRate,
          unavailableRate: opts.errorRate,
          qpsCap: opts.qpsCap,
        },
        churn: opts.churn ? { intervalMs: opts.churnIntervalMs, attach: 1, detach: 1 } : undefined,
        // A long-running simulator keeps only recent requests (tests read them through the admin API).
        maxRecordedRequests: 10_000,
      });
      proc.io.stdout.write(`${describeSimulator(sim)}\n`);
      await proc.stopRequested;
      await sim.close();
      return 0;
    },

    async demo(opts) {
      // The demo runs on the embedded defaults: its own database and queue prefix, so it never
      // touches a real deployment's rows or jobs on the same servers.
      const env = {
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/classiclink_demo',
        QUEUE_PREFIX: 'classiclink-demo',
        ...proc.env,
      };
      const c = loadConfig(env);
      const log = createLogger({
        level: c.LOG_LEVEL === 'info' ? 'warn' : c.LOG_LEVEL,
        pretty: proc.io.isTTY,
      });
      await checkPostgres(c.DATABASE_URL);
      await checkRedis(c.REDIS_URL);
      return runDemo(
        {
          baseConfig: c,
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
