/**
 * The queues: `plan` and `sync` (link truth), `feed` (the ActionTrail change feed: it only
 * schedules syncs), `enrich` and `attribute` (context: attributes and causes, on queues of their
 * own so they never wait in front of a scan), on the shared connection under the deployment's
 * prefix; the enqueue of each, the change feed's syncs and plans, the job schedules (plan, enrich
 * and feed), their depth, and waiting for a job to finish (finish-watch.ts).
 */
import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, Job, Queue } from 'bullmq';
import type { TargetRef } from '../links.js';
import type {
  AttributeJobResult,
  ChangeSync,
  EnqueuedSync,
  EnrichJobResult,
  FeedJobResult,
  JobData,
  JobResults,
  PlanJobResult,
  QueueName,
  ScheduledQueue,
  SyncJobResult,
  SyncTarget,
} from './catalog.js';
import { type FinishWatch, openFinishWatch } from './finish-watch.js';
import { attributeKey, queuePrefix, targetKey } from './keys.js';
import type { RedisConnection } from './redis.js';

/** Sync jobs per addBulk (one Redis pipeline). */
const ENQUEUE_CHUNK = 250;

/** A plan job's attempts, whether enqueued by hand (`sync --once`) or by a schedule. */
const PLAN_JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } };
/** An enrich job's attempts: the next refresh comes anyway, so a few. */
const ENRICH_JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 } };
/** An attribute job's attempts: its causes stay pending until one succeeds or their window ends. */
const ATTRIBUTE_JOB_OPTIONS = { attempts: 5, backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 } };
/**
 * A feed poll gets one attempt: a failed poll records its error (sync/feed.ts) and the schedule's
 * next poll, one CHANGE_FEED_INTERVAL later, is the retry.
 */
const FEED_JOB_OPTIONS = { attempts: 1 };
/** The job options of each scheduled queue's jobs. */
const SCHEDULED_JOB_OPTIONS: Record<ScheduledQueue, { attempts: number }> = {
  plan: PLAN_JOB_OPTIONS,
  enrich: ENRICH_JOB_OPTIONS,
  feed: FEED_JOB_OPTIONS,
};
/** Finished feed polls kept: one per interval per region, so few. */
const FEED_KEEP = { removeOnComplete: { count: 200 }, removeOnFail: { count: 200 } };

interface QueueOptions {
  connection: RedisConnection;
  /** QUEUE_PREFIX, without its hash tag. */
  prefix: string;
  /** BullMQ attempts of a sync job (the ECS client's own retries are the inner layer). Default 5. */
  syncAttempts?: number;
  /** First delay of the job-level exponential backoff. Default 5s. */
  syncBackoffMs?: number;
}

/** A job schedule as Redis holds it. */
export interface Schedule {
  id: string;
  everyMs: number | undefined;
}

export interface Queues {
  readonly plan: Queue<JobData<'plan'>, PlanJobResult, string>;
  readonly sync: Queue<JobData<'sync'>, SyncJobResult, string>;
  readonly feed: Queue<JobData<'feed'>, FeedJobResult, string>;
  readonly enrich: Queue<JobData<'enrich'>, EnrichJobResult, string>;
  readonly attribute: Queue<JobData<'attribute'>, AttributeJobResult, string>;
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
  /** Adds an enrich job (not deduplicated: each carries its own instances). Returns its id. */
  enqueueEnrich(data: JobData<'enrich'>): Promise<string>;
  /**
   * Adds an attribute job, deduplicated per account+region: while one waits, this adds nothing;
   * while one runs, one more is kept to run after it (the latest asked: BullMQ's
   * `keepLastIfActive`), so a job may enqueue its own follow-up. `delayMs` makes it ready that
   * much later; a waiting delayed one is replaced. Returns the id of the job that will run.
   */
  enqueueAttribute(data: JobData<'attribute'>, opts?: { delayMs?: number | undefined }): Promise<string>;
  /** Waits until a job has finished (completed or failed for good); returns its result or throws. */
  waitFor<Q extends QueueName>(queue: Q, jobId: string, timeoutMs?: number): Promise<JobResults[Q]>;
  /** Jobs waiting, delayed and active, per queue (for progress and metrics). */
  depth(): Promise<Record<QueueName, number>>;
  /** The job schedulers of a scheduled queue in Redis. */
  listSchedules(queue: ScheduledQueue): Promise<Schedule[]>;
  /** Creates or updates a scheduler that adds a job every `everyMs` (the first one now). */
  upsertSchedule<Q extends ScheduledQueue>(
    queue: Q,
    id: string,
    everyMs: number,
    data: JobData<Q>,
  ): Promise<void>;
  removeSchedule(queue: ScheduledQueue, id: string): Promise<void>;
  /** Deletes every job, schedule and key of every queue (demo reset, test teardown). */
  obliterate(): Promise<void>;
  close(): Promise<void>;
}

