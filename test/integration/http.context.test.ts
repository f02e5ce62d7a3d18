/**
 * `/v1/events` and `/v1/links` carry each change's context in the shape `--json` prints (the same
 * fields, the same names): over real HTTP, on rows the store's verbs wrote — a cause found, not
 * found, unavailable, pending, none for a baseline; null for what was never described; hostile
 * names, tags and actors verbatim, as JSON, never as something a browser would run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createStore } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import {
  type ContextWorld,
  contextWorld,
  detected,
  foundCause,
  HOSTILE,
  HOSTILE_ACTOR,
  HOSTILE_TAGS,
  PENDING_CAUSE,
  PROD_VPC,
  worldContextHealth,
} from '../helpers/context.js';
import { useTestDb } from '../helpers/db.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });
const TOKEN = 'context-test-token-0123456789';

let world: ContextWorld;
let server: HttpServer;
let base: string;

beforeAll(async () => {
  const { pool } = await db();
  const store = createStore({ pool, log });
  world = await contextWorld(store);
  server = createHttpServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    log,
    metrics: createMetrics({ log, processMetrics: false }),
    ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
    store,
    account: world.target.account,
    staleAfterMs: 3_600_000,
    now: () => at(60),
  });
  base = (await server.listen()).url;
});
afterAll(() => server.close());

async function get(path: string): Promise<{ res: Response; text: string }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return { res, text: await res.text() };
}

interface ContextJson {
  id?: string;
  instanceId: string;
  instance: { name: string | null; tags: object } | null;
  vpc: object | null;
  cause: { status: string; actor: { name: string | null } | null } | null;
}
const byInstance = (rows: ContextJson[]) => new Map(rows.map((r) => [r.instanceId, r]));

describe('GET /v1/events', () => {
  it('carries instance, vpc and cause on every event: found, not found, unavailable, pending, baseline', async () => {
    const { text } = await get('/v1/events?limit=1000');
    const { events } = JSON.parse(text) as { events: ContextJson[] };
    expect(events).toHaveLength(7);
    for (const e of events)
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['instance', 'vpc', 'cause']));
    const e = byInstance(events);
    expect(e.get('i-base')).toMatchObject({
      baseline: true,
      instance: {
        name: 'db-0',
        status: 'Running',
        privateIp: '10.0.0.1',
        zoneId: 'cn-hangzhou-h',
        resourceGroupId: 'rg-1',
        tags: { env: 'prod', team: 'web' },
        releasedAt: null,
      },
      vpc: PROD_VPC,
      cause: null,
    });
    expect(e.get('i-found')?.cause).toEqual(foundCause(world.attachFound, detected(10)));
    expect(e.get('i-gone')?.cause).toEqual({
      ...PENDING_CAUSE,
      status: 'not_found',
      resolvedAt: at(25).toISOString(),
    });
    expect(e.get('i-noperm')?.cause).toMatchObject({
      ...PENDING_CAUSE,
      status: 'unavailable',
      resolvedAt: expect.any(String),
    });
    expect(e.get('i-pending')).toMatchObject({ instance: null, vpc: PROD_VPC, cause: PENDING_CAUSE });
    expect(e.get('i-bare')).toMatchObject({ instance: null, vpc: null, cause: null });
  });

  it('answers hostile names, tags and actors verbatim, as JSON that no browser sniffs into HTML', async () => {
    const { res, text } = await get('/v1/events?instance=i-evil');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Control characters travel as JSON escapes, never as raw bytes.
    expect(text).not.toMatch(/\p{Cc}/u);
    expect(text).toContain('\\u001b[31mRED');
    const [evil] = (JSON.parse(text) as { events: ContextJson[] }).events;
    expect(evil?.instance?.name).toBe(HOSTILE);
    expect(evil?.instance?.tags).toEqual(HOSTILE_TAGS);
    expect(evil?.cause).toEqual(foundCause(world.attachEvil, detected(10)));
    expect(evil?.cause?.actor?.name).toBe(HOSTILE_ACTOR);
  });

  it('pages with the context intact', async () => {
    const { text } = await get('/v1/events?limit=1000');
    const all = (JSON.parse(text) as { events: ContextJson[] }).events;
    const walked: ContextJson[] = [];
    let cursor: string | null = null;
    do {
      const page: { text: string } = await get(
        `/v1/events?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      const body = JSON.parse(page.text) as { events: ContextJson[]; nextCursor: string | null };
      walked.push(...body.events);
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(walked).toEqual(all);
  });
});

describe('GET /v1/links', () => {
  it('carries the context of the change that linked each, now and at a time', async () => {
    const [now, then] = await Promise.all([get('/v1/links'), get(`/v1/links?at=${at(35).toISOString()}`)]);
    expect(now.res.headers.get('x-content-type-options')).toBe('nosniff');
    const links = byInstance((JSON.parse(now.text) as { links: ContextJson[] }).links);
    expect(links.size).toBe(7);
    expect(links.get('i-base')).toMatchObject({ baseline: true, vpc: PROD_VPC, cause: null });
    expect(links.get('i-found')?.cause).toEqual(foundCause(world.attachFound, detected(10)));
    expect(links.get('i-evil')?.instance?.name).toBe(HOSTILE);
    expect(links.get('i-evil')?.cause?.actor?.name).toBe(HOSTILE_ACTOR);
    expect(links.get('i-pending')).toMatchObject({ baseline: false, instance: null, cause: PENDING_CAUSE });
    expect(links.get('i-bare')).toMatchObject({ instance: null, vpc: null, cause: null });
    const past = byInstance((JSON.parse(then.text) as { links: ContextJson[] }).links);
    expect(past.has('i-pending')).toBe(false);
    expect(past.get('i-noperm')?.cause?.status).toBe('unavailable');
    expect(past.get('i-gone')?.cause?.status).toBe('not_found');
  });
});

describe('GET /v1/status', () => {
  it('carries the context health per account+region, as `status --json` does', async () => {
    const { text } = await get('/v1/status');
    const body = JSON.parse(text) as { context: unknown; targets: unknown[] };
    expect(body.targets).toHaveLength(2);
    expect(body.context).toEqual(worldContextHealth(world));
  });
});
