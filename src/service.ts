/**
 * Wiring of the long-lived parts, shared by `start`, `sync --once` and `demo`: the pg pool and
 * store, the Redis connection and queues, the rate limiter, the ECS client and link source, the
 * plan/sync workers, the context (enrich/attribute) workers and the schedules. Every resource is
 * registered with the lifecycle as it is created: what takes work (the workers, the schedule
 * keeper) as a drain, stopped together first; the rest as releasers, released in reverse order
 * after. No module-level state.
 */
import pLimit from 'p-limit';
import type { AccountSpec } from './accounts.js';
import { type ChannelName, createChannels } from './alerts/index.js';
import {
  type ApiLimiter,
  type CallEvent,
  classicLinkSource,
  createEcsClient,
  createFleetLimiter,
  type EcsClient,
  type InFlightLimit,
  type VpcListingHook,
} from './aliyun/index.js';
import type { Config } from './config.js';
import { runAttribute, runEnrich, scheduleContext, vpcListingRecorder } from './context/index.js';
import type { CredentialsProvider } from './credentials/index.js';
import { FatalError, isThrottled } from './errors.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './log.js';
import { type Metrics, observeIngest } from './metrics.js';
import { startPeriodic } from './periodic.js';
import {
  closeWorkers,
  createQueues,
  openQueueBackend,
  type QueueBackend,
  type QueueBackendSpec,
  type Queues,
  type SyncJobResult,
  startWorker,
} from './queue/index.js';
import { connectDatabase, type Database, type Store } from './store/index.js';
import type {
  AppliedChanges,
  FeedAccount,
  FeedPollDeps,
  LinkSource,
  PushedRecord,
  PushResult,
  ScheduleGroup,
} from './sync/index.js';
import { ingestPushed, keepSchedules, runFeedPoll, runPlan, runSync } from './sync/index.js';

/** The EventBridge hook's options (http/hooks.ts), typed here so the kernel needs no fastify. */
export interface HookOptions {
  token: string;
  receive(records: readonly PushedRecord[]): Promise<PushResult>;
  onAnswer(e: { status: number; ignored: number }): void;
}

/** Alert channels configured in the environment (one outbox row each per changed run). */
export function configuredChannels(config: Config): ChannelName[] {
  // The channels the dispatcher can deliver to, by name: one definition of "configured".
  return [...createChannels(config).keys()];
}

/**
 * API requests in flight in this process: SYNC_CONCURRENCY, one cap shared by every account's
 * client (sync pages, removal lookups and the plan job's DescribeVpcs alike).
 */
export function openApiSlots(config: Config): InFlightLimit {
  return pLimit(config.SYNC_CONCURRENCY);
}

/**
 * Sync jobs in progress per process: twice the API slots. A job spends part of its time off the
 * API — BullMQ's fetch and completion, its run row, its diff transaction — and with only as many
 * jobs as slots, each slot would sit idle for that part (README, Performance). With twice as
 * many, another job's request fills the slot while one job writes.
 */
export function syncJobConcurrency(config: Config): number {
  return config.SYNC_CONCURRENCY * 2;
}

/**
 * Enrich and attribute jobs running at once per process: one each. They read at the pace of the
 * account+region+API limiter (shared with the scans), one call after another, and wait in queues
 * of their own, so a scan never waits behind them for a job slot and they hold at most two of the
 * process's API slots.
 */
const CONTEXT_JOB_CONCURRENCY = 1;

export function openDatabase(config: Config, log: Logger, lifecycle: Lifecycle): Database {
  const db = connectDatabase({
    databaseUrl: config.DATABASE_URL,
    directUrl: config.DATABASE_DIRECT_URL,
    // One connection per concurrent sync job, plus reads, the plan job and the context jobs.
    maxConnections: syncJobConcurrency(config) + 4 + 2 * CONTEXT_JOB_CONCURRENCY,
    log,
  });
  lifecycle.add('postgres pool', () => db.close());
  return db;
}

export interface Messaging {
  /** Where the queues live (QUEUE_BACKEND): their connections, the limiter's store, readiness. */
  backend: QueueBackend;
  queues: Queues;
}

