/**
 * The alert dispatcher: delivers alert_outbox rows to their channels, at least once.
 *
 * A row is claimed under a lease (`claimed_until`), sent with its outbox id as the idempotency
 * key, then recorded delivered — or failed and due again after a capped, jittered backoff, or
 * dead after the last attempt (kept, with its last error, and logged). A process that dies
 * anywhere between claim and record leaves the row 'delivering' until its lease ends; then any
 * dispatcher claims it again and sends the same message with the same id, so a receiver that
 * saw the first send drops the second. Nothing is lost; nothing is sent under two ids.
 *
 * A 'changes' alert tells who made each change and what the instance is, so it waits for that
 * context — at most ALERT_CONTEXT_WAIT (`contextWaitMs`) after its row was written, less when
 * every change's instance is described and cause settled — then goes with what is known. Waiting
 * rows are not claimed at all (the claim skips them: no attempt spent, no write, no batch slot
 * taken from rows that are ready); while some wait, the loops look again every `contextPollMs`.
 *
 * Here: the claims, the `run` loop and `deliverRuns`; sending a row and recording its outcome is
 * delivery.ts. `run` waits for work by LISTEN (applyScan's NOTIFY, checkStaleness's NOTIFY) or until the next
 * row falls due, at most `pollMs`: a NOTIFY lost with a dropped connection costs a few seconds.
 * Where LISTEN cannot hear (DATABASE_URL through a transaction-pooling PgBouncer and no
 * DATABASE_DIRECT_URL: the store's probe says so, store/listen.ts), `run` polls every
 * `pollWithoutListenMs` instead, and says so once.
 */
import { Agent, type Dispatcher } from 'undici';
import { type BackoffOptions, sleep } from '../backoff.js';
import { coerceError, ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ContextWait, OutboxStore, OutboxWatch, Store } from '../store/index.js';
import { type ChannelConfig, createChannels } from './channel-set.js';
import { createDelivery, type DeliveryCounts } from './delivery.js';

export interface AlertDispatcherOptions {
  /** The outbox verbs of the store and `contextForRun` (a whole `Store` will do). */
  store: OutboxStore & Pick<Store, 'contextForRun'>;
  /** The channel URLs and secrets (the `Config` will do). */
  channels: ChannelConfig;
  /** Bound to its component by the caller (main.ts: `component: 'alerts'`). */
  log: Logger;
  /** undici dispatcher for the channels' requests. Default: an Agent of our own, closed by `close()`. */
  http?: Dispatcher | undefined;
  /**
   * Attempts of one row before it is dead-lettered. Default 12: with the default backoff the
   * retries of one row spread over up to about an hour (half that on average).
   */
  maxAttempts?: number | undefined;
  /** Backoff between attempts of one row (full jitter, at least `baseMs`). Default 2 s doubling to 30 min. */
  backoff?: BackoffOptions | undefined;
  /** How long a claim lasts: an unsent row of a dead process is due again after this. Default 2 min. */
  leaseMs?: number | undefined;
  /** Rows claimed at once. Default 10. */
  batchSize?: number | undefined;
  /** Bound on one request (connect, headers, body). Default 10 s. */
  requestTimeoutMs?: number | undefined;
  /** Receivers' answers are read up to this many bytes. Default 64 KiB. */
  maxAnswerBytes?: number | undefined;
  /** `run` looks for due rows at least this often, NOTIFY or not. Default 5 s. */
  pollMs?: number | undefined;
  /** ... and this often when LISTEN cannot hear (no session to LISTEN on). Default 1 s. */
  pollWithoutListenMs?: number | undefined;
  /** Keep under each service's per-bot rate limit (Lark, DingTalk, WeCom), per process. Default true. */
  pace?: boolean | undefined;
  /**
   * ALERT_CONTEXT_WAIT in ms: a 'changes' alert is not sent before its run's context is settled
   * or this long after its row was written, whichever comes first. Default 0: sent at once.
   */
  contextWaitMs?: number | undefined;
  /**
   * ATTRIBUTION=on: alerts wait for causes (as for instance attributes) and tell them. Off: causes
   * are never settled, so they are neither waited for nor mentioned. Default true.
   */
  attribution?: boolean | undefined;
  /** While alerts wait for context, each loop looks again at least this often. Default 1 s. */
  contextPollMs?: number | undefined;
  now?: (() => Date) | undefined;
  random?: (() => number) | undefined;
}

