/**
 * Delivering claimed outbox rows. One row is paced for its channel, sent only with time for the
 * request left in its lease, and its outcome recorded: delivered; failed and due again after a
 * capped, jittered backoff; dead after the last attempt (kept, with its last error, and logged);
 * or given back unsent. A batch goes to its channels in parallel, each channel's rows in order.
 */
import type { Dispatcher } from 'undici';
import { type BackoffOptions, backoffDelay } from '../backoff.js';
import { coerceError, FatalError, type RetryableError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxMessage, OutboxStore } from '../store/index.js';
import { sendAlert } from './channel-set.js';
import type { Channel, ChannelName } from './channels/types.js';

export interface DeliveryCounts {
  delivered: number;
  /** Failed attempts rescheduled for a retry. */
  failed: number;
  /** Rows dead-lettered. */
  dead: number;
}

interface DeliveryOptions {
  store: Pick<OutboxStore, 'completeOutbox' | 'failOutbox' | 'releaseOutbox'>;
  /** The configured channels (`createChannels`). */
  channels: ReadonlyMap<ChannelName, Channel>;
  /** undici dispatcher for the channels' requests. */
  http: Dispatcher;
  log: Logger;
  /** Attempts of one row before it is dead-lettered. */
  maxAttempts: number;
  /** Backoff between attempts of one row (full jitter, at least `baseMs`). */
  backoff: BackoffOptions;
  /** Bound on one request; a claim with less lease left is given back unsent. */
  requestTimeoutMs: number;
  /** Receivers' answers are read up to this many bytes. */
  maxAnswerBytes: number;
  /** Keep under each service's per-bot rate limit, per process. */
  pace: boolean;
  now: () => Date;
  random: () => number;
}

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

type Outcome = 'delivered' | 'failed' | 'dead' | 'released' | 'unknown';

/** Delivers one claimed batch; the counts say what became of its rows. */
export function createDelivery(
  opts: DeliveryOptions,
): (batch: readonly OutboxMessage[]) => Promise<DeliveryCounts> {
  const { store, channels, log, maxAttempts, backoff, requestTimeoutMs, now } = opts;
  const pacers = new Map<ChannelName, Pacer>();

  function pacer(channel: Channel): Pacer | undefined {
    if (!opts.pace || channel.rate === undefined) return undefined;
    let p = pacers.get(channel.name);
    if (!p) {
      p = new Pacer(channel.rate.count, channel.rate.perMs, now().getTime());
      pacers.set(channel.name, p);
    }
    return p;
  }

  async function recordFailure(
    msg: OutboxMessage,
    err: RetryableError | FatalError,
    ctx: object,
  ): Promise<Outcome> {
    const last = msg.attempts >= maxAttempts;
    const wait = Math.max(
      backoff.baseMs,
      backoffDelay(msg.attempts - 1, backoff, opts.random),
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
          dispatcher: opts.http,
          timeoutMs: requestTimeoutMs,
          maxAnswerBytes: opts.maxAnswerBytes,
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

  return async (batch) => {
    // Channels in parallel (a slow one does not hold the others up), each channel's rows in order.
    const byChannel = new Map<ChannelName, OutboxMessage[]>();
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
  };
}