/** The queue backend the configuration names, under the deployment's prefix. */
export function queueBackendSpec(config: Config): QueueBackendSpec {
  return config.QUEUE_BACKEND === 'redis'
    ? { kind: 'redis', redis: config, prefix: config.QUEUE_PREFIX }
    : { kind: 'postgres', databaseUrl: config.QUEUE_DATABASE_URL, prefix: config.QUEUE_PREFIX };
}

export function openMessaging(
  config: Config,
  log: Logger,
  lifecycle: Lifecycle,
  tuning: { syncAttempts?: number; syncBackoffMs?: number } = {},
): Messaging {
  const backend = openQueueBackend(queueBackendSpec(config), log);
  lifecycle.add(`queue backend (${backend.kind})`, () => backend.close());
  const queues = createQueues({ backend, ...tuning });
  lifecycle.add('queues', () => queues.close());
  return { backend, queues };
}

/**
 * One account as this process runs it: what its spec says (name, regions, targets), its resolved
 * QPS budget, and what was built for it — its credentials provider, its fleet-wide limiter, its
 * ECS client and the link source over that client.
 */
export interface AccountRuntime extends Omit<AccountSpec, 'credentials' | 'maxQps'> {
  /** This account's API_MAX_QPS: its spec's, else the configuration's (its limiter's budget). */
  maxQps: number;
  credentials: CredentialsProvider;
  limiter: ApiLimiter;
  ecs: EcsClient;
  source: LinkSource;
}

export interface OpenAccountDeps {
  /** Built from the spec's credentials (main.ts), or given directly (demo, tests). */
  credentials: CredentialsProvider;
  /** The queue backend: the fleet-wide limiter keeps its lanes on its server. */
  backend: QueueBackend;
  log: Logger;
  onCall?: ((e: CallEvent) => void) | undefined;
  /** The process's in-flight cap (openApiSlots), shared by all accounts. Default: this account's own. */
  apiSlots?: InFlightLimit | undefined;
  /** The ECS client's `unreachableAttempts` (one-shots). Default: retry within API_RETRY_DEADLINE. */
  unreachableAttempts?: number | undefined;
  /** Hands discovery's VPC listings of an account to enrichment (`recordVpcListings`). Default: none. */
  onVpcListing?: ((account: string) => VpcListingHook) | undefined;
}

/**
 * An account's API side: its own fleet-wide limiter (keys carry the account, so accounts never
 * share a budget) and its own ECS client over its credentials.
 */
export function openAccount(
  config: Config,
  spec: Omit<AccountSpec, 'credentials'>,
  deps: OpenAccountDeps,
  lifecycle: Lifecycle,
): AccountRuntime {
  const maxQps = spec.maxQps ?? config.API_MAX_QPS;
  const limiter = createFleetLimiter({ store: deps.backend.limiterStore(), account: spec.name, qps: maxQps });
  const ecs = createEcsClient({
    credentials: deps.credentials,
    signature: config.API_SIGNATURE,
    ecsEndpoint: config.ECS_ENDPOINT,
    vpcEndpoint: config.VPC_ENDPOINT,
    actiontrailEndpoint: config.ACTIONTRAIL_ENDPOINT,
    timeoutMs: config.API_TIMEOUT,
    retryDeadlineMs: config.API_RETRY_DEADLINE,
    unreachableAttempts: deps.unreachableAttempts,
    limiter,
    inFlight: deps.apiSlots ?? openApiSlots(config),
    onCall: (e) => {
      if (isThrottled(e)) void limiter.throttled({ api: e.api, regionId: e.regionId, action: e.action });
      deps.onCall?.(e);
    },
    log: deps.log.child({ component: 'ecs', account: spec.name }),
  });
  lifecycle.add(`ecs client ${spec.name}`, () => ecs.close());
  return {
    name: spec.name,
    accountId: spec.accountId,
    regions: spec.regions,
    targets: spec.targets,
    maxQps,
    credentials: deps.credentials,
    limiter,
    ecs,
    source: classicLinkSource(ecs, { onVpcListing: deps.onVpcListing?.(spec.name) }),
  };
}

