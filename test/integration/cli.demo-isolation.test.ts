/**
 * The demo never touches a deployment. With a deployment's settings exported (its DATABASE_URL,
 * QUEUE_PREFIX, account, targets, credentials and an alert webhook, as after the README's
 * `set -a; . ./.env`), `classiclink-sync demo` runs in a database and a queue prefix of its own
 * on the same servers, says so and which variables it ignored, and leaves the deployment's rows,
 * its Redis keys and its webhook alone. It drops or clears only a database or prefix it created.
 *
 * The demo's names are fixed (`classiclink_demo`, `{classiclink-demo}`): this file owns them on
 * the test servers and clears them before each test.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createQueues, openQueueBackend } from '../../src/queue/index.js';
import { createStore } from '../../src/store/index.js';
import { reconcileSchedules } from '../../src/sync/scheduler.js';
import { type Child, killChildren, spawnCli } from '../helpers/child.js';
import { createTestDb, dropDatabase, testDatabaseUrl, useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { type Receiver, startReceiver } from '../helpers/receivers.js';
import { scanKeys } from '../helpers/redis.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const DEMO_DB = 'classiclink_demo';
const DEMO_TAG = '{classiclink-demo}';
const REDIS_URL = 'redis://127.0.0.1:6379';
/** The test server as a URL prefix (`postgres://user@host:port`) and as the banner names it. */
const SERVER = testDatabaseUrl('x').replace(/\/x$/, '');
const SERVER_NAME = SERVER.replace(/^postgres(ql)?:\/\//, '');

let redis: Redis;

const keysUnder = (tag: string) => scanKeys(redis, `${tag}*`);

/** Every key under a tag with a hash of its value: equal snapshots mean nothing was touched. */
async function redisSnapshot(tag: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await keysUnder(tag)) {
    const value = (await redis.dumpBuffer(key)) ?? Buffer.alloc(0);
    out[key] = createHash('sha256').update(value).digest('hex').slice(0, 16);
  }
  return out;
}

