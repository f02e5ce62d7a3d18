/**
 * The context queues' machinery against the machine's Redis and real BullMQ workers: the schedule
 * keeper keeps one plan and one enrich schedule per account+region and re-creates them when Redis
 * comes back empty; an attribute job is one per account+region while it waits, and a running one
 * can ask for exactly one follow-up, delayed.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { createQueues, type QueueBackend, type Queues, startWorker } from '../../src/queue/index.js';
import { keepSchedules } from '../../src/sync/index.js';
import { openTestBackend } from '../helpers/queue-backend.js';

const log = createLogger({ level: 'silent' });

let lifecycle: Lifecycle | undefined;
afterEach(async () => {
  await lifecycle?.close();
  lifecycle = undefined;
});

/** Queues on the test run's backend (queue-backend.ts), closed and removed after the test. */
async function setup(): Promise<{ queues: Queues; backend: QueueBackend; lc: Lifecycle }> {
  const lc = new Lifecycle();
  lifecycle = lc;
  const { backend, close } = await openTestBackend(`test-context-${randomUUID()}`);
  lc.add('backend', close);
  const queues = createQueues({ backend });
  // Released in reverse: the queues are emptied while still open, then closed.
  lc.add('queues', () => queues.close());
  lc.add('obliterate', () => queues.obliterate());
  return { queues, backend, lc };
}

const ids = async (queues: Queues, queue: 'plan' | 'enrich') =>
  (await queues.listSchedules(queue)).map((s) => `${s.id} ${s.everyMs}`).sort();

describe('schedules', () => {
  it('one plan and one enrich schedule per account+region, re-created when Redis comes back empty', async () => {
    const { queues, lc } = await setup();
    // A schedule of a region no longer configured, left by an earlier configuration.
    await queues.upsertSchedule('enrich', 'enrich:acme:cn-shanghai', 60_000, {
      account: 'acme',
      regionId: 'cn-shanghai',
    });
    const specs = [{ account: 'acme', regions: ['cn-hangzhou', 'cn-beijing'] }];
    const keeper = keepSchedules({
      queues,
      groups: [
        { queue: 'plan', everyMs: 300_000, specs },
        { queue: 'enrich', everyMs: 3_600_000, specs },
      ],
      checkEveryMs: 200,
      log,
    });
    lc.addDrain('keeper', () => keeper.stop());
    await keeper.first;
    const want = {
      plan: ['plan:acme:cn-beijing 300000', 'plan:acme:cn-hangzhou 300000'],
      enrich: ['enrich:acme:cn-beijing 3600000', 'enrich:acme:cn-hangzhou 3600000'],
    };
    expect(await ids(queues, 'plan')).toEqual(want.plan);
    expect(await ids(queues, 'enrich')).toEqual(want.enrich);
    // Each schedule adds its first job at once, with the account and region as its payload.
    const [first] = await queues.enrich.getJobs(['waiting', 'delayed'], 0, -1);
    expect(first?.data).toMatchObject({ account: 'acme' });

    // The queue backend lost everything (Redis flushed, the queue schema's rows gone): the keeper's
    // next round puts every schedule back.
    await queues.obliterate();
    expect(await ids(queues, 'enrich')).toEqual([]);
    await expect.poll(() => ids(queues, 'plan'), { timeout: 10_000 }).toEqual(want.plan);
    await expect.poll(() => ids(queues, 'enrich'), { timeout: 10_000 }).toEqual(want.enrich);
  });
});

describe('attribute jobs', () => {
  it('one waits per account+region; a running one asks for exactly one follow-up, after a delay', async () => {
    const { queues, backend, lc } = await setup();
    const region = { account: 'acme', regionId: 'cn-hangzhou' };
    // Before any worker: three asks, one job.
    const a = await queues.enqueueAttribute(region);
    expect(await queues.enqueueAttribute(region)).toBe(a);
    await queues.enqueueAttribute({ ...region, regionId: 'cn-beijing' });
    expect(await queues.attribute.getWaitingCount()).toBe(2);

    const runs: { regionId: string; at: number }[] = [];
    let asked = 0;
    const worker = startWorker(
      'attribute',
      async (data) => {
        runs.push({ regionId: data.regionId, at: Date.now() });
        if (data.regionId === 'cn-hangzhou' && asked === 0) {
          asked++;
          // While running: the job's own follow-up and a change's ask collapse into one more run.
          await queues.enqueueAttribute(data);
          await queues.enqueueAttribute(data, { delayMs: 300 });
        }
        return { pending: 0, calls: 0, recorded: 0, found: 0, notFound: 0, unavailable: 0, stillPending: 0 };
      },
      { backend, concurrency: 1, log },
    );
    lc.addDrain('worker', () => worker.close());
    await expect
      .poll(() => runs.filter((r) => r.regionId === 'cn-hangzhou').length, { timeout: 10_000 })
      .toBe(2);
    await expect
      .poll(async () => queues.attribute.getJobCountByTypes('waiting', 'delayed', 'active'))
      .toBe(0);
    const hangzhou = runs.filter((r) => r.regionId === 'cn-hangzhou');
    expect(hangzhou).toHaveLength(2);
    expect(runs.filter((r) => r.regionId === 'cn-beijing')).toHaveLength(1);
    // The follow-up kept the latest ask: 300 ms after the first run ended, not at once.
    expect((hangzhou[1]?.at ?? 0) - (hangzhou[0]?.at ?? 0)).toBeGreaterThanOrEqual(300);
  });
});
