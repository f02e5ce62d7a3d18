/**
 * The Alibaba Cloud API client (ECS, VPC, ActionTrail): signed RPC calls over one keep-alive undici
 * Pool per origin, and the attempt / retry loop around each. The request is built in request.ts,
 * the answer read in answer.ts; the actions live in actions.ts (links, regions, VPCs),
 * instances.ts (instance attributes) and actiontrail.ts (LookupEvents).
 *
 * Every call is `POST /?<all parameters>` with an empty body — what `@alicloud/ecs20140526` sends.
 * Each attempt takes a limiter slot, fetches credentials, and gets a fresh nonce, timestamp and
 * signature (so STS refresh works and the server's replay check never bites a retry). Retries
 * happen inside `retryWithin` (backoff.ts).
 */
import { randomUUID } from 'node:crypto';
import { type Dispatcher, Pool } from 'undici';
import { retryWithin } from '../backoff.js';
import type { CredentialsProvider } from '../credentials/index.js';
import { coerceError, FatalError, isUnreachable } from '../errors.js';
import type { Logger } from '../log.js';
import { type ApiCall, type EcsActions, ecsActions } from './actions.js';
import { type ActionTrailActions, actionTrailActions } from './actiontrail.js';
import { interpret, readAnswer } from './answer.js';
import { type ApiName, resolveEndpoint, unreachableMessage } from './endpoints.js';
import { type InstanceActions, instanceActions } from './instances.js';
import type { ApiLimiter } from './limiter.js';
import { buildSignedRequest } from './request.js';
import { onWrite, writeHooks } from './write-hook.js';

/** Defaults of the optional `EcsClientOptions` fields, in one place. */
const ECS_CLIENT_DEFAULTS = {
  /**
   * Short enough that a transient 5xx costs little, long enough that a throttled account backs off
   * within a few attempts. A server's `x-acs-retry-after` replaces the computed delay (capped).
   */
  backoff: { baseMs: 200, capMs: 10_000 },
  /** Far above a full page of links: this only stops a broken or hostile server. */
  maxResponseBytes: 4 * 1024 * 1024,
  /** Sockets per origin; the API's QPS limit, not sockets, is the bottleneck. */
  connectionsPerOrigin: 16,
} as const;

export interface CallEvent {
  api: ApiName;
  action: string;
  regionId: string;
  /** `OK`, or the error code of this attempt (API `Code`, undici code, or one of ours). */
  code: string;
  httpStatus?: number | undefined;
  durationMs: number;
  /** 0 for the first attempt of a call. */
  attempt: number;
  requestId?: string | undefined;
}

/** Runs `fn` when fewer than N such calls are running (a p-limit limit function fits). */
export type InFlightLimit = <T>(fn: () => Promise<T>) => Promise<T>;

