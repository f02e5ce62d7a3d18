/**
 * The whole service in one `start` process (all roles) against the simulator, a local webhook
 * receiver, real Postgres and Redis: metrics move as scans run, a change is alerted once with the
 * outbox id as idempotency key, the read API and `history` see it, and SIGTERM exits 0.
 */
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { usePipeline } from '../helpers/pipeline.js';
import { channelEnv, startReceiver } from '../helpers/receivers.js';
import { truthLinks } from '../helpers/rows.js';

// Registered first, so it runs last: receivers close after the pipeline and its children.
const defer = useCleanup();
const startPipeline = usePipeline({ checkSecret: true });

/** The value of one sample of the Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) return undefined;
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

function labelled(text: string, prefix: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('start (all roles)', () => {
  it('syncs on schedule, exposes moving metrics, alerts a change once, and drains on SIGTERM', async () => {
    const receiver = await startReceiver('webhook');
    defer(() => receiver.close());
    const p = await startPipeline({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
      env: {
        LOG_LEVEL: 'info',
        SYNC_INTERVAL: '1s',
        HTTP_PORT: '0',
        HTTP_TOKEN: 'test-token-0123456789',
        ...channelEnv([receiver]),
      },
    });
    const service = spawnCli(['start'], p.childEnv, 'service');
    const listening = await service.waitForLog('HTTP server listening', 30_000);
    const url = String(listening.url);
    const auth = { authorization: 'Bearer test-token-0123456789' };
    const metrics = async () => (await fetch(`${url}/metrics`, { headers: auth })).text();
    await service.waitForLog('classiclink-sync started', 30_000);

    // Baseline rounds land: scans counted, API calls counted, links gauge = the truth.
    await expect
      .poll(async () => labelled(await metrics(), 'classiclink_scans_total{status="succeeded"}'), {
        timeout: 30_000,
        interval: 200,
      })
      .toBeGreaterThanOrEqual(2);
    const text = await metrics();
    expect(
      labelled(text, 'classiclink_api_calls_total{action="DescribeClassicLinkInstances"'),
    ).toBeGreaterThan(0);
    expect(sample(text, 'classiclink_links_active')).toBe(truthLinks(p.sim).length);
    expect(receiver.requests).toHaveLength(0); // baseline is silent

    // A change: one alert, signed, with the outbox id as idempotency key.
    const vpc = p.sim.world.vpcs('cn-hangzhou')[0] ?? '';
    const fresh = p.sim.world.createInstance('cn-hangzhou');
    p.sim.world.attach('cn-hangzhou', fresh, vpc);
    const alert = await receiver.waitFor((r) => r.accepted);
    expect(alert.raw).toContain(fresh);
    expect(alert.idempotencyKey).toBe(alert.headers['webhook-id']);
    await expect
      .poll(async () => labelled(await metrics(), 'classiclink_link_events_total{change="added"}'), {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(truthLinks(p.sim).length);

    // The read API and the history command see it.
    const events = (await (await fetch(`${url}/v1/events?instance=${fresh}`, { headers: auth })).json()) as {
      items?: { change: string }[];
      events?: { change: string }[];
    };
    expect((events.items ?? events.events ?? []).map((e) => e.change)).toEqual(['added']);
    const history = await runCli(['history', '--instance', fresh], p.childEnv);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain(`now: linked to ${vpc}`);
    expect(await fetch(`${url}/v1/status`).then((r) => r.status)).toBe(401);

    service.signal('SIGTERM');
    expect(await service.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    // Exactly one message for that run, however many times the loop looked.
    const ids = new Set(receiver.accepted().map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(receiver.accepted().length);
  });
});
