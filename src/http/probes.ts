/**
 * Probes and metrics: `/healthz` (the process runs; never needs the token), `/readyz` (Postgres
 * and the queue backend answer, each within a bound; 503 with the reason otherwise; it names the
 * queue backend) and `/metrics`.
 */
import type { FastifyInstance } from 'fastify';
import { coerceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** The probes' routes as the index at `/` lists them. */
export const PROBE_ENDPOINTS = [
  { method: 'GET', path: '/healthz', description: '200 while the process runs (never needs the token)' },
  {
    method: 'GET',
    path: '/readyz',
    description: '200 when Postgres and the queue backend answer; 503 with the reason',
  },
  { method: 'GET', path: '/metrics', description: 'Prometheus text' },
];

export interface ReadinessProbes {
  /** Each resolves when its server answers. */
  postgres(): Promise<void>;
  /** The queues' server: Redis, or the queue database on the Postgres backend. */
  queue(): Promise<void>;
  /** QUEUE_BACKEND, said in the answer. */
  queueBackend: 'redis' | 'postgres';
}

interface ProbeOptions {
  ready: ReadinessProbes;
  /** A readiness probe slower than this counts as down. */
  readyTimeoutMs: number;
  metrics: Pick<Metrics, 'expose' | 'contentType'>;
  log: Logger;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<'ok' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise.then(() => 'ok' as const), timeout]).finally(() => clearTimeout(timer));
}

export function registerProbes(app: FastifyInstance, opts: ProbeOptions): void {
  const { log, readyTimeoutMs } = opts;

  app.get('/healthz', async () => ({ status: 'ok' }));

  /** `queue (redis)`: the reason names the server that is down. */
  const label = (name: 'postgres' | 'queue') =>
    name === 'queue' ? `queue (${opts.ready.queueBackend})` : name;
  app.get('/readyz', async (_req, reply) => {
    const probe = async (name: 'postgres' | 'queue', fn: () => Promise<void>) => {
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
      probe('queue', () => opts.ready.queue()),
    ]);
    const checks = Object.fromEntries(results.map((r) => [r.name, r.state]));
    const queueBackend = opts.ready.queueBackend;
    const down = results.filter((r) => r.state !== 'ok');
    if (down.length === 0) return { status: 'ready', queueBackend, checks };
    const reason = down
      .map((r) =>
        r.state === 'timeout'
          ? `${label(r.name)}: no answer within ${readyTimeoutMs}ms`
          : `${label(r.name)}: unreachable`,
      )
      .join('; ');
    return reply.code(503).send({ status: 'not_ready', reason, queueBackend, checks });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.expose();
    return reply.header('content-type', opts.metrics.contentType).send(text);
  });
}