/** The `onVpcListing` of `openAccount`: discovery's listings recorded as VPC attributes. */
export function recordVpcListings(
  db: Pick<Database, 'store'>,
  log: Logger,
): (account: string) => VpcListingHook {
  return vpcListingRecorder({ store: db.store, log });
}

/**
 * The sync's `afterApplied`: a change's instances described at once and, with ATTRIBUTION on,
 * its cause looked for (the context workers run both; `startContextWorkers`).
 */
export function contextAfterApplied(
  config: Config,
  queues: Pick<Queues, 'enqueueEnrich' | 'enqueueAttribute'>,
): (changes: AppliedChanges) => Promise<void> {
  return scheduleContext({
    enqueueEnrich: (data) => queues.enqueueEnrich(data),
    enqueueAttribute: (data) => queues.enqueueAttribute(data),
    attribution: config.ATTRIBUTION === 'on',
  });
}

export interface WorkerSet {
  ready(): Promise<void>;
}

/** Starts the plan and sync workers of this process. */
export function startWorkers(
  config: Config,
  deps: {
    store: Store;
    queues: Queues;
    backend: QueueBackend;
    accounts: readonly AccountRuntime[];
    log: Logger;
    /** Replaces an account's link source (tests inject behaviour between pages). */
    wrapSource?: ((source: LinkSource) => LinkSource) | undefined;
    onSyncDone?: ((r: SyncJobResult | undefined, err: unknown, durationMs: number) => void) | undefined;
    /**
     * Run the change feed's polls here too (`start`'s workers, the demo), with these observers
     * (metrics). Absent, or CHANGE_FEED=off: no feed worker (`sync --once` is a one-shot).
     */
    feed?: Pick<FeedPollDeps, 'onPoll' | 'onIngest'> | undefined;
    /** After an applied scan that changed links (`contextAfterApplied`). Default: nothing. */
    afterApplied?: ((changes: AppliedChanges) => Promise<void>) | undefined;
  },
  lifecycle: Lifecycle,
  tuning: {
    stalledIntervalMs?: number;
    lockDurationMs?: number;
    /** Attempts a job gets on these workers at most (queues.ts `maxAttempts`); `sync --once`: 1. */
    maxAttempts?: number;
  } = {},
): WorkerSet {
  const byName = new Map(
    deps.accounts.map((a) => [
      a.name,
      { ...a, source: deps.wrapSource ? deps.wrapSource(a.source) : a.source },
    ]),
  );
  const accountOf = (name: string) => {
    const a = byName.get(name);
    // A job for an account this process has no credentials for (config changed under a queue).
    if (!a) throw new FatalError(`no credentials configured for account ${name}`, { code: 'UnknownAccount' });
    return a;
  };
  const common = {
    backend: deps.backend,
    log: deps.log,
    lockDurationMs: config.JOB_LOCK_DURATION,
    stalledIntervalMs: Math.max(500, Math.round(config.JOB_LOCK_DURATION / 2)),
    ...tuning,
  };
  const plan = startWorker(
    'plan',
    (data, ctx) =>
      runPlan(
        {
          sourceFor: (name) => accountOf(name).source,
          explicitTargets: (name) => accountOf(name).targets,
          store: deps.store,
          maxQps: (name) => accountOf(name).maxQps,
          intervalMs: config.SYNC_INTERVAL,
          enqueueSync: (targets) => deps.queues.enqueueSync(targets),
        },
        { ...data, log: ctx.log, signal: ctx.signal },
      ),
    { ...common, concurrency: 2 },
  );
  const channels = configuredChannels(config);
  const sync = startWorker(
    'sync',
    async (data, ctx) => {
      const started = Date.now();
      try {
        const result = await runSync(
          {
            sourceFor: (name) => accountOf(name).source,
            store: deps.store,
            channels,
            alertOnBaseline: config.ALERT_ON_BASELINE,
            afterApplied: deps.afterApplied,
          },
          {
            target: { account: data.account, regionId: data.regionId, vpcId: data.vpcId },
            gone: data.gone,
            jobId: ctx.jobId,
            attempt: ctx.attempt,
            signal: ctx.signal,
            log: ctx.log,
          },
        );
        deps.onSyncDone?.(result, undefined, Date.now() - started);
        return result;
      } catch (err) {
        deps.onSyncDone?.(undefined, err, Date.now() - started);
        throw err;
      }
    },
    { ...common, concurrency: syncJobConcurrency(config) },
  );
  // How each account+region is polled (write-all or per event name), remembered by this process.
  const modes = new Map<string, number>();
  const feed =
    deps.feed === undefined || config.CHANGE_FEED === 'off'
      ? undefined
      : startWorker(
          'feed',
          (data, ctx) =>
            runFeedPoll(
              {
                store: deps.store,
                enqueueChangeSync: (targets) => deps.queues.enqueueChangeSync(targets),
                enqueueSync: (targets) => deps.queues.enqueueSync(targets),
                enqueueChangePlan: (plan) => deps.queues.enqueueChangePlan(plan),
                accountFor: (name) => {
                  const a = byName.get(name);
                  if (!a) return undefined;
                  return {
                    ...feedAccount(a),
                    lookupEvents: (regionId, query, opts) => a.ecs.lookupEvents(regionId, query, opts),
                  };
                },
                onPoll: deps.feed?.onPoll,
                onIngest: deps.feed?.onIngest,
                modes,
              },
              { ...data, log: ctx.log, signal: ctx.signal },
            ),
          // A poll is a few calls; polls of several regions at once, not more.
          { ...common, concurrency: 2 },
        );
  const all = feed ? [plan, sync, feed] : [plan, sync];
  // One drain for all: at the first signal none takes another job (a plan worker left open
  // while the sync worker drained kept planning and enqueueing), and SHUTDOWN_TIMEOUT bounds them
  // together. Drains run before every releaser, so the queues and connections outlive them.
  lifecycle.addDrain('workers', () => closeWorkers(all, config.SHUTDOWN_TIMEOUT));
  return { ready: async () => void (await Promise.all(all.map((w) => w.ready()))) };
}

