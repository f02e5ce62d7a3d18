/**
 * Prometheus metrics: a registry of our own (never prom-client's global one, so two services in one
 * process, or two tests in one worker, never share counters) and the few typed recording functions
 * the other modules are handed (`apiCall` to the ECS client's `onCall`, `scanFinished` and
 * `eventsRecorded` to the sync job). Gauges that describe state (links, queue depth, outbox,
 * staleness) are read at scrape time through callbacks given at creation, so they are never stale
 * and nothing has to remember to update them.
 *
 * Labels are bounded: `action` and `code` come from our own client (a handful of actions, the API's
 * error codes) and are additionally capped, `queue` and `status` are enums, and the staleness
 * gauge's `account`/`region`/`vpc` are bounded by the number of sync targets (one series per target,
 * a few hundred at most; retired targets are left out). Instance ids never become labels.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CallEvent } from './aliyun/index.js';
import { isThrottled } from './errors.js';
import type { Logger } from './log.js';
import type { Store } from './store/index.js';
import type { IngestResult } from './sync/index.js';

/** How a sync job's scan ended (`classiclink_scans_total{status}`). */
export type ScanStatus = 'succeeded' | 'failed' | 'superseded' | 'already-finished';
const SCAN_STATUSES: readonly ScanStatus[] = ['succeeded', 'failed', 'superseded', 'already-finished'];

export interface TargetStaleness {
  account: string;
  regionId: string;
  vpcId: string;
  /** Seconds since the target's last complete scan; null when it never had one (exposed as +Inf). */
  secondsSinceSuccess: number | null;
}

/** The change feed of one account+region, as the scrape-time gauges show it. */
export interface FeedHealth {
  account: string;
  regionId: string;
  /** Seconds from the feed's cursor (what it has read up to) to now. */
  lagSeconds: number;
  consecutiveFailures: number;
}

/** How a change feed batch's records fared (`classiclink_feed_records_total{via,result}`). */
export interface FeedRecordCounts {
  via: 'poll' | 'hook';
  fresh: number;
  duplicates: number;
  /** Refused: the record did not validate. */
  refused: number;
  /** Valid, but not about links, or of no account or region watched here (hook only). */
  ignored: number;
}

/** Read at every scrape; each may fail or hang on its own without breaking `/metrics`. */
export interface MetricsCollectors {
  /** Links linked now, over every target. */
  activeLinks(): Promise<number>;
  /** Jobs waiting, delayed and active per queue name. */
  queueDepth(): Promise<Record<string, number>>;
  /** Alert outbox rows not yet delivered (pending, including ones being delivered) and dead-lettered. */
  outbox(): Promise<{ pending: number; dead: number }>;
  /** Watched (not retired) targets and how long since each last succeeded. */
  targets(): Promise<TargetStaleness[]>;
  /** The change feed per account+region: lag and consecutive failures. */
  feeds(): Promise<FeedHealth[]>;
}

export interface MetricsOptions {
  log: Logger;
  /** Scrape-time gauges; a gauge whose callback is missing exposes no samples. */
  collect?: Partial<MetricsCollectors> | undefined;
  /** A collect callback slower than this is skipped for the scrape. Default 5s. */
  collectTimeoutMs?: number | undefined;
  /** Also expose Node process metrics (`process_*`, `nodejs_*`) from prom-client. Default true. */
  processMetrics?: boolean | undefined;
}

export interface Metrics {
  /** The registry of this instance (for tests and for mounting elsewhere). */
  readonly registry: Registry;
  /** The Content-Type of `expose()`'s text. */
  readonly contentType: string;
  /** One ECS/VPC API attempt: the ECS client's `onCall` hook. */
  apiCall(e: CallEvent): void;
  /** A sync job attempt finished (applied, not applied, or failed). */
  scanFinished(e: { status: ScanStatus; durationMs: number }): void;
  /** Rows written to link_events by one applied scan (baseline ones included). */
  eventsRecorded(e: { added: number; removed: number }): void;
  /** One poll of the change feed ended: `code` is the error's when it failed. */
  feedPolled(e: { ok: boolean; code?: string | undefined }): void;
  /** A batch of ActionTrail records reached the feed (poll or hook). */
  feedRecords(e: FeedRecordCounts): void;
  /** Scans the change feed asked for: `how` is what became of each (`ChangeSync.how`, or `plan`). */
  feedScheduled(e: { via: 'poll' | 'hook'; how: string; count: number }): void;
  /** A request to the EventBridge hook was answered with `status`. */
  hookRequest(e: { status: number }): void;
  /** The Prometheus text exposition (runs the collect callbacks). */
  expose(): Promise<string>;
}

