/**
 * The HTTP face of the service (fastify): the probes and metrics (probes.ts), the read-only JSON
 * API under `/v1` (api.ts), the BullMQ dashboard (bull-board) at `/admin/queues`, the web console
 * (src/console/: its pages, from `/`, and their JSON twins), and at `/` for a client that does not
 * ask for HTML a JSON list of these endpoints; every route but `/healthz` behind the token (auth.ts).
 *
 * Responses never carry stack traces or driver messages: failures are logged here and answered
 * generically. Our own logging writes one line per response, never headers.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import Fastify from 'fastify';
import { CONSOLE_ENDPOINTS, type ConsoleOptions, registerConsole } from '../console/index.js';
import { coerceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import { API_ENDPOINTS, registerApi } from './api.js';
import { ADMIN_PATH, tokenCheck } from './auth.js';
import { HOOK_PATH, type HookOptions, registerHook } from './hooks.js';
import { BadParameter } from './params.js';
import { PROBE_ENDPOINTS, type ReadinessProbes, registerProbes } from './probes.js';

/**
 * A BullMQ queue the dashboard shows: a `Queue` of the queue room, on either backend. bull-board
 * types its adapter for Redis queues; it asks a queue for its Redis client at run time and shows
 * none for a Postgres one.
 */
type DashboardQueue = object;
type AdapterQueue = ConstructorParameters<typeof BullMQAdapter>[0];

export interface HttpServerOptions {
  /** HTTP_HOST. */
  host: string;
  /** HTTP_PORT; 0 picks a free port (tests). */
  port: number;
  /** HTTP_TOKEN: when set, every route but /healthz needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Bound to its component by the caller (main.ts: `component: 'http'`). */
  log: Logger;
  metrics: Pick<Metrics, 'expose' | 'contentType'>;
  /** Readiness probes: each resolves when its server answers. */
  ready: ReadinessProbes;
  store: Pick<Store, 'listLinks' | 'eventsPage' | 'listTargets' | 'listFeeds' | 'listContextHealth'> &
    ConsoleOptions['store'];
  /** SYNC_ACCOUNT: the API answers for this account only; undefined: every account (ACCOUNTS_FILE). */
  account: string | undefined;
  /** Queues shown by the dashboard at /admin/queues; none: no dashboard. */
  queues?: readonly DashboardQueue[] | undefined;
  /** Let the dashboard retry, promote, remove and clean jobs. Default false (read-only). */
  queueActions?: boolean | undefined;
  /** ALERT_STALE_AFTER: `/v1/status` marks a target stale after this long without success. */
  staleAfterMs: number;
  /** CHANGE_FEED and its interval, for `/v1/status`. Default: off. */
  changeFeed?: { mode: 'actiontrail' | 'off'; intervalMs: number } | undefined;
  /** A readiness probe slower than this counts as down. Default 2 s. */
  readyTimeoutMs?: number | undefined;
  /** Clock for `/v1/status` ages. Default the real one. */
  now?: (() => Date) | undefined;
  /**
   * The EventBridge hook (HOOK_TOKEN set): `POST /v1/hooks/eventbridge` with its own token. Absent,
   * the path is answered 404 like any unknown route.
   */
  hook?: HookOptions | undefined;
}

export interface HttpServer {
  /** Starts listening (once; later calls return the same answer). */
  listen(): Promise<{ url: string }>;
  /** Stops listening and closes open connections; idempotent (returns the same promise). */
  close(): Promise<void>;
}

const DEFAULTS = {
  readyTimeoutMs: 2_000,
  /** A request (headers and handler) that takes longer is cut off: slow clients hold no socket forever. */
  requestTimeoutMs: 30_000,
} as const;

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { log } = opts;
  // fastify's logger, and with it its request logging, is off: the onResponse hook logs.
  const app = Fastify({
    logger: false,
    requestTimeout: DEFAULTS.requestTimeoutMs,
    // Keep-alive sockets idle at close() are closed; a request in flight finishes first.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });

  // The hook checks HOOK_TOKEN itself: EventBridge sends that one token, never HTTP_TOKEN.
  if (opts.token !== undefined)
    app.addHook('onRequest', tokenCheck(opts.token, opts.hook ? [HOOK_PATH] : []));

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

  // The index: what this server answers, as JSON (at `/` for clients that do not ask for HTML).
  const dashboard = opts.queues !== undefined && opts.queues.length > 0;
  const index = {
    service: 'classiclink-sync',
    endpoints: [
      ...PROBE_ENDPOINTS,
      ...API_ENDPOINTS,
      ...CONSOLE_ENDPOINTS,
      ...(opts.hook
        ? [
            {
              method: 'POST',
              path: HOOK_PATH,
              description: 'EventBridge HTTP target: ActionTrail events (CloudEvents 1.0), with HOOK_TOKEN',
            },
          ]
        : []),
      ...(dashboard
        ? [{ method: 'GET', path: `${ADMIN_PATH}/`, description: 'the BullMQ dashboard (bull-board)' }]
        : []),
    ],
  };

  registerProbes(app, {
    ready: opts.ready,
    readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
    metrics: opts.metrics,
    log,
  });
  registerApi(app, {
    store: opts.store,
    account: opts.account,
    staleAfterMs: opts.staleAfterMs,
    changeFeed: opts.changeFeed ?? { mode: 'off', intervalMs: 0 },
    now: opts.now ?? (() => new Date()),
  });
  registerConsole(app, {
    store: opts.store,
    account: opts.account,
    staleAfterMs: opts.staleAfterMs,
    now: opts.now ?? (() => new Date()),
    index,
  });

  if (opts.hook) registerHook(app, opts.hook);

  if (opts.queues && dashboard) {
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_PATH);
    createBullBoard({
      queues: opts.queues.map(
        (q) => new BullMQAdapter(q as AdapterQueue, { readOnlyMode: opts.queueActions !== true }),
      ),
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
          { url, auth: opts.token !== undefined, dashboard: opts.queues !== undefined },
          'HTTP server listening',
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
