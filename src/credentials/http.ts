/**
 * The one HTTP call the credential providers make (STS and the ECS metadata service): undici
 * `request` bounded by a whole-request timeout, a capped body, and errors already classified —
 * network failures and timeouts are `RetryableError`s whose message names what was called (the
 * caller passes a secret-free description), never a header or a body.
 */
import { request } from 'undici';
import { coerceError, FatalError, RetryableError } from '../errors.js';
import type { CredentialsHttpOptions } from './types.js';

/** Credential answers are a few hundred bytes; anything past this is not one. */
const MAX_BODY_BYTES = 64 * 1024;

export interface HttpCall {
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
  contentType: string;
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
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw new FatalError(`${call.what}: answer larger than ${MAX_BODY_BYTES} bytes`, {
          code: 'ResponseTooLarge',
          httpStatus: res.statusCode,
        });
      }
      chunks.push(chunk);
    }
    const ct = res.headers['content-type'];
    return {
      status: res.statusCode,
      contentType: (Array.isArray(ct) ? ct[0] : ct) ?? '',
      body: Buffer.concat(chunks).toString('utf8'),
    };
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

/** Whether an error is a failure to reach the other side at all (nothing answered). */
export function isUnreachable(err: unknown): boolean {
  return err instanceof RetryableError && err.httpStatus === undefined;
}
