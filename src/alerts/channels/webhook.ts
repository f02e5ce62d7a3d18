/**
 * The generic webhook: Standard Webhooks 1.0 (github.com/standard-webhooks/standard-webhooks).
 * `webhook-id` is the outbox id (stable across retries; also sent as `Idempotency-Key`),
 * `webhook-timestamp` is Unix seconds, `webhook-signature` is `v1,<base64 HMAC-SHA256>` over
 * `<id>.<timestamp>.<body>` keyed with the base64-decoded part of the `whsec_` secret.
 */
import { createHmac } from 'node:crypto';
import type { OutboxMessage } from '../../store/index.js';
import { type AlertContext, linksWithContext } from '../render.js';
import { checkHttpStatus } from './answer.js';
import type { Channel } from './types.js';

/** `webhook-signature` for one message (exported for the spec's test vector). */
export function standardWebhookSignature(
  secret: string,
  id: string,
  timestampSec: number,
  body: string,
): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return `v1,${mac}`;
}

const EVENT_TYPES = {
  changes: 'classiclink.links.changed',
  stale: 'classiclink.sync.stale',
  recovered: 'classiclink.sync.recovered',
} as const;

/**
 * The JSON body: `{ type, timestamp, data }` as the spec recommends. `data` is the outbox payload:
 * for 'changes' the run, account, region, VPC, detection time, the added and removed links and
 * their counts — never truncated (a VPC holds at most 1,000 links). Each link carries its context
 * as known when rendered, exactly (JSON needs no other escaping), in the shape of `events --json`
 * and `/v1`: `instance` and `vpc` (null: never described) and `cause` (`status: 'pending'`: not
 * settled when the alert was rendered; null: a baseline, or ATTRIBUTION=off).
 */
function webhookBody(message: OutboxMessage, context: AlertContext | undefined): string {
  const data =
    message.kind === 'changes'
      ? { ...message.payload, ...linksWithContext(message.payload, context) }
      : message.payload;
  return JSON.stringify({ type: EVENT_TYPES[message.kind], timestamp: message.payload.detectedAt, data });
}

export function webhookChannel(url: string, secret: string | undefined): Channel {
  return {
    name: 'webhook',
    origin: new URL(url).origin,
    render: webhookBody,
    // The body as stored, byte for byte: only the three headers change from attempt to attempt.
    request(message, body, now) {
      const timestamp = Math.floor(now.getTime() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'webhook-id': message.id,
        'webhook-timestamp': String(timestamp),
        'idempotency-key': message.id,
      };
      if (secret !== undefined) {
        headers['webhook-signature'] = standardWebhookSignature(secret, message.id, timestamp, body);
      }
      return { url, headers, body };
    },
    check: (answer) => checkHttpStatus('webhook', answer),
  };
}
