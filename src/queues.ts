/**
 * The queue edge: the only module that imports bullmq. It owns the queue names, the job catalog
 * (name → zod schema of the payload → result), Queue/Worker factories on a shared connection and
 * prefix, and the mapping of our `FatalError` to BullMQ's `UnrecoverableError`.
 *
 * Job payloads carry identifiers only (account, region, VPC) — never credentials.
 */
import { type ConnectionOptions, type Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { sleep } from './backoff.js';
import { coerceError, FatalError } from './errors.js';
import type { Logger } from './log.js';
import type { TargetRef } from './source.js';

const id = z.string().min(1).max(128);

/** The job catalog: every queue's payload schema. */
export const jobSchemas = {
  plan: z.object({
    account: id,
    regionId: id,
    /** Only these VPCs of the region (`sync --once --vpc`); without it, every target. */
    only: z.array(id).max(10_000).optional(),
  }),
  sync: z.object({ account: id, regionId: id, vpcId: id }),
} as const;

export type QueueName = keyof typeof jobSchemas;
export type JobData<Q extends QueueName> = z.infer<(typeof jobSchemas)[Q]>;

export interface SyncJobResult {
  runId: string;
  outcome: 'applied' | 'superseded' | 'already-finished';
  baseline: boolean;
  added: number;
  removed: number;
  linksSeen: number;
  pages: number;
}

export interface PlanJobResult {
  /** The targets the plan enqueued, with the id of the sync job that will sync each. */
  targets: { target: TargetRef; jobId: string }[];
}

export interface JobResults {
  plan: PlanJobResult;
  sync: SyncJobResult;
}

/** What a handler learns about the job it runs. */
export interface JobContext {
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the worker is force-closed. */
  signal: AbortSignal;
  log: Logger;
}

export type Handler<Q extends QueueName> = (data: JobData<Q>, ctx: JobContext) => Promise<JobResults[Q]>;

/** `{classiclink}`: a Redis Cluster hash tag, so all of a queue's keys live in one slot. */
export function queuePrefix(prefix: string): string {
  return `{${prefix}}`;
}

/** The deduplication id of a target's sync job: a target never has two sync jobs waiting. */
export function targetKey(t: TargetRef): string {
  return `${t.account}:${t.regionId}:${t.vpcId}`;
}

/** Sync jobs per addBulk (one Redis pipeline). */
const ENQUEUE_CHUNK = 250;

export interface QueueOptions {
  connection: Redis;
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
   * With `spacingMs`, target i's job becomes ready i × spacingMs after the call (paced to the API
   * budget; see plan.ts) instead of all at once.
   */
  enqueueSync(
    targets: readonly TargetRef[],
    pacing?: { spacingMs: number },
  ): Promise<{ target: TargetRef; jobId: string }[]>;
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
  // process stopped on a start-up error). The connection's owner (openMessaging) logs them.
  for (const q of [plan, sync]) q.on('error', () => undefined);
  const events: Partial<Record<QueueName, { qe: QueueEvents; connection: Redis }>> = {};
  const queueEventsFor = async (name: QueueName): Promise<QueueEvents> => {
    let entry = events[name];
    if (!entry) {
      // QueueEvents blocks on XREAD, so it needs a connection of its own. BullMQ treats a
      // connection it is handed as shared and never closes it: close() quits it.
      const connection = opts.connection.duplicate();
      entry = { qe: new QueueEvents(name, { connection, prefix }), connection };
      events[name] = entry;
      await entry.qe.waitUntilReady();
    }
    return entry.qe;
  };
  let closing: Promise<void> | undefined;

  return {
    plan,
    sync,
    async enqueueSync(targets, pacing) {
      const start = Date.now();
      const spacing = pacing?.spacingMs ?? 0;
      // In chunks: one addBulk of a whole region (10,000 VPCs) builds every job object and one
      // pipeline of 10,000 scripts at once — +60 MB of heap and +17 MB of buffers in the worker,
      // its peak RSS (measured with the 1,000,000-link bench). A chunk at a time stays flat.
      const added: { target: TargetRef; jobId: string }[] = [];
      for (let i = 0; i < targets.length; i += ENQUEUE_CHUNK) {
        const chunk = targets.slice(i, i + ENQUEUE_CHUNK);
        const now = Date.now();
        const jobs = await sync.addBulk(
          chunk.map((t, j) => ({
            name: 'sync' as const,
            data: { account: t.account, regionId: t.regionId, vpcId: t.vpcId },
            opts: {
              delay: Math.max(0, Math.round(start + (i + j) * spacing - now)),
              deduplication: { id: targetKey(t) },
              attempts: opts.syncAttempts ?? 5,
              backoff: { type: 'exponential', delay: opts.syncBackoffMs ?? 5_000, jitter: 0.5 },
            },
          })),
        );
        // A deduplicated add returns the job already waiting for that target.
        jobs.forEach((job, j) => {
          added.push({ target: chunk[j] as TargetRef, jobId: String(job.id) });
        });
      }
      return added;
    },
    async enqueuePlan(data) {
      const job = await plan.add('plan', data, {
        attempts: 3,
        backoff: { type: 'exponential', delay: 2_000 },
      });
      return String(job.id);
    },
    async waitFor(queue, jobId, timeoutMs) {
      const q = queue === 'plan' ? plan : sync;
      const qe = await queueEventsFor(queue);
      const job = await q.getJob(jobId);
      if (!job) throw new FatalError(`job ${jobId} not found in queue ${queue}`, { code: 'JobNotFound' });
      // Why a poll beside the events: QueueEvents reads its stream from "now" ('$'), and its first
      // XREAD can go out after waitUntilFinished's own "already finished?" check. A job finishing
      // in that gap has its event written before the reader's position, and the wait would never
      // end (seen under load). A slow poll of the job's own state closes the gap.
      const stop = new AbortController();
      const viaEvents = job.waitUntilFinished(qe, timeoutMs);
      const viaPoll = (async () => {
        for (;;) {
          await sleep(1_000, stop.signal);
          const current = await q.getJob(jobId);
          if (!current) continue; // removed after finishing: the event (or the timeout) decides
          const state = await current.getState();
          if (state === 'completed') return current.returnvalue;
          if (state === 'failed') throw new Error(current.failedReason || `job ${jobId} failed`);
        }
      })();
      viaPoll.catch(() => undefined);
      try {
        return (await Promise.race([viaEvents, viaPoll])) as JobResults[typeof queue];
      } finally {
        stop.abort();
      }
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
        { name: 'plan', data, opts: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } } },
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
        for (const entry of Object.values(events)) {
          if (!entry) continue;
          await entry.qe.close();
          await entry.connection.quit().catch(() => entry.connection.disconnect());
        }
        await plan.close();
        await sync.close();
      })();
      return closing;
    },
  };
}

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  log: Logger;
  /** How often active jobs are checked for stalls (a dead worker's jobs go back to waiting). */
  stalledIntervalMs?: number;
  /** How long a job's lock lives without renewal; a killed worker's jobs are recovered after it. */
  lockDurationMs?: number;
}

