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
 * `run` waits for work by LISTEN (applyScan's NOTIFY, checkStaleness's NOTIFY) or until the next
 * row falls due, at most `pollMs`: a NOTIFY lost with a dropped connection costs a few seconds.
 */
import { Agent, type Dispatcher } from 'undici';
import { type BackoffOptions, backoffDelay, sleep } from '../backoff.js';
import { coerceError, FatalError, type RetryableError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxMessage, OutboxStore, OutboxWatch } from '../store/index.js';
import { type ChannelConfig, createChannels, sendAlert } from './channel-set.js';
import type { Channel } from './channels/types.js';

export interface AlertDispatcherOptions {
  /** The outbox verbs of the store (a whole `Store` will do). */
  store: OutboxStore;
  /** The channel URLs and secrets (the `Config` will do). */
  channels: ChannelConfig;
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
  /** Keep under each service's per-bot rate limit (Lark, DingTalk, WeCom), per process. Default true. */
  pace?: boolean | undefined;
  now?: (() => Date) | undefined;
  random?: (() => number) | undefined;
}

export interface DeliveryCounts {
  delivered: number;
  /** Failed attempts rescheduled for a retry. */
  failed: number;
  /** Rows dead-lettered. */
  dead: number;
}

export interface AlertDispatcher {
  /** Claims and delivers every row due now (in batches). */
  deliverDue(): Promise<DeliveryCounts>;
  /** Delivers until `signal` aborts (or `close()`): after each pass waits for a NOTIFY or the next due row. */
  run(signal: AbortSignal): Promise<void>;
  /**
   * Delivers the outbox rows of these runs now, retrying as they fall due, for at most `timeoutMs`
   * (`sync --once`). What is not delivered stays in the outbox for the service.
   */
  deliverRuns(
    runIds: readonly string[],
    timeoutMs: number,
  ): Promise<{ delivered: number; pending: number; dead: number }>;
  /** Stops `run` loops and closes the HTTP agent if it is ours. Idempotent. */
  close(): Promise<void>;
}

export const ALERT_DEFAULTS = {
  maxAttempts: 12,
  backoff: { baseMs: 2_000, capMs: 1_800_000 },
  leaseMs: 120_000,
  batchSize: 10,
  requestTimeoutMs: 10_000,
  maxAnswerBytes: 64 * 1024,
  pollMs: 5_000,
} as const;