/** Row count and a hash of the rows of every table of the database. */
async function dbSnapshot(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ t: string }>(
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const { rows } = await pool.query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM "${t}" x`,
    );
    out[t] = `${rows[0]?.n} rows, ${rows[0]?.h}`;
  }
  return out;
}

/** A deployment's schedule under its prefix, the way `start` leaves it. */
async function scheduleUnder(prefix: string, account: string): Promise<void> {
  const backend = openQueueBackend({ kind: 'redis', redis: { REDIS_URL }, prefix }, silentLog);
  const queues = createQueues({ backend });
  try {
    await reconcileSchedules(
      queues,
      { queue: 'plan', everyMs: 300_000, specs: [{ account, regions: ['cn-hangzhou'] }] },
      silentLog,
    );
  } finally {
    await queues.close();
    await backend.close();
  }
}

async function clearDemo(): Promise<void> {
  await dropDatabase(DEMO_DB);
  const keys = await keysUnder(DEMO_TAG);
  if (keys.length > 0) await redis.del(...keys);
}

async function waitForOutput(child: Child, re: RegExp, timeout = 60_000): Promise<void> {
  await expect
    .poll(() => re.test(child.stdout()) || child.proc.exitCode !== null, { timeout, interval: 100 })
    .toBe(true);
  expect(child.stdout(), `stderr: ${child.stderr()}`).toMatch(re);
}

const db = useTestDb();

/** `demo` on this file's database (no deployment exported) exits 1 with one line matching `line`. */
async function demoRefuses(line: RegExp): Promise<void> {
  const demo = spawnCli(['demo', '--duration', '1s'], {
    DATABASE_URL: (await db()).url,
    REDIS_URL,
    LOG_LEVEL: 'warn',
  });
  const exit = await demo.waitForExit(60_000);
  expect(exit.code, demo.stdout()).toBe(1);
  expect(demo.stderr().trim().split('\n'), demo.stderr()).toHaveLength(1);
  expect(demo.stderr()).toMatch(line);
}
let receiver: Receiver | undefined;
/** The deployment's prefix of the running test, removed after it. */
let userTag: string | undefined;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
beforeEach(clearDemo);
afterEach(async () => {
  await killChildren();
  await receiver?.close();
  receiver = undefined;
  const keys = userTag ? await keysUnder(userTag) : [];
  if (keys.length > 0) await redis.del(...keys);
  userTag = undefined;
});
afterAll(async () => {
  await clearDemo();
  await redis.quit();
});

describe('demo isolation', () => {
  it("ignores a deployment's exported database, prefix, account and alerts, and says so", async () => {
    // The deployment: rows in its database (two targets, a removal), a schedule under its prefix.
    const { name: userDb, url: userUrl, pool } = await db();
    const target = { ...uniqueTarget('vpc-prod1'), account: 'prod' };
    const other = { ...target, vpcId: 'vpc-prod2' };
    const store = createStore({ pool, log: silentLog });
    await scan(store, target, ['i-prod1', 'i-prod2', 'i-prod3'], { minute: 0 });
    await scan(store, target, ['i-prod1', 'i-prod2'], { minute: 5 });
    await scan(store, other, ['i-prod9'], { minute: 5 });
    const prefix = `user-${randomUUID()}`;
    userTag = `{${prefix}}`;
    await scheduleUnder(prefix, 'prod');
    const rowsBefore = await dbSnapshot(pool);
    const keysBefore = await redisSnapshot(`{${prefix}}`);
    expect(Object.keys(keysBefore).length).toBeGreaterThan(0);
    receiver = await startReceiver('webhook');
    const webhookSecret = receiver.secret ?? '';
    const accessKeySecret = `not-a-real-secret-${randomUUID()}`;

    const demo = spawnCli(['demo', '--interval', '1s', '--duration', '5m'], {
      DATABASE_URL: userUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      SYNC_ACCOUNT: 'prod',
      SYNC_REGIONS: 'cn-hangzhou,cn-beijing',
      SYNC_TARGETS: 'cn-hangzhou:vpc-prod1',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIprodkeyid0000',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret,
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: webhookSecret,
      ALERT_ON_BASELINE: 'true',
      LOG_LEVEL: 'warn',
    });
    // A first scan, then a change (the demo's world attaches and detaches every second or so).
    await waitForOutput(demo, /Ctrl-C to stop/);
    await waitForOutput(demo, /baseline/);
    await waitForOutput(demo, /^\S+ +- (removed|unlinked) /m);
    // The console the banner names shows what was printed: the newest change is not a baseline.
    const consoleUrl = /^ +console +(http:\/\/127\.0\.0\.1:\d+\/) /m.exec(demo.stdout())?.[1];
    expect(consoleUrl, demo.stdout()).toBeDefined();
    const overview = await fetch(`${consoleUrl}`, { headers: { accept: 'text/html' } });
    expect.soft(overview.status).toBe(200);
    expect.soft(await overview.text()).toContain('<h1>Classic links</h1>');
    const newest = (await (await fetch(`${consoleUrl}v1/changes?limit=1`)).json()) as {
      events: { baseline: boolean; account: string }[];
    };
    expect.soft(newest.events[0]).toMatchObject({ baseline: false, account: 'demo' });
    demo.signal('SIGINT');
    const exit = await demo.waitForExit(60_000);
    const out = demo.stdout();

    // The deployment is untouched: its rows, its Redis keys, its webhook.
    expect.soft(await dbSnapshot(pool), 'rows of the database of DATABASE_URL').toEqual(rowsBefore);
    expect.soft(await redisSnapshot(`{${prefix}}`), 'keys under QUEUE_PREFIX').toEqual(keysBefore);
    expect.soft(receiver.requests, 'requests to ALERT_WEBHOOK_URL').toHaveLength(0);

    // The demo worked in its own database, as its own account, with no alert channel.
    const demoPool = new pg.Pool({ connectionString: testDatabaseUrl(DEMO_DB), max: 1 });
    try {
      const { rows } = await demoPool.query<{ account: string; runs: number }>(
        'SELECT account, count(*)::int AS runs FROM sync_runs GROUP BY account',
      );
      expect.soft(rows, 'runs in the demo database').toEqual([{ account: 'demo', runs: expect.any(Number) }]);
      const outbox = await demoPool.query<{ n: number }>('SELECT count(*)::int AS n FROM alert_outbox');
      expect.soft(outbox.rows[0]?.n, 'alerts queued in the demo database').toBe(0);
    } finally {
      await demoPool.end();
    }
    expect.soft(await keysUnder(DEMO_TAG), 'keys under the demo prefix').not.toHaveLength(0);

    // The banner tells the truth: the demo's own database and prefix, the ignored variables.
    const banner = out.slice(0, out.indexOf('Ctrl-C to stop'));
    expect.soft(banner).toContain(`${DEMO_DB} on ${SERVER_NAME}`);
    expect.soft(banner).toContain(DEMO_TAG);
    expect.soft(banner).toContain(userDb);
    for (const name of [
      'QUEUE_PREFIX',
      'SYNC_ACCOUNT',
      'SYNC_REGIONS',
      'SYNC_TARGETS',
      'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
      'ALERT_WEBHOOK_URL',
      'ALERT_WEBHOOK_SECRET',
      'ALERT_ON_BASELINE',
    ]) {
      expect.soft(banner, `banner names ${name} as ignored`).toMatch(new RegExp(`ignored .*\\b${name}\\b`));
    }
    expect.soft(banner).not.toContain(prefix);
    // One vocabulary with `classiclink-sync events`: added / removed.
    expect.soft(out).toMatch(/^\S+ +added \(baseline\) /m);
    expect.soft(out).not.toMatch(/\bunlinked\b|\+ linked/);
    // It ends with what to do next: the CLI and psql on its own database, a real account.
    const next = out.slice(out.indexOf('demo stopped'));
    expect.soft(next).toMatch(/added \(baseline\), \d+ added, \d+ removed/);
    expect.soft(next).toContain(`DATABASE_URL=${SERVER}/${DEMO_DB} SYNC_ACCOUNT=demo`);
    expect.soft(next).toContain('classiclink-sync events');
    expect.soft(next).toContain(`psql ${SERVER}/${DEMO_DB}`);
    expect.soft(next).toContain('.env.example');
    // No secret of the deployment reached the output.
    for (const secret of [webhookSecret, accessKeySecret, receiver.url]) {
      expect.soft(out + demo.stderr()).not.toContain(secret);
    }
    expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('refuses to drop a classiclink_demo database it did not create', async () => {
    const foreign = await createTestDb({ name: DEMO_DB, migrated: false });
    try {
      await foreign.pool.query('CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)');
      await demoRefuses(/classiclink_demo .*not created by the demo/);
      const { rows } = await foreign.pool.query<{ x: number }>('SELECT x FROM precious');
      expect(rows).toEqual([{ x: 42 }]);
    } finally {
      await foreign.drop();
    }
  });

  it('refuses to clear a {classiclink-demo} prefix it did not create', async () => {
    // Say a service runs with QUEUE_PREFIX=classiclink-demo on the same Redis.
    await scheduleUnder('classiclink-demo', 'staging');
    const before = await redisSnapshot(DEMO_TAG);
    expect(Object.keys(before).length).toBeGreaterThan(0);
    await demoRefuses(/\{classiclink-demo\} .*not created by the demo/);
    expect(await redisSnapshot(DEMO_TAG)).toEqual(before);
  });
});
