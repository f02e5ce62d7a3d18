/**
 * The HTTP server over real sockets (port 0, undici fetch): probes against the machine's Postgres
 * and Redis (and closed ports for the down cases), the bearer token, the dashboard, and close().
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer, type HttpServerOptions } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createQueues } from '../../src/queue/queues.js';
import { createStore } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { useTestDb } from '../helpers/db.js';
import { captureLog } from '../helpers/log.js';
import { openTestBackend } from '../helpers/queue-backend.js';
import { freePort } from '../helpers/servers.js';

const TOKEN = 'test-token-0123456789abcdef';
const db = useTestDb({ checkLeaks: true });

/** Released after each test, last first. */
const defer = useCleanup();

/** A Redis client that fails at once when its server is away (no offline queue, no retries). */
function redisClient(port: number): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  defer(async () => redis.disconnect());
  return redis;
}

/**
 * Queues under a fresh prefix for the dashboard, on the test run's queue backend (bull-board on
 * either), obliterated and closed after the test.
 */
async function dashboardQueues() {
  const { backend, close } = await openTestBackend(`test-${randomUUID()}`);
  defer(close);
  const queues = createQueues({ backend });
  defer(() => queues.close());
  defer(() => queues.obliterate());
  return queues;
}

async function pingRedis(redis: Redis): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
  await redis.ping();
}

async function start(
  overrides: Partial<HttpServerOptions> = {},
): Promise<{ url: string; server: HttpServer; pool: pg.Pool }> {
  const { pool } = await db();
  const log = overrides.log ?? createLogger({ level: 'silent' });
  const redis = redisClient(6379);
  const server = createHttpServer({
    host: '127.0.0.1',
    port: 0,
    log,
    metrics: createMetrics({ log, processMetrics: false }),
    ready: {
      postgres: async () => void (await pool.query('SELECT 1')),
      queue: () => pingRedis(redis),
      queueBackend: 'redis',
    },
    store: createStore({ pool, log }),
    account: 'acct-http',
    staleAfterMs: 3_600_000,
    ...overrides,
  });
  defer(() => server.close());
  const { url } = await server.listen();
  return { url, server, pool };
}

describe('probes', () => {
  it('/healthz answers 200 while the process lives', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when Postgres and Redis answer', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      queueBackend: 'redis',
      checks: { postgres: 'ok', queue: 'ok' },
    });
  });

  it('/readyz answers 503 naming Redis when Redis is unreachable', async () => {
    const { pool } = await db();
    const down = redisClient(await freePort());
    const { url } = await start({
      ready: {
        postgres: async () => void (await pool.query('SELECT 1')),
        queue: () => pingRedis(down),
        queueBackend: 'redis',
      },
    });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { reason: string; checks: Record<string, string> };
    expect(body.checks).toEqual({ postgres: 'ok', queue: 'unreachable' });
    expect(body.reason).toMatch(/^queue \(redis\): /);
    expect(body.reason).not.toMatch(/postgres/);
  });

  it('/readyz answers 503 naming Postgres when Postgres is unreachable', async () => {
    const downPool = new pg.Pool({
      connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      connectionTimeoutMillis: 5_000,
    });
    defer(() => downPool.end());
    const redis = redisClient(6379);
    const { url } = await start({
      ready: {
        postgres: async () => void (await downPool.query('SELECT 1')),
        queue: () => pingRedis(redis),
        queueBackend: 'redis',
      },
    });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { reason: string; checks: Record<string, string> };
    expect(body.checks).toEqual({ postgres: 'unreachable', queue: 'ok' });
    expect(body.reason).toMatch(/^postgres: /);
  });

  it('/readyz counts a probe that never answers as down after the timeout', async () => {
    const { pool } = await db();
    const { url } = await start({
      readyTimeoutMs: 50,
      ready: {
        postgres: async () => void (await pool.query('SELECT 1')),
        queue: () => new Promise(() => {}),
        queueBackend: 'redis',
      },
    });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ reason: 'queue (redis): no answer within 50ms' });
  });
});

describe('GET /', () => {
  it('lists the endpoints as JSON, each of which answers, behind the token', async () => {
    const { url } = await start({ token: TOKEN });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const none = await fetch(`${url}/`);
    expect(none.status).toBe(401);
    await none.body?.cancel();

    const res = await fetch(`${url}/`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as {
      service: string;
      endpoints: { method: string; path: string; parameters?: string[]; description: string }[];
    };
    expect(body.service).toBe('classiclink-sync');
    expect(body.endpoints.map((e) => e.path)).toEqual([
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/links',
      '/v1/events',
      '/v1/status',
      '/v1/overview',
      '/v1/changes',
      '/v1/vpcs/{account}/{region}/{vpcId}',
      '/v1/instances/{account}/{region}/{instanceId}',
    ]);
    expect(body.endpoints.find((e) => e.path === '/v1/events')?.parameters).toEqual([
      'since',
      'until',
      'region',
      'vpc',
      'instance',
      'limit',
      'cursor',
    ]);
    for (const e of body.endpoints) {
      expect(e.description.length, e.path).toBeGreaterThan(0);
      // A path with parameters answers 404 for a VPC or instance it has no record of.
      const path = e.path.replace('{account}', 'acct-http').replace('{region}', 'cn-hangzhou');
      const answer = await fetch(
        `${url}${path.replace('{vpcId}', 'vpc-none').replace('{instanceId}', 'i-none')}`,
        {
          headers: auth,
        },
      );
      expect(answer.status, e.path).toBe(e.path.includes('{') ? 404 : 200);
      await answer.body?.cancel();
    }
  });

  it('is the console for a browser (Accept: text/html), with its security headers', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await res.text()).toContain('<title>Overview · classiclink-sync</title>');
  });

  it('names the dashboard when there is one', async () => {
    const queues = await dashboardQueues();
    const { url } = await start({ queues: [queues.plan, queues.sync] });
    const body = (await (await fetch(`${url}/`)).json()) as { endpoints: { path: string }[] };
    expect(body.endpoints.map((e) => e.path)).toContain('/admin/queues/');
  });
});