export interface EcsClientOptions {
  credentials: CredentialsProvider;
  /** `API_SIGNATURE`: V3 (ACS3-HMAC-SHA256) or the RPC HMAC-SHA1 scheme. */
  signature: 'v3' | 'v1';
  /** `ECS_ENDPOINT` override; may contain `{region}`. Default `https://ecs.<region>.aliyuncs.com`. */
  ecsEndpoint?: string | undefined;
  /** `VPC_ENDPOINT` override; may contain `{region}`. Default `https://vpc.<region>.aliyuncs.com`. */
  vpcEndpoint?: string | undefined;
  /**
   * `ACTIONTRAIL_ENDPOINT` override; may contain `{region}` and a path.
   * Default `https://actiontrail.<region>.aliyuncs.com`.
   */
  actiontrailEndpoint?: string | undefined;
  /** `API_TIMEOUT`: connect, headers and body (idle) timeouts of one request, ms. */
  timeoutMs: number;
  /** `API_RETRY_DEADLINE`: no retry starts after this many ms from the first attempt. */
  retryDeadlineMs: number;
  /**
   * A call whose last this-many attempts in a row reached no server at all (errors.ts
   * `isUnreachable`: the name did not resolve, the connection was refused, no route) fails for good
   * with `EndpointUnreachable`, one line naming the endpoint and its variable. For one-shots
   * (`sync --once`), which report a wrong endpoint at once. Default: such failures are retried
   * within `retryDeadlineMs` like any network error (the service rides out an endpoint restart).
   */
  unreachableAttempts?: number | undefined;
  /** Backoff between attempts. Default `{ baseMs: 200, capMs: 10_000 }`. */
  backoff?: { baseMs: number; capMs: number } | undefined;
  /** Largest body read, bytes; beyond → FatalError `ResponseTooLarge`. Default 4 MiB. */
  maxResponseBytes?: number | undefined;
  /** undici Pool size per origin. Default 16. */
  connectionsPerOrigin?: number | undefined;
  /**
   * QPS limiter, asked before every attempt (retries included); the client calls the admission's
   * `sending()` at the moment the request goes out. Default: none.
   */
  limiter?: Pick<ApiLimiter, 'acquire'> | undefined;
  /**
   * The process's cap on requests in flight (SYNC_CONCURRENCY), shared by every client of the
   * process: each request runs inside it from signing to its last body byte. The limiter is asked
   * first, outside it, so a call waiting for its key's budget never keeps a slot from a call that
   * has budget. Default: no cap.
   */
  inFlight?: InFlightLimit | undefined;
  /** Metrics hook, called once per attempt. */
  onCall?: ((e: CallEvent) => void) | undefined;
  log: Logger;
  /** Clock for signatures (`x-acs-date` / `Timestamp`). Retry deadlines use the real clock. */
  now?: (() => Date) | undefined;
  /** Signature nonce source. Default `crypto.randomUUID`. */
  nonce?: (() => string) | undefined;
  /** Jitter source for backoff. Default `Math.random`. */
  random?: (() => number) | undefined;
}

export interface EcsClient extends EcsActions, InstanceActions, ActionTrailActions {
  /** Closes every Pool; idempotent (returns the same promise). Later calls fail with `ClientClosed`. */
  close(): Promise<void>;
}

/** An origin the client talks to: its host, the path requests go to, and its pool. */
interface Origin {
  host: string;
  /** `/`, or an ActionTrail override's path. */
  path: string;
  /** The origin's pool, composed with `writeHooks` (the limiter's window starts at the write). */
  dispatcher: Dispatcher;
}

const unlimitedInFlight: InFlightLimit = (fn) => fn();

