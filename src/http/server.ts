/**
 * The HTTP face of the service (fastify): `/healthz`, `/readyz`, `/metrics`, the read-only JSON API
 * over links, events and target status, the BullMQ dashboard (bull-board) at `/admin/queues`, and
 * at `/` a JSON list of these endpoints.
 *
 * Every route but `/healthz` needs the bearer token when one is configured (config.ts insists on
 * one when HTTP_HOST is not loopback). The token is compared in constant time (SHA-256 digests of
 * both sides, so the lengths are always equal) and is never logged or echoed. Responses never
 * carry stack traces or driver messages: failures are logged here and answered generically.
 *
 * The JSON API reads through the store only (`listLinks`, `listEvents`, `listTargets`), always for
 * the service's own account, with the CLI's filters. Lists are paginated with `limit` and an opaque
 * `cursor` (keyset: the sort key of the last row returned, bound to the query's filters), so a
 * walk returns every row exactly once even when rows share a timestamp.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { coerceError } from '../errors.js';
import { parseTimestamp, timestampProblem } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventFilter, EventRow, LinkRow, Store, TargetStatusRow } from '../store/index.js';
import { targetHealth } from '../store/index.js';

/** A BullMQ queue the dashboard shows (the `Queue` objects of queues.ts). */
export type DashboardQueue = ConstructorParameters<typeof BullMQAdapter>[0];

export interface HttpServerOptions {
  /** HTTP_HOST. */
  host: string;
  /** HTTP_PORT; 0 picks a free port (tests). */
  port: number;
  /** HTTP_TOKEN: when set, every route but /healthz needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  log: Logger;
  metrics: Pick<Metrics, 'expose' | 'contentType'>;
  /** Readiness probes: each resolves when its server answers. */
  ready: { postgres(): Promise<void>; redis(): Promise<void> };
  store: Pick<Store, 'listLinks' | 'listEvents' | 'listTargets'>;
  /** SYNC_ACCOUNT: the API answers for this account only; undefined: every account (ACCOUNTS_FILE). */
  account: string | undefined;
  /** Queues shown by the dashboard at /admin/queues; none: no dashboard. */
  queues?: readonly DashboardQueue[] | undefined;
  /** Let the dashboard retry, promote, remove and clean jobs. Default false (read-only). */
  queueActions?: boolean | undefined;
  /** ALERT_STALE_AFTER: `/v1/status` marks a target stale after this long without success. */
  staleAfterMs: number;
  /** A readiness probe slower than this counts as down. Default 2s. */
  readyTimeoutMs?: number | undefined;
  /** Clock for `/v1/status` ages. Default the real one. */
  now?: (() => Date) | undefined;
}

export interface HttpServer {
  /** Starts listening (once; later calls return the same answer). */
  listen(): Promise<{ url: string }>;
  /** Stops listening and closes open connections; idempotent (returns the same promise). */
  close(): Promise<void>;
}

/** Defaults of the optional `HttpServerOptions` fields and of the API, in one place. */
export const HTTP_DEFAULTS = {
  readyTimeoutMs: 2_000,
  /** Page size when `limit` is not given, and the largest allowed. */
  pageSize: 100,
  maxPageSize: 1_000,
  /** A request (headers and handler) that takes longer is cut off: slow clients hold no socket forever. */
  requestTimeoutMs: 30_000,
} as const;

export const ADMIN_PATH = '/admin/queues';
const REALM = 'classiclink-sync';

// ---------------------------------------------------------------------------------------------
// Query parameters: the CLI's formats, one value each, unknown parameters refused.

