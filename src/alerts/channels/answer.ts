/**
 * Judging a receiver's answer. The HTTP status first (a table like errors.ts: 408, 425, 429 and 5xx
 * are worth retrying, a redirect is never followed, other 4xx are fatal), then — for the chat
 * services that answer HTTP 200 to failures — the error code in the JSON body.
 */
import { FatalError, RetryableError } from '../../errors.js';
import type { AlertAnswer, ChannelName } from './types.js';

const RETRYABLE_STATUS = new Set([408, 425, 429]);

function retryAfterMs(answer: AlertAnswer): number | undefined {
  const raw = answer.headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A short, single-line excerpt of an answer body for last_error (receivers' bodies hold no secret of ours). */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** Throws the failure a non-2xx answer means; returns for 2xx. */
export function checkHttpStatus(channel: ChannelName, answer: AlertAnswer, code?: string): void {
  const { status } = answer;
  if (status >= 200 && status < 300) return;
  const details = {
    code: code ?? `HTTP_${status}`,
    httpStatus: status,
    retryAfterMs: retryAfterMs(answer),
  };
  const text = `${channel} answered HTTP ${status}${answer.body ? `: ${excerpt(answer.body)}` : ''}`;
  if (status >= 300 && status < 400) {
    // Never followed: a redirect could send the alert (and its signature) to another host.
    throw new FatalError(`${channel} answered a redirect (HTTP ${status}), not followed`, details);
  }
  if (status >= 500 || RETRYABLE_STATUS.has(status)) throw new RetryableError(text, details);
  throw new FatalError(text, details);
}

/** Parses a JSON object answer; a 2xx answer that is not one is retried (a proxy's page, a cut body). */
function jsonAnswer(channel: ChannelName, answer: AlertAnswer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(answer.body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  throw new RetryableError(
    `${channel} answered HTTP ${answer.status} without a JSON object: ${excerpt(answer.body)}`,
    {
      code: 'BadAnswer',
      httpStatus: answer.status,
    },
  );
}

/** Where an answer's body holds its code and its message. */
interface CodeFields {
  code: string;
  message: string;
}

/**
 * For services that answer HTTP 200 with `{ <code>: 0 }` on success and a non-zero code on
 * failure (DingTalk and WeCom `errcode`/`errmsg`, Lark `code`/`msg`).
 */
export function checkCodeAnswer(channel: ChannelName, answer: AlertAnswer, fields: CodeFields): void {
  checkHttpStatus(channel, answer);
  const body = jsonAnswer(channel, answer);
  const code = body[fields.code];
  if (code === 0) return;
  const text = body[fields.message];
  const message = typeof text === 'string' ? text : '';
  throw new FatalError(`${channel} refused the message: ${fields.code} ${String(code)} ${excerpt(message)}`, {
    code: `${channel}_${String(code)}`,
    httpStatus: answer.status,
  });
}
