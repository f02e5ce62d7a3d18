/**
 * The alert channels configured in the environment, and one delivery over undici: sign the
 * message's stored body for its channel, POST it (timeouts, a capped answer, no redirect followed), judge
 * the answer. The per-channel details live in `channels/`.
 */
import { type Dispatcher, request } from 'undici';
import { readCapped } from '../body.js';
import type { Config } from '../config.js';
import { coerceError, RetryableError } from '../errors.js';
import type { OutboxMessage } from '../store/index.js';
import { dingtalkChannel, larkChannel, slackChannel, wecomChannel } from './channels/chat.js';
import { type AlertAnswer, CHANNEL_NAMES, type Channel, type ChannelName } from './channels/types.js';
import { webhookChannel } from './channels/webhook.js';

/** The part of the configuration that names the alert channels and their secrets. */
export type ChannelConfig = Pick<
  Config,
  | 'ALERT_WEBHOOK_URL'
  | 'ALERT_WEBHOOK_SECRET'
  | 'ALERT_SLACK_WEBHOOK_URL'
  | 'ALERT_DINGTALK_WEBHOOK_URL'
  | 'ALERT_DINGTALK_SECRET'
  | 'ALERT_LARK_WEBHOOK_URL'
  | 'ALERT_LARK_SECRET'
  | 'ALERT_WECOM_WEBHOOK_URL'
>;

/** Each channel from its variables (none when its URL is not set); a name without one fails typecheck. */
const FROM_CONFIG: { [N in ChannelName]: (c: ChannelConfig) => Channel | undefined } = {
  webhook: (c) =>
    c.ALERT_WEBHOOK_URL ? webhookChannel(c.ALERT_WEBHOOK_URL, c.ALERT_WEBHOOK_SECRET) : undefined,
  slack: (c) => (c.ALERT_SLACK_WEBHOOK_URL ? slackChannel(c.ALERT_SLACK_WEBHOOK_URL) : undefined),
  dingtalk: (c) =>
    c.ALERT_DINGTALK_WEBHOOK_URL
      ? dingtalkChannel(c.ALERT_DINGTALK_WEBHOOK_URL, c.ALERT_DINGTALK_SECRET)
      : undefined,
  lark: (c) =>
    c.ALERT_LARK_WEBHOOK_URL ? larkChannel(c.ALERT_LARK_WEBHOOK_URL, c.ALERT_LARK_SECRET) : undefined,
  wecom: (c) => (c.ALERT_WECOM_WEBHOOK_URL ? wecomChannel(c.ALERT_WECOM_WEBHOOK_URL) : undefined),
};

/** The configured channels by name; their names are what the sync writes to the outbox (`configuredChannels`). */
export function createChannels(config: ChannelConfig): ReadonlyMap<ChannelName, Channel> {
  const channels = new Map<ChannelName, Channel>();
  for (const name of CHANNEL_NAMES) {
    const channel = FROM_CONFIG[name](config);
    if (channel !== undefined) channels.set(name, channel);
  }
  return channels;
}

interface SendOptions {
  dispatcher: Dispatcher;
  /** Bound on the whole exchange (connect, headers, body), in ms. */
  timeoutMs: number;
  /** Answers are read up to this many bytes; the rest is discarded. */
  maxAnswerBytes: number;
  now: Date;
}

/**
 * POSTs a message's stored body to its channel, signed now. Returns when delivered; throws
 * RetryableError / FatalError.
 */
export async function sendAlert(
  channel: Channel,
  message: OutboxMessage,
  body: string,
  opts: SendOptions,
): Promise<void> {
  const req = channel.request(message, body, opts.now);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let answer: AlertAnswer;
  try {
    // undici's request() follows no redirect (that takes an interceptor we do not install).
    const res = await request(req.url, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal,
    });
    // Past the cap the answer is cut short, not refused: the channel judges what arrived.
    const body = await readCapped(res.body, opts.maxAnswerBytes);
    answer = { status: res.statusCode, headers: res.headers, body: body.text };
  } catch (err) {
    if (signal.aborted) {
      throw new RetryableError(`${channel.name}: no answer within ${opts.timeoutMs}ms`, {
        code: 'TIMEOUT',
        cause: err,
      });
    }
    // undici's messages name the host and port at most, never the URL's path or query.
    throw coerceError(err);
  }
  channel.check(answer);
}
