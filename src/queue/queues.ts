/**
 * The queues: a `plan`, a `sync` and a `feed` Queue on the shared connection under the
 * deployment's prefix, the enqueue of plans, sync jobs (deduplicated per target), the change
 * feed's syncs and plans, plan and feed schedules, their depth, and waiting for a job to finish
 * (finish-watch.ts).
 */
import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, Job, Queue } from 'bullmq';
import type { TargetRef } from '../links.js';
import type {
  ChangeSync,
  EnqueuedSync,
  FeedJobResult,
  JobData,
  JobResults,
  PlanJobResult,
  QueueName,
  SyncJobResult,
  SyncTarget,
} from './catalog.js';
import { type FinishWatch, openFinishWatch } from './finish-watch.js';
import { queuePrefix, targetKey } from './keys.js';
import type { Redis } from './redis.js';

/** Sync jobs per addBulk (one Redis pipeline). */
const ENQUEUE_CHUNK = 250;

/** A plan job's attempts, whether enqueued by hand (`sync --once`) or by a schedule. */
const PLAN_JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } };

/**
 * A feed poll gets one attempt: a failed poll records its error (sync/feed.ts) and the schedule's
 * next poll, one CHANGE_FEED_INTERVAL later, is the retry. Few kept: one per interval per region.
 */
const FEED_JOB_OPTIONS = { attempts: 1, removeOnComplete: { count: 200 }, removeOnFail: { count: 200 } };

interface QueueOptions {
  connection: Redis;
  /** QUEUE_PREFIX, without its hash tag. */
  prefix: string;
  /** BullMQ attempts of a sync job (the ECS client's own retries are the inner layer). Default 5. */
  syncAttempts?: number;
  /** First delay of the job-level exponential backoff. Default 5s. */
  syncBackoffMs?: number;
}

export interface Queues {
  readonly plan: Queue<JobData<'plan'>, PlanJobResult, string>;
  readonly sync: Queue<JobData<'sync'>, SyncJobResult, string>;
  readonly feed: Queue<JobData<'feed'>, FeedJobResult, string>;
  /**
   * Adds one sync job per target, deduplicated per target; returns the id of each target's job.
   * A target's `delayMs` makes its job ready that long after this call began.
   */
  enqueueSync(targets: readonly SyncTarget[]): Promise<EnqueuedSync[]>;
  enqueuePlan(data: JobData<'plan'>): Promise<string>;
  /**
   * A sync per target for a change the feed saw, ready now. Deduplicated with the target's job
   * that has not started (a delayed one, paced by its plan, is made ready now); when one is
   * running, exactly one more follows it: the change may have landed after that scan read its page.
   */
  enqueueChangeSync(targets: readonly TargetRef[]): Promise<ChangeSync[]>;
  /** A plan of a region for a change whose VPC the feed cannot tell; the same dedup as above. */
  enqueueChangePlan(data: JobData<'plan'>): Promise<ChangeSync['how']>;
  /** Waits until a job has finished (completed or failed for good); returns its result or throws. */
  waitFor<Q extends QueueName>(queue: Q, jobId: string, timeoutMs?: number): Promise<JobResults[Q]>;
  /** Jobs waiting, delayed and active, per queue (for progress and metrics). */
  depth(): Promise<Record<QueueName, number>>;
  /** The plan job schedulers in Redis. */
  listSchedules(): Promise<{ id: string; everyMs: number | undefined }[]>;
  /** Creates or updates a scheduler that adds a plan job every `everyMs` (the first one now). */
  upsertSchedule(id: string, everyMs: number, data: JobData<'plan'>): Promise<void>;
  removeSchedule(id: string): Promise<void>;
  /** The feed job schedulers in Redis (ids `feed:{account}:{region}`, sync/feed-schedule.ts). */
  listFeedSchedules(): Promise<{ id: string; everyMs: number | undefined }[]>;
  /** Creates or updates a scheduler that adds a feed poll every `everyMs` (the first one now). */
  upsertFeedSchedule(id: string, everyMs: number, data: JobData<'feed'>): Promise<void>;
  removeFeedSchedule(id: string): Promise<void>;
  /** Deletes every job, schedule and key of the queues (demo reset, test teardown). */
  obliterate(): Promise<void>;
  close(): Promise<void>;
}

