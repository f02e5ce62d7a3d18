/**
 * Delivering claimed outbox rows. One row is paced for its channel, its body rendered and stored
 * by its first attempt (every later attempt sends the stored body), sent only with time for the
 * request left in its lease, and its outcome recorded: delivered; failed and due again after a
 * capped, jittered backoff; dead after the last attempt (kept, with its last error, and logged);
 * or given back unsent. A batch goes to its channels in parallel, each channel's rows in order.
 */
import type { Dispatcher } from 'undici';
import { type BackoffOptions, backoffDelay } from '../backoff.js';
import { coerceError, FatalError, type RetryableError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxMessage, OutboxStore, Store } from '../store/index.js';
import { sendAlert } from './channel-set.js';
import type { Channel, ChannelName } from './channels/types.js';
import type { AlertContext } from './render.js';

export interface DeliveryCounts {
  delivered: number;
  /** Failed attempts rescheduled for a retry. */
  failed: number;
  /** Rows dead-lettered. */
  dead: number;
}

interface DeliveryOptions {
  store: Pick<OutboxStore, 'completeOutbox' | 'failOutbox' | 'releaseOutbox' | 'saveRenderedBody'> &
    Pick<Store, 'contextForRun'>;
  /** ATTRIBUTION=on: alerts tell each change's cause (or that it is unknown); off: they do not. */
  attribution: boolean;
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

  /**
   * The body every attempt of `msg` sends: the stored one, or — first attempt — rendered now with
   * its run's context as known now, and stored (the first body stored wins, whoever stored it).
   */
  async function bodyOf(
    msg: OutboxMessage,
    channel: Channel,
    contextOf: (runId: string) => Promise<AlertContext>,
  ): Promise<string> {
    if (msg.renderedBody !== null) return msg.renderedBody;
    const context = msg.kind === 'changes' ? await contextOf(msg.payload.runId) : undefined;
    const body = channel.render(msg, context);
    return store.saveRenderedBody({ id: msg.id, body, renderedAt: now() });
  }

  async function deliverOne(
    msg: OutboxMessage,
    contextOf: (runId: string) => Promise<AlertContext>,
  ): Promise<Outcome> {
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
      const paced = pacer(channel)?.take(now().getTime()) ?? 0;
      if (paced > 0) {
        await store.releaseOutbox({
          id: msg.id,
          attempts: msg.attempts,
          at: new Date(now().getTime() + paced),
        });
        return 'released';
      }
      let body: string;
      try {
        body = await bodyOf(msg, channel, contextOf);
      } catch (caught) {
        return await recordFailure(msg, coerceError(caught), ctx);
      }
      // Not sending without time for the request inside the lease: another dispatcher could take
      // the row over meanwhile and send it too.
      const t = now().getTime();
      if (msg.claimedUntil.getTime() - t < requestTimeoutMs) {
        await store.releaseOutbox({ id: msg.id, attempts: msg.attempts, at: new Date(t) });
        return 'released';
      }
      try {
        await sendAlert(channel, msg, body, {
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
    // One read of a run's context for the batch: its rows on every channel tell the same story.
    const contexts = new Map<string, Promise<AlertContext>>();
    const contextOf = (runId: string): Promise<AlertContext> => {
      let context = contexts.get(runId);
      if (context === undefined) {
        context = store
          .contextForRun(runId)
          .then((c) => ({ events: c.events, attribution: opts.attribution }));
        contexts.set(runId, context);
      }
      return context;
    };
    // Channels in parallel (a slow one does not hold the others up), each channel's rows in order.
    const byChannel = new Map<ChannelName, OutboxMessage[]>();
    for (const m of batch) byChannel.set(m.channel, [...(byChannel.get(m.channel) ?? []), m]);
    const counts: DeliveryCounts = { delivered: 0, failed: 0, dead: 0 };
    await Promise.all(
      [...byChannel.values()].map(async (rows) => {
        for (const row of rows) {
          const outcome = await deliverOne(row, contextOf);
          if (outcome === 'delivered' || outcome === 'failed' || outcome === 'dead') counts[outcome]++;
        }
      }),
    );
    return counts;
  };
}