export interface WorkerHandle {
  /** Stops taking jobs and waits for running ones; after `drainMs`, abandons them to the stall check. */
  close(drainMs?: number): Promise<void>;
  /** Resolves when the worker is connected and taking jobs. */
  ready(): Promise<void>;
}

/**
 * Runs `handler` for each job of `queue`. The payload is parsed against the catalog first (a bad
 * payload fails the job for good). Fatal errors become `UnrecoverableError` so BullMQ does not
 * retry them; retryable ones are retried with the job's backoff.
 */
export function startWorker<Q extends QueueName>(
  queue: Q,
  handler: Handler<Q>,
  opts: WorkerOptions,
): WorkerHandle {
  const log = opts.log.child({ queue });
  const processor = async (job: Job, _token?: string, signal?: AbortSignal) => {
    const jobLog = log.child({ jobId: job.id, attempt: job.attemptsMade + 1 });
    const parsed = jobSchemas[queue].safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`BadPayload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
    try {
      return await handler(parsed.data as JobData<Q>, {
        jobId: String(job.id),
        attempt: job.attemptsMade + 1,
        signal: signal ?? new AbortController().signal,
        log: jobLog,
      });
    } catch (caught) {
      const err = coerceError(caught);
      if (!err.retryable) throw new UnrecoverableError(err.summary());
      throw new Error(err.summary(), { cause: err });
    }
  };
  // Workers block on Redis commands: a connection of their own, never shared with queues. BullMQ
  // treats a connection it is handed as shared and never closes it, so close() quits it (else the
  // open socket keeps a stopped process alive).
  const connection = opts.connection.duplicate({ maxRetriesPerRequest: null });
  const worker = new Worker(queue, processor, {
    connection,
    prefix: queuePrefix(opts.prefix),
    concurrency: opts.concurrency,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    lockDuration: opts.lockDurationMs ?? 30_000,
    maxStalledCount: 3,
    autorun: true,
  });
  worker.on('failed', (job, err) => {
    log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed');
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));

  async function drain(drainMs: number | undefined): Promise<void> {
    if (drainMs === undefined) {
      await worker.close();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), drainMs);
    });
    const closed = worker.close();
    const outcome = await Promise.race([closed.then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      // Abort the handlers: their API calls and waits end, the jobs fail with a retryable error
      // and go back to the queue for another worker. A diff transaction is never cut in half:
      // it commits or rolls back as a whole.
      log.warn({ drainMs }, 'drain deadline passed; handing running jobs back to the queue');
      worker.cancelAllJobs('shutdown: drain deadline passed');
      await closed;
    }
  }

  let closing: Promise<void> | undefined;
  return {
    ready: () => worker.waitUntilReady().then(() => undefined),
    close(drainMs) {
      closing ??= (async () => {
        try {
          await drain(drainMs);
        } finally {
          await connection.quit().catch(() => connection.disconnect());
        }
      })();
      return closing;
    },
  };
}
