/**
 * The chat channels: Slack, DingTalk, Lark / Feishu and WeCom. Each renders the alert within its
 * service's size limit (markdown; Slack: plain text), signs the way that service verifies, and
 * judges its answers (reference/alert-channels.md). Every request carries the outbox id as
 * `Idempotency-Key`, and the message text names it too, so a duplicate delivery is recognisable by
 * a person.
 *
 * What is stored (`rendered_body`) and sent again on every attempt: the whole JSON body for Slack,
 * DingTalk (signed in the query) and WeCom; for Lark, the body without its `timestamp` and `sign`
 * fields, which each attempt puts first — removing them gives back the stored bytes.
 */
import { createHmac } from 'node:crypto';
import { FatalError } from '../../errors.js';
import type { OutboxMessage } from '../../store/index.js';
import {
  type AlertContext,
  alertDoc,
  type Flavor,
  fitItems,
  MARKDOWN,
  PLAIN,
  renderBody,
  SLACK_MRKDWN,
  utf8Bytes,
} from '../render.js';
import { checkCodeAnswer, checkHttpStatus, excerpt } from './answer.js';
import type { AlertRequest, Channel } from './types.js';

/**
 * Size limits. WeCom (markdown content ≤ 4096 bytes) and Lark (body ≤ 20 KB) are the services'
 * documented limits; Slack's section block text is limited to 3000 characters. DingTalk documents
 * no limit for markdown text that we rely on: 4000 bytes keeps a message readable on a phone.
 */
export const LIMITS = {
  slackSectionChars: 3000,
  dingtalkTextBytes: 4000,
  larkBodyBytes: 20_000,
  wecomMarkdownBytes: 4096,
} as const;

/** Where DingTalk and WeCom put their answer's code and message. */
const ERRCODE = { code: 'errcode', message: 'errmsg' } as const;

function headers(message: OutboxMessage): Record<string, string> {
  return { 'content-type': 'application/json', 'idempotency-key': message.id };
}

function markdown(
  message: OutboxMessage,
  context: AlertContext | undefined,
  flavor: Flavor,
  fits: (text: string) => boolean,
): string {
  const doc = alertDoc(message, context);
  return fitItems(
    doc,
    (shown) => `${flavor.bold(flavor.escape(doc.title))}\n\n${renderBody(doc, flavor, shown)}`,
    fits,
  );
}

// ---------------------------------------------------------------------------------------------
// Slack incoming webhook: the URL is the secret; `200 ok` (plain text) is success, errors are
// plain strings (`400 invalid_payload`, `404 no_service`, …).

/**
 * Blocks of `plain_text` (`emoji: false`: `:name:` stays text): Slack parses nothing in them — no
 * mention (`<!here>`), link or formatting — so names and tags show verbatim. The top-level `text`
 * (the notification) is mrkdwn: it is the title, ids only, escaped.
 */
export function slackBody(message: OutboxMessage, context?: AlertContext): string {
  const doc = alertDoc(message, context);
  const section = fitItems(
    doc,
    (shown) => renderBody(doc, PLAIN, shown),
    (text) => text.length <= LIMITS.slackSectionChars,
  );
  return JSON.stringify({
    // The notification and fallback text; blocks carry the message.
    text: SLACK_MRKDWN.escape(doc.title),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: doc.title.slice(0, 150), emoji: false } },
      { type: 'section', text: { type: 'plain_text', text: section, emoji: false } },
    ],
  });
}

