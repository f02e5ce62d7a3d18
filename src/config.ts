/**
 * Configuration: one zod schema over `process.env`, parsed once, frozen, typed with `z.infer`.
 * All defaults live here (and in `.env.example`, which lists every variable this file reads).
 * A bad value becomes one line naming the variable and what was expected; the value itself is
 * never echoed for secret variables.
 */
import { z } from 'zod';
import { accountName, DURATION_EXPECTED, parseDuration, parseTarget, REGION_ID } from './ids.js';

/** A duration of at least `min` ms; with `zero`, a bare `0` (off / at once) is allowed too. */
const duration = (min: number, { zero = false }: { zero?: boolean } = {}) =>
  z.string().transform((s, ctx) => {
    if (zero && s.trim() === '0') return 0;
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${DURATION_EXPECTED} (got "${s}")` });
      return z.NEVER;
    }
    if (ms < min && !(zero && ms === 0)) {
      const floor = zero ? `0 or at least ${min}ms` : `at least ${min}ms`;
      ctx.addIssue({ code: 'custom', message: `must be ${floor} (got "${s}")` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A whole number from `min` to `max`. Its error echoes the value (`API_MAX_QPS=0: must be a whole
 * number from 1 to 10000`): `params.echo` tells loadConfig to print the value with the name.
 */
const wholeNumber = (min: number, max: number, what = 'a whole number') =>
  z.string().transform((s, ctx) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < min || n > max) {
      ctx.addIssue({
        code: 'custom',
        message: `must be ${what} from ${min} to ${max}`,
        params: { echo: true },
      });
      return z.NEVER;
    }
    return n;
  });
const positiveInt = (max: number) => wholeNumber(1, max);

const url = (protocols: readonly string[]) =>
  z.string().refine(
    (s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    `expected a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL`,
  );

/** An endpoint override: an http(s) URL that may contain `{region}`. */
const endpointTemplate = (example: string) =>
  z.string().refine((s) => {
    try {
      return ['http:', 'https:'].includes(new URL(s.replaceAll('{region}', 'cn-hangzhou')).protocol);
    } catch {
      return false;
    }
  }, `expected an http(s) URL, optionally with {region}, e.g. ${example}`);

const ON_OFF = z.enum(['on', 'off'], { message: 'expected on or off' });

/** A comma list, trimmed, without empty items. */
const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

const regionList = commaList
  .refine(
    (list) => list.every((r) => REGION_ID.test(r)),
    'expected a comma list of region ids like cn-hangzhou',
  )
  .transform((list) => [...new Set(list)]);

const targetList = commaList
  .refine(
    (list) => list.every((t) => parseTarget(t) !== undefined),
    'expected a comma list of region:vpc-id, e.g. cn-hangzhou:vpc-bp1abc',
  )
  .transform((list) => [...new Set(list)].flatMap((t) => parseTarget(t) ?? []));

/** `host:port` of a URL, for a message (never its user or password). */
const hostOf = (u: URL) => `${u.hostname}:${u.port || 6379}`;

/**
 * REDIS_CLUSTER_NODES: seed nodes of one Redis Cluster, a comma list of redis:// / rediss:// URLs.
 * They share the scheme (TLS or not), user and password, as every node of the cluster is reached
 * with the same ones; a cluster has only database 0. Messages name an item by its position and
 * host, never by its text (the URLs carry the password).
 */
const clusterNodes = commaList.transform((list, ctx) => {
  if (list.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected at least one redis:// or rediss:// URL' });
    return z.NEVER;
  }
  const urls: URL[] = [];
  for (const [i, item] of list.entries()) {
    let u: URL | undefined;
    try {
      u = new URL(item);
    } catch {
      u = undefined;
    }
    if (!u || !['redis:', 'rediss:'].includes(u.protocol) || u.hostname === '') {
      ctx.addIssue({
        code: 'custom',
        message: `item ${i + 1} is not a redis:// or rediss:// URL; expected a comma list like redis://:PASSWORD@10.0.0.1:6379,redis://:PASSWORD@10.0.0.2:6379`,
      });
      return z.NEVER;
    }
    if (u.pathname !== '' && u.pathname !== '/' && u.pathname !== '/0') {
      ctx.addIssue({
        code: 'custom',
        message: `item ${i + 1} (${hostOf(u)}) names a database; a Redis Cluster has only database 0: drop the /N`,
      });
      return z.NEVER;
    }
    urls.push(u);
  }
  const [first] = urls;
  const odd = urls.findIndex(
    (u) => u.protocol !== first?.protocol || u.username !== first.username || u.password !== first.password,
  );
  if (first && odd >= 0) {
    ctx.addIssue({
      code: 'custom',
      message: `item ${odd + 1} (${hostOf(urls[odd] as URL)}) differs from item 1 in scheme, user or password; the seeds are nodes of one cluster and share them`,
    });
    return z.NEVER;
  }
  return list;
});

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((s) => s === 'true' || s === '1' || s === 'yes');