/** What the change feed needs to know of an account: its name and where it watches. */
export function feedAccount(a: Pick<AccountSpec, 'name' | 'regions' | 'targets' | 'accountId'>): FeedAccount {
  return { name: a.name, accountId: a.accountId, regions: a.regions, targets: a.targets };
}

/**
 * Starts this process's context workers: `enrich` (instance and VPC attributes) and, with
 * ATTRIBUTION on, `attribute` (the causes of changes). A periodic enrich job also asks for an
 * attribute job of its region, so causes left pending by a lost hook (a process that died between
 * its commit and its enqueue, a `sync --once`) are settled within ENRICH_INTERVAL.
 */
export function startContextWorkers(
  config: Config,
  deps: {
    store: Store;
    queues: Queues;
    backend: QueueBackend;
    accounts: readonly AccountRuntime[];
    log: Logger;
  },
  lifecycle: Lifecycle,
  tuning: { stalledIntervalMs?: number; lockDurationMs?: number } = {},
): WorkerSet {
  const byName = new Map(deps.accounts.map((a) => [a.name, a]));
  const accountOf = (name: string) => {
    const a = byName.get(name);
    if (!a) throw new FatalError(`no credentials configured for account ${name}`, { code: 'UnknownAccount' });
    return a;
  };
  const attribution = config.ATTRIBUTION === 'on';
  const common = {
    backend: deps.backend,
    log: deps.log.child({ component: 'context' }),
    lockDurationMs: config.JOB_LOCK_DURATION,
    stalledIntervalMs: Math.max(500, Math.round(config.JOB_LOCK_DURATION / 2)),
    concurrency: CONTEXT_JOB_CONCURRENCY,
    ...tuning,
  };
  const enrich = startWorker(
    'enrich',
    async (data, ctx) => {
      const result = await runEnrich(
        {
          apiFor: (name) => accountOf(name).ecs,
          explicitTargets: (name) => accountOf(name).targets,
          store: deps.store,
        },
        { ...data, log: ctx.log, signal: ctx.signal },
      );
      if (attribution && data.instanceIds === undefined) {
        // The refresh is done; a failed ask is the next cycle's to make, not a reason to redo it.
        await deps.queues
          .enqueueAttribute({ account: data.account, regionId: data.regionId })
          .catch((err: unknown) => ctx.log.warn({ err: String(err) }, 'attribute job not enqueued'));
      }
      return result;
    },
    common,
  );
  const workers = [enrich];
  if (attribution) {
    workers.push(
      startWorker(
        'attribute',
        (data, ctx) =>
          runAttribute(
            {
              apiFor: (name) => accountOf(name).ecs,
              store: deps.store,
              windowMs: config.ATTRIBUTION_WINDOW,
              again: (d, delayMs) => deps.queues.enqueueAttribute(d, { delayMs }),
            },
            { ...data, log: ctx.log, signal: ctx.signal },
          ),
        common,
      ),
    );
  }
  lifecycle.addDrain('context workers', () => closeWorkers(workers, config.SHUTDOWN_TIMEOUT));
  return { ready: async () => void (await Promise.all(workers.map((w) => w.ready()))) };
}

