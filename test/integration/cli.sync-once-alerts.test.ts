/**
 * `sync --once` delivers the alerts of its own runs before it exits; what it cannot deliver in
 * time stays in the outbox for the service.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { type PipelineOptions, usePipeline } from '../helpers/pipeline.js';
import { channelEnv, startReceiver } from '../helpers/receivers.js';

// Registered first, so it runs last: receivers close after the pipeline and its children.
const defer = useCleanup();
const startPipeline = usePipeline();

/** A webhook receiver, and a pipeline (no workers in this process) whose alerts go to it. */
async function withReceiver(sim: PipelineOptions['sim']) {
  const receiver = await startReceiver('webhook');
  defer(() => receiver.close());
  const pl = await startPipeline({ workers: false, sim, env: channelEnv([receiver]) });
  return { receiver, pl };
}

describe('sync --once and alerts', () => {
  it('delivers the alert of a changed run before exiting, none for the baseline', async () => {
    const { receiver, pl } = await withReceiver({
      regions: ['cn-hangzhou'],
      vpcsPerRegion: 2,
      linksPerVpc: 2,
    });
    const baseline = await runCli(['sync', '--once'], pl.childEnv);
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(receiver.requests).toHaveLength(0);

    const vpc = pl.sim.world.vpcs('cn-hangzhou')[1] ?? '';
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, vpc);
    const changed = await runCli(['sync', '--once', '--json'], pl.childEnv);
    expect(changed.code, changed.stderr).toBe(0);
    // Delivered by the time the command returned, not later by someone else.
    expect(receiver.accepted()).toHaveLength(1);
    expect(receiver.accepted()[0]?.raw).toContain(fresh);
    expect((JSON.parse(changed.stdout) as { alerts: unknown }).alerts).toMatchObject({
      delivered: 1,
      pending: 0,
    });
    const outbox = await pl.db.pool.query('SELECT status FROM alert_outbox');
    expect(outbox.rows).toEqual([{ status: 'delivered' }]);
  });

  it('a receiver that is down: exit 0 for the sync, the alert stays pending in the outbox', async () => {
    const { receiver, pl } = await withReceiver({
      regions: ['cn-hangzhou'],
      vpcsPerRegion: 1,
      linksPerVpc: 2,
    });
    expect((await runCli(['sync', '--once'], pl.childEnv)).code).toBe(0);
    await receiver.stop();
    const vpc = pl.sim.world.vpcs('cn-hangzhou')[0] ?? '';
    pl.sim.world.attach('cn-hangzhou', pl.sim.world.createInstance('cn-hangzhou'), vpc);
    const r = await runCli(['sync', '--once', '--alert-wait', '1s'], pl.childEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/alerts: 0 delivered, 1 left in the outbox for the service/);
    const outbox = await pl.db.pool.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM alert_outbox',
    );
    expect(outbox.rows[0]?.status).toBe('pending');
    expect(outbox.rows[0]?.attempts).toBeGreaterThanOrEqual(1);
  });
});