const isoTime = z.string().transform((s, ctx) => {
  const d = parseTimestamp(s);
  if (d === undefined) {
    ctx.addIssue({ code: 'custom', message: timestampProblem(s) });
    return z.NEVER;
  }
  return d;
});
const region = z.string().regex(/^[a-z]{2,}(-[a-z0-9]+)+$/, 'expected a region id like cn-hangzhou');
const vpc = z.string().regex(/^vpc-[a-z0-9]+$/, 'expected a VPC id like vpc-bp1abc');
const instance = z.string().regex(/^i-[a-z0-9]+$/, 'expected an instance id like i-bp1abc');
const limit = z
  .string()
  .regex(/^\d+$/, `expected a whole number from 1 to ${HTTP_DEFAULTS.maxPageSize}`)
  .transform(Number)
  .pipe(
    z
      .number()
      .int()
      .min(1, `expected a whole number from 1 to ${HTTP_DEFAULTS.maxPageSize}`)
      .max(HTTP_DEFAULTS.maxPageSize, `expected a whole number from 1 to ${HTTP_DEFAULTS.maxPageSize}`),
  )
  .default(HTTP_DEFAULTS.pageSize);
const cursor = z.string().max(1_024, 'not a cursor this API returned');

const linksQuery = z.strictObject({
  region: region.optional(),
  vpc: vpc.optional(),
  at: isoTime.optional(),
  limit,
  cursor: cursor.optional(),
});
const eventsQuery = z.strictObject({
  since: isoTime.optional(),
  until: isoTime.optional(),
  region: region.optional(),
  vpc: vpc.optional(),
  instance: instance.optional(),
  limit,
  cursor: cursor.optional(),
});
const statusQuery = z.strictObject({ limit, cursor: cursor.optional() });

/** A 400 answer naming the parameter. */
class BadParameter extends Error {
  override readonly name = 'BadParameter';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

type Query = Record<string, string | string[] | undefined>;

function parseQuery<S extends z.ZodType>(schema: S, query: Query): z.output<S> {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new BadParameter('query', 'invalid');
  if (issue.code === 'unrecognized_keys')
    throw new BadParameter(issue.keys[0] ?? 'query', 'unknown parameter');
  const parameter = String(issue.path[0] ?? 'query');
  // A repeated parameter arrives as an array.
  const message = Array.isArray(query[parameter]) ? 'give it at most once' : issue.message;
  throw new BadParameter(parameter, message);
}

// ---------------------------------------------------------------------------------------------
// Cursors: base64url JSON of the last row's sort key, bound to the filters of the query that made
// it. Not signed: a forged cursor can only skip rows the caller could read anyway.

const cursorSchema = z.object({
  v: z.literal(1),
  /** Which list. */
  k: z.enum(['links', 'events', 'status']),
  /** Digest of the filters. */
  f: z.string(),
  /** The sort key of the last row returned. */
  a: z.array(z.union([z.string(), z.number()])).max(4),
});
type Cursor = z.infer<typeof cursorSchema>;

function filterDigest(filters: Record<string, string | Date | undefined>): string {
  const plain = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]);
  return createHash('sha256').update(JSON.stringify(plain)).digest('base64url').slice(0, 16);
}

function encodeCursor(c: Omit<Cursor, 'v'>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...c })).toString('base64url');
}

function decodeCursor(text: string | undefined, kind: Cursor['k'], digest: string): Cursor['a'] | undefined {
  if (text === undefined) return undefined;
  let parsed: Cursor;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new BadParameter('cursor', 'not a cursor this API returned');
  }
  if (parsed.k !== kind) throw new BadParameter('cursor', `not a cursor of ${kind}`);
  if (parsed.f !== digest)
    throw new BadParameter('cursor', 'made for other filters; repeat the same filters');
  return parsed.a;
}

/** Code-unit order of string tuples (the keyset order, whatever the database's collation). */
function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function stringKey(after: Cursor['a'] | undefined, length: number): string[] | undefined {
  if (after === undefined) return undefined;
  if (after.length !== length || !after.every((x) => typeof x === 'string')) {
    throw new BadParameter('cursor', 'not a cursor this API returned');
  }
  return after as string[];
}