export function createQueues(opts: QueueOptions): Queues {
  const prefix = queuePrefix(opts.prefix);
  const connection: ConnectionOptions = opts.connection;
  const defaultJobOptions = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 5_000 } };
  const plan = new Queue<JobData<'plan'>, PlanJobResult, string>('plan', {
    connection,
    prefix,
    defaultJobOptions,
  });
  const sync = new Queue<JobData<'sync'>, SyncJobResult, string>('sync', {
    connection,
    prefix,
    defaultJobOptions,
  });
  const feed = new Queue<JobData<'feed'>, FeedJobResult, string>('feed', {
    connection,
    prefix,
    defaultJobOptions: FEED_JOB_OPTIONS,
  });
  // A Queue re-emits its connection's errors; an EventEmitter 'error' without a listener throws
  // and kills the process (seen: closing a queue whose connection was still starting, when the
  // process stopped on a start-up error). The connection's opener (redis.ts `openRedis`) logs them.
  for (const q of [plan, sync, feed]) q.on('error', () => undefined);
  // Both queues' watches open at the first wait of either: `sync --once` waits for its plan first,
  // and the sync jobs that plan enqueues can finish before anyone waits for them.
  let watches: Promise<Record<'plan' | 'sync', FinishWatch>> | undefined;
  let feedWatch: Promise<FinishWatch> | undefined;
  const watchOf = async (name: QueueName): Promise<FinishWatch> => {
    if (name === 'feed') {
      feedWatch ??= openFinishWatch(feed, opts.connection, prefix);
      return feedWatch;
    }
    watches ??= (async () => {
      const [p, s] = await Promise.all([
        openFinishWatch(plan, opts.connection, prefix),
        openFinishWatch(sync, opts.connection, prefix),
      ]);
      return { plan: p, sync: s };
    })();
    return (await watches)[name];
  };
  const syncJobOptions = () => ({
    attempts: opts.syncAttempts ?? 5,
    backoff: { type: 'exponential', delay: opts.syncBackoffMs ?? 5_000, jitter: 0.5 },
  });

  /**
   * Adds a job deduplicated by `dedupId` with BullMQ's `keepLastIfActive`: a job of that id that
   * has not started absorbs this one (a delayed one is promoted: ready now); a running one gets
   * this one stored to be added when it finishes — at most one running and one waiting per id.
   * Our own job id tells whether this add created a job.
   */
  async function addAfterChange(
    queue: typeof plan | typeof sync,
    add: (jobOpts: { jobId: string; deduplication: { id: string; keepLastIfActive: true } }) => Promise<Job>,
    dedupId: string,
  ): Promise<{ jobId: string; how: ChangeSync['how'] }> {
    const ours = randomUUID();
    const job = await add({ jobId: ours, deduplication: { id: dedupId, keepLastIfActive: true } });
    const id = String(job.id);
    if (id === ours) return { jobId: id, how: 'added' };
    const state = await queue.getJobState(id);
    if (state === 'active') return { jobId: id, how: 'after-running' };
    if (state === 'delayed') {
      const existing = await Job.fromId(queue, id);
      // It may have left the delayed set since (started, or promoted by another change): either
      // way it starts after this change was made.
      await existing?.promote().catch(() => undefined);
      return { jobId: id, how: 'promoted' };
    }
    return { jobId: id, how: 'merged' };
  }
  let closing: Promise<void> | undefined;

  return {
    plan,
    sync,
    feed,
    async enqueueSync(targets) {
      const start = Date.now();
      // In chunks: one addBulk of a whole region (10,000 VPCs) builds every job object and one
      // pipeline of 10,000 scripts at once, the worker's peak memory (README, Performance). A chunk
      // at a time stays flat.
      const added: EnqueuedSync[] = [];
      for (let i = 0; i < targets.length; i += ENQUEUE_CHUNK) {
        const chunk = targets.slice(i, i + ENQUEUE_CHUNK);
        // Counted from the start of the enqueue: a later chunk's jobs are not pushed back by the
        // time the earlier chunks took.
        const now = Date.now();
        const jobs = await sync.addBulk(
          chunk.map((t) => ({
            name: 'sync' as const,
            data: {
              account: t.account,
              regionId: t.regionId,
              vpcId: t.vpcId,
              ...(t.gone === true ? { gone: true as const } : {}),
            },
            opts: {
              delay: Math.max(0, Math.round(start + (t.delayMs ?? 0) - now)),
              deduplication: { id: targetKey(t) },
              ...syncJobOptions(),
            },
          })),
        );
        // A deduplicated add returns the job already waiting for that target.
        jobs.forEach((job, j) => {
          const t = chunk[j] as SyncTarget;
          added.push({
            target: { account: t.account, regionId: t.regionId, vpcId: t.vpcId },
            jobId: String(job.id),
          });
        });
      }
      return added;
    },
    async enqueuePlan(data) {
      const job = await plan.add('plan', data, PLAN_JOB_OPTIONS);
      return String(job.id);
    },
    async enqueueChangeSync(targets) {
      const out: ChangeSync[] = [];
      for (const t of targets) {
        const target = { account: t.account, regionId: t.regionId, vpcId: t.vpcId };
        const { jobId, how } = await addAfterChange(
          sync,
          (o) => sync.add('sync', target, { ...syncJobOptions(), ...o }),
          targetKey(t),
        );
        out.push({ target, jobId, how });
      }
      return out;
    },
    async enqueueChangePlan(data) {
      const dedupId = `change-plan:${data.account}:${data.regionId}`;
      return (
        await addAfterChange(plan, (o) => plan.add('plan', data, { ...PLAN_JOB_OPTIONS, ...o }), dedupId)
      ).how;
    },
    async waitFor(queue, jobId, timeoutMs) {
      const watch = await watchOf(queue);
      return (await watch.wait(jobId, timeoutMs)) as JobResults[typeof queue];
    },
    async depth() {
      const [p, s, f] = await Promise.all([
        plan.getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized'),
        sync.getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized'),
        feed.getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized'),
      ]);
      return { plan: p, sync: s, feed: f };
    },
    async listSchedules() {
      const list = await plan.getJobSchedulers(0, -1, true);
      return list.map((s) => ({
        id: s.key,
        everyMs: s.every === undefined || s.every === null ? undefined : Number(s.every),
      }));
    },
    async upsertSchedule(scheduleId, everyMs, data) {
      await plan.upsertJobScheduler(
        scheduleId,
        { every: everyMs },
        { name: 'plan', data, opts: PLAN_JOB_OPTIONS },
      );
    },
    async removeSchedule(scheduleId) {
      await plan.removeJobScheduler(scheduleId);
    },
    async listFeedSchedules() {
      const list = await feed.getJobSchedulers(0, -1, true);
      return list.map((s) => ({
        id: s.key,
        everyMs: s.every === undefined || s.every === null ? undefined : Number(s.every),
      }));
    },
    async upsertFeedSchedule(scheduleId, everyMs, data) {
      await feed.upsertJobScheduler(
        scheduleId,
        { every: everyMs },
        { name: 'feed', data, opts: FEED_JOB_OPTIONS },
      );
    },
    async removeFeedSchedule(scheduleId) {
      await feed.removeJobScheduler(scheduleId);
    },
    async obliterate() {
      await plan.obliterate({ force: true });
      await sync.obliterate({ force: true });
      await feed.obliterate({ force: true });
    },
    close() {
      closing ??= (async () => {
        if (watches) {
          const opened = await watches.catch(() => undefined);
          if (opened) await Promise.all([opened.plan.close(), opened.sync.close()]);
        }
        if (feedWatch) await (await feedWatch.catch(() => undefined))?.close();
        await plan.close();
        await sync.close();
        await feed.close();
      })();
      return closing;
    },
  };
}