/** A token bucket per channel: `count` messages per `perMs`, starting full. */
class Pacer {
  private tokens: number;
  private last: number;
  constructor(
    private readonly count: number,
    private readonly perMs: number,
    now: number,
  ) {
    this.tokens = count;
    this.last = now;
  }
  /** Takes a token and returns 0, or returns how long until one is available (taking none). */
  take(now: number): number {
    this.tokens = Math.min(this.count, this.tokens + ((now - this.last) * this.count) / this.perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * this.perMs) / this.count);
  }
}

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
  const log = opts.log.child({ component: 'alerts' });
  const channels = createChannels(opts.channels);
  const maxAttempts = opts.maxAttempts ?? ALERT_DEFAULTS.maxAttempts;
  const backoff = opts.backoff ?? ALERT_DEFAULTS.backoff;
  const leaseMs = opts.leaseMs ?? ALERT_DEFAULTS.leaseMs;
  const batchSize = opts.batchSize ?? ALERT_DEFAULTS.batchSize;
  const requestTimeoutMs = opts.requestTimeoutMs ?? ALERT_DEFAULTS.requestTimeoutMs;
  const maxAnswerBytes = opts.maxAnswerBytes ?? ALERT_DEFAULTS.maxAnswerBytes;
  const pollMs = opts.pollMs ?? ALERT_DEFAULTS.pollMs;
  const now = opts.now ?? (() => new Date());
  const random = opts.random ?? Math.random;
  const ownAgent =
    opts.http === undefined
      ? new Agent({ connectTimeout: requestTimeoutMs, keepAliveTimeout: 30_000, connections: 4 })
      : undefined;
  const http: Dispatcher = opts.http ?? (ownAgent as Agent);
  const pacers = new Map<string, Pacer>();
  const closing = new AbortController();
  const loops = new Set<Promise<void>>();
  let closed: Promise<void> | undefined;

  function pacer(channel: Channel): Pacer | undefined {
    if (opts.pace === false || channel.rate === undefined) return undefined;
    let p = pacers.get(channel.name);
    if (!p) {
      p = new Pacer(channel.rate.count, channel.rate.perMs, now().getTime());
      pacers.set(channel.name, p);
    }
    return p;
  }

  type Outcome = 'delivered' | 'failed' | 'dead' | 'released' | 'unknown';

  async function recordFailure(
    msg: OutboxMessage,
    err: RetryableError | FatalError,
    ctx: object,
  ): Promise<Outcome> {
    const last = msg.attempts >= maxAttempts;
    const wait = Math.max(
      backoff.baseMs,
      backoffDelay(msg.attempts - 1, backoff, random),
      err.retryAfterMs ?? 0,
    );
    const retryAt = last ? null : new Date(now().getTime() + wait);
    const status = await store.failOutbox({
      id: msg.id,
      attempts: msg.attempts,
      error: err.summary(),
      retryAt,
    });
    if (status === 'dead') {
      log.error({ ...ctx, error: err.summary() }, 'alert dead-lettered after its last attempt');
      return 'dead';
    }
    if (status === 'pending') {
      log.warn({ ...ctx, error: err.summary(), retryInMs: wait }, 'alert delivery failed; will retry');
      return 'failed';
    }
    // Our lease ran out and another dispatcher took the row over: its result stands.
    log.warn({ ...ctx, error: err.summary() }, 'alert delivery failed after its claim was taken over');
    return 'unknown';
  }

  async function deliverOne(msg: OutboxMessage): Promise<Outcome> {
    const channel = channels.get(msg.channel);
    const ctx = {
      outboxId: msg.id,
      kind: msg.kind,
      channel: msg.channel,
      runId: msg.syncRunId,
      attempt: msg.attempts,
      // The origin only: the path and query of a webhook URL are its secret.
      receiver: channel?.origin,
    };
    try {
      if (msg.attempts > maxAttempts) {
        // The claim after the last attempt's lease expired: its deliverer died mid-attempt.
        return await recordFailure(
          msg,
          new FatalError('the last attempt did not finish (lease expired)', { code: 'LeaseExpired' }),
          ctx,
        );
      }
      if (!channel) {
        return await recordFailure(
          msg,
          new FatalError(`channel ${msg.channel} is not configured in this process`, {
            code: 'ChannelNotConfigured',
          }),
          ctx,
        );
      }
      const t = now().getTime();
      const waitMs = pacer(channel)?.take(t) ?? 0;
      // Not sending without time for the request inside the lease: another dispatcher could take
      // the row over meanwhile and send it too.
      const leaseLeft = msg.claimedUntil.getTime() - t;
      if (waitMs > 0 || leaseLeft < requestTimeoutMs) {
        await store.releaseOutbox({ id: msg.id, attempts: msg.attempts, at: new Date(t + waitMs) });
        return 'released';
      }
      try {
        await sendAlert(channel, msg, {
          dispatcher: http,
          timeoutMs: requestTimeoutMs,
          maxAnswerBytes,
          now: now(),
        });
      } catch (caught) {
        return await recordFailure(msg, coerceError(caught), ctx);
      }
      await store.completeOutbox(msg.id, now());
      log.info(ctx, 'alert delivered');
      return 'delivered';
    } catch (caught) {
      // The store failed us: the row stays claimed and is due again when its lease ends.
      log.warn(
        { ...ctx, error: coerceError(caught).summary() },
        'alert outcome not recorded; retried after the lease',
      );
      return 'unknown';
    }
  }

  async function deliverBatch(batch: readonly OutboxMessage[]): Promise<DeliveryCounts> {
    // Channels in parallel (a slow one does not hold the others up), each channel's rows in order.
    const byChannel = new Map<string, OutboxMessage[]>();
    for (const m of batch) byChannel.set(m.channel, [...(byChannel.get(m.channel) ?? []), m]);
    const counts: DeliveryCounts = { delivered: 0, failed: 0, dead: 0 };
    await Promise.all(
      [...byChannel.values()].map(async (rows) => {
        for (const row of rows) {
          const outcome = await deliverOne(row);
          if (outcome === 'delivered' || outcome === 'failed' || outcome === 'dead') counts[outcome]++;
        }
      }),
    );
    return counts;
  }

  async function deliverDueOf(runIds: readonly string[] | undefined): Promise<DeliveryCounts> {
    const total: DeliveryCounts = { delivered: 0, failed: 0, dead: 0 };
    // Bounded: rows that fail are due later, so rounds end; the bound guards a flood of new rows.
    for (let round = 0; round < 100; round++) {
      const batch = await store.claimOutbox({ limit: batchSize, leaseMs, now: now(), runIds });
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
        if (watch === undefined) {
          try {
            const w = await store.watchOutbox(() => wake.fire());
            watch = w;
            void w.lost.then(() => {
              if (watch === w) watch = undefined;
              wake.fire();
            });
          } catch (caught) {
            log.warn({ error: coerceError(caught).summary() }, 'cannot LISTEN for alerts; polling');
          }
        }
        let waitMs = pollMs;
        try {
          await deliverDueOf(undefined);
          const due = await store.nextOutboxDueAt();
          if (due !== null) waitMs = Math.min(pollMs, Math.max(0, due.getTime() - now().getTime()));
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
      for (;;) {
        try {
          await deliverDueOf(ids);
        } catch (caught) {
          log.warn({ error: coerceError(caught).summary() }, 'alert delivery pass failed; retrying');
        }
        const counts = await store.outboxCounts({ runIds: ids });
        const pending = counts.pending + counts.delivering;
        const left = deadline - now().getTime();
        if (pending === 0 || left <= 0 || closing.signal.aborted) {
          return { delivered: counts.delivered, pending, dead: counts.dead };
        }
        const due = await store.nextOutboxDueAt({ runIds: ids });
        const untilDue = due === null ? left : due.getTime() - now().getTime();
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
