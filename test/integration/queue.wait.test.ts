/**
 * `queues.waitFor` against the machine's Redis and a real BullMQ worker: jobs that finish before
 * anyone waits (even removed by removeOnComplete since), many waiters at once, failures, and ids
 * that do not exist. The worker's handler is ours, so each job's result is known.
 */
import { describe, expect, it } from 'vitest';
import { syncResult, useQueues } from '../helpers/queues.js';

const setup = useQueues('test-wait');

const target = (vpcId: string) => ({ account: 'acct', regionId: 'cn-hangzhou', vpcId });

const resultFor = syncResult;

describe('queues.waitFor', () => {
  it('resolves for a job that finished before anyone waited for it', async () => {
    const { queues, work } = await setup();
    // The first wait (on another job) opens the watch; then the job runs and finishes.
    const [early] = await queues.enqueueSync([target('vpc-early')]);
    if (!early) throw new Error('no job');
    let finished!: () => void;
    const handled = new Promise<void>((r) => {
      finished = r;
    });
    const firstWait = queues.waitFor('sync', early.jobId, 30_000);
    const [late] = await queues.enqueueSync([target('vpc-late')]);
    if (!late) throw new Error('no job');
    await work(async (data) => {
      if (data.vpcId === 'vpc-late') setImmediate(finished);
      return resultFor(data.vpcId);
    });
    await expect(firstWait).resolves.toEqual(resultFor('vpc-early'));
    await handled;
    // Make sure the late job is no longer running, then wait for it.
    await expect.poll(async () => (await queues.sync.getJob(late.jobId))?.getState()).toBe('completed');
    await expect(queues.waitFor('sync', late.jobId, 30_000)).resolves.toEqual(resultFor('vpc-late'));
  });

  it('resolves for a job already removed by removeOnComplete, from the outcome it heard', async () => {
    const { queues, work } = await setup();
    const [opener] = await queues.enqueueSync([target('vpc-opener')]);
    if (!opener) throw new Error('no job');
    const opened = queues.waitFor('sync', opener.jobId, 30_000);
    const [gone] = await queues.enqueueSync([target('vpc-gone')]);
    if (!gone) throw new Error('no job');
    await work(async (data) => resultFor(data.vpcId));
    await opened;
    await expect.poll(async () => (await queues.sync.getJob(gone.jobId))?.getState()).toBe('completed');
    await queues.sync.remove(gone.jobId);
    expect(await queues.sync.getJob(gone.jobId)).toBeUndefined();
    await expect(queues.waitFor('sync', gone.jobId, 30_000)).resolves.toEqual(resultFor('vpc-gone'));
  });

  it('waits for 300 jobs at once: each gets its own result, and Node warns of no listener leak', async () => {
    const { queues, work } = await setup();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const vpcs = Array.from({ length: 300 }, (_, i) => `vpc-${String(i).padStart(3, '0')}`);
      const jobs = await queues.enqueueSync(vpcs.map(target));
      const waits = jobs.map(({ target: t, jobId }) =>
        queues.waitFor('sync', jobId, 60_000).then((r) => [t.vpcId, r] as const),
      );
      await work(async (data) => resultFor(data.vpcId), 16);
      const results = await Promise.all(waits);
      for (const [vpcId, result] of results) expect(result).toEqual(resultFor(vpcId));
      // Let any pending process warning be emitted before looking.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  }, 60_000);

  it('rejects with the reason of a job that failed for good', async () => {
    const { queues, work } = await setup();
    const [job] = await queues.enqueueSync([target('vpc-bad')]);
    if (!job) throw new Error('no job');
    const wait = queues.waitFor('sync', job.jobId, 30_000);
    await work(async () => {
      throw new Error('the handler gave up');
    });
    await expect(wait).rejects.toThrow(/the handler gave up/);
  });

  it('rejects with JobNotFound for an id that is not in the queue', async () => {
    const { queues } = await setup();
    await expect(queues.waitFor('sync', 'no-such-job', 30_000)).rejects.toThrow(/not found in queue sync/);
  }, 20_000);
});