export function createEcsClient(opts: EcsClientOptions): EcsClient {
  const backoff = opts.backoff ?? ECS_CLIENT_DEFAULTS.backoff;
  const maxBytes = opts.maxResponseBytes ?? ECS_CLIENT_DEFAULTS.maxResponseBytes;
  const connections = opts.connectionsPerOrigin ?? ECS_CLIENT_DEFAULTS.connectionsPerOrigin;
  const inFlight = opts.inFlight ?? unlimitedInFlight;
  const now = opts.now ?? (() => new Date());
  const nonce = opts.nonce ?? randomUUID;
  const log = opts.log;

  /** One Pool per origin; created on first use. */
  const pools = new Map<string, Pool>();
  /** (api, region) → resolved host + pool, so endpoint resolution runs once per region and API. */
  const origins = new Map<string, Origin>();
  let closing: Promise<void> | undefined;

  const overrides: Readonly<Record<ApiName, string | undefined>> = {
    ecs: opts.ecsEndpoint,
    vpc: opts.vpcEndpoint,
    actiontrail: opts.actiontrailEndpoint,
  };
  const endpoint = (api: ApiName, regionId: string): URL => resolveEndpoint(api, regionId, overrides[api]);

  function origin(api: ApiName, regionId: string): Origin {
    const key = `${api} ${regionId}`;
    const hit = origins.get(key);
    if (hit) return hit;
    // A call that passed the limiter while close() ran must not open a new pool behind it.
    if (closing) throw new FatalError('the ECS client is closed', { code: 'ClientClosed' });
    const url = endpoint(api, regionId);
    let pool = pools.get(url.origin);
    if (!pool) {
      pool = new Pool(url.origin, {
        connections,
        connectTimeout: opts.timeoutMs,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
      pools.set(url.origin, pool);
    }
    const t = { host: url.host, path: url.pathname, dispatcher: pool.compose(writeHooks) };
    origins.set(key, t);
    return t;
  }

  /** One attempt: limiter, credentials, sign, send, read, interpret. Reports to `onCall`. */
  async function attemptOnce<T>(c: ApiCall<T>, attempt: number): Promise<T> {
    const { api, regionId, action, signal } = c;
    if (closing) throw new FatalError('the ECS client is closed', { code: 'ClientClosed' });
    const admission = await opts.limiter?.acquire({ api, regionId, action }, signal);
    let started = performance.now();
    let httpStatus: number | undefined;
    const report = (e: Pick<CallEvent, 'code' | 'httpStatus' | 'requestId'>) =>
      opts.onCall?.({ api, action, regionId, ...e, durationMs: performance.now() - started, attempt });
    try {
      const answer = await inFlight(async () => {
        signal?.throwIfAborted();
        started = performance.now();
        const credentials = await opts.credentials.get(signal);
        const t = origin(api, regionId);
        const req = buildSignedRequest({
          signature: opts.signature,
          host: t.host,
          path: t.path,
          api,
          action,
          params: c.params,
          credentials,
          now: now(),
          nonce: nonce(),
        });
        const request = { method: 'POST' as const, path: req.path, headers: req.headers, signal };
        // The limiter's lane restarts its window as the request is written to the socket.
        const res = await t.dispatcher.request(
          admission ? onWrite(request, () => admission.sending()) : request,
        );
        httpStatus = res.statusCode;
        return readAnswer(res, maxBytes);
      });
      const { value, requestId } = interpret(answer, {
        action,
        parse: c.parse,
        credentialsSource: opts.credentials.name,
      });
      report({ code: 'OK', httpStatus, requestId });
      return value;
    } catch (caught) {
      const err = coerceError(caught);
      report({ code: err.code, httpStatus: err.httpStatus ?? httpStatus, requestId: err.requestId });
      throw err;
    }
  }

  function call<T>(c: ApiCall<T>): Promise<T> {
    const { api, regionId, action } = c;
    // Attempts in a row that reached no server (unreachableAttempts).
    let unreachable = 0;
    const attemptCounted = async (attempt: number): Promise<T> => {
      try {
        return await attemptOnce(c, attempt);
      } catch (caught) {
        const err = coerceError(caught);
        unreachable = isUnreachable(err) ? unreachable + 1 : 0;
        if (opts.unreachableAttempts === undefined || unreachable < opts.unreachableAttempts) throw err;
        throw new FatalError(unreachableMessage(api, endpoint(api, regionId), err.code), {
          code: 'EndpointUnreachable',
          cause: err,
        });
      }
    };
    // retryWithin rethrows an abort of its backoff sleep as-is; coerce so callers only ever see
    // RetryableError / FatalError.
    return retryWithin(attemptCounted, {
      baseMs: backoff.baseMs,
      capMs: backoff.capMs,
      deadlineMs: opts.retryDeadlineMs,
      signal: c.signal,
      random: opts.random,
      onRetry: (err, attempt, delayMs) => {
        // Never the error object itself: its cause may hold request details. Codes and ids only.
        const fields = {
          action,
          regionId,
          code: err.code,
          httpStatus: err.httpStatus,
          requestId: err.requestId,
          attempt: attempt + 1,
          delayMs,
        };
        if (attempt === 0) log.debug(fields, 'API call failed, retrying');
        else log.warn(fields, 'API call failed again, retrying');
      },
    }).catch((err: unknown) => {
      throw coerceError(err);
    });
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const all = [...pools.values()];
      pools.clear();
      origins.clear();
      // Pool.close() lets in-flight requests finish, then closes every socket. Let each pool
      // close even if another fails; report the first failure.
      const results = await Promise.allSettled(all.map((p) => p.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw coerceError(failed.reason);
    })();
    return closing;
  }

  return { ...ecsActions(call), ...instanceActions(call), ...actionTrailActions(call), close };
}
