/**
 * The finish watch: waiting for many jobs of one queue at once (`sync --once` waits for every
 * target's job) over one QueueEvents reader and one pair of listeners for all waiters, not a
 * listener pair and a poll per job.
 */
import { type IQueueBackend, type Queue, QueueEvents } from 'bullmq';
import { FatalError } from '../errors.js';
import type { QueueBackend } from './backend.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

export interface FinishWatch {
  /** The job's return value once it completes; rejects if it fails for good (or times out). */
  wait(jobId: string, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Outcomes kept for jobs nobody waits for yet (a job can finish before its waiter registers). */
const RECENT_OUTCOMES = 20_000;
/** The safety poll: every SAFETY_POLL_MS, the state of up to SAFETY_POLL_BATCH waited-for jobs. */
const SAFETY_POLL_MS = 2_000;
const SAFETY_POLL_BATCH = 50;

/** Events kept in a queue's event stream (BullMQ's default), for the start mark's XADD on Redis. */
const EVENTS_MAX_LEN = 10_000;

/**
 * Opens the watch of `queue` on its backend.
 *
 * No finish slips by. The reader starts from the stream's last entry as it was *before* any
 * waiter checks its job (BullMQ's own `waitUntilFinished` reads from '$' as of its first XREAD,
 * so a job finishing just before that was never heard of: seen hanging under load). A job that
 * finished before the start point is found finished by the waiter's state check; every later
 * finish is in the stream after it. Outcomes that arrive before anyone waits are kept (the last
 * RECENT_OUTCOMES), since a job can finish — and be removed by removeOnComplete — before its
 * waiter registers. A slow safety poll re-checks a few waited-for jobs per tick, for an event
 * lost to a stream trimmed during a long Redis outage, and answers JobNotFound for a job id
 * that is not on the backend and never finished while we listened.
 */
export async function openFinishWatch(
  // biome-ignore lint/suspicious/noExplicitAny: any queue of the room; payloads are not read here
  queue: Queue<any, any, string, any, any, string, IQueueBackend, unknown>,
  backend: QueueBackend,
): Promise<FinishWatch> {
  // The start point: a mark of our own in the queue's event stream, on either backend (the id the
  // backend gives it is the reader's cursor). Every finish after it is read; one before it is found
  // by the waiter's state check.
  const lastEventId = await queue.backend.publishEvent({ event: 'watch-start' }, EVENTS_MAX_LEN);
  // The reader blocks: on Redis an XREAD on a connection of its own, on Postgres a wait on the
  // process's one LISTEN connection (backend.ts); release() closes what was opened for it.
  const { options, factory, release } = backend.args('events');
  const reader = new QueueEvents<unknown, IQueueBackend, unknown>(
    queue.name,
    { ...options, lastEventId },
    factory,
  );
  reader.on('error', () => undefined); // the backend's opener logs connection errors
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

  /** The job's state on the backend now: finished (with its outcome), not yet, or not there. */
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
          () => undefined, // backend trouble: the events and the safety poll still decide
        );
      });
    },
    async close() {
      clearInterval(poll);
      const closed = new Error(`stopped waiting: the ${queue.name} queue was closed`);
      for (const set of waiters.values()) for (const done of set) done({ ok: false, error: closed });
      waiters.clear();
      await reader.close();
      await release();
    },
  };
}