export function slackChannel(url: string): Channel {
  return {
    name: 'slack',
    origin: new URL(url).origin,
    render: slackBody,
    request: (message, body): AlertRequest => ({ url, headers: headers(message), body }),
    check(answer) {
      const text = answer.body.trim();
      // The error string ("no_service", "channel_not_found") is the code.
      checkHttpStatus('slack', answer, /^[a-z_]+$/.test(text) ? `slack_${text}` : undefined);
      if (text !== 'ok') {
        throw new FatalError(`slack answered HTTP ${answer.status} but not "ok": ${excerpt(text)}`, {
          code: 'slack_not_ok',
          httpStatus: answer.status,
        });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// DingTalk custom robot, signed mode: timestamp in ms; sign = Base64(HMAC-SHA256(key = secret,
// msg = timestamp + "\n" + secret)), URL-encoded, as query parameters.

export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

function dingtalkBody(message: OutboxMessage, context?: AlertContext): string {
  const doc = alertDoc(message, context);
  const text = markdown(message, context, MARKDOWN, (t) => utf8Bytes(t) <= LIMITS.dingtalkTextBytes);
  return JSON.stringify({ msgtype: 'markdown', markdown: { title: doc.title, text } });
}

export function dingtalkChannel(url: string, secret: string | undefined): Channel {
  return {
    name: 'dingtalk',
    origin: new URL(url).origin,
    // DingTalk: 20 messages per minute per robot.
    rate: { count: 20, perMs: 60_000 },
    render: dingtalkBody,
    request(message, body, now) {
      const signed = new URL(url);
      if (secret !== undefined) {
        const timestamp = now.getTime();
        // URLSearchParams percent-encodes `+`, `/` and `=` (a bare `+` would arrive as a space).
        signed.searchParams.set('timestamp', String(timestamp));
        signed.searchParams.set('sign', dingtalkSign(secret, timestamp));
      }
      return { url: signed.toString(), headers: headers(message), body };
    },
    check: (answer) => checkCodeAnswer('dingtalk', answer, ERRCODE),
  };
}

// ---------------------------------------------------------------------------------------------
// Lark / Feishu custom bot with signature: timestamp in SECONDS; the HMAC-SHA256 KEY is
// timestamp + "\n" + secret and the message is EMPTY; `timestamp` and `sign` are body fields.

export function larkSign(secret: string, timestampSec: number): string {
  return createHmac('sha256', `${timestampSec}\n${secret}`).update('').digest('base64');
}

function larkCard(title: string, content: string): Record<string, unknown> {
  return {
    header: { title: { tag: 'plain_text', content: title } },
    elements: [{ tag: 'div', text: { tag: 'lark_md', content } }],
  };
}

/** The body without its signature fields (the size check reserves room for them). */
function larkBody(message: OutboxMessage, context?: AlertContext): string {
  const doc = alertDoc(message, context);
  // Room for `"timestamp":"1700000000","sign":"<44 base64 chars>",` added at send time.
  const reserve = 100;
  const card = fitItems(
    doc,
    (shown) => larkCard(doc.title, renderBody(doc, MARKDOWN, shown)),
    (c) => utf8Bytes(JSON.stringify({ msg_type: 'interactive', card: c })) + reserve <= LIMITS.larkBodyBytes,
  );
  return JSON.stringify({ msg_type: 'interactive', card });
}

/**
 * The stored body with `timestamp` and `sign` as its first two fields: spliced into the stored
 * text, not re-serialised, so the rest of the body is the stored bytes on every attempt.
 */
export function larkSigned(body: string, secret: string, now: Date): string {
  if (!body.startsWith('{"'))
    throw new FatalError('lark: the stored body is not a JSON object', { code: 'BadBody' });
  const timestamp = Math.floor(now.getTime() / 1000);
  const fields = `"timestamp":${JSON.stringify(String(timestamp))},"sign":${JSON.stringify(larkSign(secret, timestamp))}`;
  return `{${fields},${body.slice(1)}`;
}

export function larkChannel(url: string, secret: string | undefined): Channel {
  return {
    name: 'lark',
    origin: new URL(url).origin,
    // Lark: 100 requests per minute and 5 per second per bot.
    rate: { count: 5, perMs: 1_000 },
    render: larkBody,
    request: (message, body, now) => ({
      url,
      headers: headers(message),
      body: secret === undefined ? body : larkSigned(body, secret, now),
    }),
    check: (answer) => checkCodeAnswer('lark', answer, { code: 'code', message: 'msg' }),
  };
}

// ---------------------------------------------------------------------------------------------
// WeCom group robot: the key in the URL is the secret; markdown content ≤ 4096 bytes; 20 per minute.

export function wecomBody(message: OutboxMessage, context?: AlertContext): string {
  const content = markdown(message, context, MARKDOWN, (t) => utf8Bytes(t) <= LIMITS.wecomMarkdownBytes);
  return JSON.stringify({ msgtype: 'markdown', markdown: { content } });
}

export function wecomChannel(url: string): Channel {
  return {
    name: 'wecom',
    origin: new URL(url).origin,
    rate: { count: 20, perMs: 60_000 },
    render: wecomBody,
    request: (message, body) => ({ url, headers: headers(message), body }),
    check: (answer) => checkCodeAnswer('wecom', answer, ERRCODE),
  };
}
