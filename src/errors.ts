/**
 * Typed errors with one retryable / fatal split, and the one table that decides which is which.
 *
 * Every `catch` in the project passes what it caught through `coerceError`, so callers only ever
 * see a `RetryableError` or a `FatalError`. Only the queue edge (queues.ts) maps a `FatalError`
 * to BullMQ's `UnrecoverableError`; domain modules never import bullmq.
 */

/**
 * Codes one module produces and another compares, spelled once: a typo on either side would
 * otherwise turn a rescan into a failed run, or an abort into the target's fault.
 */
export const ErrorCode = {
  /** applyScan refused a removal the lookup did not confirm; the scan runs again. */
  RemovalNotConfirmed: 'RemovalNotConfirmed',
  /** The API's answer for a VPC that does not exist (any more). */
  VpcNotFound: 'InvalidVpcId.NotFound',
  /** The work stopped because the process is stopping (an abort signal), not because it failed. */
  Aborted: 'Aborted',
  /**
   * The API's answer to a call with `DryRun=true` that would have succeeded: the identity may make
   * it. An error for every other call; the permission probe reads it as "allowed".
   */
  DryRunPassed: 'DryRunOperation',
  /**
   * A LISTEN connection did not hear its own probe NOTIFY: it has no session of its own (a
   * transaction-pooling PgBouncer), or it is not on the database the service writes to.
   */
  ListenUnheard: 'ListenUnheard',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorDetails {
  /** Machine-readable code: the API's `Code`, an undici / Node code, a SQLSTATE, or one of ours. */
  code: string;
  /** The API's `RequestId`, when the error came from an API answer. */
  requestId?: string | undefined;
  /** The HTTP status of the answer, when there was one. */
  httpStatus?: number | undefined;
  /** How long the server asked us to wait before trying again (`x-acs-retry-after`), in ms. */
  retryAfterMs?: number | undefined;
  /** What the operator should check, e.g. `check ALIBABA_CLOUD_ACCESS_KEY_SECRET`; ends the summary. */
  hint?: string | undefined;
  cause?: unknown;
}

export abstract class SyncError extends Error {
  abstract readonly retryable: boolean;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly hint: string | undefined;

  constructor(message: string, details: ErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.requestId = details.requestId;
    this.httpStatus = details.httpStatus;
    this.retryAfterMs = details.retryAfterMs;
    this.hint = details.hint;
  }

  /** A one-line summary safe for logs and the `sync_runs.error_message` column; the hint comes last. */
  summary(): string {
    const rid = this.requestId ? ` (RequestId ${this.requestId})` : '';
    return `${this.code}: ${this.message}${rid}${this.hint ? `; ${this.hint}` : ''}`;
  }
}

/** Worth trying again: throttling, 5xx, timeouts, dropped connections, serialization failures. */
export class RetryableError extends SyncError {
  readonly retryable = true;
  override readonly name = 'RetryableError';
}

/** Trying again cannot help: bad credentials, no permission, bad parameters, not found, bad bodies. */
export class FatalError extends SyncError {
  readonly retryable = false;
  override readonly name = 'FatalError';
}

/** API error codes (the JSON `Code`) that are worth retrying. Everything else from the API is fatal. */
const RETRYABLE_API_CODES: readonly (string | RegExp)[] = [
  /^Throttling(\..+)?$/,
  'Rejected.Throttling',
  'ServiceUnavailable',
  'InternalError',
  /^InternalError\./,
  'RequestTimeout',
];

/**
 * API error codes that mean the identity lacks the RAM permission for the call: fatal, like every
 * code not in the retryable table, and told apart because a missing permission must never read as
 * "nothing there" (an attribution `unavailable`, never `not_found`). ECS answers `Forbidden.RAM`
 * (and plain `Forbidden`, `Forbidden.SubUser`), other services and STS `NoPermission`.
 */
const PERMISSION_API_CODES: ReadonlySet<string> = new Set([
  'Forbidden.RAM',
  'Forbidden',
  'Forbidden.SubUser',
  'NoPermission',
]);

/** undici and Node socket codes that mean "the network failed us this time". */
const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * The network codes among those that mean nothing answered at the address at all: the name did
 * not resolve, the connection was refused, there is no route. Still retryable (a service rides out
 * a DNS blip or an endpoint restarting), but a one-shot that keeps meeting them is pointed at a
 * wrong endpoint or has no network, and says so at once (`isUnreachable`).
 */
const UNREACHABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * SQLSTATE classes and codes that a retry can fix: connection exceptions (08), serialization
 * failures and deadlocks (40001, 40P01), the server shutting down or restarting (57P01..57P03),
 * too many connections (53300), lock timeouts (55P03).
 */
const RETRYABLE_SQLSTATE = /^(08...|40001|40P01|57P0[123]|53300|55P03)$/;

/** Messages of errors that carry no code but mean a lost connection (pg, ioredis). */
const RETRYABLE_MESSAGES = [
  /Connection terminated/i,
  /Client has encountered a connection error/i,
  /Connection is closed/i,
  /connect ECONNREFUSED/i,
  /timeout exceeded when trying to connect/i,
];

function isRetryableApiCode(code: string): boolean {
  return RETRYABLE_API_CODES.some((c) => (typeof c === 'string' ? c === code : c.test(code)));
}

/**
 * Classifies an API answer: by the JSON `Code` first (Alibaba answers throttling with HTTP 400),
 * then, when the code is unknown to the table, by the HTTP status (429 and 5xx retry).
 */
export function classifyApiError(code: string | undefined, httpStatus: number): 'retryable' | 'fatal' {
  if (code !== undefined && isRetryableApiCode(code)) return 'retryable';
  if (code !== undefined && code !== '' && httpStatus < 500) return 'fatal';
  if (httpStatus === 429 || httpStatus >= 500) return 'retryable';
  return 'fatal';
}

/** The API refused the call for a missing RAM permission (see `PERMISSION_API_CODES`). */
export function isPermissionDenied(e: { code: string }): boolean {
  return PERMISSION_API_CODES.has(e.code);
}

/** The error reached no server (see `UNREACHABLE_NETWORK_CODES`): the code it carries. */
export function isUnreachable(e: { code: string }): boolean {
  return UNREACHABLE_NETWORK_CODES.has(e.code);
}

/**
 * The API asked us to slow down: `Throttling`, `Throttling.User`, `Rejected.Throttling` (any code
 * with a `Throttling` part), or HTTP 429. One predicate for the fleet's back-off (the limiter
 * closes its lanes) and the throttling metric.
 */
export function isThrottled(e: { code: string; httpStatus?: number | undefined }): boolean {
  return /(^|\.)Throttling(\.|$)/.test(e.code) || e.httpStatus === 429;
}

function stringProp(value: unknown, key: string): string | undefined {
  if (typeof value === 'object' && value !== null && key in value) {
    const v = (value as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Turns anything thrown into a `RetryableError` or a `FatalError`. Our own errors pass unchanged. */
export function coerceError(err: unknown): RetryableError | FatalError {
  if (err instanceof RetryableError || err instanceof FatalError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = stringProp(err, 'code');
  if (err instanceof Error && err.name === 'AbortError') {
    return new RetryableError('aborted', { code: ErrorCode.Aborted, cause: err });
  }
  if (code !== undefined && RETRYABLE_NETWORK_CODES.has(code)) {
    return new RetryableError(message, { code, cause: err });
  }
  // pg errors carry the SQLSTATE in `code` and a `severity` field.
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && stringProp(err, 'severity') !== undefined) {
    return RETRYABLE_SQLSTATE.test(code)
      ? new RetryableError(message, { code: `SQLSTATE_${code}`, cause: err })
      : new FatalError(message, { code: `SQLSTATE_${code}`, cause: err });
  }
  if (RETRYABLE_MESSAGES.some((re) => re.test(message))) {
    return new RetryableError(message, { code: code ?? 'CONNECTION_LOST', cause: err });
  }
  // Unknown errors are retried: BullMQ's attempts bound the cost, and a transient fault we have not
  // met before should not permanently fail a target.
  return new RetryableError(message, { code: code ?? 'INTERNAL', cause: err });
}