/** Defaults of the optional `MetricsOptions` fields, in one place. */
const METRICS_DEFAULTS = {
  collectTimeoutMs: 5_000,
  /**
   * Distinct `action` values (and `code` values per action) kept as labels; more become `other`.
   * Our client calls four actions and the API has a few dozen error codes: the caps only stop a
   * broken server that invents codes from turning into unbounded series.
   */
  maxActions: 32,
  maxCodesPerAction: 64,
} as const;

/** API call latency: a call answers in well under a second; throttled retries and timeouts reach seconds. */
const API_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Scan (job attempt) duration: one page takes well under a second, ten pages plus lookups a few seconds. */
const SCAN_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** A label value safe to keep: short, plain characters. Anything else is `other`. */
const LABEL_VALUE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Keeps at most `max` distinct values; later newcomers (and odd-looking values) become `other`. */
function boundedValues(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (!LABEL_VALUE.test(value)) return 'other';
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}

type GaugeValues = Awaited<ReturnType<Gauge['get']>>;

/**
 * A gauge filled by a scrape-time callback. Why a subclass: when the callback fails, an unlabeled
 * gauge would otherwise still print its last (or a zero) value, which reads as a real answer ("0
 * links"). Exposing no sample instead lets Prometheus mark the series absent (`absent()` alerts),
 * and `classiclink_metrics_collect_errors_total` says which callback failed.
 */
class CollectedGauge<T extends string> extends Gauge<T> {
  failed = false;