export function createQueues(opts: QueueOptions): Queues {
  const prefix = queuePrefix(opts.prefix);
  const connection: ConnectionOptions = opts.connection;
  const defaultJobOptions = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 5_000 } };
  const queueOf = <D, R>(name: QueueName, keep = defaultJobOptions) =>
    new Queue<D, R, string>(name, { connection, prefix, defaultJobOptions: keep });
  const plan = queueOf<JobData<'plan'>, PlanJobResult>('plan');
  const sync = queueOf<JobData<'sync'>, SyncJobResult>('sync');
  const feed = queueOf<JobData<'feed'>, FeedJobResult>('feed', FEED_KEEP);
  const enrich = queueOf<JobData<'enrich'>, EnrichJobResult>('enrich');
  const attribute = queueOf<JobData<'attribute'>, AttributeJobResult>('attribute');
  const all: Record<QueueName, Queue> = { plan, sync, feed, enrich, attribute };
  const scheduled: Record<ScheduledQueue, Queue> = { plan, enrich, feed };
  // A Queue re-emits its connection's errors; an EventEmitter 'error' without a listener throws
  // and kills the process (seen: closing a queue whose connection was still starting, when the
  // process stopped on a start-up error). The connection's opener (redis.ts `openRedis`) logs them.
  for (const q of Object.values(all)) q.on('error', () => undefined);
  // The plan and sync watches open together at the first wait of either: `sync --once` waits for
  // its plan first, and the sync jobs that plan enqueues can finish before anyone waits for them.
  // The other queues' watches open at their own first wait.
  const watches = new Map<QueueName, Promise<FinishWatch>>();
  const open = (name: QueueName) => {
    const w = openFinishWatch(all[name], opts.connection, prefix);
    watches.set(name, w);
    // A failed open is retried at the next wait, and never left as an unhandled rejection.
    w.catch(() => watches.delete(name));
    return w;
  };
  const watchOf = (name: QueueName): Promise<FinishWatch> => {
    const hit = watches.get(name);
    if (hit) return hit;
    if (name === 'plan' || name === 'sync') {
      const p = open('plan');
      const s = open('sync');
      return name === 'plan' ? p : s;
    }
    return open(name);
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
    enrich,
    attribute,
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
    async enqueueEnrich(data) {
      const job = await enrich.add('enrich', data, ENRICH_JOB_OPTIONS);
      return String(job.id);
    },
    async enqueueAttribute(data, addOpts) {
      const job = await attribute.add('attribute', data, {
        ...ATTRIBUTE_JOB_OPTIONS,
        delay: Math.max(0, Math.round(addOpts?.delayMs ?? 0)),
        deduplication: { id: attributeKey(data), replace: true, keepLastIfActive: true },
      });
      return String(job.id);
    },
    async waitFor(queue, jobId, timeoutMs) {
      const watch = await watchOf(queue);
      return (await watch.wait(jobId, timeoutMs)) as JobResults[typeof queue];
    },
    async depth() {
      const names = Object.keys(all) as QueueName[];
      const counts = await Promise.all(
        names.map((n) => all[n].getJobCountByTypes('waiting', 'delayed', 'active', 'prioritized')),
      );
      return Object.fromEntries(names.map((n, i) => [n, counts[i] ?? 0])) as Record<QueueName, number>;
    },
    async listSchedules(queue) {
      const list = await scheduled[queue].getJobSchedulers(0, -1, true);
      return list.map((s) => ({
        id: s.key,
        everyMs: s.every === undefined || s.every === null ? undefined : Number(s.every),
      }));
    },
    async upsertSchedule(queue, scheduleId, everyMs, data) {
      await scheduled[queue].upsertJobScheduler(
        scheduleId,
        { every: everyMs },
        { name: queue, data, opts: SCHEDULED_JOB_OPTIONS[queue] },
      );
    },
    async removeSchedule(queue, scheduleId) {
      await scheduled[queue].removeJobScheduler(scheduleId);
    },
    async obliterate() {
      for (const q of Object.values(all)) await q.obliterate({ force: true });
    },
    close() {
      closing ??= (async () => {
        const opened = await Promise.all([...watches.values()].map((w) => w.catch(() => undefined)));
        await Promise.all(opened.map((w) => w?.close()));
        for (const q of Object.values(all)) await q.close();
      })();
      return closing;
    },
  };
}
