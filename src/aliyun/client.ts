/**
 * The ECS / VPC API client: signed RPC calls over one keep-alive undici Pool per origin.
 *
 * Every call is `POST /?<all parameters>` with an empty body — what `@alicloud/ecs20140526` sends.
 * Each attempt takes a limiter slot, fetches credentials, and gets a fresh nonce, timestamp and
 * signature (so STS refresh works and the server's replay check never bites a retry). Answers are
 * read with a size cap, classified by the JSON `Code` (errors.ts holds the one table), and
 * validated with zod before any field is used. Retries happen inside `retryWithin` (backoff.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { z } from 'zod';
import { retryWithin } from '../backoff.js';
import type { Credentials, CredentialsProvider } from '../credentials/index.js';
import { classifyApiError, coerceError, FatalError, isUnreachable, RetryableError } from '../errors.js';
import type { Link } from '../links.js';
import type { Logger } from '../log.js';
import type { CallOptions, LinkPage } from '../sync/index.js';
import { pagesInOrder } from '../sync/index.js';
import { type ApiName, isRegionId, resolveEndpoint, unreachableMessage } from './endpoints.js';
import {
  type DescribeVpcsBody,
  describeClassicLinkInstancesSchema,
  describeIssues,
  describeRegionsSchema,
  describeVpcsSchema,
} from './schemas.js';
import { canonicalQuery, formatTimestamp, percentEncode, signV1, signV3 } from './signer.js';
import { onWrite, writeHooks } from './write-hook.js';

/** `Version` / `x-acs-version` of each API. */
export const API_VERSIONS: Readonly<Record<ApiName, string>> = { ecs: '2014-05-26', vpc: '2016-04-28' };

/** Hex SHA-256 of the empty body, sent as `x-acs-content-sha256` on every V3 request. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Defaults of the optional `EcsClientOptions` fields, in one place. */
export const ECS_CLIENT_DEFAULTS = {
  /**
   * First retry waits up to 200 ms, doubling to at most 10 s: short enough that a transient 5xx
   * costs little, long enough that a throttled account backs off within a few attempts. A server's
   * `x-acs-retry-after` replaces the computed delay (capped at `capMs`).
   */
  backoff: { baseMs: 200, capMs: 10_000 },
  /** 4 MiB: a full page of 100 links is ~10 KiB, so this only stops a broken or hostile server. */
  maxResponseBytes: 4 * 1024 * 1024,
  /** Sockets per origin; the API's QPS limit, not sockets, is the bottleneck. */
  connectionsPerOrigin: 16,
  /** DescribeRegions is global; any regional endpoint answers it. */
  regionsRegionId: 'cn-hangzhou',
} as const;

/** Largest page DescribeClassicLinkInstances accepts; also the most InstanceIds per lookup. */
export const MAX_LINK_PAGE_SIZE = 100;
/** DescribeVpcs pages at most 50. */
export const VPC_PAGE_SIZE = 50;
/** DescribeVpcs pages fetched at once after the first. */
export const VPC_PAGE_PARALLEL = 4;