/** One page of an in-memory sorted list, after `after`. */
function pageOf<T>(
  rows: readonly T[],
  key: (row: T) => string[],
  after: string[] | undefined,
  limit: number,
): { page: T[]; last: string[] | undefined } {
  const sorted = [...rows].sort((a, b) => compareKeys(key(a), key(b)));
  const rest = after === undefined ? sorted : sorted.filter((r) => compareKeys(key(r), after) > 0);
  const page = rest.slice(0, limit);
  const lastRow = page[page.length - 1];
  return { page, last: rest.length > limit && lastRow !== undefined ? key(lastRow) : undefined };
}

/**
 * One page of events after (detectedAt, id). The store pages by `since` and `limit` only, so the
 * events at the cursor's instant that were already returned are fetched again and dropped; a run's
 * events share one instant, so the fetch widens until it holds a row past the cursor.
 */
async function eventsPage(
  store: Pick<Store, 'listEvents'>,
  filter: EventFilter,
  after: { t: number; id: bigint } | undefined,
  limit: number,
): Promise<{ page: EventRow[]; last: EventRow | undefined }> {
  const since =
    after === undefined
      ? filter.since
      : new Date(Math.max(after.t, filter.since?.getTime() ?? Number.NEGATIVE_INFINITY));
  let fetch = limit + 1;
  for (;;) {
    const rows = await store.listEvents({ ...filter, since, limit: fetch });
    const fresh =
      after === undefined
        ? rows
        : rows.filter((r) => {
            const t = r.detectedAt.getTime();
            return t > after.t || (t === after.t && BigInt(r.id) > after.id);
          });
    if (fresh.length > limit || rows.length < fetch) {
      const page = fresh.slice(0, limit);
      return { page, last: fresh.length > limit ? page[page.length - 1] : undefined };
    }
    // The rows dropped all precede the fresh ones: when some are fresh, exactly this many more
    // are needed; when none are, how many events share the instant is unknown, so double.
    const skipped = rows.length - fresh.length;
    fetch = fresh.length === 0 ? fetch * 2 : skipped + limit + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Authentication

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The token presented: `Bearer <token>`, or (dashboard only, for browsers) Basic with it as password. */
function presentedToken(header: string | undefined, allowBasic: boolean): string | undefined {
  if (header === undefined) return undefined;
  const bearer = /^Bearer +([^\s]+) *$/i.exec(header);
  if (bearer) return bearer[1];
  if (!allowBasic) return undefined;
  const basic = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function isAdminPath(url: string): boolean {
  return url === ADMIN_PATH || url.startsWith(`${ADMIN_PATH}/`);
}

// ---------------------------------------------------------------------------------------------

function withTimeout(promise: Promise<void>, ms: number): Promise<'ok' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise.then(() => 'ok' as const), timeout]).finally(() => clearTimeout(timer));
}

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const log = opts.log.child({ component: 'http' });
  const now = opts.now ?? (() => new Date());
  const readyTimeoutMs = opts.readyTimeoutMs ?? HTTP_DEFAULTS.readyTimeoutMs;
  const expected = opts.token === undefined ? undefined : digest(opts.token);
  const account = opts.account;

  // Our own logging (one line per response, never headers): fastify's logger, and with it its
  // request logging, is off.
  const app = Fastify({
    logger: false,
    requestTimeout: HTTP_DEFAULTS.requestTimeoutMs,
    // Keep-alive sockets idle at close() are closed; a request in flight finishes first.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });

  // --- Authentication: before routing matters, on every request (404s included). -----------------
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (expected === undefined) return;
    const path = req.url.split('?', 1)[0] ?? '';
    if (path === '/healthz') return;
    const admin = isAdminPath(path);
    const token = presentedToken(req.headers.authorization, admin);
    if (token !== undefined && timingSafeEqual(digest(token), expected)) return;
    const bearer =
      token === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
    // Browsers cannot send a bearer token to the dashboard: offer Basic (any user, the token as
    // password) there too, so the browser asks once and sends it with the dashboard's own requests.
    reply.header('www-authenticate', admin ? [bearer, `Basic realm="${REALM}"`] : bearer);
    return reply.code(401).send({
      error: 'unauthorized',
      message: token === undefined ? 'a bearer token is required' : 'the token is not valid',
    });
  });

  app.addHook('onResponse', async (req, reply) => {
    const line = {
      method: req.method,
      route: req.routeOptions.url ?? '(none)',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (reply.statusCode >= 500) log.warn(line, 'request failed');
    else log.debug(line, 'request');
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof BadParameter) {
      return reply.code(400).send({ error: 'bad_request', parameter: err.parameter, message: err.message });
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // fastify's own client errors (bad URL, unsupported media type): their messages are generic.
      return reply.code(status).send({ error: 'bad_request', message: (err as Error).message });
    }
    const e = coerceError(err);
    log.error({ route: req.routeOptions.url, code: e.code, err: e.message }, 'request failed');
    if (e.retryable) {
      return reply
        .code(503)
        .send({ error: 'unavailable', message: 'a dependency is unavailable; try again' });
    }
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((_req, reply) =>
    reply.code(404).send({ error: 'not_found', message: 'no such route' }),
  );

  // --- The index: what this server answers, as JSON (until there is a console at `/`) ----------
  const dashboard = opts.queues !== undefined && opts.queues.length > 0;
  const index = {
    service: 'classiclink-sync',
    endpoints: [
      { method: 'GET', path: '/healthz', description: '200 while the process runs (never needs the token)' },
      {
        method: 'GET',
        path: '/readyz',
        description: '200 when Postgres and Redis answer; 503 with the reason',
      },
      { method: 'GET', path: '/metrics', description: 'Prometheus text' },
      {
        method: 'GET',
        path: '/v1/links',
        parameters: Object.keys(linksQuery.shape),
        description: 'the links now, or at a time (at)',
      },
      {
        method: 'GET',
        path: '/v1/events',
        parameters: Object.keys(eventsQuery.shape),
        description: 'the change log, oldest first; follow nextCursor for the next page',
      },
      {
        method: 'GET',
        path: '/v1/status',
        parameters: Object.keys(statusQuery.shape),
        description: 'per target: last success and failure, consecutive failures, stale',
      },
      ...(dashboard
        ? [{ method: 'GET', path: `${ADMIN_PATH}/`, description: 'the BullMQ dashboard (bull-board)' }]
        : []),
    ],
  };
  app.get('/', async () => index);

  // --- Probes and metrics ---------------------------------------------------------------------
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const probe = async (name: 'postgres' | 'redis', fn: () => Promise<void>) => {
      try {
        const outcome = await withTimeout(fn(), readyTimeoutMs);
        if (outcome === 'ok') return { name, state: 'ok' as const };
        log.warn({ dependency: name, timeoutMs: readyTimeoutMs }, 'readiness probe timed out');
        return { name, state: 'timeout' as const };
      } catch (err) {
        log.warn({ dependency: name, err: coerceError(err).message }, 'readiness probe failed');
        return { name, state: 'unreachable' as const };
      }
    };
    const results = await Promise.all([
      probe('postgres', () => opts.ready.postgres()),
      probe('redis', () => opts.ready.redis()),
    ]);
    const checks = Object.fromEntries(results.map((r) => [r.name, r.state]));
    const down = results.filter((r) => r.state !== 'ok');
    if (down.length === 0) return { status: 'ready', checks };
    const reason = down
      .map((r) =>
        r.state === 'timeout' ? `${r.name}: no answer within ${readyTimeoutMs}ms` : `${r.name}: unreachable`,
      )
      .join('; ');
    return reply.code(503).send({ status: 'not_ready', reason, checks });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.expose();
    return reply.header('content-type', opts.metrics.contentType).send(text);
  });

  // --- The read-only JSON API -------------------------------------------------------------------
  app.get<{ Querystring: Query }>('/v1/links', async (req) => {
    const q = parseQuery(linksQuery, req.query);
    const f = filterDigest({ region: q.region, vpc: q.vpc, at: q.at });
    const after = stringKey(decodeCursor(q.cursor, 'links', f), 3);
    // The store answers a whole filter at once (a VPC holds at most 1,000 links); pages are cut here.
    const rows = await opts.store.listLinks({ account, regionId: q.region, vpcId: q.vpc, at: q.at });
    const key = (r: LinkRow) => [r.regionId, r.vpcId, r.instanceId];
    const { page, last } = pageOf(rows, key, after, q.limit);
    return {
      account,
      at: q.at?.toISOString() ?? null,
      links: page,
      nextCursor: last === undefined ? null : encodeCursor({ k: 'links', f, a: last }),
    };
  });

  app.get<{ Querystring: Query }>('/v1/events', async (req) => {
    const q = parseQuery(eventsQuery, req.query);
    if (q.since && q.until && q.since.getTime() >= q.until.getTime()) {
      throw new BadParameter('until', 'must be after since');
    }
    const f = filterDigest({
      since: q.since,
      until: q.until,
      region: q.region,
      vpc: q.vpc,
      instance: q.instance,
    });
    const a = decodeCursor(q.cursor, 'events', f);
    let after: { t: number; id: bigint } | undefined;
    if (a !== undefined) {
      const [t, id] = a;
      if (a.length !== 2 || typeof t !== 'number' || typeof id !== 'string' || !/^\d{1,19}$/.test(id)) {
        throw new BadParameter('cursor', 'not a cursor this API returned');
      }
      after = { t, id: BigInt(id) };
    }
    const { page, last } = await eventsPage(
      opts.store,
      {
        account,
        since: q.since,
        until: q.until,
        regionId: q.region,
        vpcId: q.vpc,
        instanceId: q.instance,
      },
      after,
      q.limit,
    );
    return {
      account,
      events: page,
      nextCursor:
        last === undefined ? null : encodeCursor({ k: 'events', f, a: [last.detectedAt.getTime(), last.id] }),
    };
  });

  app.get<{ Querystring: Query }>('/v1/status', async (req) => {
    const q = parseQuery(statusQuery, req.query);
    const f = filterDigest({});
    const after = stringKey(decodeCursor(q.cursor, 'status', f), 2);
    const targets = await opts.store.listTargets({ account });
    const t = now();
    const key = (r: TargetStatusRow) => [r.regionId, r.vpcId];
    const { page, last } = pageOf(targets, key, after, q.limit);
    return {
      account,
      staleAfterMs: opts.staleAfterMs,
      targets: page.map((row) => ({ ...row, ...targetHealth(row, t, opts.staleAfterMs) })),
      nextCursor: last === undefined ? null : encodeCursor({ k: 'status', f, a: last }),
    };
  });

  // --- The BullMQ dashboard ----------------------------------------------------------------------
  if (opts.queues && dashboard) {
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_PATH);
    createBullBoard({
      queues: opts.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: opts.queueActions !== true })),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'classiclink-sync' } },
    });
    // bull-board's own handler answers with the error's message; ours logs it and says less.
    serverAdapter.setErrorHandler((err) => {
      log.error({ err: err.message }, 'dashboard request failed');
      return { status: 500, body: { error: 'internal', message: 'internal error' } };
    });
    app.register(serverAdapter.registerPlugin(), { prefix: ADMIN_PATH });
  }

  let listening: Promise<{ url: string }> | undefined;
  let closing: Promise<void> | undefined;
  return {
    listen() {
      listening ??= (async () => {
        const url = await app.listen({ host: opts.host, port: opts.port });
        log.info(
          { url, auth: expected !== undefined, dashboard: opts.queues !== undefined },
          'HTTP listening',
        );
        return { url };
      })();
      return listening;
    },
    close() {
      closing ??= (async () => {
        // A listen still starting finishes first, so close() never races the bind.
        await listening?.catch(() => undefined);
        await app.close();
      })();
      return closing;
    },
  };
}
