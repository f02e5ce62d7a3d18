/**
 * Reading an answer: the body under a size cap, then a value or a typed error. The JSON `Code`
 * decides retryable vs fatal through errors.ts's one table; a successful body is validated with
 * zod (schemas.ts) before any field is used.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { readCapped } from '../body.js';
import { classifyApiError, FatalError, RetryableError } from '../errors.js';
import { describeIssues } from './schemas.js';

/** One HTTP answer, its body read. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Turns a successful answer's parsed JSON (and its text, for messages) into the action's value. */
export type ParseAnswer<T> = (body: unknown, text: string) => T;

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

/** A `MalformedResponse`: the answer came, but is not what the action promises. */
export function malformed(what: string, text: string, httpStatus: number, requestId?: string): FatalError {
  return new FatalError(`${what}; ${excerpt(text)}`, { code: 'MalformedResponse', httpStatus, requestId });
}

/**
 * Reads the whole body, but never more than `maxBytes`: a `content-length` over the cap is
 * refused before reading, and a chunked body is abandoned as soon as it passes the cap.
 */
export async function readAnswer(
  res: { statusCode: number; headers: IncomingHttpHeaders; body: Readable },
  maxBytes: number,
): Promise<Answer> {
  const tooLarge = (n: string) =>
    new FatalError(`answer body is larger than the ${maxBytes}-byte cap (${n})`, {
      code: 'ResponseTooLarge',
      httpStatus: res.statusCode,
    });
  // Why a no-op error listener: destroying an undici body mid-stream makes it emit an AbortError,
  // and an 'error' event with no listener would crash the process. The reader's for-await has its
  // own listeners, so real read errors still reach the caller.
  res.body.on('error', noop);
  const declared = Number(header(res.headers, 'content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.destroy();
    throw tooLarge(`content-length ${declared}`);
  }
  const body = await readCapped(res.body, maxBytes);
  if (body.overflowed) throw tooLarge(`more than ${maxBytes} bytes streamed`);
  return { status: res.statusCode, headers: res.headers, text: body.text };
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

export interface InterpretOptions<T> {
  action: string;
  parse: ParseAnswer<T>;
  /** The credentials provider's name, for the hint of a refused key. */
  credentialsSource: string;
}

/**
 * Turns one HTTP answer into a value or a typed error.
 *
 * Why JSON is tried whatever the status: Alibaba answers throttling with HTTP 400 and a JSON
 * `Code`, and the `Code` — not the status — decides retryable vs fatal. A non-JSON body is only
 * judged by status: a 5xx HTML page from a load balancer stays retryable; on 2xx it is malformed.
 */
export function interpret<T>(
  { status, headers, text }: Answer,
  { action, parse, credentialsSource }: InterpretOptions<T>,
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
export function validate<S extends z.ZodType>(
  schema: S,
  body: unknown,
  text: string,
  action: string,
): z.infer<S> {
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