describe('bearer token', () => {
  it('is required on every route but /healthz: 401 without or with a wrong one, 200 with it', async () => {
    const { url } = await start({ token: TOKEN });
    for (const path of ['/readyz', '/metrics', '/v1/links', '/v1/events', '/v1/status', '/no-such-route']) {
      const none = await fetch(`${url}${path}`);
      expect(none.status, path).toBe(401);
      // Both challenges: a program sends its bearer token, a browser asks for the Basic login.
      expect(none.headers.get('www-authenticate'), path).toBe(
        'Bearer realm="classiclink-sync", Basic realm="classiclink-sync"',
      );
      await none.body?.cancel();

      const wrong = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status, path).toBe(401);
      expect(wrong.headers.get('www-authenticate'), path).toContain('error="invalid_token"');
      await wrong.body?.cancel();

      const short = await fetch(`${url}${path}`, { headers: { authorization: 'Bearer x' } });
      expect(short.status, path).toBe(401);
      await short.body?.cancel();

      const basicWrong = await fetch(`${url}${path}`, {
        headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}x`).toString('base64')}` },
      });
      expect(basicWrong.status, path).toBe(401);
      await basicWrong.body?.cancel();
    }
    const basic = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}`;
    for (const path of ['/readyz', '/metrics', '/v1/links', '/v1/events', '/v1/status', '/changes']) {
      for (const authorization of [`Bearer ${TOKEN}`, basic]) {
        const ok = await fetch(`${url}${path}`, { headers: { authorization } });
        expect(ok.status, `${path} ${authorization.split(' ')[0]}`).toBe(200);
        await ok.body?.cancel();
      }
    }
    const notFound = await fetch(`${url}/no-such-route`, { headers: { authorization: `bearer ${TOKEN}` } });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ error: 'not_found', message: 'no such route' });

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    await health.body?.cancel();
  });

  it('without a configured token, every route is open (loopback only, config.ts enforces it)', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/v1/status`);
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });

  it('never logs or echoes the token', async () => {
    const { lines, log } = captureLog('trace');
    const { url } = await start({ token: TOKEN, log });
    for (const auth of [
      `Bearer ${TOKEN}`,
      `Bearer ${TOKEN}-wrong`,
      `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`,
    ]) {
      const res = await fetch(`${url}/v1/links?region=bad`, { headers: { authorization: auth } });
      expect(await res.text()).not.toContain(TOKEN);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain(TOKEN);
    expect(lines.join('')).not.toContain(Buffer.from(`u:${TOKEN}`).toString('base64'));
  });
});

describe('the BullMQ dashboard', () => {
  it('is served at /admin/queues behind the token (Bearer, or Basic for browsers)', async () => {
    const queues = await dashboardQueues();
    await queues.enqueuePlan({ account: 'acct-http', regionId: 'cn-hangzhou' });
    const { url } = await start({ token: TOKEN, queues: [queues.plan, queues.sync] });

    const none = await fetch(`${url}/admin/queues`);
    expect(none.status).toBe(401);
    const challenges = none.headers.get('www-authenticate') ?? '';
    expect(challenges).toContain('Bearer realm="classiclink-sync"');
    expect(challenges).toContain('Basic realm="classiclink-sync"');
    await none.body?.cancel();

    const api = await fetch(`${url}/admin/queues/api/queues`);
    expect(api.status).toBe(401);
    await api.body?.cancel();

    const page = await fetch(`${url}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    await page.body?.cancel();

    const basic = `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`;
    const list = await fetch(`${url}/admin/queues/api/queues`, { headers: { authorization: basic } });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['plan', 'sync']);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
  });
});

describe('close()', () => {
  it('is idempotent and leaves nothing listening', async () => {
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = servers();
    const { url, server } = await start({ token: TOKEN });
    // A kept-alive connection open at close time must not hold the server up.
    const res = await fetch(`${url}/healthz`);
    await res.json();
    expect(servers()).toBe(before + 1);
    const first = server.close();
    expect(server.close()).toBe(first);
    await first;
    await server.close();
    // The port refuses connections as soon as close() resolves…
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // …and libuv lets go of the listening handle on its next close callbacks.
    await expect.poll(servers).toBe(before);
  });

  it('closes a server that never listened', async () => {
    const { pool } = await db();
    const log = createLogger({ level: 'silent' });
    const server = createHttpServer({
      host: '127.0.0.1',
      port: 0,
      log,
      metrics: createMetrics({ log, processMetrics: false }),
      ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
      store: createStore({ pool, log }),
      account: 'acct-http',
      staleAfterMs: 1_000,
    });
    await server.close();
    await server.close();
  });
});