export interface AlertDispatcher {
  /** Claims and delivers every row due now (in batches). */
  deliverDue(): Promise<DeliveryCounts>;
  /** Delivers until `signal` aborts (or `close()`): after each pass waits for a NOTIFY or the next due row. */
  run(signal: AbortSignal): Promise<void>;
  /**
   * Delivers the outbox rows of these runs now, retrying as they fall due, for at most `timeoutMs`
   * (`sync --once`). The context wait holds as in `run`, but ends in time to send within the bound
   * (the last `requestTimeoutMs` of it, or its second half if shorter). What is not delivered
   * stays in the outbox for the service.
   */
  deliverRuns(
    runIds: readonly string[],
    timeoutMs: number,
  ): Promise<{ delivered: number; pending: number; dead: number }>;
  /** Stops `run` loops and closes the HTTP agent if it is ours. Idempotent. */
  close(): Promise<void>;
}

const ALERT_DEFAULTS = {
  maxAttempts: 12,
  backoff: { baseMs: 2_000, capMs: 1_800_000 },
  leaseMs: 120_000,
  batchSize: 10,
  requestTimeoutMs: 10_000,
  maxAnswerBytes: 64 * 1024,
  pollMs: 5_000,
  pollWithoutListenMs: 1_000,
  contextPollMs: 1_000,
} as const;

/** Resolves a waiter early; a wake while nobody waits is remembered for the next wait. */
class Wake {
  private pending = false;
  private resolve: (() => void) | undefined;
  fire(): void {
    this.pending = true;
    this.resolve?.();
  }
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return;
    }
    const woken = new Promise<void>((resolve) => {
      this.resolve = resolve;
    });
    const timer = new AbortController();
    const onAbort = () => timer.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([woken, sleep(ms, timer.signal).catch(() => undefined)]);
    } finally {
      timer.abort();
      signal.removeEventListener('abort', onAbort);
      this.resolve = undefined;
      this.pending = false;
    }
  }
}

