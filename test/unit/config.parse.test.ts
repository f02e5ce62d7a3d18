import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  envSchema,
  loadConfig,
  requireApiConfig,
  requireHttpConfig,
  SECRET_VARIABLES,
} from '../../src/config.js';
import { parseDuration } from '../../src/ids.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['2d', 172_800_000],
  ])('%s = %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '5', '5 minutes', 'm5', '-1s', '1w'])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});

describe('loadConfig', () => {
  it('has working defaults and freezes the result', () => {
    const c = loadConfig({});
    expect(c.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/classiclink');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.SYNC_ACCOUNT).toBe('default');
    // The change feed is on by default; the full scan is its hourly safety net.
    expect(c.CHANGE_FEED).toBe('actiontrail');
    expect(c.CHANGE_FEED_INTERVAL).toBe(15_000);
    expect(c.HOOK_TOKEN).toBeUndefined();
    expect(c.SYNC_INTERVAL).toBe(3_600_000);
    expect(c.API_SIGNATURE).toBe('v3');
    expect(c.HTTP_HOST).toBe('127.0.0.1');
    expect(c.QUEUE_PREFIX).toBe('classiclink');
    // Nothing but Postgres to start: the queues on BullMQ's Postgres backend, in DATABASE_URL.
    expect(c.QUEUE_BACKEND).toBe('postgres');
    expect(c.QUEUE_DATABASE_URL).toBe(c.DATABASE_URL);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('QUEUE_BACKEND: redis when REDIS_URL or REDIS_CLUSTER_NODES is set, else postgres; a value given wins', () => {
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }).QUEUE_BACKEND).toBe('redis');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis://a:7000,redis://b:7000' }).QUEUE_BACKEND).toBe('redis');
    expect(loadConfig({ REDIS_URL: '' }).QUEUE_BACKEND).toBe('postgres');
    expect(loadConfig({ REDIS_URL: 'redis://r:6379', QUEUE_BACKEND: 'postgres' }).QUEUE_BACKEND).toBe(
      'postgres',
    );
    expect(loadConfig({ QUEUE_BACKEND: 'redis' }).REDIS_URL).toBe('redis://127.0.0.1:6379');
    const own = loadConfig({ QUEUE_DATABASE_URL: 'postgres://q@db:5432/queues' });
    expect(own.QUEUE_DATABASE_URL).toBe('postgres://q@db:5432/queues');
    expect(own.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/classiclink');
  });

  it('SYNC_INTERVAL defaults to 5m without the change feed, and a value given wins either way', () => {
    expect(loadConfig({ CHANGE_FEED: 'off' }).SYNC_INTERVAL).toBe(300_000);
    expect(loadConfig({ CHANGE_FEED: 'off', SYNC_INTERVAL: '2h' }).SYNC_INTERVAL).toBe(7_200_000);
    expect(loadConfig({ SYNC_INTERVAL: '5m' }).SYNC_INTERVAL).toBe(300_000);
    expect(loadConfig({ CHANGE_FEED_INTERVAL: '1s' }).CHANGE_FEED_INTERVAL).toBe(1_000);
    expect(loadConfig({ HOOK_TOKEN: 'h'.repeat(16) }).HOOK_TOKEN).toBe('h'.repeat(16));
  });

  it('ALERT_STALE_AFTER defaults to three scan rounds, at least 1h, and must exceed SYNC_INTERVAL', () => {
    expect(loadConfig({}).ALERT_STALE_AFTER).toBe(3 * 3_600_000);
    expect(loadConfig({ CHANGE_FEED: 'off' }).ALERT_STALE_AFTER).toBe(3_600_000);
    expect(loadConfig({ SYNC_INTERVAL: '30s' }).ALERT_STALE_AFTER).toBe(3_600_000);
    expect(loadConfig({ SYNC_INTERVAL: '2h' }).ALERT_STALE_AFTER).toBe(6 * 3_600_000);
    expect(loadConfig({ ALERT_STALE_AFTER: '2h' }).ALERT_STALE_AFTER).toBe(2 * 3_600_000);
    for (const [env, line] of [
      [{ ALERT_STALE_AFTER: '1h' }, /ALERT_STALE_AFTER: must be longer than SYNC_INTERVAL \(1h\)/],
      [{ ALERT_STALE_AFTER: '5m', SYNC_INTERVAL: '10m' }, /must be longer than SYNC_INTERVAL \(10m\)/],
    ] as const) {
      let caught: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toMatch(line);
      expect((caught as Error).message).not.toContain('\n');
    }
  });

  it('parses lists, targets and durations', () => {
    const c = loadConfig({
      SYNC_REGIONS: 'cn-hangzhou, cn-beijing,cn-hangzhou',
      SYNC_TARGETS: 'cn-shanghai:vpc-uf6abc',
      SYNC_INTERVAL: '30s',
      API_MAX_QPS: '20',
    });
    expect(c.SYNC_REGIONS).toEqual(['cn-hangzhou', 'cn-beijing']);
    expect(c.SYNC_TARGETS).toEqual([{ regionId: 'cn-shanghai', vpcId: 'vpc-uf6abc' }]);
    expect(c.regions).toEqual(['cn-hangzhou', 'cn-beijing', 'cn-shanghai']);
    expect(c.SYNC_INTERVAL).toBe(30_000);
    expect(c.API_MAX_QPS).toBe(20);
  });

  it('REDIS_CLUSTER_NODES: a comma list of seed URLs sharing scheme, user and password', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: ' redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2 ,' });
    expect(c.REDIS_CLUSTER_NODES).toEqual(['redis://:pw@10.0.0.1:7000', 'redis://:pw@10.0.0.2']);
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: '' }).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://u:pw@a.example:6380/0' }).REDIS_CLUSTER_NODES).toEqual(
      ['rediss://u:pw@a.example:6380/0'],
    );
    for (const [value, line] of [
      [',', /REDIS_CLUSTER_NODES: expected at least one redis:\/\/ or rediss:\/\/ URL/],
      [
        'redis://:pw@a:1,http://:pw@b:2',
        /REDIS_CLUSTER_NODES: item 2 is not a redis:\/\/ or rediss:\/\/ URL/,
      ],
      [
        'redis://:pw@a:1/2',
        /REDIS_CLUSTER_NODES: item 1 \(a:1\) names a database; a Redis Cluster has only database 0/,
      ],
      ['redis://:pw@a:1,rediss://:pw@b:2', /item 2 \(b:2\) differs from item 1 in scheme, user or password/],
      [
        'redis://:pw@a:1,redis://:other@b:2',
        /item 2 \(b:2\) differs from item 1 in scheme, user or password/,
      ],
      ['redis://x:pw@a:1,redis://:pw@b', /item 2 \(b:6379\) differs from item 1/],
    ] as const) {
      let caught: unknown;
      try {
        loadConfig({ REDIS_CLUSTER_NODES: value });
      } catch (err) {
        caught = err;
      }
      expect(caught, value).toBeInstanceOf(ConfigError);
      const text = (caught as Error).message;
      expect(text).toMatch(line);
      expect(text).not.toContain('\n');
      // The seeds carry the password: a message names positions and hosts, never the text.
      expect(text).not.toContain(':pw@');
      expect(text).not.toContain('other');
    }
    expect(SECRET_VARIABLES.has('REDIS_CLUSTER_NODES')).toBe(true);
  });

  // One bad value → one line that names the variable and what is expected.
  it.each([
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres or postgresql URL/],
    ['REDIS_URL', 'http://x', /REDIS_URL: expected a redis or rediss URL/],
    [
      'SYNC_INTERVAL',
      '5 minutes',
      /SYNC_INTERVAL: expected a duration like 500ms, 10s, 5m or 1h \(got "5 minutes"\)/,
    ],
    ['SYNC_INTERVAL', '10ms', /SYNC_INTERVAL: must be at least 1000ms/],
    ['SYNC_REGIONS', 'Hangzhou', /SYNC_REGIONS: expected a comma list of region ids/],
    ['SYNC_TARGETS', 'cn-hangzhou/vpc-1', /SYNC_TARGETS: expected a comma list of region:vpc-id/],
    ['API_SIGNATURE', 'v2', /API_SIGNATURE: expected v3 or v1/],
    // Numbers echo the value and the range.
    ['API_MAX_QPS', '0', /: API_MAX_QPS=0: must be a whole number from 1 to 10000$/],
    ['API_MAX_QPS', 'fast', /: API_MAX_QPS=fast: must be a whole number from 1 to 10000$/],
    ['API_MAX_QPS', '2.5', /: API_MAX_QPS=2\.5: must be a whole number from 1 to 10000$/],
    ['SYNC_CONCURRENCY', '1000', /: SYNC_CONCURRENCY=1000: must be a whole number from 1 to 256$/],
    ['HTTP_PORT', '70000', /: HTTP_PORT=70000: must be a port number from 0 to 65535$/],
    ['LOG_LEVEL', 'verbose', /LOG_LEVEL: expected fatal, error/],
    ['ECS_ENDPOINT', 'ftp://x', /ECS_ENDPOINT: expected an http\(s\) URL/],
    ['ALERT_WEBHOOK_URL', 'not a url', /ALERT_WEBHOOK_URL: expected a http or https URL/],
    ['ALERT_ON_BASELINE', 'maybe', /ALERT_ON_BASELINE: expected true or false/],
    ['SYNC_ACCOUNT', 'has space', /SYNC_ACCOUNT: expected 1-64 letters/],
  ])('%s=%j is refused with a clear line', (name, value, message) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const text = (caught as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('requires HTTP_TOKEN off loopback where the http role runs (requireHttpConfig), not for every command', () => {
    // links, sync --once and a worker load the configuration without serving HTTP.
    const open = loadConfig({ HTTP_HOST: '0.0.0.0' });
    expect(open.HTTP_HOST).toBe('0.0.0.0');
    expect(() => requireHttpConfig(open)).toThrow(
      /^invalid configuration: HTTP_TOKEN: required when HTTP_HOST \(0\.0\.0\.0\) is not a loopback address/,
    );
    const withToken = loadConfig({ HTTP_HOST: '0.0.0.0', HTTP_TOKEN: 'a-long-enough-token' });
    expect(withToken.HTTP_TOKEN).toBe('a-long-enough-token');
    expect(() => requireHttpConfig(withToken)).not.toThrow();
    for (const host of ['127.0.0.1', '::1', 'localhost']) {
      expect(() => requireHttpConfig(loadConfig({ HTTP_HOST: host }))).not.toThrow();
    }
  });

  it('requires the key id and secret together, and never echoes a secret', () => {
    expect(() => loadConfig({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIx' })).toThrow(
      /ALIBABA_CLOUD_ACCESS_KEY_SECRET: required/,
    );
    try {
      loadConfig({ DATABASE_URL: 'mysql://user:hunter2@db/x' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('requireApiConfig asks for regions unless an accounts file lists them', () => {
    expect(() => requireApiConfig(loadConfig({}))).toThrow(
      /SYNC_REGIONS: required \(or SYNC_TARGETS or ACCOUNTS_FILE\)/,
    );
    expect(() => requireApiConfig(loadConfig({ SYNC_REGIONS: 'cn-hangzhou' }))).not.toThrow();
    expect(() => requireApiConfig(loadConfig({ SYNC_TARGETS: 'cn-hangzhou:vpc-bp1a' }))).not.toThrow();
    expect(() => requireApiConfig(loadConfig({ ACCOUNTS_FILE: '/etc/accounts.yaml' }))).not.toThrow();
  });
});

/**
 * Every variable config.ts reads, each with a wrong value: one line naming it, a ConfigError (main
 * turns it into exit 1 before anything starts: test/integration/config.startup.test.ts), and the
 * value of a secret variable never echoed. A new variable without a row here fails the last test.
 */
const WRONG: Record<string, [string, RegExp] | string> = {
  DATABASE_URL: ['mysql://u:pw-SECRETVALUE@db/x', /DATABASE_URL: expected a postgres or postgresql URL/],
  DATABASE_DIRECT_URL: [
    'mysql://u:pw-SECRETVALUE@db/x',
    /DATABASE_DIRECT_URL: expected a postgres or postgresql URL/,
  ],
  REDIS_URL: ['http://:pw-SECRETVALUE@x', /REDIS_URL: expected a redis or rediss URL/],
  QUEUE_BACKEND: ['sqs', /QUEUE_BACKEND: expected redis or postgres/],
  QUEUE_DATABASE_URL: [
    'mysql://u:pw-SECRETVALUE@db/x',
    /QUEUE_DATABASE_URL: expected a postgres or postgresql URL/,
  ],
  REDIS_CLUSTER_NODES: [
    'redis://:pw-SECRETVALUE@10.0.0.1:6379,10.0.0.2:6379',
    /REDIS_CLUSTER_NODES: item 2 is not a redis:\/\/ or rediss:\/\/ URL/,
  ],
  SYNC_ACCOUNT: ['a/b', /SYNC_ACCOUNT: expected 1-64 letters/],
  ALIBABA_CLOUD_ACCESS_KEY_ID: [
    'LTAIonly',
    /ALIBABA_CLOUD_ACCESS_KEY_SECRET: required: the key id and secret come as a pair/,
  ],
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: [
    'SECRETVALUE',
    /ALIBABA_CLOUD_ACCESS_KEY_ID: required: the key id and secret come as a pair/,
  ],
  ALIBABA_CLOUD_SECURITY_TOKEN:
    'any non-empty string is a token; an empty one means unset (the credential chain reports a missing pair)',
  SYNC_REGIONS: ['cn_hangzhou', /SYNC_REGIONS: expected a comma list of region ids/],
  SYNC_TARGETS: ['cn-hangzhou:vpc-1:extra', /SYNC_TARGETS: expected a comma list of region:vpc-id/],
  SYNC_INTERVAL: ['0.5s', /SYNC_INTERVAL: must be at least 1000ms/],
  ECS_ENDPOINT: ['ecs.{region}.aliyuncs.com', /ECS_ENDPOINT: expected an http\(s\) URL/],
  VPC_ENDPOINT: ['file:///etc/passwd', /VPC_ENDPOINT: expected an http\(s\) URL/],
  ACTIONTRAIL_ENDPOINT: [
    'actiontrail.{region}.aliyuncs.com',
    /ACTIONTRAIL_ENDPOINT: expected an http\(s\) URL/,
  ],
  API_SIGNATURE: ['V3', /API_SIGNATURE: expected v3 or v1/],
  API_MAX_QPS: ['-1', /API_MAX_QPS=-1: must be a whole number from 1 to 10000/],
  API_TIMEOUT: ['50ms', /API_TIMEOUT: must be at least 100ms/],
  API_RETRY_DEADLINE: ['soon', /API_RETRY_DEADLINE: expected a duration/],
  SYNC_CONCURRENCY: ['0', /SYNC_CONCURRENCY=0: must be a whole number from 1 to 256/],
  JOB_LOCK_DURATION: ['500ms', /JOB_LOCK_DURATION: must be at least 1000ms/],
  QUEUE_PREFIX: ['{classiclink}', /QUEUE_PREFIX: expected 1-64 letters/],
  HTTP_HOST: ['', /HTTP_HOST: /],
  HTTP_PORT: ['http', /HTTP_PORT=http: must be a port number from 0 to 65535/],
  HTTP_TOKEN: ['SECRETVALUE', /HTTP_TOKEN: must be at least 16 characters/],
  SHUTDOWN_TIMEOUT: ['30', /SHUTDOWN_TIMEOUT: expected a duration/],
  ALERT_STALE_AFTER: ['1w', /ALERT_STALE_AFTER: expected a duration/],
  EVENT_RETENTION: ['30m', /EVENT_RETENTION: must be at least 3600000ms/],
  ACCOUNTS_FILE:
    'a path; a missing or bad file is refused by the accounts loader (test/unit/accounts.load.test.ts)',
  LOG_LEVEL: ['INFO', /LOG_LEVEL: expected fatal, error/],
  ALERT_ON_BASELINE: ['2', /ALERT_ON_BASELINE: expected true or false/],
  ATTRIBUTION: ['yes', /ATTRIBUTION: expected on or off/],
  CHANGE_FEED: ['on', /CHANGE_FEED: expected actiontrail or off/],
  CHANGE_FEED_INTERVAL: ['500ms', /CHANGE_FEED_INTERVAL: must be at least 1000ms/],
  HOOK_TOKEN: ['SECRETVALUE', /HOOK_TOKEN: must be at least 16 characters/],
  ATTRIBUTION_WINDOW: ['500ms', /ATTRIBUTION_WINDOW: must be at least 1000ms/],
  ENRICH_INTERVAL: ['hourly', /ENRICH_INTERVAL: expected a duration/],
  ALERT_CONTEXT_WAIT: ['500ms', /ALERT_CONTEXT_WAIT: must be 0 or at least 1000ms/],
  ALERT_WEBHOOK_URL: ['javascript:SECRETVALUE', /ALERT_WEBHOOK_URL: expected a http or https URL/],
  ALERT_WEBHOOK_SECRET: ['SECRETVALUE', /ALERT_WEBHOOK_SECRET: expected the whsec_<base64> form/],
  ALERT_SLACK_WEBHOOK_URL: [
    'hooks.slack.com/services/SECRETVALUE',
    /ALERT_SLACK_WEBHOOK_URL: expected a http or https URL/,
  ],
  ALERT_DINGTALK_WEBHOOK_URL: [
    'ftp://oapi.dingtalk.com/SECRETVALUE',
    /ALERT_DINGTALK_WEBHOOK_URL: expected a http or https URL/,
  ],
  ALERT_DINGTALK_SECRET: 'any non-empty string is a secret',
  ALERT_LARK_WEBHOOK_URL: ['gopher://SECRETVALUE', /ALERT_LARK_WEBHOOK_URL: expected a http or https URL/],
  ALERT_LARK_SECRET: 'any non-empty string is a secret',
  ALERT_WECOM_WEBHOOK_URL: ['data:,SECRETVALUE', /ALERT_WECOM_WEBHOOK_URL: expected a http or https URL/],
};

describe('every variable, a wrong value', () => {
  const rows = Object.entries(WRONG).filter((e): e is [string, [string, RegExp]] => Array.isArray(e[1]));
  it.each(rows)('%s: one line naming it', (name, [value, message]) => {
    let caught: unknown;
    try {
      loadConfig({
        [name]: value,
        ...(name === 'ALERT_WEBHOOK_SECRET' ? { ALERT_WEBHOOK_URL: 'https://x.example/h' } : {}),
      });
    } catch (err) {
      caught = err;
    }
    expect(caught, name).toBeInstanceOf(ConfigError);
    const text = (caught as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
    if (SECRET_VARIABLES.has(name)) expect(text).not.toContain('SECRETVALUE');
  });

  it('the table covers every variable config.ts reads', () => {
    expect(Object.keys(WRONG).sort()).toEqual(Object.keys(envSchema.shape).sort());
  });
});