/** Keeps the job schedulers in step with the configuration, now and every minute. */
export async function startScheduler(
  config: Config,
  deps: {
    queues: Queues;
    accounts: readonly Pick<AccountSpec, 'name' | 'regions'>[];
    log: Logger;
  },
  lifecycle: Lifecycle,
): Promise<void> {
  const { queues, log } = deps;
  const specs = deps.accounts.map((a) => ({ account: a.name, regions: a.regions }));
  const groups: ScheduleGroup[] = [
    { queue: 'plan', everyMs: config.SYNC_INTERVAL, specs },
    { queue: 'enrich', everyMs: config.ENRICH_INTERVAL, specs },
    // The change feed's polls. Off, the keeper wants none, so it removes what a previous
    // configuration left.
    { queue: 'feed', everyMs: config.CHANGE_FEED_INTERVAL, specs: config.CHANGE_FEED === 'off' ? [] : specs },
  ];
  const keeper = keepSchedules({
    queues,
    groups,
    checkEveryMs: Math.min(config.SYNC_INTERVAL, 60_000),
    log,
  });
  // A drain awaits what it returns: a reconcile in flight ends before the queues close.
  lifecycle.addDrain('scheduler', () => keeper.stop());
  await keeper.first;
}

/**
 * Readiness probes for /readyz. The queue backend is asked over a connection of its own that fails
 * fast (backend.ts `ping`: the shared Redis connection queues commands until Redis returns),
 * Postgres over a one-connection pool of its own (`db.ping`: the shared pool may be busy with sync
 * jobs). The backend's close (registered by openMessaging) closes its probe.
 */
export function readinessProbes(
  db: Database,
  msg: Messaging,
): { postgres(): Promise<void>; queue(): Promise<void>; queueBackend: 'redis' | 'postgres' } {
  return {
    postgres: () => db.ping(),
    queue: () => msg.backend.ping(),
    queueBackend: msg.backend.kind,
  };
}

export interface RetentionOptions {
  store: Pick<Store, 'pruneHistory'>;
  /** EVENT_RETENTION in ms. */
  retainMs: number;
  log: Logger;
  /** How often to prune. Default 1 h. */
  everyMs?: number;
  now?: () => Date;
}

/**
 * EVENT_RETENTION: prunes history older than the retention, now and then every hour, in batches
 * (store.pruneHistory). Runs in scheduler processes; two at once are harmless (each batch is one
 * statement, and a row deleted by one is simply not found by the other).
 */
