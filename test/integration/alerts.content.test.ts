/**
 * What is sent: baseline silence end to end (simulator → sync jobs → applyScan → outbox →
 * dispatcher → receiver), and one message per run per channel, its link lists truncated to the
 * channel's size limit with "and N more".
 */
import { describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { createStore } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import {
  channelConfig,
  type Receiver,
  type ReceiverKind,
  startReceiver,
  testDispatcher,
  WHSEC,
} from '../helpers/receivers.js';
import { changedRun } from '../helpers/store.js';

const db = useTestDb({ each: 'test', checkLeaks: true });
const defer = useCleanup();

async function receiver(kind: ReceiverKind): Promise<Receiver> {
  const r = await startReceiver(kind);
  defer(() => r.close());
  return r;
}

async function pipeline(env: Record<string, string>): Promise<Pipeline> {
  const pl = await startPipeline({ env });
  defer(() => pl.close());
  return pl;
}

/** VPCs of the simulated world that hold at least one link (the targets whose baseline changes something). */
function vpcsWithLinks(pl: Pipeline): string[] {
  return pl.sim.world
    .regions()
    .flatMap((region) =>
      pl.sim.world.vpcs(region).filter((vpc) => pl.sim.world.links(region, vpc).length > 0),
    );
}

describe('alert content', () => {
  it('baseline runs are silent end to end; the first real change is one message per run', async () => {
    const hook = await receiver('webhook');
    const pl = await pipeline({ ALERT_WEBHOOK_URL: hook.url, ALERT_WEBHOOK_SECRET: WHSEC });
    const dispatcher = createAlertDispatcher({
      store: pl.database.store,
      channels: pl.config,
      log: silentLog,
    });
    defer(() => dispatcher.close());

    const baseline = await pl.round();
    expect(baseline.every((o) => o.ok && o.result.outcome === 'applied' && o.result.baseline)).toBe(true);
    expect(vpcsWithLinks(pl).length).toBeGreaterThan(0);
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(hook.requests).toHaveLength(0);

    const vpc = pl.sim.world.vpcs('cn-hangzhou')[0]!;
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, vpc);
    await pl.round();
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    const body = hook.accepted()[0]?.json as { data: { vpcId: string; baseline: boolean; added: unknown[] } };
    expect(body.data).toMatchObject({
      vpcId: vpc,
      baseline: false,
      added: [{ vpcId: vpc, instanceId: fresh }],
    });
  });

  it('ALERT_ON_BASELINE=true: each baseline run that found links alerts once, flagged as baseline', async () => {
    const hook = await receiver('webhook');
    const pl = await pipeline({
      ALERT_WEBHOOK_URL: hook.url,
      ALERT_WEBHOOK_SECRET: WHSEC,
      ALERT_ON_BASELINE: 'true',
    });
    const dispatcher = createAlertDispatcher({
      store: pl.database.store,
      channels: pl.config,
      log: silentLog,
    });
    defer(() => dispatcher.close());

    await pl.round();
    const expected = vpcsWithLinks(pl);
    expect(await dispatcher.deliverDue()).toEqual({ delivered: expected.length, failed: 0, dead: 0 });
    const bodies = hook.accepted().map((r) => r.json as { data: { vpcId: string; baseline: boolean } });
    expect(bodies.map((b) => b.data.vpcId).sort()).toEqual([...expected].sort());
    expect(bodies.every((b) => b.data.baseline)).toBe(true);
  });

  it('a large run is one message per channel, its lists cut to the channel limit with "and N more"', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const kinds: ReceiverKind[] = ['webhook', 'slack', 'dingtalk', 'lark', 'wecom'];
    const receivers = await Promise.all(kinds.map(receiver));
    const id = (prefix: string, n: number) => `i-${prefix}${String(n).padStart(4, '0')}`;
    const before = Array.from({ length: 300 }, (_, n) => id('old', n));
    const after = Array.from({ length: 600 }, (_, n) => id('new', n));
    const { runId } = await changedRun(store, kinds, { before, after });

    const dispatcher = testDispatcher(store, channelConfig(receivers));
    defer(() => dispatcher.close());
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 5, failed: 0, dead: 0 });

    for (const r of receivers) {
      // One request per channel, accepted: every receiver enforces its size limit.
      expect(
        r.requests.map((q) => q.accepted),
        r.kind,
      ).toEqual([true]);
      const raw = r.requests[0]!.raw;
      if (r.kind === 'webhook') {
        const data = (r.requests[0]!.json as { data: { added: unknown[]; removed: unknown[] } }).data;
        expect([data.added.length, data.removed.length]).toEqual([600, 300]);
        expect(raw).not.toContain('more');
        continue;
      }
      const text = JSON.parse(raw) as unknown;
      const shown = (prefix: string) =>
        new Set(JSON.stringify(text).match(new RegExp(`i-${prefix}\\d{4}`, 'g'))).size;
      const added = shown('new');
      const removed = shown('old');
      // Some of each list is shown, and the rest is counted exactly (a list shown whole has no tail).
      expect(added, r.kind).toBeGreaterThan(5);
      expect(removed, r.kind).toBeGreaterThan(5);
      expect(added + removed, r.kind).toBeLessThan(900);
      const tails = [...raw.matchAll(/… and (\d+) more/g)].map((m) => Number(m[1]));
      expect(tails, r.kind).toEqual([600 - added, 300 - removed].filter((n) => n > 0));
      // The counts are always the full counts, and the message names its run.
      expect(raw, r.kind).toContain('Added (600)');
      expect(raw, r.kind).toContain('Removed (300)');
      expect(raw, r.kind).toContain(`run ${runId}`);
    }
    // The sizes are used, not just respected: WeCom's markdown is close to its 4096-byte limit.
    const wecom = receivers[4]!.requests[0]!.json as { markdown: { content: string } };
    expect(Buffer.byteLength(wecom.markdown.content)).toBeGreaterThan(3900);
    expect(Buffer.byteLength(receivers[3]!.requests[0]!.raw)).toBeGreaterThan(19_000);
  });
});