  override async get(): Promise<GaugeValues> {
    const metric = await super.get();
    return this.failed ? { ...metric, values: [] } : metric;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const log = opts.log.child({ component: 'metrics' });
  const collect = opts.collect ?? {};
  const timeoutMs = opts.collectTimeoutMs ?? METRICS_DEFAULTS.collectTimeoutMs;
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  // --- Recorded by the modules -------------------------------------------------------------------
  const apiCalls = new Counter({
    name: 'classiclink_api_calls_total',
    help: 'ECS/VPC API attempts (retries included), by action and result code (OK or the error code).',
    labelNames: ['action', 'code'] as const,
    registers,
  });
  const apiDuration = new Histogram({
    name: 'classiclink_api_call_duration_seconds',
    help: 'Duration of one ECS/VPC API attempt, from its in-flight slot (after the rate limiter) to the parsed answer.',
    labelNames: ['action'] as const,
    buckets: API_BUCKETS,
    registers,
  });
  const apiThrottled = new Counter({
    name: 'classiclink_api_throttled_total',
    help: 'ECS/VPC API attempts answered with throttling (Throttling* codes or HTTP 429).',
    labelNames: ['action'] as const,
    registers,
  });
  const scans = new Counter({
    name: 'classiclink_scans_total',
    help: 'Sync job attempts by outcome: succeeded (applied), superseded, already-finished, failed.',
    labelNames: ['status'] as const,
    registers,
  });
  const scanDuration = new Histogram({
    name: 'classiclink_scan_duration_seconds',
    help: 'Duration of one sync job attempt: every page, removal lookups and the diff transaction.',
    buckets: SCAN_BUCKETS,
    registers,
  });
  const linkEvents = new Counter({
    name: 'classiclink_link_events_total',
    help: 'Link events recorded (rows written to link_events, baseline included), by change.',
    labelNames: ['change'] as const,
    registers,
  });
  const feedPolls = new Counter({
    name: 'classiclink_feed_polls_total',
    help: 'Change feed polls (LookupEvents of one account+region) by result (ok, failed) and error code (OK when ok).',
    labelNames: ['result', 'code'] as const,
    registers,
  });
  const feedRecords = new Counter({
    name: 'classiclink_feed_records_total',
    help: 'ActionTrail records that reached the change feed, by path (poll, hook) and result (new, duplicate, refused, ignored).',
    labelNames: ['via', 'result'] as const,
    registers,
  });
  const feedScheduled = new Counter({
    name: 'classiclink_feed_scans_scheduled_total',
    help: 'Scans the change feed asked for, by path and outcome (added, merged, promoted, after-running, again, plan).',
    labelNames: ['via', 'how'] as const,
    registers,
  });
  const hookRequests = new Counter({
    name: 'classiclink_hook_requests_total',
    help: 'Requests to POST /v1/hooks/eventbridge by HTTP status answered.',
    labelNames: ['status'] as const,
    registers,
  });
  // Zero series from the start, so rate() and increase() see the first scan and the first event.
  for (const status of SCAN_STATUSES) scans.inc({ status }, 0);
  feedPolls.inc({ result: 'ok', code: 'OK' }, 0);
  for (const via of ['poll', 'hook'] as const) {
    for (const result of ['new', 'duplicate', 'refused', 'ignored'] as const)
      feedRecords.inc({ via, result }, 0);
  }
  for (const change of ['added', 'removed'] as const) linkEvents.inc({ change }, 0);

  const action = boundedValues(METRICS_DEFAULTS.maxActions);
  const feedCode = boundedValues(METRICS_DEFAULTS.maxCodesPerAction);
  const hookStatus = boundedValues(16);
  const codesOf = new Map<string, (code: string) => string>();
  const codeFor = (a: string, code: string): string => {
    let bound = codesOf.get(a);
    if (!bound) {
      bound = boundedValues(METRICS_DEFAULTS.maxCodesPerAction);
      codesOf.set(a, bound);
    }
    return bound(code);
  };

  // --- Read at scrape time -------------------------------------------------------------------------
  /** Callbacks of the scrape under way (the error counter, registered last, waits for them). */
  const running = new Set<Promise<void>>();
  const failures: (keyof MetricsCollectors)[] = [];

  /** Runs one callback for a scrape: a failure is logged and counted, and the gauge goes blank. */
  function collected<T extends string, V>(
    name: keyof MetricsCollectors,
    config: { name: string; help: string; labelNames?: readonly T[] },
    read: (() => Promise<V>) | undefined,
    fill: (gauge: CollectedGauge<T>, value: V) => void,
  ): void {
    const refresh = async (): Promise<void> => {
      if (!read) {
        gauge.failed = true;
        return;
      }
      try {
        const value = await withTimeout(read(), timeoutMs, name);
        gauge.reset();
        fill(gauge, value);
        gauge.failed = false;
      } catch (err) {
        gauge.failed = true;
        failures.push(name);
        log.warn(
          { collector: name, err: err instanceof Error ? err.message : String(err) },
          'metrics collect failed',
        );
      }
    };
    const gauge: CollectedGauge<T> = new CollectedGauge<T>({
      ...config,
      labelNames: config.labelNames ?? [],
      registers,
      async collect() {
        const p = refresh();
        running.add(p);
        try {
          await p;
        } finally {
          running.delete(p);
        }
      },
    });
  }

  collected(
    'activeLinks',
    { name: 'classiclink_links_active', help: 'ClassicLink links linked now, over every target.' },
    collect.activeLinks,
    (g, n) => g.set(n),
  );
  collected(
    'queueDepth',
    {
      name: 'classiclink_queue_jobs',
      help: 'Jobs waiting, delayed or active per BullMQ queue.',
      labelNames: ['queue'] as const,
    },
    collect.queueDepth,
    (g, depth) => {
      for (const [queue, n] of Object.entries(depth)) g.set({ queue }, n);
    },
  );
  collected(
    'outbox',
    {
      name: 'classiclink_alert_outbox',
      help: 'Alert outbox rows by status: pending (not yet delivered) and dead (gave up).',
      labelNames: ['status'] as const,
    },
    collect.outbox,
    (g, o) => {
      g.set({ status: 'pending' }, o.pending);
      g.set({ status: 'dead' }, o.dead);
    },
  );
  collected(
    'targets',
    {
      name: 'classiclink_target_seconds_since_success',
      help: 'Seconds since each watched target last completed a scan (+Inf: never). One series per target.',
      labelNames: ['account', 'region', 'vpc'] as const,
    },
    collect.targets,
    (g, targets) => {
      for (const t of targets) {
        g.set(
          { account: t.account, region: t.regionId, vpc: t.vpcId },
          t.secondsSinceSuccess ?? Number.POSITIVE_INFINITY,
        );
      }
    },
  );

  collected(
    'feeds',
    {
      name: 'classiclink_feed_lag_seconds',
      help: 'Seconds from the change feed cursor (ActionTrail read up to) to now, per account and region.',
      labelNames: ['account', 'region'] as const,
    },
    collect.feeds,
    (g, feeds) => {
      for (const f of feeds) g.set({ account: f.account, region: f.regionId }, f.lagSeconds);
    },
  );
  collected(
    'feeds',
    {
      name: 'classiclink_feed_consecutive_failures',
      help: 'Change feed polls failed in a row, per account and region (0 after a successful poll).',
      labelNames: ['account', 'region'] as const,
    },
    collect.feeds,
    (g, feeds) => {
      for (const f of feeds) g.set({ account: f.account, region: f.regionId }, f.consecutiveFailures);
    },
  );

  // Registered last: the registry starts every metric's collect in registration order and awaits
  // them together, so by the time this one collects, this scrape's callbacks are all under way.
  const collectErrors = new Counter({
    name: 'classiclink_metrics_collect_errors_total',
    help: 'Scrapes where a gauge callback failed or timed out (that gauge exposed no samples).',
    labelNames: ['collector'] as const,
    registers,
    async collect() {
      await Promise.allSettled([...running]);
      // Two gauges fed by one callback (`feeds`) count its failure once per scrape.
      for (const name of new Set(failures.splice(0))) collectErrors.inc({ collector: name });
    },
  });
  for (const collector of ['activeLinks', 'queueDepth', 'outbox', 'targets', 'feeds'] as const) {
    collectErrors.inc({ collector }, 0);
  }

  return {
    registry,
    contentType: registry.contentType,
    apiCall(e) {
      const a = action(e.action);
      apiCalls.inc({ action: a, code: codeFor(a, e.code) });
      apiDuration.observe({ action: a }, Math.max(0, e.durationMs) / 1000);
      if (isThrottled(e)) apiThrottled.inc({ action: a });
    },
    scanFinished(e) {
      scans.inc({ status: e.status });
      scanDuration.observe(Math.max(0, e.durationMs) / 1000);
    },
    eventsRecorded(e) {
      if (e.added > 0) linkEvents.inc({ change: 'added' }, e.added);
      if (e.removed > 0) linkEvents.inc({ change: 'removed' }, e.removed);
    },
    feedPolled(e) {
      feedPolls.inc({ result: e.ok ? 'ok' : 'failed', code: e.ok ? 'OK' : feedCode(e.code ?? 'Unknown') });
    },
    feedRecords(e) {
      const counts = { new: e.fresh, duplicate: e.duplicates, refused: e.refused, ignored: e.ignored };
      for (const [result, n] of Object.entries(counts)) if (n > 0) feedRecords.inc({ via: e.via, result }, n);
    },
    feedScheduled(e) {
      if (e.count > 0) feedScheduled.inc({ via: e.via, how: action(e.how) }, e.count);
    },
    hookRequest(e) {
      hookRequests.inc({ status: hookStatus(String(e.status)) });
    },
    expose: () => registry.metrics(),
  };
}

/**
 * The collect callbacks over the store and the queues, as the service wires them. Both link and
 * staleness gauges come from one `listTargets` query per scrape (concurrent callers share it).
 */
export function storeCollectors(deps: {
  store: Pick<Store, 'listTargets' | 'outboxCounts' | 'listFeeds'>;
  queueDepth?: (() => Promise<Record<string, number>>) | undefined;
  /** Only this account's targets (the service's SYNC_ACCOUNT); default all. */
  account?: string | undefined;
  now?: (() => Date) | undefined;
}): MetricsCollectors {
  const now = deps.now ?? (() => new Date());
  let inflight: ReturnType<Store['listTargets']> | undefined;
  // The lag and failures gauges read the same rows: one query per scrape.
  let feedsInflight: ReturnType<Store['listFeeds']> | undefined;
  const targets = () => {
    inflight ??= deps.store.listTargets({ account: deps.account }).finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  return {
    async activeLinks() {
      return (await targets()).reduce((sum, t) => sum + t.activeLinks, 0);
    },
    queueDepth: deps.queueDepth ?? (async () => ({})),
    async outbox() {
      const c = await deps.store.outboxCounts();
      return { pending: c.pending + c.delivering, dead: c.dead };
    },
    async targets() {
      const t = now().getTime();
      return (await targets())
        .filter((row) => row.retiredAt === null)
        .map((row) => ({
          account: row.account,
          regionId: row.regionId,
          vpcId: row.vpcId,
          secondsSinceSuccess:
            row.lastSuccessAt === null ? null : Math.max(0, (t - row.lastSuccessAt.getTime()) / 1000),
        }));
    },
    async feeds() {
      const t = now().getTime();
      feedsInflight ??= deps.store.listFeeds({ account: deps.account }).finally(() => {
        feedsInflight = undefined;
      });
      return (await feedsInflight).map((f) => ({
        account: f.account,
        regionId: f.regionId,
        lagSeconds: Math.max(0, (t - f.cursorAt.getTime()) / 1000),
        consecutiveFailures: f.consecutiveFailures,
      }));
    },
  };
}

/**
 * Counts what one batch of ActionTrail records came to: records new and seen before (and those
 * refused or ignored on the way), and each scan asked for by what became of it.
 */
export function observeIngest(
  metrics: Pick<Metrics, 'feedRecords' | 'feedScheduled'>,
  via: 'poll' | 'hook',
  result: Pick<IngestResult, 'fresh' | 'duplicates' | 'syncs' | 'again' | 'plans'>,
  extra: { refused?: number; ignored?: number } = {},
): void {
  metrics.feedRecords({
    via,
    fresh: result.fresh,
    duplicates: result.duplicates,
    refused: extra.refused ?? 0,
    ignored: extra.ignored ?? 0,
  });
  const hows = new Map<string, number>();
  for (const s of result.syncs) hows.set(s.how, (hows.get(s.how) ?? 0) + 1);
  if (result.again.length > 0) hows.set('again', result.again.length);
  if (result.plans.length > 0) hows.set('plan', result.plans.length);
  for (const [how, count] of hows) metrics.feedScheduled({ via, how, count });
}