export function startRetention(opts: RetentionOptions): { stop(): Promise<void> } {
  const now = opts.now ?? (() => new Date());
  const log = opts.log.child({ component: 'retention' });
  return startPeriodic({
    everyMs: opts.everyMs ?? 3_600_000,
    run: async (signal) => {
      const olderThan = new Date(now().getTime() - opts.retainMs);
      const pruned = await opts.store.pruneHistory({ olderThan, signal });
      if (pruned.events + pruned.outbox + pruned.runs > 0)
        log.info({ olderThan, ...pruned }, 'pruned history');
    },
    onError: (err) => log.warn({ error: err.summary() }, 'pruning failed; will retry'),
  });
}

/** The change feed's polls, observed by the metrics. */
export function feedObservers(
  metrics: Pick<Metrics, 'feedPolled' | 'feedRecords' | 'feedScheduled'>,
): Pick<FeedPollDeps, 'onPoll' | 'onIngest'> {
  return {
    onPoll: (e) => metrics.feedPolled(e),
    onIngest: ({ via, result, refused }) => observeIngest(metrics, via, result, { refused }),
  };
}

/**
 * The EventBridge hook's side of the change feed: pushed records stored under their accounts
 * (matched by `accountId`, else the only account) and their scans scheduled, as the poll does.
 */
export function hookReceiver(
  c: Config & { HOOK_TOKEN: string },
  deps: {
    db: Pick<Database, 'store'>;
    msg: Pick<Messaging, 'queues'>;
    specs: readonly Pick<AccountSpec, 'name' | 'regions' | 'targets' | 'accountId'>[];
    metrics: Pick<Metrics, 'feedRecords' | 'feedScheduled' | 'hookRequest'>;
    log: Logger;
  },
): HookOptions {
  const accounts = deps.specs.map(feedAccount);
  const log = deps.log.child({ component: 'hook' });
  return {
    token: c.HOOK_TOKEN,
    async receive(records) {
      const r = await ingestPushed(
        {
          store: deps.db.store,
          enqueueChangeSync: (targets) => deps.msg.queues.enqueueChangeSync(targets),
          enqueueSync: (targets) => deps.msg.queues.enqueueSync(targets),
          enqueueChangePlan: (plan) => deps.msg.queues.enqueueChangePlan(plan),
        },
        accounts,
        records,
      );
      for (const result of r.results) observeIngest(deps.metrics, 'hook', result);
      if (r.scheduled > 0 || r.ignored > 0) {
        log.info(
          { fresh: r.fresh, duplicates: r.duplicates, ignored: r.ignored, scheduled: r.scheduled },
          'hook records',
        );
      }
      return r;
    },
    onAnswer: (e) => {
      deps.metrics.hookRequest({ status: e.status });
      if (e.ignored > 0)
        deps.metrics.feedRecords({ via: 'hook', fresh: 0, duplicates: 0, refused: 0, ignored: e.ignored });
    },
  };
}

export interface ConsoleServerOptions {
  /** Ports to try in order; 0 takes any free one. */
  ports: readonly number[];
  store: Store;
  account: string;
  staleAfterMs: number;
  log: Logger;
}

/**
 * The HTTP server with its console on loopback, without a token (the demo's): on the first of
 * `ports` that is free. Loaded lazily, as `start` loads it, so processes without HTTP never load
 * fastify. Returns the console's URL.
 */
export async function startConsoleServer(opts: ConsoleServerOptions, lifecycle: Lifecycle): Promise<string> {
  const { createHttpServer } = await import('./http/index.js');
  const { createMetrics } = await import('./metrics.js');
  const log = opts.log.child({ component: 'http' });
  for (const [i, port] of opts.ports.entries()) {
    const server = createHttpServer({
      host: '127.0.0.1',
      port,
      log,
      metrics: createMetrics({ log, processMetrics: false }),
      ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'postgres' },
      store: opts.store,
      account: opts.account,
      staleAfterMs: opts.staleAfterMs,
    });
    try {
      const { url } = await server.listen();
      lifecycle.add('http server', () => server.close());
      return `${url}/`;
    } catch (err) {
      await server.close();
      const inUse = (err as { code?: unknown }).code === 'EADDRINUSE';
      if (!inUse || i === opts.ports.length - 1) throw err;
    }
  }
  throw new Error('startConsoleServer: no port to try');
}