const optional = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Every variable the service reads. Keys are the environment variable names. */
export const envSchema = z
  .object({
    /** Postgres connection URL (TLS by `sslmode=require` etc.). Default: the local server, database `classiclink`. */
    DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/classiclink'),
    /**
     * A session-capable connection to the same database, for what needs one: the migrations and
     * LISTEN (the alert loop, the demo). Set it when DATABASE_URL goes through a transaction-pooling
     * PgBouncer, which keeps no session between transactions. Default: DATABASE_URL
     * (`directDatabaseUrl`).
     */
    DATABASE_DIRECT_URL: optional(url(['postgres:', 'postgresql:'])),
    /**
     * Redis connection URL (`rediss://` for TLS). Setting it selects the Redis queue backend (see
     * QUEUE_BACKEND). Default, when that backend is chosen: the local server.
     */
    REDIS_URL: optional(url(['redis:', 'rediss:'])),
    /**
     * Seed nodes of a Redis Cluster: a comma list of redis:// / rediss:// URLs (same user, password
     * and TLS for all). When set, every Redis connection is a cluster client and REDIS_URL is not used;
     * setting it selects the Redis queue backend.
     */
    REDIS_CLUSTER_NODES: optional(clusterNodes),
    /**
     * Where BullMQ keeps the queues: `redis`, or `postgres` (BullMQ 6's PostgreSQL backend, in a
     * schema of its own). Default: `redis` when REDIS_URL or REDIS_CLUSTER_NODES is set, else
     * `postgres`.
     */
    QUEUE_BACKEND: optional(z.enum(['redis', 'postgres'], { message: 'expected redis or postgres' })),
    /**
     * The database of the Postgres queue backend (a direct, session-capable connection). Default:
     * DATABASE_DIRECT_URL, else DATABASE_URL.
     */
    QUEUE_DATABASE_URL: optional(url(['postgres:', 'postgresql:'])),
    /** A name for the account the credentials belong to, stored in every row. Default `default`. */
    SYNC_ACCOUNT: accountName.default('default'),
    ALIBABA_CLOUD_ACCESS_KEY_ID: optional(z.string().min(1)),
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: optional(z.string().min(1)),
    ALIBABA_CLOUD_SECURITY_TOKEN: optional(z.string().min(1)),
    /** Regions to watch, comma list. Default: the regions named in SYNC_TARGETS. */
    SYNC_REGIONS: optional(regionList),
    /** Explicit `region:vpc-id` list; without it every VPC of each region is discovered. */
    SYNC_TARGETS: optional(targetList),
    /**
     * How often each region is fully scanned. Default 1h with the change feed on (the scan is then
     * the safety net: the feed brings changes in seconds), 5m with CHANGE_FEED=off (see
     * `SYNC_INTERVAL_DEFAULTS`).
     */
    SYNC_INTERVAL: optional(duration(1_000)),
    /** ECS endpoint override (may contain `{region}`). Default `https://ecs.{region}.aliyuncs.com`. */
    ECS_ENDPOINT: optional(endpointTemplate('https://ecs-vpc.{region}.aliyuncs.com')),
    /** VPC endpoint override (may contain `{region}`). Default `https://vpc.{region}.aliyuncs.com`. */
    VPC_ENDPOINT: optional(endpointTemplate('https://ecs-vpc.{region}.aliyuncs.com')),
    /**
     * ActionTrail endpoint override (may contain `{region}` and a path, which is kept).
     * Default `https://actiontrail.{region}.aliyuncs.com`.
     */
    ACTIONTRAIL_ENDPOINT: optional(endpointTemplate('https://actiontrail-vpc.{region}.aliyuncs.com')),
    /** Request signature scheme: `v3` (ACS3-HMAC-SHA256) or `v1` (RPC HMAC-SHA1). Default v3. */
    API_SIGNATURE: z.enum(['v3', 'v1'], { message: 'expected v3 or v1' }).default('v3'),
    /** Calls per second per account+region+API, across every process. Default 5. */
    API_MAX_QPS: positiveInt(10_000).default(5),
    /** Timeout of one API request (connect, headers, body). Default 10s. */
    API_TIMEOUT: duration(100).prefault('10s'),
    /** Retries of one API call stop when the next would start after this. Default 60s. */
    API_RETRY_DEADLINE: duration(0).prefault('60s'),
    /** Sync jobs run at once in one worker process. Default 4. */
    SYNC_CONCURRENCY: positiveInt(256).default(4),
    /**
     * How long a running job's lock lives without renewal: a worker that dies (SIGKILL, lost host)
     * has its jobs picked up by another after about this long. Default 30s.
     */
    JOB_LOCK_DURATION: duration(1_000).prefault('30s'),
    /** BullMQ key prefix; wrapped in a hash tag `{…}` for Redis Cluster. Default `classiclink`. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected 1-64 letters, digits, _ . : or -')
      .default('classiclink'),
    /** Address of the HTTP server. Default 127.0.0.1. */
    HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    /** Port of the HTTP server. Default 8080. */
    HTTP_PORT: wholeNumber(0, 65535, 'a port number').default(8080),
    /** Bearer token for the HTTP API; required when HTTP_HOST is not loopback (checked where the http role runs). */
    HTTP_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
    /** How long SIGTERM waits for running jobs. Default 30s. */
    SHUTDOWN_TIMEOUT: duration(0).prefault('30s'),
    /**
     * A target with no complete scan for this long is stale. Default 3 × SYNC_INTERVAL, at least 1h
     * (`staleAfterDefault`); set, it must be longer than SYNC_INTERVAL.
     */
    ALERT_STALE_AFTER: optional(duration(1_000)),
    /** Prune events older than this; off by default. */
    EVENT_RETENTION: optional(duration(3_600_000)),
    /** Path of a JSON/YAML file listing several accounts. */
    ACCOUNTS_FILE: optional(z.string().min(1)),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'expected fatal, error, warn, info, debug, trace or silent',
      })
      .default('info'),
    ALERT_ON_BASELINE: bool.default(false),
    /**
     * The change feed: `actiontrail` polls ActionTrail LookupEvents for link-changing calls per
     * account+region and schedules a targeted sync of the VPC each names; `off`. Default actiontrail.
     */
    CHANGE_FEED: z
      .enum(['actiontrail', 'off'], { message: 'expected actiontrail or off' })
      .default('actiontrail'),
    /** How often the change feed polls each account+region. Default 15s. */
    CHANGE_FEED_INTERVAL: duration(1_000).prefault('15s'),
    /**
     * Enables `POST /v1/hooks/eventbridge` (role http): the request must carry this token as
     * `Authorization: Bearer <token>` or as the password of Basic auth. Unset: the hook answers 404.
     */
    HOOK_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
    /** Find the ActionTrail call behind each change (`on`), or not (`off`). Default on. */
    ATTRIBUTION: ON_OFF.default('on'),
    /** How long after detection a change's cause is still looked for before it is `not_found`. Default 15m. */
    ATTRIBUTION_WINDOW: duration(1_000).prefault('15m'),
    /** How often the attributes of linked instances and watched VPCs are refreshed. Default 1h. */
    ENRICH_INTERVAL: duration(1_000).prefault('1h'),
    /**
     * How long an alert may wait for its changes' causes and instance attributes before it is sent
     * with what is known; `0` sends at once. Default 60s.
     */
    ALERT_CONTEXT_WAIT: duration(1_000, { zero: true }).prefault('60s'),
    ALERT_WEBHOOK_URL: optional(url(['http:', 'https:'])),
    ALERT_WEBHOOK_SECRET: optional(
      z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'expected the whsec_<base64> form'),
    ),
    ALERT_SLACK_WEBHOOK_URL: optional(url(['http:', 'https:'])),
    ALERT_DINGTALK_WEBHOOK_URL: optional(url(['http:', 'https:'])),
    ALERT_DINGTALK_SECRET: optional(z.string().min(1)),
    ALERT_LARK_WEBHOOK_URL: optional(url(['http:', 'https:'])),
    ALERT_LARK_SECRET: optional(z.string().min(1)),
    ALERT_WECOM_WEBHOOK_URL: optional(url(['http:', 'https:'])),
  })
  .superRefine((env, ctx) => {
    if (
      (env.ALIBABA_CLOUD_ACCESS_KEY_ID === undefined) !==
      (env.ALIBABA_CLOUD_ACCESS_KEY_SECRET === undefined)
    ) {
      const missing =
        env.ALIBABA_CLOUD_ACCESS_KEY_ID === undefined
          ? 'ALIBABA_CLOUD_ACCESS_KEY_ID'
          : 'ALIBABA_CLOUD_ACCESS_KEY_SECRET';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: 'required: the key id and secret come as a pair',
      });
    }
    if (env.ALERT_WEBHOOK_SECRET !== undefined && env.ALERT_WEBHOOK_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ALERT_WEBHOOK_URL'],
        message: 'required with ALERT_WEBHOOK_SECRET',
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

/**
 * SYNC_INTERVAL when unset. With the change feed on, a change reaches Postgres seconds after its
 * call and the full scan only catches what the feed missed (a lost ActionTrail record, a feed
 * without permission): hourly keeps that bound at an hour for 1/12 of the calls of a 5-minute scan
 * (README, "Freshness and cost"). Without the feed the scan is the only way a change is seen.
 */
export const SYNC_INTERVAL_DEFAULTS = { withFeed: 3_600_000, withoutFeed: 300_000 } as const;

/**
 * ALERT_STALE_AFTER when unset: three full-scan rounds, at least an hour. A target is stale when it
 * has had no complete scan for that long: with hourly scans (the change feed's default) a fixed hour
 * would call every target stale between two rounds; three rounds let two be missed first.
 */
/** A duration as it is written (`1h`, `5m`, `30s`, `1500ms`). */
function durationText(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function staleAfterDefault(syncIntervalMs: number): number {
  return Math.max(3_600_000, 3 * syncIntervalMs);
}

/** REDIS_URL when the Redis backend is chosen without it: the local server. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export type Config = Readonly<
  Omit<Env, 'SYNC_INTERVAL' | 'ALERT_STALE_AFTER' | 'QUEUE_BACKEND' | 'QUEUE_DATABASE_URL' | 'REDIS_URL'> & {
    /** QUEUE_BACKEND, or its default: `redis` when REDIS_URL or REDIS_CLUSTER_NODES is set. */
    QUEUE_BACKEND: 'redis' | 'postgres';
    /** QUEUE_DATABASE_URL, or DATABASE_DIRECT_URL, or DATABASE_URL. */
    QUEUE_DATABASE_URL: string;
    /** REDIS_URL, or the local server (used only on the Redis backend). */
    REDIS_URL: string;
    /** SYNC_INTERVAL, or its default for the CHANGE_FEED setting (`SYNC_INTERVAL_DEFAULTS`). */
    SYNC_INTERVAL: number;
    /** ALERT_STALE_AFTER, or `staleAfterDefault(SYNC_INTERVAL)`. */
    ALERT_STALE_AFTER: number;
    /** SYNC_REGIONS, plus the regions of SYNC_TARGETS. */
    regions: readonly string[];
  }
>;

/**
 * Variables whose values must never be printed. URLs that embed credentials are secrets too. The
 * logger redacts the same names under `config` (log.ts), so this list is the only one to extend.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set<keyof Env>([
  'DATABASE_URL',
  'DATABASE_DIRECT_URL',
  'QUEUE_DATABASE_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'HTTP_TOKEN',
  'HOOK_TOKEN',
  'ALERT_WEBHOOK_URL',
  'ALERT_WEBHOOK_SECRET',
  'ALERT_SLACK_WEBHOOK_URL',
  'ALERT_DINGTALK_WEBHOOK_URL',
  'ALERT_DINGTALK_SECRET',
  'ALERT_LARK_WEBHOOK_URL',
  'ALERT_LARK_SECRET',
  'ALERT_WECOM_WEBHOOK_URL',
]);

/** A configuration problem: the message is the one line to print. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment. Throws a `ConfigError` whose message is one line per bad variable,
 * each naming the variable and what is expected (values of secret variables are not echoed).
 */
export function loadConfig(source: Readonly<Record<string, string | undefined>> = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) picked[key] = source[key];
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'configuration');
      let message = issue.message;
      if (SECRET_VARIABLES.has(name)) message = message.replace(/ \(got ".*"\)$/, '');
      if (issue.code === 'invalid_type' && picked[name] === undefined) message = 'required';
      const echo = issue.code === 'custom' && issue.params?.echo === true && !SECRET_VARIABLES.has(name);
      return `${echo ? `${name}=${picked[name]}` : name}: ${message}`;
    });
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const env = result.data;
  const regions = [
    ...new Set([...(env.SYNC_REGIONS ?? []), ...(env.SYNC_TARGETS ?? []).map((t) => t.regionId)]),
  ];
  const syncInterval =
    env.SYNC_INTERVAL ??
    (env.CHANGE_FEED === 'off' ? SYNC_INTERVAL_DEFAULTS.withoutFeed : SYNC_INTERVAL_DEFAULTS.withFeed);
  if (env.ALERT_STALE_AFTER !== undefined && env.ALERT_STALE_AFTER <= syncInterval) {
    throw new ConfigError(
      `invalid configuration: ALERT_STALE_AFTER: must be longer than SYNC_INTERVAL (${durationText(syncInterval)}), or every target reads stale between two scans`,
    );
  }
  const queueBackend =
    env.QUEUE_BACKEND ??
    (env.REDIS_URL !== undefined || env.REDIS_CLUSTER_NODES !== undefined ? 'redis' : 'postgres');
  return Object.freeze({
    ...env,
    QUEUE_BACKEND: queueBackend,
    // The Postgres queue backend needs a session (LISTEN, its schema in search_path at login): the
    // direct connection when DATABASE_URL goes through a transaction pooler.
    QUEUE_DATABASE_URL: env.QUEUE_DATABASE_URL ?? env.DATABASE_DIRECT_URL ?? env.DATABASE_URL,
    REDIS_URL: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    SYNC_INTERVAL: syncInterval,
    ALERT_STALE_AFTER: env.ALERT_STALE_AFTER ?? staleAfterDefault(syncInterval),
    regions: Object.freeze(regions),
  });
}

