/** What every alert channel is: a name, how to build one request, how to judge the answer. */
import type { OutboxMessage } from '../../store/index.js';

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
   * Builds the request for a message. The content depends on the message only (every attempt
   * sends the same message); signatures and their timestamps are made fresh from `now`.
   */
  request(message: OutboxMessage, now: Date): AlertRequest;
  /** Returns when the answer means delivered; throws RetryableError / FatalError otherwise. */
  check(answer: AlertAnswer): void;
}
