/**
 * Staleness: silence must never look like "no changes". One 'stale' alert per channel when a
 * watched target has had no complete scan for ALERT_STALE_AFTER (from its creation when it never
 * had one), one 'recovered' alert after its next success; never repeated on every check.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { ChannelName } from '../../src/alerts/index.js';
import { checkStaleness, startStalenessMonitor } from '../../src/alerts/staleness.js';
import { createStore } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { channelConfig, startReceiver, testDispatcher } from '../helpers/receivers.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const db = useTestDb({ each: 'test', checkLeaks: true });
const defer = useCleanup();

const HOUR = 3_600_000;
const channels: ChannelName[] = ['webhook', 'slack'];

async function alerts(pool: pg.Pool) {
  const { rows } = await pool.query<{ kind: string; channel: string; vpc: string }>(
    `SELECT kind, channel, payload->>'vpcId' AS vpc FROM alert_outbox ORDER BY created_at, kind, channel`,
  );
  return rows.map((r) => `${r.kind} ${r.vpc} ${r.channel}`);
}

describe('staleness alerts', () => {
  it('stale once per channel after ALERT_STALE_AFTER, recovered once after the next success', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const t = uniqueTarget('vpc-a');
    await scan(store, t, ['i-1'], { minute: 0 }); // last success at(0) + 30 s
    const check = (now: Date) => checkStaleness({ store, channels, staleAfterMs: HOUR, now });

    expect(await check(at(60))).toEqual({ stale: [], recovered: [] });
    expect(await check(at(61))).toEqual({ stale: [t], recovered: [] });
    // Not repeated on later checks while it stays stale.
    expect(await check(at(62))).toEqual({ stale: [], recovered: [] });
    expect(await check(at(600))).toEqual({ stale: [], recovered: [] });
    expect(await alerts(pool)).toEqual(['stale vpc-a slack', 'stale vpc-a webhook']);
    const [target] = await store.listTargets({ account: t.account });
    expect(target?.staleAlertedAt).toEqual(at(61));

    // A failed run is not a recovery.
    const failed = await store.startRun({ target: t, jobId: 'j-fail', attempt: 1, startedAt: at(601) });
    await store.failRun({
      runId: failed,
      target: t,
      code: 'Forbidden.RAM',
      message: 'no permission',
      finishedAt: at(602),
    });
    expect(await check(at(603))).toEqual({ stale: [], recovered: [] });

    await scan(store, t, ['i-1'], { minute: 700 });
    expect(await check(at(701))).toEqual({ stale: [], recovered: [t] });
    expect(await check(at(702))).toEqual({ stale: [], recovered: [] });
    expect((await alerts(pool)).slice(2)).toEqual(['recovered vpc-a slack', 'recovered vpc-a webhook']);
    const recovered = await store.listOutbox({ channel: 'webhook', limit: 1 });
    expect(recovered[0]?.payload).toEqual({
      account: t.account,
      regionId: 'cn-hangzhou',
      vpcId: 'vpc-a',
      detectedAt: at(701).toISOString(),
      lastSuccessAt: new Date(at(700).getTime() + 30_000).toISOString(),
      staleAlertedAt: at(61).toISOString(),
    });

    // Stale again later: a new alert (the open one was closed by the recovery).
    expect(await check(at(800))).toEqual({ stale: [t], recovered: [] });
  });

  it('a target never synced counts from its creation; a retired target is not watched', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const account = uniqueTarget().account;
    await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-new', 'vpc-gone'] });
    await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-new'] });
    const [created] = (await store.listTargets({ account })).map((r) => r.createdAt);
    const check = (ms: number) =>
      checkStaleness({
        store,
        channels: ['webhook'],
        staleAfterMs: HOUR,
        now: new Date(created!.getTime() + ms),
      });

    expect(await check(HOUR - 1000)).toEqual({ stale: [], recovered: [] });
    expect(await check(HOUR + 1000)).toEqual({
      stale: [{ account, regionId: 'cn-hangzhou', vpcId: 'vpc-new' }],
      recovered: [],
    });
    expect(await check(10 * HOUR)).toEqual({ stale: [], recovered: [] });
    const [row] = await store.listOutbox({});
    expect(row?.payload).toMatchObject({
      vpcId: 'vpc-new',
      lastSuccessAt: null,
      staleSince: created!.toISOString(),
    });
  });

  it('concurrent checks (one per process) raise each alert once', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const targets = [uniqueTarget('vpc-1'), uniqueTarget('vpc-2'), uniqueTarget('vpc-3')];
    for (const t of targets) await scan(store, t, ['i-1'], { minute: 0 });
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => checkStaleness({ store, channels, staleAfterMs: HOUR, now: at(120) })),
    );
    expect(results.flatMap((r) => r.stale)).toHaveLength(3);
    expect(await alerts(pool)).toHaveLength(6);
  });

  it('stale and recovered alerts are delivered: webhook event types, chat text that says silence is not "no changes"', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const hook = await startReceiver('webhook');
    const slack = await startReceiver('slack');
    defer(() => hook.close());
    defer(() => slack.close());
    const t = uniqueTarget('vpc-s');
    await scan(store, t, ['i-1'], { minute: 0 });
    const runId = await store.startRun({ target: t, jobId: 'j', attempt: 1, startedAt: at(90) });
    await store.failRun({
      runId,
      target: t,
      code: 'Throttling.User',
      message: 'Request was denied',
      finishedAt: at(91),
    });

    const dispatcher = testDispatcher(store, channelConfig([hook, slack]));
    defer(() => dispatcher.close());
    await checkStaleness({ store, channels, staleAfterMs: HOUR, now: at(120) });
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 2, failed: 0, dead: 0 });
    await scan(store, t, ['i-1'], { minute: 130 });
    await checkStaleness({ store, channels, staleAfterMs: HOUR, now: at(131) });
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 2, failed: 0, dead: 0 });

    const types = hook.accepted().map((r) => (r.json as { type: string }).type);
    expect(types).toEqual(['classiclink.sync.stale', 'classiclink.sync.recovered']);
    expect((hook.accepted()[0]!.json as { data: unknown }).data).toMatchObject({
      vpcId: 'vpc-s',
      lastSuccessAt: new Date(at(0).getTime() + 30_000).toISOString(),
      staleAfterSeconds: 3600,
      consecutiveFailures: 1,
      lastErrorCode: 'Throttling.User',
    });
    const texts = slack.accepted().map((r) => r.raw);
    expect(texts[0]).toContain('STALE: vpc-s');
    expect(texts[0]).toContain('does not mean \\"no changes\\"');
    expect(texts[0]).toContain('Throttling.User');
    expect(texts[1]).toContain('recovered: vpc-s');
    expect(await alerts(pool)).toHaveLength(4);
  });

  it('the monitor checks at start and on its interval, and stops', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const t = uniqueTarget('vpc-m');
    await scan(store, t, ['i-1'], { minute: 0 });
    const monitor = startStalenessMonitor({
      store,
      channels: ['webhook'],
      staleAfterMs: HOUR,
      everyMs: 10,
      log: silentLog,
      now: () => at(120),
    });
    defer(() => monitor.stop());
    await expect.poll(() => alerts(pool)).toEqual(['stale vpc-m webhook']);
    const stopping = monitor.stop();
    expect(monitor.stop()).toBe(stopping);
    await stopping;
    expect(await alerts(pool)).toEqual(['stale vpc-m webhook']);
  });
});