export function createAlertDispatcher(opts: AlertDispatcherOptions): AlertDispatcher {
  const { store } = opts;
  const batchSize = opts.batchSize ?? ALERT_DEFAULTS.batchSize;
  const leaseMs = opts.leaseMs ?? ALERT_DEFAULTS.leaseMs;
  const pollMs = opts.pollMs ?? ALERT_DEFAULTS.pollMs;
  const pollWithoutListenMs = Math.min(
    pollMs,
    opts.pollWithoutListenMs ?? ALERT_DEFAULTS.pollWithoutListenMs,
  );
  /** Set once a LISTEN proved deaf: the loops poll from then on (a restart with a fixed URL heals it). */
  let deaf = false;
  const requestTimeoutMs = opts.requestTimeoutMs ?? ALERT_DEFAULTS.requestTimeoutMs;
  const now = opts.now ?? (() => new Date());
  const log = opts.log;
  const attribution = opts.attribution !== false;
  const contextPollMs = opts.contextPollMs ?? ALERT_DEFAULTS.contextPollMs;
  const contextWait: ContextWait | undefined =
    (opts.contextWaitMs ?? 0) > 0 ? { waitMs: opts.contextWaitMs ?? 0, causes: attribution } : undefined;
  /** nextOutboxDueAt's filter: waiting rows are due when their wait ends, or at the next look. */
  const dueFilter = (runIds: readonly string[] | undefined, hold: boolean) => ({
    runIds,
    contextWait: hold && contextWait ? { ...contextWait, now: now(), recheckMs: contextPollMs } : undefined,
  });
  const ownAgent =
    opts.http === undefined
      ? new Agent({ connectTimeout: requestTimeoutMs, keepAliveTimeout: 30_000, connections: 4 })
      : undefined;
  const deliverBatch = createDelivery({
    store,
    channels: createChannels(opts.channels),
    http: opts.http ?? (ownAgent as Agent),
    log,
    attribution,
    maxAttempts: opts.maxAttempts ?? ALERT_DEFAULTS.maxAttempts,
    backoff: opts.backoff ?? ALERT_DEFAULTS.backoff,
    requestTimeoutMs,
    maxAnswerBytes: opts.maxAnswerBytes ?? ALERT_DEFAULTS.maxAnswerBytes,
    pace: opts.pace !== false,
    now,
    random: opts.random ?? Math.random,
  });
  const closing = new AbortController();
  const loops = new Set<Promise<void>>();
  let closed: Promise<void> | undefined;

  /**
   * Claims and delivers due rows (of `runIds`, when given) in batches until none is left; with
   * `hold`, 'changes' rows still waiting for their context are left for later.
   */
  async function deliverDueOf(runIds: readonly string[] | undefined, hold = true): Promise<DeliveryCounts> {
    const total: DeliveryCounts = { delivered: 0, failed: 0, dead: 0 };
    const wait = hold ? contextWait : undefined;
    // Bounded: rows that fail are due later, so rounds end; the bound guards a flood of new rows.
    for (let round = 0; round < 100; round++) {
      const batch = await store.claimOutbox({
        limit: batchSize,
        leaseMs,
        now: now(),
        runIds,
        contextWait: wait,
      });
      if (batch.length === 0) break;
      const counts = await deliverBatch(batch);
      total.delivered += counts.delivered;
      total.failed += counts.failed;
      total.dead += counts.dead;
      if (batch.length < batchSize) break;
    }
    return total;
  }

  async function loop(signal: AbortSignal): Promise<void> {
    const wake = new Wake();
    let watch: OutboxWatch | undefined;
    try {
      while (!signal.aborted) {
        if (watch === undefined && !deaf) {
          try {
            const w = await store.watchOutbox(() => wake.fire());
            watch = w;
            void w.lost.then(() => {
              if (watch === w) watch = undefined;
              wake.fire();
            });
          } catch (caught) {
            const err = coerceError(caught);
            if (err.code === ErrorCode.ListenUnheard) {
              // Said once per dispatcher: the cause is the configuration, and polling is correct.
              if (!deaf) {
                log.warn(
                  { error: err.message, pollMs: pollWithoutListenMs },
                  `alerts are polled every ${pollWithoutListenMs} ms: ${err.message}`,
                );
              }
              deaf = true;
            } else {
              log.warn({ error: err.summary() }, 'cannot LISTEN for alerts; polling');
            }
          }
        }
        const loopPollMs = deaf ? pollWithoutListenMs : pollMs;
        let waitMs = loopPollMs;
        try {
          await deliverDueOf(undefined);
          const due = await store.nextOutboxDueAt(dueFilter(undefined, true));
          if (due !== null) waitMs = Math.min(loopPollMs, Math.max(0, due.getTime() - now().getTime()));
        } catch (caught) {
          log.warn({ error: coerceError(caught).summary() }, 'alert delivery pass failed; retrying');
        }
        await wake.wait(waitMs, signal);
      }
    } finally {
      await watch?.close();
    }
  }

  return {
    deliverDue: () => deliverDueOf(undefined),

    run(signal) {
      const stop = AbortSignal.any([signal, closing.signal]);
      const p = loop(stop).finally(() => loops.delete(p));
      loops.add(p);
      return p;
    },

    async deliverRuns(runIds, timeoutMs) {
      const ids = [...new Set(runIds)];
      if (ids.length === 0) return { delivered: 0, pending: 0, dead: 0 };
      const deadline = now().getTime() + timeoutMs;
      // The context wait ends early enough to send within the bound: a one-shot's alert goes out
      // with what is known rather than stay behind for a service that may not run.
      const holdUntil = deadline - Math.min(requestTimeoutMs, timeoutMs / 2);
      for (;;) {
        const hold = now().getTime() < holdUntil;
        try {
          await deliverDueOf(ids, hold);
        } catch (caught) {
          log.warn({ error: coerceError(caught).summary() }, 'alert delivery pass failed; retrying');
        }
        const counts = await store.outboxCounts({ runIds: ids });
        const pending = counts.pending + counts.delivering;
        const left = deadline - now().getTime();
        if (pending === 0 || left <= 0 || closing.signal.aborted) {
          return { delivered: counts.delivered, pending, dead: counts.dead };
        }
        const due = await store.nextOutboxDueAt(dueFilter(ids, hold));
        let untilDue = due === null ? left : due.getTime() - now().getTime();
        if (hold && contextWait) untilDue = Math.min(untilDue, holdUntil - now().getTime());
        // A floor: a due row another claimer holds right now is not ours to spin on.
        await sleep(Math.min(left, Math.max(20, untilDue)), closing.signal).catch(() => undefined);
      }
    },

    close() {
      closed ??= (async () => {
        closing.abort();
        await Promise.allSettled([...loops]);
        await ownAgent?.close();
      })();
      return closed;
    },
  };
}
