/**
 * The one backoff helper: capped exponential delay with full jitter, retries bounded by a deadline,
 * and an abortable sleep. Used by the ECS client (inner retries) and the alert dispatcher.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { coerceError, type RetryableError } from './errors.js';

export interface BackoffOptions {
  /** Delay scale of the first retry, in ms. */
  baseMs: number;
  /** No single delay exceeds this, in ms. */
  capMs: number;
}

/**
 * Full jitter (AWS architecture blog "Exponential Backoff And Jitter"): a uniform draw in
 * [0, min(cap, base * 2^attempt)). `attempt` counts from 0 for the first retry.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * exp);
}

/** Sleeps `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) {
    signal?.throwIfAborted();
    return;
  }
  await delay(ms, undefined, signal ? { signal } : undefined);
}

export interface RetryOptions extends BackoffOptions {
  /** Give up (rethrow the last error) when the next attempt could not start before this, ms from now. */
  deadlineMs: number;
  /** At most this many attempts in all. Default: unbounded (the deadline bounds it). */
  maxAttempts?: number;
  signal?: AbortSignal | undefined;
  /** Called before each wait, e.g. to log or count throttled calls. */
  onRetry?: (err: RetryableError, attempt: number, delayMs: number) => void;
  random?: () => number;
  now?: () => number;
}

/**
 * Runs `fn` until it succeeds, a fatal error is thrown, attempts run out or the deadline would be
 * passed by the next wait. A server's retry-after hint, when given, replaces the computed delay
 * (capped). The error thrown is always the last one, coerced.
 */
export async function retryWithin<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (caught) {
      const err = coerceError(caught);
      if (!err.retryable || opts.signal?.aborted) throw err;
      if (opts.maxAttempts !== undefined && attempt + 1 >= opts.maxAttempts) throw err;
      const wait =
        err.retryAfterMs !== undefined
          ? Math.min(err.retryAfterMs, opts.capMs)
          : backoffDelay(attempt, opts, opts.random);
      if (now() + wait >= deadline) throw err;
      opts.onRetry?.(err, attempt, wait);
      await sleep(wait, opts.signal);
    }
  }
}
