/**
 * No secret anywhere it could leak: the real service runs (every role, LOG_LEVEL=trace) with
 * distinctive values for the AccessKey secret, the STS token, the webhook secret, the HTTP token,
 * and passwords in the Postgres and Redis URLs (the servers here trust loopback, so a password is
 * accepted and ignored, but it travels through every code path that handles the URL). It syncs,
 * fails a target, delivers an alert; then everything observable is searched for each secret:
 * stdout/stderr of the children, every key and value under the queue prefix in Redis, the HTTP
 * answers of /v1/*, /metrics, /readyz (and the 401s), and `status --json`.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { queueSchema } from '../../src/queue/index.js';
import { capturedOutput, runCli, spawnCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { usePipeline } from '../helpers/pipeline.js';
import { TEST_QUEUE_BACKEND } from '../helpers/queue-backend.js';
import { startReceiver } from '../helpers/receivers.js';
import { scanKeys } from '../helpers/redis.js';
import { pollRuns } from '../helpers/rows.js';

// Registered first, so it runs last: the receiver closes after the pipeline and its children.
const defer = useCleanup();
const startPipeline = usePipeline();

const onRedis = TEST_QUEUE_BACKEND === 'redis';

/** Every row of every table of the prefix's queue schema (the Postgres queue backend), as text. */
async function dumpQueueSchema(url: string, prefix: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const schema = queueSchema(prefix);
    const { rows: tables } = await client.query<{ t: string }>(
      'SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1',
      [schema],
    );
    const out: string[] = [];
    for (const { t } of tables) {
      const { rows } = await client.query<{ r: string }>(`SELECT x::text AS r FROM "${schema}"."${t}" x`);
      out.push(`${t}: ${rows.map((r) => r.r).join('\n')}`);
    }
    return out.join('\n');
  } finally {
    await client.end();
  }
}

const mark = (what: string) => `${what}${randomBytes(8).toString('hex')}`;

/** Every key under the prefix with its value, as text (strings, hashes, lists, sets, zsets, streams). */
async function dumpRedis(url: string, prefix: string): Promise<string> {
  const redis = new Redis(url);
  redis.on('error', () => {});
  const out: string[] = [];
  try {
    for (const k of await scanKeys(redis, `{${prefix}}*`)) {
      const type = await redis.type(k);
      let value: unknown;
      if (type === 'string') value = await redis.get(k);
      else if (type === 'hash') value = await redis.hgetall(k);
      else if (type === 'list') value = await redis.lrange(k, 0, -1);
      else if (type === 'set') value = await redis.smembers(k);
      else if (type === 'zset') value = await redis.zrange(k, '0', '-1', 'WITHSCORES');
      else if (type === 'stream') value = await redis.xrange(k, '-', '+');
      out.push(`${k} ${type} ${JSON.stringify(value)}`);
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return out.join('\n');
}

describe('secrets', () => {
  it('never appear in logs, errors, Redis, HTTP answers or status --json', async () => {
    const secrets = {
      accessKeySecret: mark('AKSECRET'),
      stsToken: mark('STSTOKEN'),
      httpToken: mark('HTTPTOKEN'),
      dbPassword: mark('DBPASS'),
      redisPassword: mark('REDISPASS'),
      webhookSecret: '',
    };
    const whsecBytes = `whsecbytes-${randomBytes(8).toString('hex')}`;
    secrets.webhookSecret = `whsec_${Buffer.from(whsecBytes).toString('base64')}`;
    const receiver = await startReceiver('webhook', { secret: secrets.webhookSecret });
    defer(() => receiver.close());
    const key = {
      accessKeyId: `LTAI5tSecurity${randomBytes(4).toString('hex')}`,
      accessKeySecret: secrets.accessKeySecret,
      securityToken: secrets.stsToken,
    };
    const redisUrl = `redis://:${secrets.redisPassword}@127.0.0.1:6379`;
    const p = await startPipeline({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3, keys: [key] },
      // On the Redis backend, a Redis URL with a password: it must not leak either.
      env: onRedis ? { REDIS_URL: redisUrl } : {},
    });
    const dbUrl = new URL(p.db.url);
    dbUrl.password = secrets.dbPassword;
    const [good, bad] = p.sim.world.vpcs('cn-hangzhou');
    p.sim.setFaults({ failVpcs: { [bad ?? '']: 'Forbidden.RAM' } });
    const env = {
      ...p.childEnv,
      DATABASE_URL: dbUrl.toString(),
      ...(onRedis ? { REDIS_URL: redisUrl } : {}),
      ALIBABA_CLOUD_SECURITY_TOKEN: secrets.stsToken,
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: secrets.webhookSecret,
      HTTP_TOKEN: secrets.httpToken,
      HTTP_PORT: '0',
      SYNC_INTERVAL: '1s',
      LOG_LEVEL: 'trace',
    };
    const svc = spawnCli(['start'], env, 'service');
    const listening = await svc.waitForLog('HTTP server listening');
    const base = String(listening.url);
    // The baseline, then a change that alerts, while the other target keeps failing.
    await pollRuns(p.db.pool, (rs) => rs.filter((r) => r.status === 'succeeded').length, {
      timeout: 20_000,
    }).toBeGreaterThan(0);
    const fresh = p.sim.world.createInstance('cn-hangzhou');
    p.sim.world.attach('cn-hangzhou', fresh, good ?? '');
    await receiver.waitForAccepted(1);
    await pollRuns(p.db.pool, (rs) => rs.filter((r) => r.error_code === 'Forbidden.RAM').length, {
      timeout: 20_000,
    }).toBeGreaterThan(0);

    const auth = { authorization: `Bearer ${secrets.httpToken}` };
    const answers: string[] = [];
    for (const path of ['/v1/links', '/v1/events', '/v1/status', '/metrics', '/readyz', '/healthz']) {
      for (const headers of [auth, {}, { authorization: 'Bearer wrong-token-of-some-length' }]) {
        const res = await fetch(`${base}${path}`, { headers });
        answers.push(`${path} ${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
      }
    }
    expect(answers.some((a) => a.startsWith('/v1/status 200'))).toBe(true);
    expect(answers.some((a) => a.startsWith('/v1/status 401'))).toBe(true);
    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('Forbidden.RAM');
    svc.signal('SIGTERM');
    await svc.waitForExit(20_000);
    const queueDump = onRedis
      ? await dumpRedis(redisUrl, p.prefix)
      : await dumpQueueSchema(p.db.url, p.prefix);
    expect(queueDump).toContain('cn-hangzhou');
    const { rows } = await p.db.pool.query<{ t: string }>(
      `SELECT coalesce(string_agg(error_message, ' '), '') || ' ' ||
              (SELECT coalesce(string_agg(last_error || ' ' || payload::text, ' '), '') FROM alert_outbox) AS t
         FROM sync_runs`,
    );

    const everything = {
      'child stdout/stderr': capturedOutput(),
      [onRedis ? 'Redis keys and values' : 'queue schema rows']: queueDump,
      'HTTP answers': answers.join('\n'),
      'status --json': `${status.stdout}${status.stderr}`,
      'error messages and outbox rows in Postgres': rows[0]?.t ?? '',
      'webhook requests': receiver.requests.map((r) => `${JSON.stringify(r.headers)} ${r.raw}`).join('\n'),
    };
    const needles = { ...secrets, webhookSecretBytes: whsecBytes };
    for (const [where, text] of Object.entries(everything)) {
      expect(text.length, where).toBeGreaterThan(0);
      for (const [what, secret] of Object.entries(needles)) {
        expect(text.includes(secret), `${what} found in ${where}`).toBe(false);
      }
    }
  });
});
