/**
 * `classiclink-sync demo` (`npm run demo`): the simulator with a world that changes by itself,
 * the real service (scheduler + workers) against it on a short interval, and each change printed
 * as it lands — Postgres LISTEN on the store's NOTIFY channel, then the run's events — with who
 * made it once ActionTrail shows the call (the simulator's writers are named RAM users).
 *
 * The demo never touches a deployment. Its settings are its own, not the environment's: a
 * database and a queue prefix it names and creates itself, on the servers of DATABASE_URL and
 * REDIS_URL or REDIS_CLUSTER_NODES when the demo's queues are on Redis (else in its own database:
 * BullMQ's Postgres backend), and of DATABASE_DIRECT_URL (where its LISTEN and its CREATE / DROP
 * DATABASE go when DATABASE_URL is a transaction pooler). With `--embedded`, or when DATABASE_URL is
 * not set and nothing answers at 127.0.0.1:5432, on an embedded Postgres it starts and removes at
 * exit. Its own account, regions and simulator key; no alert channel. Everything else the
 * service would read (QUEUE_PREFIX, SYNC_*, ACCOUNTS_FILE, ALIBABA_CLOUD_*, ALERT_*, …) is
 * ignored, and the banner names what was set and ignored. It drops or clears only a database or
 * prefix that carries its mark, so a deployment that happens to use its names is refused, not wiped.
 */
import { connect } from 'node:net';
import { type Config, ConfigError, directDatabaseUrl, envSchema, loadConfig } from '../config.js';
import type { CredentialsProvider } from '../credentials/index.js';
import { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { startPeriodic } from '../periodic.js';
import {
  claimPrefix,
  migrateQueueSchema,
  prefixPattern,
  queuePrefix,
  queueSchema,
  type RedisSettings,
} from '../queue/index.js';
import {
  contextAfterApplied,
  openAccount,
  openDatabase,
  openMessaging,
  recordVpcListings,
  startConsoleServer,
  startContextWorkers,
  startScheduler,
  startWorkers,
} from '../service.js';
import { type SimulatorKey, startSimulator } from '../simulator/index.js';
import {
  databaseName,
  type EmbeddedPostgres,
  maintenanceUrl,
  migrateDatabase,
  recreateMarkedDatabase,
  startEmbeddedPostgres,
} from '../store/index.js';
import { demoPrinter } from './demo-print.js';
import type { DemoOptions } from './options.js';
import type { CliIo } from './program.js';

/** The demo's database, on the server of DATABASE_URL; dropped and recreated by every run. */
const DEMO_DATABASE = 'classiclink_demo';
/**
 * The demo's queue prefix: on the server of REDIS_URL or the cluster of REDIS_CLUSTER_NODES (cleared
 * by every run), or, on the Postgres queue backend, the name of BullMQ's schema in the demo's own
 * database (recreated by every run).
 */
const DEMO_QUEUE_PREFIX = 'classiclink-demo';
/** The account name in the demo's rows. */
const DEMO_ACCOUNT = 'demo';
const DEMO_REGIONS = ['cn-hangzhou', 'cn-beijing'];
/** The console's port: 8080 when free, else any free one (the banner names it). */
const DEMO_HTTP_PORTS = [8080, 0];
/** The mark of what the demo created: its database's comment, the value of a key under its prefix. */
const DEMO_MARK = 'classiclink-sync demo: recreated by every run of the demo';
/** What the demo reads from the environment: the servers of the URLs, the queue backend, and the log level. */
const DEMO_READS: ReadonlySet<string> = new Set([
  'DATABASE_URL',
  'DATABASE_DIRECT_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'QUEUE_BACKEND',
  'LOG_LEVEL',
]);
/** Where the demo looks for a Postgres when DATABASE_URL is not set. */
const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432 };
/** How long the look at LOCAL_POSTGRES waits for an answer (loopback: it answers or refuses at once). */
const LOCAL_LOOK_MS = 1_000;

export interface DemoSetup {
  /** The demo's configuration (the simulator's endpoints are added when it starts). */
  config: Config;
  /** Variables set in the environment that the demo ignores, by name (values are never shown). */
  ignored: readonly string[];
  /** The database of the environment's DATABASE_URL, when it is not the demo's. */
  ignoredDatabase: string | undefined;
  /** DATABASE_URL is set in the environment. */
  databaseUrlSet: boolean;
  /** The embedded Postgres the demo runs on, once started; otherwise the server of DATABASE_URL. */
  embedded?: Pick<EmbeddedPostgres, 'version' | 'dir'> | undefined;
}

