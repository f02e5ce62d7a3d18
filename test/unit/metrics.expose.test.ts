import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createMetrics, type MetricsCollectors } from '../../src/metrics.js';
import { captureLog } from '../helpers/log.js';

const silent = createLogger({ level: 'silent' });

/** The value of one sample line (`name{labels} value`) in an exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('createMetrics', () => {
  it('exposes every metric with Prometheus names, zero series for the enums', async () => {
    const m = createMetrics({ log: silent, processMetrics: false });
    const text = await m.expose();
    for (const name of [
      'classiclink_api_calls_total',
      'classiclink_api_call_duration_seconds',
      'classiclink_api_throttled_total',
      'classiclink_scans_total',
      'classiclink_scan_duration_seconds',
      'classiclink_link_events_total',
      'classiclink_links_active',
      'classiclink_queue_jobs',
      'classiclink_alert_outbox',
      'classiclink_target_seconds_since_success',
      'classiclink_metrics_collect_errors_total',
      'classiclink_feed_polls_total',
      'classiclink_feed_records_total',
      'classiclink_feed_scans_scheduled_total',
      'classiclink_hook_requests_total',
      'classiclink_feed_lag_seconds',
      'classiclink_feed_consecutive_failures',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(sample(text, 'classiclink_scans_total{status="failed"}')).toBe(0);
    expect(sample(text, 'classiclink_link_events_total{change="removed"}')).toBe(0);
    expect(m.contentType).toMatch(/^text\/plain/);
  });

  it('records API calls, throttling, scans and events', async () => {
    const m = createMetrics({ log: silent, processMetrics: false });
    m.apiCall({
      api: 'ecs',
      action: 'DescribeClassicLinkInstances',
      regionId: 'cn-hangzhou',
      code: 'OK',
      durationMs: 120,
      attempt: 0,
    });
    m.apiCall({
      api: 'ecs',
      action: 'DescribeClassicLinkInstances',
      regionId: 'cn-hangzhou',
      code: 'Throttling.User',
      httpStatus: 400,
      durationMs: 30,
      attempt: 0,
    });
    m.apiCall({
      api: 'vpc',
      action: 'DescribeVpcs',
      regionId: 'cn-hangzhou',
      code: 'HTTP429',
      httpStatus: 429,
      durationMs: 5,
      attempt: 1,
    });
    m.scanFinished({ status: 'succeeded', durationMs: 1_500 });
    m.scanFinished({ status: 'failed', durationMs: 700 });
    m.eventsRecorded({ added: 3, removed: 1 });
    m.eventsRecorded({ added: 0, removed: 0 });
    const text = await m.expose();
    expect(sample(text, 'classiclink_api_calls_total{action="DescribeClassicLinkInstances",code="OK"}')).toBe(
      1,
    );
    expect(
      sample(
        text,
        'classiclink_api_calls_total{action="DescribeClassicLinkInstances",code="Throttling.User"}',
      ),
    ).toBe(1);
    expect(sample(text, 'classiclink_api_throttled_total{action="DescribeClassicLinkInstances"}')).toBe(1);
    expect(sample(text, 'classiclink_api_throttled_total{action="DescribeVpcs"}')).toBe(1);
    expect(
      sample(text, 'classiclink_api_call_duration_seconds_count{action="DescribeClassicLinkInstances"}'),
    ).toBe(2);
    expect(
      sample(text, 'classiclink_api_call_duration_seconds_sum{action="DescribeClassicLinkInstances"}'),
    ).toBeCloseTo(0.15);
    expect(sample(text, 'classiclink_scans_total{status="succeeded"}')).toBe(1);
    expect(sample(text, 'classiclink_scans_total{status="failed"}')).toBe(1);
    expect(sample(text, 'classiclink_scan_duration_seconds_count')).toBe(2);
    expect(sample(text, 'classiclink_scan_duration_seconds_sum')).toBeCloseTo(2.2);
    expect(sample(text, 'classiclink_link_events_total{change="added"}')).toBe(3);
    expect(sample(text, 'classiclink_link_events_total{change="removed"}')).toBe(1);
  });

  it('keeps labels bounded: odd codes and codes beyond the cap become "other"', async () => {
    const m = createMetrics({ log: silent, processMetrics: false });
    const call = (code: string) =>
      m.apiCall({
        api: 'vpc',
        action: 'DescribeVpcs',
        regionId: 'cn-hangzhou',
        code,
        durationMs: 1,
        attempt: 0,
      });
    call('has spaces and "quotes"');
    for (let i = 0; i < 100; i++) call(`Code${i}`);
    const text = await m.expose();
    const series = text.split('\n').filter((l) => l.startsWith('classiclink_api_calls_total{'));
    expect(series.length).toBeLessThanOrEqual(65);
    expect(sample(text, 'classiclink_api_calls_total{action="DescribeVpcs",code="other"}')).toBe(
      1 + 100 - 64,
    );
  });

  it('fills the scrape-time gauges from the callbacks', async () => {
    let links = 7;
    const m = createMetrics({
      log: silent,
      processMetrics: false,
      collect: {
        activeLinks: async () => links,
        queueDepth: async () => ({ plan: 1, sync: 4 }),
        outbox: async () => ({ pending: 2, dead: 1 }),
        targets: async () => [
          { account: 'a', regionId: 'cn-hangzhou', vpcId: 'vpc-1', secondsSinceSuccess: 42 },
          { account: 'a', regionId: 'cn-hangzhou', vpcId: 'vpc-2', secondsSinceSuccess: null },
        ],
      },
    });
    let text = await m.expose();
    expect(sample(text, 'classiclink_links_active')).toBe(7);
    expect(sample(text, 'classiclink_queue_jobs{queue="sync"}')).toBe(4);
    expect(sample(text, 'classiclink_alert_outbox{status="pending"}')).toBe(2);
    expect(sample(text, 'classiclink_alert_outbox{status="dead"}')).toBe(1);
    expect(
      sample(text, 'classiclink_target_seconds_since_success{account="a",region="cn-hangzhou",vpc="vpc-1"}'),
    ).toBe(42);
    expect(text).toContain(
      'classiclink_target_seconds_since_success{account="a",region="cn-hangzhou",vpc="vpc-2"} +Inf',
    );
    links = 9;
    text = await m.expose();
    expect(sample(text, 'classiclink_links_active')).toBe(9);
  });

  it('a failing or hanging callback blanks its gauge, is logged and counted, and the rest still answer', async () => {
    const { lines, log } = captureLog();
    let fail = true;
    const collect: MetricsCollectors = {
      activeLinks: async () => {
        if (fail) throw new Error('connection refused');
        return 5;
      },
      queueDepth: () => new Promise(() => {}),
      outbox: async () => ({ pending: 0, dead: 3 }),
      targets: async () => [],
      feeds: async () => [],
    };
    const m = createMetrics({ log, processMetrics: false, collect, collectTimeoutMs: 50 });
    let text = await m.expose();
    // No sample at all (not a misleading 0) for the failed gauges.
    expect(text).not.toMatch(/^classiclink_links_active /m);
    expect(text).not.toMatch(/^classiclink_queue_jobs\{/m);
    expect(sample(text, 'classiclink_alert_outbox{status="dead"}')).toBe(3);
    expect(sample(text, 'classiclink_metrics_collect_errors_total{collector="activeLinks"}')).toBe(1);
    expect(sample(text, 'classiclink_metrics_collect_errors_total{collector="queueDepth"}')).toBe(1);
    expect(sample(text, 'classiclink_metrics_collect_errors_total{collector="outbox"}')).toBe(0);
    expect(lines.join('')).toContain('metrics collect failed');
    fail = false;
    text = await m.expose();
    expect(sample(text, 'classiclink_links_active')).toBe(5);
  });

  it('uses a registry of its own: two instances never share counters', async () => {
    const a = createMetrics({ log: silent, processMetrics: false });
    const b = createMetrics({ log: silent });
    a.eventsRecorded({ added: 2, removed: 0 });
    expect(sample(await a.expose(), 'classiclink_link_events_total{change="added"}')).toBe(2);
    const bText = await b.expose();
    expect(sample(bText, 'classiclink_link_events_total{change="added"}')).toBe(0);
    expect(bText).toContain('process_cpu_user_seconds_total');
  });
});
