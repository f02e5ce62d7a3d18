/**
 * `enqueueChangeSync` against the machine's Redis and a real BullMQ worker: a change the feed saw
 * is deduplicated with the target's job that has not started, brings a delayed (paced) one
 * forward, and, when the target's sync is running, is followed by exactly one more — however many
 * changes arrive while it runs. The handler is ours and blocks until the test releases it, so the
 * states are set up by events, never by time.
 */
import { describe, expect, it } from 'vitest';
import type { Handler } from '../../src/queue/index.js';
import { syncResult, useQueues } from '../helpers/queues.js';

const target = (vpcId: string) => ({ account: 'acct', regionId: 'cn-hangzhou', vpcId });
const result = syncResult('1');

/** A gate per started job: the handler waits on it; the test sees each start and opens gates. */
function gates() {
  const started: string[] = [];
  const open = new Map<string, () => void>();
  const handler: Handler<'sync'> = (data, ctx) =>
    new Promise((resolve) => {
      started.push(`${data.vpcId}#${ctx.jobId}`);
      open.set(ctx.jobId, () => resolve(result));
    });
  return {
    started,
    handler,
    release(jobId: string) {
      const fn = open.get(jobId);
      if (!fn) throw new Error(`job ${jobId} is not running`);
      open.delete(jobId);
      fn();
    },
    running: () => [...open.keys()],
  };
}

const setup = useQueues('test-change');

describe('enqueueChangeSync', () => {
  it('merges with a waiting job of the target, and adds one for another target', async () => {
    const { queues } = await setup();
    const [first] = await queues.enqueueSync([target('vpc-a')]);
    const asked = await queues.enqueueChangeSync([target('vpc-a'), target('vpc-b')]);
    expect(asked.map((a) => [a.target.vpcId, a.how])).toEqual([
      ['vpc-a', 'merged'],
      ['vpc-b', 'added'],
    ]);
    expect(asked[0]?.jobId).toBe(first?.jobId);
    expect(await queues.sync.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(2);
    // Asked again: nothing new.
    const again = await queues.enqueueChangeSync([target('vpc-b')]);
    expect(again.map((a) => a.how)).toEqual(['merged']);
    expect(await queues.sync.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(2);
  });

  it('brings a job delayed by its plan forward', async () => {
    const { queues } = await setup();
    const [paced] = await queues.enqueueSync([{ ...target('vpc-a'), delayMs: 3_600_000 }]);
    expect(await queues.sync.getJobState(paced?.jobId ?? '')).toBe('delayed');
    const [asked] = await queues.enqueueChangeSync([target('vpc-a')]);
    expect(asked).toMatchObject({ how: 'promoted', jobId: paced?.jobId });
    expect(await queues.sync.getJobState(paced?.jobId ?? '')).toBe('waiting');
    expect(await queues.sync.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(1);
  });

  it('while the target syncs, exactly one more sync follows it, however many changes come', async () => {
    const { queues, work } = await setup();
    const g = gates();
    await work(g.handler);
    const [running] = await queues.enqueueSync([target('vpc-a')]);
    await expect.poll(() => g.running()).toEqual([running?.jobId]);

    const asks = [];
    for (let i = 0; i < 3; i++) asks.push(...(await queues.enqueueChangeSync([target('vpc-a')])));
    expect(asks.map((a) => a.how)).toEqual(['after-running', 'after-running', 'after-running']);
    // Nothing waits yet: the follow-up is added when the running one finishes.
    expect(await queues.sync.getJobCountByTypes('waiting', 'delayed')).toBe(0);

    g.release(running?.jobId ?? '');
    await expect.poll(() => g.running().length).toBe(1);
    const followUp = g.running()[0] ?? '';
    expect(followUp).not.toBe(running?.jobId);
    g.release(followUp);
    await expect.poll(() => queues.sync.getJobCountByTypes('completed')).toBe(2);
    // Exactly one follow-up: two runs in all, nothing left.
    expect(g.started).toHaveLength(2);
    expect(await queues.sync.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(0);
  });

  it('a plan of the region for a change without a VPC: one waiting per region', async () => {
    const { queues } = await setup();
    const data = { account: 'acct', regionId: 'cn-hangzhou' };
    expect(await queues.enqueueChangePlan(data)).toBe('added');
    expect(await queues.enqueueChangePlan(data)).toBe('merged');
    expect(await queues.enqueueChangePlan({ ...data, regionId: 'cn-beijing' })).toBe('added');
    expect(await queues.plan.getJobCountByTypes('waiting')).toBe(2);
  });
});
