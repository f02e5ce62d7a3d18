import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration, requireApiConfig } from '../../src/config.js';

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
    expect(c.SYNC_INTERVAL).toBe(300_000);
    expect(c.API_SIGNATURE).toBe('v3');
    expect(c.HTTP_HOST).toBe('127.0.0.1');
    expect(c.QUEUE_PREFIX).toBe('classiclink');
    expect(Object.isFrozen(c)).toBe(true);
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
    ['API_MAX_QPS', '0', /API_MAX_QPS: must be at least 1/],
    ['API_MAX_QPS', 'fast', /API_MAX_QPS: expected a whole number/],
    ['SYNC_CONCURRENCY', '1000', /SYNC_CONCURRENCY: must be at most 256/],
    ['HTTP_PORT', '70000', /HTTP_PORT: expected a port number up to 65535/],
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

  it('requires HTTP_TOKEN off loopback', () => {
    expect(() => loadConfig({ HTTP_HOST: '0.0.0.0' })).toThrow(/HTTP_TOKEN: required when HTTP_HOST/);
    expect(loadConfig({ HTTP_HOST: '0.0.0.0', HTTP_TOKEN: 'a-long-enough-token' }).HTTP_TOKEN).toBe(
      'a-long-enough-token',
    );
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