export interface CallEvent {
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

export interface RateLimiter {
  /**
   * Resolves when one more request for (region, action) may start. Called before EVERY attempt.
   * The client calls the admission's `sending()` at the moment the request goes out.
   */
  acquire(key: { regionId: string; action: string }, signal?: AbortSignal): Promise<{ sending(): void }>;
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
  /** QPS limiter, asked before every attempt (retries included). Default: none. */
  limiter?: RateLimiter | undefined;
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

export interface ClassicLinkQuery {
  regionId: string;
  vpcId?: string | undefined;
  instanceIds?: string[] | undefined;
  pageNumber?: number | undefined;
  pageSize?: number | undefined;
}

export interface RegionInfo {
  regionId: string;
  localName: string;
  endpoint?: string;
}

export interface VpcInfo {
  vpcId: string;
  regionId: string;
  status: string;
  name?: string;
}

export interface EcsClient {
  describeClassicLinkInstances(req: ClassicLinkQuery, opts?: CallOptions): Promise<LinkPage>;
  /**
   * All pages of a listing (by VpcId or ≤100 InstanceIds), page size default 100. Yields each
   * validated page; stops when PageNumber*PageSize >= TotalCount or on a short page. Does NOT judge
   * completeness (the sync layer does); terminates because TotalCount is bounded by the schema.
   */
  classicLinkPages(req: Omit<ClassicLinkQuery, 'pageNumber'>, opts?: CallOptions): AsyncIterable<LinkPage>;
  /** ECS DescribeRegions (LocalName in English), sent to `regionId`'s endpoint (default cn-hangzhou). */
  describeRegions(opts?: CallOptions & { regionId?: string | undefined }): Promise<RegionInfo[]>;
  /** VPC DescribeVpcs, every page (PageSize 50). */
  describeVpcs(regionId: string, opts?: CallOptions): Promise<VpcInfo[]>;
  /** Closes every Pool; idempotent (returns the same promise). Later calls fail with `ClientClosed`. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Request construction (pure; exported for the signature-vector tests)

export interface SignInput {
  signature: 'v3' | 'v1';
  /** The verb that is sent and signed. The client always sends POST. */
  method?: 'POST' | 'GET' | undefined;
  /** Host as undici sends it: the URL's `host` (with the port when not the default one). */
  host: string;
  api: ApiName;
  action: string;
  params: Readonly<Record<string, string>>;
  credentials: Credentials;
  now: Date;
  nonce: string;
}

export interface SignedRequest {
  /** `/?<query>`, exactly the canonical query that was signed (plus `Signature` for V1). */
  path: string;
  /** Headers to pass to undici (no `host`: undici sends the origin's host, which is what we signed). */
  headers: Record<string, string>;
}

export function buildSignedRequest(input: SignInput): SignedRequest {
  const method = input.method ?? 'POST';
  const c = input.credentials;
  const timestamp = formatTimestamp(input.now);
  if (input.signature === 'v3') {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-acs-action': input.action,
      'x-acs-version': API_VERSIONS[input.api],
      'x-acs-date': timestamp,
      'x-acs-signature-nonce': input.nonce,
      'x-acs-content-sha256': EMPTY_SHA256,
    };
    if (c.securityToken) headers['x-acs-security-token'] = c.securityToken;
    const signed = signV3({
      method,
      query: input.params,
      headers: { ...headers, host: input.host },
      body: '',
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.accessKeySecret,
    });
    headers.authorization = signed.authorization;
    const query = canonicalQuery(input.params);
    return { path: query === '' ? '/' : `/?${query}`, headers };
  }
  const params: Record<string, string> = {
    ...input.params,
    Action: input.action,
    Format: 'JSON',
    Version: API_VERSIONS[input.api],
    AccessKeyId: c.accessKeyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: input.nonce,
    Timestamp: timestamp,
  };
  if (c.securityToken) params.SecurityToken = c.securityToken;
  const signature = signV1(method, params, c.accessKeySecret);
  return {
    path: `/?${canonicalQuery(params)}&Signature=${percentEncode(signature)}`,
    headers: { accept: 'application/json' },
  };
}

// ---------------------------------------------------------------------------------------------
// Answers

/** Codes some Alibaba APIs put in a *successful* body (pop-core's list); not errors. */
const SUCCESS_CODES = new Set(['200', 'OK', 'Success', 'success']);

function excerpt(text: string, max = 160): string {
  if (text.length === 0) return 'an empty body';
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return `body ${JSON.stringify(cut)}`;
}

function noop(): void {}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `x-acs-retry-after` is in milliseconds (what openapi-core reads it as). */
function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const raw = header(headers, 'x-acs-retry-after');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function stringField(obj: unknown, key: string): string | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const v = (obj as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
}

function malformed(what: string, text: string, httpStatus: number, requestId?: string): FatalError {
  return new FatalError(`${what}; ${excerpt(text)}`, { code: 'MalformedResponse', httpStatus, requestId });
}

/**
 * Answers that mean the AccessKey is wrong, with our own one-line message: the API's own
 * SignatureDoesNotMatch message quotes its whole string to sign (the simulator's, its canonical
 * request too), which tells an operator nothing they can act on.
 */
const KEY_REFUSALS: Readonly<Record<string, { message: string; part: 'id' | 'secret' }>> = {
  SignatureDoesNotMatch: {
    message: 'the request signature does not match the AccessKey secret',
    part: 'secret',
  },
  'InvalidAccessKeyId.NotFound': { message: 'the API does not know this AccessKey id', part: 'id' },
  'InvalidAccessKeyId.Inactive': { message: 'this AccessKey is disabled', part: 'id' },
};

/**
 * What to check when the API refuses the key: the variable, for credentials from the environment
 * (`env`, `chain/env`, or an accounts file's `env(ID_VAR,SECRET_VAR)`), else the source's name.
 */
export function keyHint(credentialsSource: string, part: 'id' | 'secret'): string {
  const env = /(?:^|\/)env(?:\(([^,()]+),([^,()]+)\))?$/.exec(credentialsSource);
  if (env) {
    const variable =
      part === 'secret'
        ? (env[2] ?? 'ALIBABA_CLOUD_ACCESS_KEY_SECRET')
        : (env[1] ?? 'ALIBABA_CLOUD_ACCESS_KEY_ID');
    return `check ${variable}`;
  }
  return `check the AccessKey ${part === 'secret' ? 'secret' : 'id'} of the credentials (source ${credentialsSource})`;
}

/**
 * Turns one HTTP answer into a value or a typed error.
 *
 * Why JSON is tried whatever the status: Alibaba answers throttling with HTTP 400 and a JSON
 * `Code`, and the `Code` — not the status — decides retryable vs fatal. A non-JSON body is only
 * judged by status: a 5xx HTML page from a load balancer stays retryable; on 2xx it is malformed.
 */
function interpret<T>(
  status: number,
  headers: IncomingHttpHeaders,
  text: string,
  action: string,
  parse: (body: unknown, text: string) => T,
  credentialsSource: string,
): { value: T; requestId: string | undefined } {
  let body: unknown;
  let isJson = false;
  // Only attempt JSON.parse on something that can be a JSON object: cheap rejection of HTML/empty.
  const first = text.trimStart()[0];
  if (first === '{') {
    try {
      body = JSON.parse(text);
      isJson = typeof body === 'object' && body !== null && !Array.isArray(body);
    } catch {
      isJson = false;
    }
  }
  const ok = status >= 200 && status < 300;
  const code = isJson ? stringField(body, 'Code') : undefined;
  if (code !== undefined && code !== '' && !(ok && SUCCESS_CODES.has(code))) {
    const requestId = stringField(body, 'RequestId');
    const refusedKey = KEY_REFUSALS[code];
    const message = refusedKey?.message ?? stringField(body, 'Message') ?? code;
    const details = {
      code,
      requestId,
      httpStatus: status,
      retryAfterMs: retryAfterMs(headers),
      hint: refusedKey ? keyHint(credentialsSource, refusedKey.part) : undefined,
    };
    throw classifyApiError(code, status) === 'retryable'
      ? new RetryableError(message, details)
      : new FatalError(message, details);
  }
  if (!ok) {
    const details = { code: `HTTP_${status}`, httpStatus: status, retryAfterMs: retryAfterMs(headers) };
    const message = `${action} answered HTTP ${status} without an API error code; ${excerpt(text, 120)}`;
    throw classifyApiError(undefined, status) === 'retryable'
      ? new RetryableError(message, details)
      : new FatalError(message, details);
  }
  if (!isJson) {
    const what = text.length === 0 ? 'empty body' : first === '{' ? 'invalid or truncated JSON' : 'not JSON';
    const type = header(headers, 'content-type');
    throw malformed(`${action} answered ${what}${type ? ` (content-type ${type})` : ''}`, text, status);
  }
  return { value: parse(body, text), requestId: stringField(body, 'RequestId') };
}

/** Validates `body` against `schema`, or throws MalformedResponse quoting the zod issues. */
function validate<S extends z.ZodType>(schema: S, body: unknown, text: string, action: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    throw malformed(
      `${action} answer has the wrong shape: ${describeIssues(r.error)}`,
      text,
      200,
      stringField(body, 'RequestId'),
    );
  }
  return r.data;
}

