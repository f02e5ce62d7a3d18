/**
 * The variables of "what and who" (issue 14): ActionTrail's endpoint, attribution on/off, its
 * window, the enrichment period and how long an alert waits for context. Defaults as DESIGN.md
 * says, durations from 1s (`0` too for ALERT_CONTEXT_WAIT), and one line naming the variable for
 * a bad value.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('attribution and enrichment configuration', () => {
  it('defaults: attribution on, a 15m window, hourly enrichment, alerts wait 60s, the regional ActionTrail host', () => {
    const c = loadConfig({});
    expect(c.ATTRIBUTION).toBe('on');
    expect(c.ATTRIBUTION_WINDOW).toBe(15 * 60_000);
    expect(c.ENRICH_INTERVAL).toBe(3_600_000);
    expect(c.ALERT_CONTEXT_WAIT).toBe(60_000);
    // Unset: the client resolves https://actiontrail.{region}.aliyuncs.com (aliyun.endpoints tests).
    expect(c.ACTIONTRAIL_ENDPOINT).toBeUndefined();
  });

  it('reads short durations for tests and demos, and 0 for ALERT_CONTEXT_WAIT', () => {
    const c = loadConfig({
      ATTRIBUTION: 'off',
      ATTRIBUTION_WINDOW: '1s',
      ENRICH_INTERVAL: '2s',
      ALERT_CONTEXT_WAIT: '0',
      ACTIONTRAIL_ENDPOINT: 'http://127.0.0.1:9000/{region}/actiontrail',
    });
    expect(c.ATTRIBUTION).toBe('off');
    expect(c.ATTRIBUTION_WINDOW).toBe(1_000);
    expect(c.ENRICH_INTERVAL).toBe(2_000);
    expect(c.ALERT_CONTEXT_WAIT).toBe(0);
    expect(c.ACTIONTRAIL_ENDPOINT).toBe('http://127.0.0.1:9000/{region}/actiontrail');
    expect(loadConfig({ ALERT_CONTEXT_WAIT: '0s' }).ALERT_CONTEXT_WAIT).toBe(0);
    expect(loadConfig({ ALERT_CONTEXT_WAIT: '1s' }).ALERT_CONTEXT_WAIT).toBe(1_000);
  });

  it.each([
    [{ ATTRIBUTION: 'true' }, /ATTRIBUTION: expected on or off/],
    [{ ATTRIBUTION: 'ON' }, /ATTRIBUTION: expected on or off/],
    [{ ATTRIBUTION_WINDOW: '0' }, /ATTRIBUTION_WINDOW: expected a duration like/],
    [{ ATTRIBUTION_WINDOW: '999ms' }, /ATTRIBUTION_WINDOW: must be at least 1000ms \(got "999ms"\)/],
    [{ ENRICH_INTERVAL: '0s' }, /ENRICH_INTERVAL: must be at least 1000ms/],
    [{ ENRICH_INTERVAL: '1 hour' }, /ENRICH_INTERVAL: expected a duration like/],
    [{ ALERT_CONTEXT_WAIT: '500ms' }, /ALERT_CONTEXT_WAIT: must be 0 or at least 1000ms \(got "500ms"\)/],
    [{ ALERT_CONTEXT_WAIT: '-1s' }, /ALERT_CONTEXT_WAIT: expected a duration like/],
    [{ ALERT_CONTEXT_WAIT: 'never' }, /ALERT_CONTEXT_WAIT: expected a duration like/],
    [{ ACTIONTRAIL_ENDPOINT: 'ftp://{region}.example' }, /ACTIONTRAIL_ENDPOINT: expected an http\(s\) URL/],
    [{ ACTIONTRAIL_ENDPOINT: 'actiontrail.cn-hangzhou.aliyuncs.com' }, /ACTIONTRAIL_ENDPOINT: expected/],
  ])('%j is refused with one line naming the variable', (env, message) => {
    const text = refusal(env);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });
});