/** DATABASE_DIRECT_URL, or DATABASE_URL when it is unset: where migrations and LISTEN connect. */
export function directDatabaseUrl(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_DIRECT_URL'>): string {
  return config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
}

/**
 * Checks what the `http` role needs: a token when it listens beyond loopback. Only `start` with
 * that role calls it, so `links`, `sync --once` and a worker run with any HTTP_HOST.
 */
export function requireHttpConfig(config: Config): void {
  if (!LOOPBACK.has(config.HTTP_HOST) && config.HTTP_TOKEN === undefined) {
    throw new ConfigError(
      `invalid configuration: HTTP_TOKEN: required when HTTP_HOST (${config.HTTP_HOST}) is not a loopback address (e.g. HTTP_TOKEN=$(openssl rand -hex 32))`,
    );
  }
}

/**
 * Checks what commands that call the API need, with the same one-line quality of error. The
 * credentials themselves are resolved (and their absence reported) by the credential chain.
 */
export function requireApiConfig(config: Config): void {
  if (config.ACCOUNTS_FILE === undefined && config.regions.length === 0) {
    throw new ConfigError(
      'invalid configuration: SYNC_REGIONS: required (or SYNC_TARGETS or ACCOUNTS_FILE), e.g. cn-hangzhou',
    );
  }
}
