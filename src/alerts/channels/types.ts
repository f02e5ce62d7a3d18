/**
 * What every alert channel is: a name, how to render a message's body (once per alert: it is
 * stored), how to make one attempt's request of it, how to judge the answer.
 */
import type { OutboxMessage } from '../../store/index.js';
import type { AlertContext } from '../render.js';

export const CHANNEL_NAMES = ['webhook', 'slack', 'dingtalk', 'lark', 'wecom'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** One HTTP request to send: always a POST of a JSON body. */
export interface AlertRequest {
  /** Secret (tokens in the path or query, signatures): never logged. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The receiver's answer, body capped. */
export interface AlertAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Channel {
  readonly name: ChannelName;
  /** The URL's origin: all of the URL that may be logged. */
  readonly origin: string;
  /** The receiver's rate limit, when it has one: at most `count` messages per `perMs`. */
  readonly rate?: { count: number; perMs: number } | undefined;
  /**
   * The message's body as this channel sends it, less the per-attempt signature: made by the
   * first attempt and stored (`rendered_body`), so every attempt sends it. `context` tells a
   * 'changes' alert's links (as known now); deterministic given the message and the context.
   */
  render(message: OutboxMessage, context: AlertContext | undefined): string;
  /**
   * One attempt's request: the stored `body`, with the signature and its timestamp made fresh
   * from `now` where the channel signs (headers, query, or — Lark — two fields added to the body).
   */
  request(message: OutboxMessage, body: string, now: Date): AlertRequest;
  /** Returns when the answer means delivered; throws RetryableError / FatalError otherwise. */
  check(answer: AlertAnswer): void;
}
