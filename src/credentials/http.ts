/**
 * The one HTTP call the credential providers make (STS and the ECS metadata service): undici
 * `request` bounded by a whole-request timeout, a capped body, and errors already classified —
 * network failures and timeouts are `RetryableError`s whose message names what was called (the
 * caller passes a secret-free description), never a header or a body.
 */
import { request } from 'undici';
import { readCapped } from '../body.js';
import { coerceError, FatalError, RetryableError } from '../errors.js';
import type { CredentialsHttpOptions } from './types.js';

/** Credential answers are a few hundred bytes; anything past this is not one. */
const MAX_BODY_BYTES = 64 * 1024;

interface HttpCall {
  method: 'GET' | 'PUT' | 'POST';
  url: URL;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
  timeoutMs: number;
  /** Secret-free description for error messages, e.g. `STS AssumeRole`. */
  what: string;
  signal?: AbortSignal | undefined;
  http?: CredentialsHttpOptions | undefined;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export async function httpCall(call: HttpCall): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(call.timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  try {
    const res = await request(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      dispatcher: call.http?.dispatcher,
    });
    const body = await readCapped(res.body, MAX_BODY_BYTES);
    if (body.overflowed) {
      throw new FatalError(`${call.what}: answer larger than ${MAX_BODY_BYTES} bytes`, {
        code: 'ResponseTooLarge',
        httpStatus: res.statusCode,
      });
    }
    return { status: res.statusCode, body: body.text };
  } catch (err) {
    if (err instanceof FatalError || err instanceof RetryableError) throw err;
    if (call.signal?.aborted) throw call.signal.reason;
    if (timeout.aborted) {
      throw new RetryableError(`${call.what}: no answer within ${call.timeoutMs}ms`, {
        code: 'ETIMEDOUT',
        cause: err,
      });
    }
    const e = coerceError(err);
    const Ctor = e.retryable ? RetryableError : FatalError;
    throw new Ctor(`${call.what}: ${e.message}`, { code: e.code, cause: err });
  }
}

/** Parses a JSON body into an object, or undefined when it is not a JSON object. */
export function jsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a call got no answer at all (no connection, a timeout): a retryable error without an
 * HTTP status. Wider than errors.ts `isUnreachable`, which knows only the "nothing there" codes.
 */
export function noAnswer(err: unknown): boolean {
  return err instanceof RetryableError && err.httpStatus === undefined;
}

/**
 * An endpoint given as a URL or a bare host name (which means `scheme`). A bad value is a
 * FatalError naming `label` (the variable or field), never the value.
 */
export function endpointUrl(raw: string, label: string, scheme: 'http' | 'https'): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `${scheme}://${raw}`);
  } catch {
    throw new FatalError(`${label} is not a valid URL or host name`, { code: 'InvalidConfiguration' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FatalError(`${label} must be an http or https URL`, { code: 'InvalidConfiguration' });
  }
  return url;
}
