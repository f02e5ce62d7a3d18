/**
 * The worker factory: a BullMQ Worker per queue on a connection of its own, running a handler of
 * the catalog. The payload is parsed at handler entry; our `FatalError` becomes BullMQ's
 * `UnrecoverableError` here and nowhere else, so domain code never imports bullmq. Also the drain
 * that closes a process's workers together under one deadline.
 */
import {
  type IQueueBackend,
  type Job,
  type JobProgress,
  UnrecoverableError,
  WaitingError,
  Worker,
} from 'bullmq';
import { coerceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { QueueBackend } from './backend.js';
import { type Handler, type JobData, jobSchemas, type QueueName } from './catalog.js';

interface WorkerOptions {
  /** Where the queues live (QUEUE_BACKEND). */
  backend: QueueBackend;
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

interface WorkerHandle {
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
  // Workers block: on Redis a BZPOPMIN on a connection of their own, never shared with queues; on
  // Postgres a wait on the process's one LISTEN connection (backend.ts). release() closes what was
  // opened for this worker after it (else an open socket keeps a stopped process alive).
  const { options, factory, release } = opts.backend.args('worker');
  const worker = new Worker<unknown, unknown, string, IQueueBackend, JobProgress, unknown>(
    queue,
    processor,
    {
      ...options,
      concurrency: opts.concurrency,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      lockDuration: opts.lockDurationMs ?? 30_000,
      maxStalledCount: 3,
      autorun: true,
    },
    factory,
  );
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
          await release();
          log.debug('worker closed');
        }
      })();
      return closing;
    },
  };
}