/**
 * Reads the whole body, but never more than `cap` bytes: a `content-length` over the cap is
 * refused before reading, and a chunked body is abandoned (the stream destroyed) as soon as it
 * passes the cap. Any body we stop reading is destroyed, so its socket is not reused mid-stream.
 */
async function readCapped(
  body: Readable,
  headers: IncomingHttpHeaders,
  cap: number,
  status: number,
): Promise<string> {
  const tooLarge = (n: string) =>
    new FatalError(`answer body is larger than the ${cap}-byte cap (${n})`, {
      code: 'ResponseTooLarge',
      httpStatus: status,
    });
  // Why a no-op error listener: destroying an undici body mid-stream makes it emit an AbortError,
  // and an 'error' event with no listener would crash the process. The for-await below has its
  // own listeners, so real read errors still reach the caller.
  body.on('error', noop);
  const declared = Number(header(headers, 'content-length'));
  if (Number.isFinite(declared) && declared > cap) {
    body.destroy();
    throw tooLarge(`content-length ${declared}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving a for-await early (throw) calls the stream's return(), which destroys it.
  for await (const chunk of body) {
    size += chunk.length;
    if (size > cap) throw tooLarge(`more than ${cap} bytes streamed`);
    chunks.push(chunk);
  }
  if (chunks.length === 1) return (chunks[0] as Buffer).toString('utf8');
  return Buffer.concat(chunks, size).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Parameter checks

function invalid(message: string): FatalError {
  return new FatalError(message, { code: 'InvalidParameter' });
}

function checkRegion(regionId: string): void {
  if (!isRegionId(regionId))
    throw invalid(`invalid regionId ${JSON.stringify(String(regionId).slice(0, 64))}`);
}

function checkPageSize(pageSize: number, max: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > max) {
    throw invalid(`pageSize must be an integer in 1..${max} (got ${pageSize})`);
  }
}

/** Request parameters of DescribeClassicLinkInstances, after the checks the API would make. */
function classicLinkParams(
  req: ClassicLinkQuery,
  pageNumber: number,
  pageSize: number,
): Record<string, string> {
  checkRegion(req.regionId);
  checkPageSize(pageSize, MAX_LINK_PAGE_SIZE);
  if (!Number.isInteger(pageNumber) || pageNumber < 1) {
    throw invalid(`pageNumber must be an integer ≥ 1 (got ${pageNumber})`);
  }
  const ids = req.instanceIds ?? [];
  const byVpc = req.vpcId !== undefined && req.vpcId !== '';
  if (byVpc === ids.length > 0) throw invalid('give exactly one of vpcId or a non-empty instanceIds');
  const params: Record<string, string> = {
    RegionId: req.regionId,
    PageNumber: String(pageNumber),
    PageSize: String(pageSize),
  };
  if (byVpc) {
    params.VpcId = req.vpcId as string;
  } else {
    if (ids.length > MAX_LINK_PAGE_SIZE) {
      throw invalid(`at most ${MAX_LINK_PAGE_SIZE} instanceIds per call (got ${ids.length})`);
    }
    // The API takes a comma-separated list, so an id with a comma (or an empty id) would change
    // which instances are asked about.
    for (const id of ids) {
      if (id === '' || id.includes(','))
        throw invalid(`invalid instance id ${JSON.stringify(id.slice(0, 64))}`);
    }
    params.InstanceId = ids.join(',');
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// The client

interface Target {
  host: string;
  /** The origin's pool, composed with `writeHooks` (the limiter's window starts at the write). */
  dispatcher: Dispatcher;
}

const unlimitedInFlight: InFlightLimit = (fn) => fn();

export function createEcsClient(opts: EcsClientOptions): EcsClient {
  const backoff = opts.backoff ?? ECS_CLIENT_DEFAULTS.backoff;
  const maxBytes = opts.maxResponseBytes ?? ECS_CLIENT_DEFAULTS.maxResponseBytes;
  const connections = opts.connectionsPerOrigin ?? ECS_CLIENT_DEFAULTS.connectionsPerOrigin;
  const now = opts.now ?? (() => new Date());
  const nonce = opts.nonce ?? randomUUID;
  const log = opts.log;

  /** One Pool per origin; created on first use. */
  const pools = new Map<string, Pool>();
  /** (api, region) → resolved host + pool, so endpoint resolution runs once per target. */
  const targets = new Map<string, Target>();
  let closing: Promise<void> | undefined;

  function target(api: ApiName, regionId: string): Target {
    const key = `${api} ${regionId}`;
    const hit = targets.get(key);
    if (hit) return hit;
    // A call that passed the limiter while close() ran must not open a new pool behind it.
    if (closing) throw new FatalError('the ECS client is closed', { code: 'ClientClosed' });
    const url = resolveEndpoint(api, regionId, api === 'ecs' ? opts.ecsEndpoint : opts.vpcEndpoint);
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
    const t = { host: url.host, dispatcher: pool.compose(writeHooks) };
    targets.set(key, t);
    return t;
  }

  /** One attempt: limiter, credentials, sign, send, read, interpret. Reports to `onCall`. */
  async function attemptOnce<T>(
    api: ApiName,
    regionId: string,
    action: string,
    params: Record<string, string>,
    parse: (body: unknown, text: string) => T,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (closing) throw new FatalError('the ECS client is closed', { code: 'ClientClosed' });
    const admission = await opts.limiter?.acquire({ regionId, action }, signal);
    const inFlight = opts.inFlight ?? unlimitedInFlight;
    let started = performance.now();
    let httpStatus: number | undefined;
    try {
      const [status, headers, text] = await inFlight(async () => {
        signal?.throwIfAborted();
        started = performance.now();
        const credentials = await opts.credentials.get(signal);
        const t = target(api, regionId);
        const req = buildSignedRequest({
          signature: opts.signature,
          host: t.host,
          api,
          action,
          params,
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
        return [
          res.statusCode,
          res.headers,
          await readCapped(res.body, res.headers, maxBytes, res.statusCode),
        ] as const;
      });
      const { value, requestId } = interpret(status, headers, text, action, parse, opts.credentials.name);
      opts.onCall?.({
        action,
        regionId,
        code: 'OK',
        httpStatus,
        durationMs: performance.now() - started,
        attempt,
        requestId,
      });
      return value;
    } catch (caught) {
      const err = coerceError(caught);
      opts.onCall?.({
        action,
        regionId,
        code: err.code,
        httpStatus: err.httpStatus ?? httpStatus,
        durationMs: performance.now() - started,
        attempt,
        requestId: err.requestId,
      });
      throw err;
    }
  }

  function call<T>(
    api: ApiName,
    regionId: string,
    action: string,
    params: Record<string, string>,
    parse: (body: unknown, text: string) => T,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    // Attempts in a row that reached no server (unreachableAttempts).
    let unreachable = 0;
    const attemptCounted = async (attempt: number): Promise<T> => {
      try {
        return await attemptOnce(api, regionId, action, params, parse, attempt, signal);
      } catch (caught) {
        const err = coerceError(caught);
        unreachable = isUnreachable(err) ? unreachable + 1 : 0;
        if (opts.unreachableAttempts === undefined || unreachable < opts.unreachableAttempts) throw err;
        const url = resolveEndpoint(api, regionId, api === 'ecs' ? opts.ecsEndpoint : opts.vpcEndpoint);
        throw new FatalError(unreachableMessage(api, url, err.code), {
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
      signal,
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

  async function describeClassicLinkInstances(
    req: ClassicLinkQuery,
    callOpts?: CallOptions,
  ): Promise<LinkPage> {
    const pageNumber = req.pageNumber ?? 1;
    const pageSize = req.pageSize ?? MAX_LINK_PAGE_SIZE;
    const params = classicLinkParams(req, pageNumber, pageSize);
    const action = 'DescribeClassicLinkInstances';
    const asked = params.InstanceId === undefined ? undefined : new Set(req.instanceIds);
    return call(
      'ecs',
      req.regionId,
      action,
      params,
      (body, text) => {
        const b = validate(describeClassicLinkInstancesSchema, body, text, action);
        const fail = (what: string) => malformed(`${action} answer ${what}`, text, 200, b.RequestId);
        if (b.PageNumber !== pageNumber)
          throw fail(`is page ${b.PageNumber}, but page ${pageNumber} was asked`);
        const raw = b.Links?.Link ?? [];
        const links: Link[] = new Array(raw.length);
        const seen = new Set<string>();
        for (let i = 0; i < raw.length; i++) {
          const l = raw[i] as { InstanceId: string; VpcId: string };
          if (asked === undefined && l.VpcId !== req.vpcId) {
            throw fail(
              `has a link to a foreign VPC at Links.Link.${i}: ${l.InstanceId} → ${l.VpcId}, asked ${req.vpcId}`,
            );
          }
          if (asked !== undefined && !asked.has(l.InstanceId)) {
            throw fail(`has a link of an instance that was not asked at Links.Link.${i}: ${l.InstanceId}`);
          }
          if (seen.has(l.InstanceId)) throw fail(`lists instance ${l.InstanceId} twice on one page`);
          seen.add(l.InstanceId);
          links[i] = { instanceId: l.InstanceId, vpcId: l.VpcId };
        }
        return {
          requestId: b.RequestId,
          totalCount: b.TotalCount,
          pageNumber: b.PageNumber,
          pageSize: b.PageSize,
          links,
        };
      },
      callOpts?.signal,
    );
  }

  async function* classicLinkPages(
    req: Omit<ClassicLinkQuery, 'pageNumber'>,
    callOpts?: CallOptions,
  ): AsyncGenerator<LinkPage> {
    const pageSize = req.pageSize ?? MAX_LINK_PAGE_SIZE;
    const seen = new Set<string>();
    // Termination: every further page needs pageNumber*pageSize < TotalCount, and the schema bounds
    // TotalCount, so even a server that keeps answering full pages ends the loop.
    for (let pageNumber = 1; ; pageNumber++) {
      const page = await describeClassicLinkInstances({ ...req, pageNumber, pageSize }, callOpts);
      // Why only "every link already seen": links moving between pages is normal (attachments
      // during the scan shift later pages; the sync layer's completeness rules catch that). A later
      // page made only of earlier links is a backend that ignored PageNumber and echoed it — a
      // broken answer, not drift (drift would need ≥ pageSize attachments between two calls).
      if (pageNumber > 1 && page.links.length > 0 && page.links.every((l) => seen.has(l.instanceId))) {
        throw new FatalError(
          `DescribeClassicLinkInstances page ${pageNumber} only repeats links of earlier pages ` +
            `(the server seems to ignore PageNumber); first repeated: ${page.links[0]?.instanceId}`,
          { code: 'MalformedResponse', requestId: page.requestId, httpStatus: 200 },
        );
      }
      for (const l of page.links) seen.add(l.instanceId);
      yield page;
      if (page.links.length < pageSize || pageNumber * pageSize >= page.totalCount) return;
    }
  }

  async function describeRegions(
    callOpts?: CallOptions & { regionId?: string | undefined },
  ): Promise<RegionInfo[]> {
    const regionId = callOpts?.regionId ?? ECS_CLIENT_DEFAULTS.regionsRegionId;
    checkRegion(regionId);
    const action = 'DescribeRegions';
    return call(
      'ecs',
      regionId,
      action,
      { AcceptLanguage: 'en-US' },
      (body, text) =>
        (validate(describeRegionsSchema, body, text, action).Regions?.Region ?? []).map((r) => {
          const info: RegionInfo = { regionId: r.RegionId, localName: r.LocalName };
          if (r.RegionEndpoint) info.endpoint = r.RegionEndpoint;
          return info;
        }),
      callOpts?.signal,
    );
  }

  /**
   * Every VPC of a region. Page 1 gives TotalCount; the remaining pages are fetched a few at a
   * time (the limiter still paces them) instead of one after another. A listing that changed
   * while it was read (TotalCount moving, or unique VPCs not adding up to it) is refused as
   * retryable: discovery must not retire a target because a page shifted under it.
   */
  async function describeVpcs(regionId: string, callOpts?: CallOptions): Promise<VpcInfo[]> {
    checkRegion(regionId);
    const action = 'DescribeVpcs';
    const fetchPage = (pageNumber: number) =>
      call(
        'vpc',
        regionId,
        action,
        { RegionId: regionId, PageNumber: String(pageNumber), PageSize: String(VPC_PAGE_SIZE) },
        (body, text) => {
          const b = validate(describeVpcsSchema, body, text, action);
          if (b.PageNumber !== pageNumber) {
            throw malformed(
              `${action} answer is page ${b.PageNumber}, but page ${pageNumber} was asked`,
              text,
              200,
              b.RequestId,
            );
          }
          const ids = new Set<string>();
          for (const v of b.Vpcs?.Vpc ?? []) {
            if (ids.has(v.VpcId)) {
              throw malformed(`${action} answer lists ${v.VpcId} twice on one page`, text, 200, b.RequestId);
            }
            ids.add(v.VpcId);
          }
          return b;
        },
        callOpts?.signal,
      );
    const first = await fetchPage(1);
    const total = first.TotalCount;
    const pageCount = Math.max(1, Math.ceil(total / VPC_PAGE_SIZE));
    // Each page is folded in as it arrives and dropped: a region of 10,000 VPCs never holds its
    // 200 parsed answers at once.
    const byId = new Map<string, VpcInfo>();
    const fold = (page: DescribeVpcsBody) => {
      if (page.TotalCount !== total) {
        throw new RetryableError(
          `${action} TotalCount changed from ${total} to ${page.TotalCount} while paging`,
          {
            code: 'InconsistentListing',
            requestId: page.RequestId,
          },
        );
      }
      for (const v of page.Vpcs?.Vpc ?? []) {
        const info: VpcInfo = { vpcId: v.VpcId, regionId: v.RegionId, status: v.Status };
        if (v.VpcName) info.name = v.VpcName;
        byId.set(v.VpcId, info);
      }
    };
    fold(first);
    for await (const [, page] of pagesInOrder(2, pageCount, VPC_PAGE_PARALLEL, fetchPage)) fold(page);
    if (byId.size !== total) {
      throw new RetryableError(`${action} listed ${byId.size} unique VPCs, TotalCount says ${total}`, {
        code: 'InconsistentListing',
        requestId: first.RequestId,
      });
    }
    return [...byId.values()];
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const all = [...pools.values()];
      pools.clear();
      targets.clear();
      // Pool.close() lets in-flight requests finish, then closes every socket. Let each pool
      // close even if another fails; report the first failure.
      const results = await Promise.allSettled(all.map((p) => p.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw coerceError(failed.reason);
    })();
    return closing;
  }

  return { describeClassicLinkInstances, classicLinkPages, describeRegions, describeVpcs, close };
}
