/**
 * The queues: a `plan` and a `sync` Queue on the shared connection under the deployment's prefix,
 * the enqueue of plans, sync jobs (deduplicated per target) and plan schedules, their depth, and
 * waiting for a job to finish (finish-watch.ts).
 */
import { type ConnectionOptions, Queue } from 'bullmq';
import type {
  EnqueuedSync,
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
  /**
   * Adds one sync job per target, deduplicated per target; returns the id of each target's job.
   * A target's `delayMs` makes its job ready that long after this call began.
   */
  enqueueSync(targets: readonly SyncTarget[]): Promise<EnqueuedSync[]>;
  enqueuePlan(data: JobData<'plan'>): Promise<string>;
  /** Waits until a job has finished (completed or failed for good); returns its result or throws. */
  waitFor<Q extends QueueName>(queue: Q, jobId: string, timeoutMs?: number): Promise<JobResults[Q]>;
  /** Jobs waiting, delayed and active, per queue (for progress and metrics). */
  depth(): Promise<Record<QueueName, number>>;
  /** The plan job schedulers in Redis. */
  listSchedules(): Promise<{ id: string; everyMs: number | undefined }[]>;
  /** Creates or updates a scheduler that adds a plan job every `everyMs` (the first one now). */
  upsertSchedule(id: string, everyMs: number, data: JobData<'plan'>): Promise<void>;
  removeSchedule(id: string): Promise<void>;
  /** Deletes every job, schedule and key of both queues (demo reset, test teardown). */
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
  // A Queue re-emits its connection's errors; an EventEmitter 'error' without a listener throws
  // and kills the process (seen: closing a queue whose connection was still starting, when the
  // process stopped on a start-up error). The connection's opener (redis.ts `openRedis`) logs them.
  for (const q of [plan, sync]) q.on('error', () => undefined);
  // Both queues' watches open at the first wait of either: `sync --once` waits for its plan first,
  // and the sync jobs that plan enqueues can finish before anyone waits for them.
  let watches: Promise<Record<QueueName, FinishWatch>> | undefined;
  const watchOf = async (name: QueueName): Promise<FinishWatch> => {
    watches ??= (async () => {
      const [p, s] = await Promise.all([
        openFinishWatch(plan, opts.connection, prefix),
        openFinishWatch(sync, opts.connection, prefix),
      ]);
      return { plan: p, sync: s };
    })();
    return (await watches)[name];
  };
  let closing: Promise<void> | undefined;

  return {
    plan,
    sync,
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
              attempts: opts.syncAttempts ?? 5,
              backoff: { type: 'exponential', delay: opts.syncBackoffMs ?? 5_000, jitter: 0.5 },
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
    async waitFor(queue, jobId, timeoutMs) {
      const watch = await watchOf(queue);
      return (await watch.wait(jobId, timeoutMs)) as JobResults[typeof queue];
    },
    async depth() {
      const [p, s] = await Promise.all([
        plan.getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized'),
        sync.getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized'),
      ]);
      return { plan: p, sync: s };
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
    async obliterate() {
      await plan.obliterate({ force: true });
      await sync.obliterate({ force: true });
    },
    close() {
      closing ??= (async () => {
        if (watches) {
          const opened = await watches.catch(() => undefined);
          if (opened) await Promise.all([opened.plan.close(), opened.sync.close()]);
        }
        await plan.close();
        await sync.close();
      })();
      return closing;
    },
  };
}
