/**
 * Caching and refresh of session (STS) credentials, shared by every provider whose credentials
 * expire: STS AssumeRole, AssumeRoleWithOIDC, the ECS RAM role.
 *
 * - Credentials are reused until `staleMs` (15 min, the SDK's STALE_TIME) before they expire, then
 *   refreshed on the next `get()`: the ECS client calls `get()` before every attempt, so a
 *   refresh is transparent to it.
 * - Concurrent `get()`s while a refresh runs share that one refresh (one STS call, not one per
 *   request in flight). The refresh itself is not tied to any caller's signal — one caller giving
 *   up must not fail the others — but each caller stops waiting when its own signal aborts.
 * - A failed refresh while the cached credentials are still valid is logged and the cached ones
 *   are used; the next attempt waits `failureBackoffMs`, so a down STS is not called on every
 *   request. Once they have expired, the refresh error is thrown.
 */
import { coerceError } from '../errors.js';
import type { Credentials, CredentialsLog, CredentialsProvider } from './types.js';

/** Refresh this long before expiry: the SDK's STALE_TIME (15 min). */
export const STALE_MS = 15 * 60_000;
/** After a failed refresh with valid cached credentials, wait this long before the next try. */
const REFRESH_FAILURE_BACKOFF_MS = 10_000;

export type SessionCredentials = Credentials & { expiresAt: Date };

export interface SessionProviderOptions {
  name: string;
  /** Fetches fresh credentials. Errors must already be `RetryableError` / `FatalError` without secrets. */
  fetch: () => Promise<SessionCredentials>;
  log: CredentialsLog;
  now?: (() => Date) | undefined;
  /** Default 15 min. */
  staleMs?: number | undefined;
  /** Default 10 s. */
  failureBackoffMs?: number | undefined;
}

interface Cached {
  creds: Credentials;
  expiresAt: number;
  refreshAt: number;
}

export function sessionProvider(opts: SessionProviderOptions): CredentialsProvider {
  const now = () => (opts.now ? opts.now() : new Date()).getTime();
  const staleMs = opts.staleMs ?? STALE_MS;
  const backoffMs = opts.failureBackoffMs ?? REFRESH_FAILURE_BACKOFF_MS;
  let cached: Cached | undefined;
  let inflight: Promise<Credentials> | undefined;

  async function refresh(): Promise<Credentials> {
    try {
      const fresh = await opts.fetch();
      const t = now();
      const expiresAt = fresh.expiresAt.getTime();
      let refreshAt = expiresAt - staleMs;
      if (refreshAt <= t) {
        // Issued with less than `staleMs` left (a short DurationSeconds, or clock skew): use them,
        // but try again soon rather than on every request.
        refreshAt = t + Math.min(60_000, Math.max(1_000, (expiresAt - t) / 2));
      }
      const creds = Object.freeze({ ...fresh });
      cached = { creds, expiresAt, refreshAt };
      opts.log.debug(
        { source: opts.name, expiresAt: fresh.expiresAt.toISOString() },
        'session credentials refreshed',
      );
      return creds;
    } catch (err) {
      const t = now();
      if (cached !== undefined && t < cached.expiresAt) {
        const e = coerceError(err);
        cached.refreshAt = t + backoffMs;
        opts.log.warn(
          {
            source: opts.name,
            code: e.code,
            err: e.message,
            expiresAt: new Date(cached.expiresAt).toISOString(),
          },
          'credentials refresh failed; using the cached credentials until they expire',
        );
        return cached.creds;
      }
      throw err;
    }
  }

  return {
    name: opts.name,
    get(signal?: AbortSignal): Promise<Credentials> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (cached !== undefined && now() < cached.refreshAt) return Promise.resolve(cached.creds);
      if (inflight === undefined) {
        inflight = refresh().finally(() => {
          inflight = undefined;
        });
      }
      return signal ? untilAborted(inflight, signal) : inflight;
    },
  };
}

/**
 * `resolve`, run on first use and kept: concurrent first callers share one run, and a failed run is
 * not kept, so the next call tries again. Each caller stops waiting when its own signal aborts.
 */
export function resolveOnce<T>(resolve: () => Promise<T>): {
  get(signal?: AbortSignal): Promise<T>;
  readonly value: T | undefined;
} {
  let value: T | undefined;
  let pending: Promise<T> | undefined;
  return {
    get value() {
      return value;
    },
    async get(signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) throw signal.reason;
      if (value === undefined) {
        pending ??= resolve().finally(() => {
          pending = undefined;
        });
        value = await (signal ? untilAborted(pending, signal) : pending);
      }
      return value;
    },
  };
}

/** `p`, or a rejection with the signal's reason as soon as `signal` aborts (p keeps running). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Parses an STS / metadata `Expiration` (`2015-04-09T11:52:19Z`, optionally with milliseconds).
 * Undefined for anything else.
 */
export function parseExpiration(value: unknown): Date | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(value))
    return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * The session credentials of an STS `Credentials` object or an ECS metadata answer (both name them
 * AccessKeyId, AccessKeySecret, SecurityToken, Expiration). Undefined when any is missing, empty
 * or, for Expiration, not a timestamp.
 */
export function sessionCredentialsFrom(value: unknown): SessionCredentials | undefined {
  const v = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const expiresAt = parseExpiration(v.Expiration);
  const text = (x: unknown) => (typeof x === 'string' && x !== '' ? x : undefined);
  const accessKeyId = text(v.AccessKeyId);
  const accessKeySecret = text(v.AccessKeySecret);
  const securityToken = text(v.SecurityToken);
  if (!accessKeyId || !accessKeySecret || !securityToken || !expiresAt) return undefined;
  return { accessKeyId, accessKeySecret, securityToken, expiresAt };
}