/** Where the demo's database runs: on a server (DATABASE_URL's, or the local one), or embedded. */
export type DemoDatabase = { kind: 'server' } | { kind: 'embedded'; why: string };

/**
 * `--embedded`, or no DATABASE_URL and nothing answering at 127.0.0.1:5432: an embedded Postgres.
 * Otherwise the server of DATABASE_URL (default the local one), as before: a server that answers
 * but refuses the login is reported, never replaced by an embedded one.
 */
export async function chooseDemoDatabase(
  env: Readonly<Record<string, string | undefined>>,
  opts: Pick<DemoOptions, 'embedded'>,
  local: { host: string; port: number } = LOCAL_POSTGRES,
): Promise<DemoDatabase> {
  if (opts.embedded) return { kind: 'embedded', why: '--embedded' };
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL !== '') return { kind: 'server' };
  if (await answers(local.host, local.port)) return { kind: 'server' };
  return {
    kind: 'embedded',
    why: `DATABASE_URL is not set and no Postgres answers at ${local.host}:${local.port}`,
  };
}

/** Does anything accept a TCP connection at host:port? */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: LOCAL_LOOK_MS });
    const done = (yes: boolean) => {
      socket.destroy();
      resolve(yes);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** The demo's setup on an embedded server: its URL in place of DATABASE_URL's, which is then ignored. */
function onEmbedded(setup: DemoSetup, pg: EmbeddedPostgres): DemoSetup {
  const database = new URL(pg.url);
  database.pathname = `/${DEMO_DATABASE}`;
  return {
    ...setup,
    // The queues follow the database there on the Postgres backend (QUEUE_DATABASE_URL resolved
    // from the environment's URLs, which the embedded server replaces); no pooler in front of it.
    config: Object.freeze({
      ...setup.config,
      DATABASE_URL: database.toString(),
      DATABASE_DIRECT_URL: undefined,
      QUEUE_DATABASE_URL: database.toString(),
    }),
    ignored: setup.databaseUrlSet ? ['DATABASE_URL', ...setup.ignored] : setup.ignored,
    embedded: { version: pg.version, dir: pg.dir },
  };
}

/**
 * The demo's configuration from the environment: only the servers of DATABASE_URL,
 * DATABASE_DIRECT_URL and REDIS_URL (or REDIS_CLUSTER_NODES), QUEUE_BACKEND and LOG_LEVEL are
 * taken; the database, prefix, account, regions and channels are the demo's.
 */
/** The demo's change feed polls the simulator's ActionTrail this often. */
const DEMO_FEED_INTERVAL_MS = 2_000;

export function demoSetup(env: Readonly<Record<string, string | undefined>>): DemoSetup {
  // Parsed first as given, so a bad URL is the usual one line naming the variable.
  const given = loadConfig({
    DATABASE_URL: env.DATABASE_URL,
    DATABASE_DIRECT_URL: env.DATABASE_DIRECT_URL,
    REDIS_URL: env.REDIS_URL,
    REDIS_CLUSTER_NODES: env.REDIS_CLUSTER_NODES,
    QUEUE_BACKEND: env.QUEUE_BACKEND,
    LOG_LEVEL: env.LOG_LEVEL,
  });
  const demoDatabase = (url: string) => {
    const u = new URL(url);
    u.pathname = `/${DEMO_DATABASE}`;
    return u.toString();
  };
  const config = loadConfig({
    DATABASE_URL: demoDatabase(given.DATABASE_URL),
    DATABASE_DIRECT_URL:
      given.DATABASE_DIRECT_URL === undefined ? undefined : demoDatabase(given.DATABASE_DIRECT_URL),
    REDIS_URL: given.REDIS_URL,
    REDIS_CLUSTER_NODES: given.REDIS_CLUSTER_NODES?.join(','),
    QUEUE_BACKEND: given.QUEUE_BACKEND,
    LOG_LEVEL: given.LOG_LEVEL,
    QUEUE_PREFIX: DEMO_QUEUE_PREFIX,
    SYNC_ACCOUNT: DEMO_ACCOUNT,
    SYNC_REGIONS: DEMO_REGIONS.join(','),
  });
  const isSet = (name: string) => env[name] !== undefined && env[name] !== '';
  const ignored = [
    ...Object.keys(envSchema.shape).filter((name) => !DEMO_READS.has(name) && isSet(name)),
    // The rest of the credential chain's variables (profiles, role ARNs, OIDC, …).
    ...Object.keys(env)
      .filter((name) => name.startsWith('ALIBABA_CLOUD_') && !(name in envSchema.shape) && isSet(name))
      .sort(),
  ];
  const theirs = isSet('DATABASE_URL') ? databaseName(given.DATABASE_URL) : undefined;
  return {
    config,
    ignored,
    ignoredDatabase: theirs === DEMO_DATABASE ? undefined : theirs,
    databaseUrlSet: isSet('DATABASE_URL'),
  };
}

/** `user@host:port` of a URL: no password, no query. */
function serverOf(url: string): string {
  const u = new URL(url);
  const path = u.protocol.startsWith('redis') && u.pathname.length > 1 ? u.pathname : '';
  return `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${path}`;
}

/**
 * The demo database's URL to paste into a command. A password is left out (pg and psql read it
 * from PGPASSWORD), so the banner never prints a secret.
 */
function pasteableUrl(url: string): { url: string; password: boolean } {
  const u = new URL(url);
  const password = u.password !== '' || u.searchParams.has('password');
  u.password = '';
  u.searchParams.delete('password');
  u.searchParams.delete('sslpassword');
  return { url: shellWord(u.toString()), password };
}

/** A word for a shell command line, quoted when it holds characters the shell would read (`?`, `&`). */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * Takes the demo's prefix: an empty one, or one carrying the demo's mark. Keys under it without
 * the mark belong to someone else (a service run with QUEUE_PREFIX=classiclink-demo): refused.
 */
async function claimDemoPrefix(server: RedisSettings): Promise<void> {
  const claim = { server, prefix: DEMO_QUEUE_PREFIX, markKey: 'demo', mark: DEMO_MARK };
  if (await claimPrefix(claim)) return;
  throw new ConfigError(
    `${redisServerOf(server)} holds keys under ${queuePrefix(DEMO_QUEUE_PREFIX)} that were not created by the demo; ` +
      `the demo clears only its own prefix. If they are an earlier demo's, delete them: ` +
      `redis-cli -u <REDIS_URL> --scan --pattern '${prefixPattern(DEMO_QUEUE_PREFIX)}' | xargs redis-cli -u <REDIS_URL> del` +
      (isCluster(server) ? ', with the URL of the master that holds them' : ''),
  );
}

/**
 * Drops and recreates the demo's database, marked as the demo's. A database of that name
 * without the mark was not created by the demo: refused, never dropped.
 */
async function recreateDemoDatabase(databaseUrl: string): Promise<void> {
  const claim = await recreateMarkedDatabase({
    serverUrl: databaseUrl,
    name: DEMO_DATABASE,
    mark: DEMO_MARK,
  });
  if (claim === 'not-ours') {
    throw new ConfigError(
      `database ${DEMO_DATABASE} on ${serverOf(databaseUrl)} exists but was not created by the demo; ` +
        `the demo drops only its own database. If it is an earlier demo's, drop it: ` +
        `psql ${pasteableUrl(maintenanceUrl(databaseUrl)).url} -c 'DROP DATABASE ${DEMO_DATABASE}'`,
    );
  }
}

export interface DemoDeps {
  setup: DemoSetup;
  database: DemoDatabase;
  log: Logger;
  io: CliIo;
  stopRequested: Promise<void>;
  credentialsFor(key: SimulatorKey): CredentialsProvider;
}

const isCluster = (s: RedisSettings) => (s.REDIS_CLUSTER_NODES?.length ?? 0) > 0;

/** `Redis user@host:port`, or `Redis Cluster user@host:port (+N more seeds)`: no password. */
function redisServerOf(s: RedisSettings): string {
  const [first, ...more] = s.REDIS_CLUSTER_NODES ?? [];
  if (first === undefined) return `Redis ${serverOf(s.REDIS_URL)}`;
  return `Redis Cluster ${serverOf(first)}${more.length > 0 ? ` (+${more.length} more seeds)` : ''}`;
}

function banner(
  setup: DemoSetup,
  simUrl: string,
  opts: DemoOptions,
  churnMs: number,
  consoleUrl: string,
): string {
  const { config, embedded } = setup;
  const db = pasteableUrl(config.DATABASE_URL);
  const theirs = setup.ignoredDatabase
    ? `; the database of your DATABASE_URL, ${setup.ignoredDatabase}, is not touched`
    : '';
  const database = embedded
    ? `${DEMO_DATABASE} on an embedded PostgreSQL ${embedded.version} at ${new URL(config.DATABASE_URL).host}, started for this demo; ` +
      `its files, in ${embedded.dir}, are removed at exit${theirs}`
    : `${DEMO_DATABASE} on ${serverOf(config.DATABASE_URL)} (the demo's own, recreated by every run${theirs})`;
  // The embedded server's password is its own, random, and gone with it: shown, so the command works.
  const meanwhileUrl = embedded ? shellWord(config.DATABASE_URL) : db.url;
  return [
    'classiclink-sync demo: its own database, queues, account and simulator; it never touches a deployment',
    `  simulator  ${simUrl}  (${DEMO_REGIONS.length} regions x 3 VPCs; a link is attached and one detached every ${Math.round(churnMs / 1000)}s)`,
    `  database   ${database}`,
    config.QUEUE_BACKEND === 'redis'
      ? `  queues     ${queuePrefix(config.QUEUE_PREFIX)} on ${redisServerOf(config)} (the demo's own prefix)`
      : `  queues     BullMQ's Postgres backend, schema ${queueSchema(config.QUEUE_PREFIX)} of ${DEMO_DATABASE} (no Redis needed; set REDIS_URL to use Redis)`,
    `  account    ${DEMO_ACCOUNT}, with the simulator's key; no alert channel`,
    `  console    ${consoleUrl}  (open it in a browser: the changes appear there as they land)`,
    embedded
      ? '  reads      only the server of REDIS_URL (or REDIS_CLUSTER_NODES), QUEUE_BACKEND and LOG_LEVEL'
      : '  reads      only the servers of DATABASE_URL (and DATABASE_DIRECT_URL) and REDIS_URL (or REDIS_CLUSTER_NODES), QUEUE_BACKEND and LOG_LEVEL',
    ...(setup.ignored.length > 0
      ? [`  ignored    ${setup.ignored.join(', ')} (set in your environment)`]
      : []),
    `  syncing every ${opts.intervalMs / 1000}s, and the VPC of each ActionTrail record (polled every ${DEMO_FEED_INTERVAL_MS / 1000}s) as it appears;`,
    '  each change prints below as it lands (+ added, - removed), and who made it (↳) once ActionTrail shows the call. Ctrl-C to stop.',
    `  meanwhile: DATABASE_URL=${meanwhileUrl} SYNC_ACCOUNT=${DEMO_ACCOUNT} npx classiclink-sync events` +
      (db.password && !embedded ? '   (with PGPASSWORD set to the password of your DATABASE_URL)' : ''),
    '',
  ].join('\n');
}

function nextSteps(setup: DemoSetup): string {
  const db = pasteableUrl(setup.config.DATABASE_URL);
  const env = `DATABASE_URL=${db.url} SYNC_ACCOUNT=${DEMO_ACCOUNT}`;
  const record = setup.embedded
    ? [
        '',
        `What next: the demo's record goes with its embedded Postgres, removed now. To keep it, give the demo a`,
        '  Postgres (one on 127.0.0.1:5432, e.g. `docker compose up -d postgres`, or DATABASE_URL), then query it:',
        `  DATABASE_URL=postgres://USER@HOST:PORT/${DEMO_DATABASE} SYNC_ACCOUNT=${DEMO_ACCOUNT} npx classiclink-sync events`,
      ]
    : [
        '',
        `What next: the demo's record stays in ${DEMO_DATABASE} until the next demo${db.password ? ' (set PGPASSWORD to the password of your DATABASE_URL)' : ''}:`,
        `  ${env} npx classiclink-sync events   # also links, status, history --vpc V`,
        `  psql ${db.url} -c 'SELECT * FROM link_events ORDER BY id DESC LIMIT 20'`,
      ];
  return [
    ...record,
    'Against a real account: cp .env.example .env, fill in the AccessKey pair and SYNC_REGIONS, then',
    '  set -a; . ./.env; set +a; npx classiclink-sync migrate && npx classiclink-sync sync --once',
    '  (README "Against a real account"; `classiclink-sync start` runs the service)',
    '',
  ].join('\n');
}

export async function runDemo(deps: DemoDeps, opts: DemoOptions): Promise<number> {
  const { io, log } = deps;
  let setup = deps.setup;
  const lifecycle = new Lifecycle();
  try {
    // Its own prefix and database first: nothing starts on a name the demo does not own.
    if (setup.config.QUEUE_BACKEND === 'redis') await claimDemoPrefix(setup.config);
    let died: Promise<string> = new Promise(() => {});
    if (deps.database.kind === 'embedded') {
      io.stdout.write(`${deps.database.why}: starting an embedded Postgres for this demo, removed at exit\n`);
      const pg = await startEmbeddedPostgres({ log, progress: (line) => io.stdout.write(`${line}\n`) });
      // Registered first, so released last: every pool and listener is closed before it stops.
      lifecycle.add('embedded Postgres', () => pg.stop());
      setup = onEmbedded(setup, pg);
      died = pg.died;
    }
    // CREATE and DROP DATABASE on a direct connection: a pooler holds server connections to it.
    await recreateDemoDatabase(directDatabaseUrl(setup.config));

    const regions = DEMO_REGIONS;
    const churnMs = Math.max(1_000, Math.round(opts.intervalMs * 0.8));
    const sim = await startSimulator({
      port: 0,
      seed: 42,
      regions,
      vpcsPerRegion: 3,
      linksPerVpc: 4,
      unlinkedPerRegion: 30,
      churn: { intervalMs: churnMs, attach: 1, detach: 1 },
      maxRecordedRequests: 1_000,
    });
    lifecycle.add('simulator', () => sim.close());
    const key = sim.keys[0];
    if (!key) throw new Error('the simulator has no key');
    const config: Config = Object.freeze({
      ...setup.config,
      ECS_ENDPOINT: sim.url,
      VPC_ENDPOINT: sim.url,
      // The simulator answers every region's ActionTrail on one port, the path naming the region:
      // the change feed polls it, and the attribution looks up causes there.
      ACTIONTRAIL_ENDPOINT: `${sim.url}/{region}`,
      CHANGE_FEED_INTERVAL: DEMO_FEED_INTERVAL_MS,
      SYNC_INTERVAL: opts.intervalMs,
    });

    await migrateDatabase({ databaseUrl: directDatabaseUrl(config), log });
    // On the Postgres queue backend the queues live in the demo's own (just recreated) database.
    if (config.QUEUE_BACKEND === 'postgres')
      await migrateQueueSchema(config.QUEUE_DATABASE_URL, config.QUEUE_PREFIX);
    const db = openDatabase(config, log, lifecycle);
    const msg = openMessaging(config, log, lifecycle);
    await msg.queues.obliterate();

    const seen = { baseline: 0, added: 0, removed: 0 };
    const printer = demoPrinter({
      store: db.store,
      out: io.stdout,
      attribution: config.ATTRIBUTION === 'on',
      followMs: config.ATTRIBUTION_WINDOW + 60_000,
    });
    let printing = Promise.resolve();
    const watch = await db.store.watchChanges((note) => {
      if (note.baseline) seen.baseline += note.added;
      else {
        seen.added += note.added;
        seen.removed += note.removed;
      }
      printing = printing.then(() => printer.printRun(note)).catch(() => {});
    });
    lifecycle.add('listener', () => watch.close());
    // Causes settle a moment after their changes print: one look a second, in line with the prints.
    const followUps = startPeriodic({
      everyMs: 1_000,
      immediate: false,
      run: () => {
        printing = printing.then(() => printer.followUp()).catch(() => {});
        return printing;
      },
      onError: () => {},
    });
    lifecycle.add('cause follow-ups', () => followUps.stop());

    const account = openAccount(
      config,
      { name: DEMO_ACCOUNT, regions },
      {
        credentials: deps.credentialsFor(key),
        backend: msg.backend,
        log,
        onVpcListing: recordVpcListings(db, log),
      },
      lifecycle,
    );
    const workers = startWorkers(
      config,
      {
        ...db,
        ...msg,
        accounts: [account],
        log,
        feed: {},
        afterApplied: contextAfterApplied(config, msg.queues),
      },
      lifecycle,
    );
    const context = startContextWorkers(config, { ...db, ...msg, accounts: [account], log }, lifecycle);
    await Promise.all([workers.ready(), context.ready()]);
    const consoleUrl = await startConsoleServer(
      {
        ports: DEMO_HTTP_PORTS,
        store: db.store,
        account: DEMO_ACCOUNT,
        staleAfterMs: config.ALERT_STALE_AFTER,
        log,
      },
      lifecycle,
    );
    io.stdout.write(banner(setup, sim.url, opts, churnMs, consoleUrl));
    await startScheduler(config, { queues: msg.queues, accounts: [account], log }, lifecycle);

    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      if (opts.durationMs !== undefined) timer = setTimeout(resolve, opts.durationMs);
    });
    const death = await Promise.race([deps.stopRequested, elapsed, died]);
    clearTimeout(timer);
    if (typeof death === 'string') {
      io.stderr.write(`classiclink-sync: ${death}; the demo stops\n`);
      return 1;
    }
    await followUps.stop();
    await printing;
    const truth = regions.reduce((n, r) => n + sim.world.links(r).length, 0);
    io.stdout.write(
      `\ndemo stopped: ${seen.baseline} added (baseline), ${seen.added} added, ${seen.removed} removed; ` +
        `the simulator's world now has ${truth} link(s)\n`,
    );
    io.stdout.write(nextSteps(setup));
    return 0;
  } finally {
    await lifecycle.close((name, err) =>
      log.warn({ resource: name, err: String(err) }, 'error while closing'),
    );
  }
}
