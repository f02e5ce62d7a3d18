/**
 * The queue edge: the only module that imports bullmq. It owns the queue names, the job catalog
 * (name → zod schema of the payload → result), Queue/Worker factories on a shared connection and
 * prefix, and the mapping of our `FatalError` to BullMQ's `UnrecoverableError`.
 *
 * Job payloads carry identifiers only (account, region, VPC) — never credentials.
 */
import {
  type ConnectionOptions,
  type Job,
  Queue,
  QueueEvents,
  UnrecoverableError,
  WaitingError,
  Worker,
} from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { coerceError, FatalError } from '../errors.js';
import type { TargetRef } from '../links.js';
import type { Logger } from '../log.js';

const id = z.string().min(1).max(128);

/** The job catalog: every queue's payload schema. */
export const jobSchemas = {
  plan: z.object({
    account: id,
    regionId: id,
    /** Only these VPCs of the region (`sync --once --vpc`); without it, every target. */
    only: z.array(id).max(10_000).optional(),
  }),
  sync: z.object({
    account: id,
    regionId: id,
    vpcId: id,
    /**
     * The retirement scan of a VPC discovery no longer lists (plan.ts): "does not exist" reads as
     * an empty listing. Absent: a VPC the API does not know fails the run.
     */
    gone: z.literal(true).optional(),
  }),
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

/** A target to sync; `gone` marks the retirement scan (see the `sync` payload). */
export type SyncTarget = TargetRef & { gone?: boolean | undefined };

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

/**
 * How a plan releases its sync jobs, by the API calls they are expected to make (plan.ts): the
 * jobs whose first call is among the first `burst` calls are ready at once; a job whose first call
 * is call c (the calls of the jobs before it) is ready c × spacingMs after the enqueue.
 */
export interface Pacing {
  spacingMs: number;
  burst: number;
  /** Expected API calls of each target's job, in the order of the targets; default 1 each. */
  calls?: readonly number[];
}

/** How long after the enqueue the job whose first API call is call `c` of the plan may start. */
export function pacedStartMs(pacing: Pacing, c: number): number {
  return c < pacing.burst ? 0 : c * pacing.spacingMs;
}

export interface Queues {
  readonly plan: Queue<JobData<'plan'>, PlanJobResult, string>;
  readonly sync: Queue<JobData<'sync'>, SyncJobResult, string>;
  /**
   * Adds one sync job per target, deduplicated per target; returns the id of each target's job.
   * With `pacing`, the jobs become ready as the API budget allows their first calls (see
   * `Pacing`) instead of all at once.
   */
  enqueueSync(
    targets: readonly SyncTarget[],
    pacing?: Pacing,
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
    async enqueueSync(targets, pacing) {
      const start = Date.now();
      let callsBefore = 0;
      // In chunks: one addBulk of a whole region (10,000 VPCs) builds every job object and one
      // pipeline of 10,000 scripts at once — +60 MB of heap and +17 MB of buffers in the worker,
      // its peak RSS (measured with the 1,000,000-link bench). A chunk at a time stays flat.
      const added: { target: TargetRef; jobId: string }[] = [];
      for (let i = 0; i < targets.length; i += ENQUEUE_CHUNK) {
        const chunk = targets.slice(i, i + ENQUEUE_CHUNK);
        const now = Date.now();
        const delays = chunk.map((_, j) => {
          const at = start + (pacing ? pacedStartMs(pacing, callsBefore) : 0);
          callsBefore += pacing?.calls?.[i + j] ?? 1;
          return Math.max(0, Math.round(at - now));
        });
        const jobs = await sync.addBulk(
          chunk.map((t, j) => ({
            name: 'sync' as const,
            data: {
              account: t.account,
              regionId: t.regionId,
              vpcId: t.vpcId,
              ...(t.gone === true ? { gone: true as const } : {}),
            },
            opts: {
              delay: delays[j] ?? 0,
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
      const job = await plan.add('plan', data, {
        attempts: 3,
        backoff: { type: 'exponential', delay: 2_000 },
      });
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

// ---------------------------------------------------------------------------------------------
// Waiting for jobs

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

interface FinishWatch {
  /** The job's return value once it completes; rejects if it fails for good (or times out). */
  wait(jobId: string, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Outcomes kept for jobs nobody waits for yet (a job can finish before its waiter registers). */
const RECENT_OUTCOMES = 20_000;
/** The safety poll: every SAFETY_POLL_MS, the state of up to SAFETY_POLL_BATCH waited-for jobs. */
const SAFETY_POLL_MS = 2_000;
const SAFETY_POLL_BATCH = 50;

/**
 * Waiting for many jobs at once (`sync --once` waits for every target's job): one QueueEvents
 * reader and one pair of listeners per queue for all waiters — not a listener pair and a poll
 * per job (10,000 targets meant 10,000 listeners and 20,000 Redis reads a second).
 *
 * No finish slips by. The reader starts from the stream's last entry as it was *before* any
 * waiter checks its job (BullMQ's own `waitUntilFinished` reads from '$' as of its first XREAD,
 * so a job finishing just before that was never heard of: seen hanging under load). A job that
 * finished before the start point is found finished by the waiter's state check; every later
 * finish is in the stream after it. Outcomes that arrive before anyone waits are kept (the last
 * RECENT_OUTCOMES), since a job can finish — and be removed by removeOnComplete — before its
 * waiter registers. A slow safety poll re-checks a few waited-for jobs per tick, for an event
 * lost to a stream trimmed during a long Redis outage, and answers JobNotFound for a job id
 * that is not in Redis and never finished while we listened.
 */
async function openFinishWatch(queue: Queue, connection: Redis, prefix: string): Promise<FinishWatch> {
  const eventsKey = queue.keys.events;
  if (eventsKey === undefined) throw new FatalError('BullMQ queue has no events key', { code: 'INTERNAL' });
  const top = await connection.xrevrange(eventsKey, '+', '-', 'COUNT', 1);
  const lastEventId = top[0]?.[0] ?? '0-0';
  // QueueEvents blocks on XREAD, so it needs a connection of its own. BullMQ treats a connection
  // it is handed as shared and never closes it: close() quits it.
  const readerConnection = connection.duplicate();
  const reader = new QueueEvents(queue.name, { connection: readerConnection, prefix, lastEventId });
  reader.on('error', () => undefined); // the shared connection's owner logs Redis errors
  const waiters = new Map<string, Set<(o: Outcome) => void>>();
  const recent = new Map<string, Outcome>();
  const missing = new Map<string, number>();

  const settle = (jobId: string, outcome: Outcome) => {
    recent.delete(jobId);
    recent.set(jobId, outcome);
    if (recent.size > RECENT_OUTCOMES) {
      const oldest = recent.keys().next();
      if (!oldest.done) recent.delete(oldest.value);
    }
    missing.delete(jobId);
    const set = waiters.get(jobId);
    if (!set) return;
    waiters.delete(jobId);
    for (const done of set) done(outcome);
  };
  reader.on('completed', ({ jobId, returnvalue }) => settle(jobId, { ok: true, value: returnvalue }));
  reader.on('failed', ({ jobId, failedReason }) =>
    settle(jobId, { ok: false, error: new Error(failedReason || `job ${jobId} failed`) }),
  );
  await reader.waitUntilReady();

  /** The job's state in Redis now: finished (with its outcome), not yet, or not there. */
  async function check(jobId: string): Promise<Outcome | 'pending' | 'missing'> {
    // The state first, then the job: a job read before its state could be a snapshot from
    // before it finished (no return value yet) paired with a 'completed' read after.
    const state = await queue.getJobState(jobId);
    if (state === 'unknown') return 'missing';
    if (state !== 'completed' && state !== 'failed') return 'pending';
    const job = await queue.getJob(jobId);
    if (!job) return 'missing';
    if (state === 'completed') return { ok: true, value: job.returnvalue };
    return { ok: false, error: new Error(job.failedReason || `job ${jobId} failed`) };
  }

  let cursor = 0;
  let polling = false;
  const poll = setInterval(() => {
    if (polling || waiters.size === 0) return;
    polling = true;
    const ids = [...waiters.keys()];
    const batch = Array.from({ length: Math.min(SAFETY_POLL_BATCH, ids.length) }, (_, i) => {
      return ids[(cursor + i) % ids.length] as string;
    });
    cursor = (cursor + batch.length) % ids.length;
    void Promise.all(
      batch.map(async (jobId) => {
        const state = await check(jobId).catch(() => 'pending' as const);
        if (state === 'pending') return;
        if (state !== 'missing') return settle(jobId, state);
        // Gone without a finish we heard of: give the reader one more tick (the event may be on
        // its way), then say so.
        const seen = (missing.get(jobId) ?? 0) + 1;
        missing.set(jobId, seen);
        if (seen < 2 || recent.has(jobId)) return;
        const error = new FatalError(`job ${jobId} not found in queue ${queue.name}`, {
          code: 'JobNotFound',
        });
        const set = waiters.get(jobId);
        waiters.delete(jobId);
        missing.delete(jobId);
        for (const done of set ?? []) done({ ok: false, error });
      }),
    ).finally(() => {
      polling = false;
    });
  }, SAFETY_POLL_MS);
  poll.unref();

  return {
    wait(jobId, timeoutMs) {
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const done = (o: Outcome) => {
          clearTimeout(timer);
          if (o.ok) resolve(o.value);
          else reject(o.error);
        };
        const known = recent.get(jobId);
        if (known) return done(known);
        let set = waiters.get(jobId);
        if (!set) {
          set = new Set();
          waiters.set(jobId, set);
        }
        const mine = set;
        mine.add(done);
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => {
            mine.delete(done);
            if (mine.size === 0 && waiters.get(jobId) === mine) waiters.delete(jobId);
            reject(new Error(`job ${jobId} did not finish within ${timeoutMs} ms`));
          }, timeoutMs);
        }
        // The state as of now. The reader covers everything after its start point, which is
        // earlier than this read: between the two, nothing is missed.
        check(jobId).then(
          (state) => {
            if (state !== 'pending' && state !== 'missing') settle(jobId, state);
          },
          () => undefined, // Redis trouble: the events and the safety poll still decide
        );
      });
    },
    async close() {
      clearInterval(poll);
      const closed = new Error(`stopped waiting: the ${queue.name} queue was closed`);
      for (const set of waiters.values()) for (const done of set) done({ ok: false, error: closed });
      waiters.clear();
      await reader.close();
      await readerConnection.quit().catch(() => readerConnection.disconnect());
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
  /**
   * Attempts this worker gives a job at most, whatever the job's own `attempts`: at the last one a
   * retryable error fails the job for good. `sync --once` runs with 1 — a one-shot reports what one
   * attempt (with the API client's retries inside it) found, instead of waiting out the service's
   * job-level backoff. Default: the job's own attempts.
   */
  maxAttempts?: number | undefined;
}

export interface WorkerHandle {
  /**
   * Stops taking jobs at once and waits for the running ones. When `deadline` aborts, the running
   * jobs are aborted and handed back to the queue (see `closeWorkers`). Idempotent.
   */
  close(deadline?: AbortSignal): Promise<void>;
  /** Resolves when the worker is connected and taking jobs. */
  ready(): Promise<void>;
}

/**
 * Closes a process's workers together, under one deadline: all of them stop taking jobs in the
 * same tick and drain side by side, and `drainMs` after the call whatever still runs in any of
 * them is aborted and handed back to the queue. Closed one after the other, the second would keep
 * taking jobs while the first drained, and the drains would add up.
 */
export async function closeWorkers(workers: readonly WorkerHandle[], drainMs: number): Promise<void> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), drainMs);
  try {
    const closed = await Promise.allSettled(workers.map((w) => w.close(deadline.signal)));
    const failed = closed.find((c) => c.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `handler` for each job of `queue`. The payload is parsed against the catalog first (a bad
 * payload fails the job for good). Fatal errors become `UnrecoverableError` so BullMQ does not
 * retry them; retryable ones are retried with the job's backoff, up to `maxAttempts`.
 */
export function startWorker<Q extends QueueName>(
  queue: Q,
  handler: Handler<Q>,
  opts: WorkerOptions,
): WorkerHandle {
  const log = opts.log.child({ queue });
  /** Set as the drain begins: from then on no job of this worker starts. */
  let stopping = false;
  const processor = async (job: Job, token?: string, signal?: AbortSignal) => {
    // Worker.close() stops fetching, but a fetch already under way when it began (its BZPOPMIN
    // answered, its move to active in flight) still hands over a job. Not started, it goes back to
    // the front of the queue untouched (BullMQ's manual retry: no attempt counted) for another worker.
    if (stopping && token !== undefined) {
      await job.moveToWait(token);
      log.debug({ jobId: job.id }, 'job fetched while stopping: handed back to the queue');
      throw new WaitingError();
    }
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
      const lastAttempt = opts.maxAttempts !== undefined && job.attemptsMade + 1 >= opts.maxAttempts;
      if (!err.retryable || lastAttempt) throw new UnrecoverableError(err.summary());
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

  async function drain(deadline: AbortSignal | undefined): Promise<void> {
    // Worker.close() marks the worker closing before its first await: no fetch starts after it.
    stopping = true;
    const closed = worker.close();
    log.debug('stopped taking jobs');
    // Abort the handlers: their API calls and waits end, the jobs fail with a retryable error
    // and go back to the queue for another worker. A diff transaction is never cut in half:
    // it commits or rolls back as a whole.
    const cancel = () => {
      log.warn('drain deadline passed; handing running jobs back to the queue');
      worker.cancelAllJobs('shutdown: drain deadline passed');
    };
    if (deadline?.aborted) cancel();
    else deadline?.addEventListener('abort', cancel, { once: true });
    try {
      await closed;
    } finally {
      deadline?.removeEventListener('abort', cancel);
    }
  }

  let closing: Promise<void> | undefined;
  return {
    ready: () => worker.waitUntilReady().then(() => undefined),
    close(deadline) {
      closing ??= (async () => {
        try {
          await drain(deadline);
        } finally {
          await connection.quit().catch(() => connection.disconnect());
          log.debug('worker closed');
        }
      })();
      return closing;
    },
  };
}
