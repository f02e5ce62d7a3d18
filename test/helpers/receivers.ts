/**
 * Local stand-ins for the five alert receivers: real node:http servers on port 0 that check what
 * the real services check (reference/alert-channels.md) and answer in their real shapes, success
 * and failure. Each records every request; tests wait for requests (events), never for time.
 *
 * Written independently of src/alerts/channels/: the signatures are recomputed here from the services'
 * documented recipes (and the generic webhook is verified with the `standardwebhooks` library),
 * so a sender that signs the wrong way round is refused here as it would be there.
 */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { ChannelConfig } from '../../src/alerts/channel-set.js';
import { type AlertDispatcherOptions, createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import type { Store } from '../../src/store/index.js';
import { silentLog } from './log.js';

export type ReceiverKind = 'webhook' | 'slack' | 'dingtalk' | 'lark' | 'wecom';

export interface Received {
  kind: ReceiverKind;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The parsed JSON body (undefined when it is not JSON). */
  json: unknown;
  /** What the receiver answered. */
  status: number;
  answer: string;
  /** True when the receiver accepted the message (a real service would show it). */
  accepted: boolean;
  /** The idempotency key the request carried (`Idempotency-Key`). */
  idempotencyKey: string | undefined;
}

/** An answer forced on the next requests, before any check (an outage, a rate limit, …). */
export interface Fault {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface Receiver {
  kind: ReceiverKind;
  /** The URL to configure (with the secret token / key where the service has one). */
  url: string;
  /** The secret to configure, where the service signs. */
  secret: string | undefined;
  requests: Received[];
  accepted(): Received[];
  /** Resolves with the first request (already received or to come) matching `pred`. */
  waitFor(pred: (r: Received) => boolean): Promise<Received>;
  /** Resolves when `n` requests were accepted. */
  waitForAccepted(n: number): Promise<Received[]>;
  /** Answers the next `count` requests (Infinity: until cleared) with `fault`. */
  fail(fault: Fault, count?: number): void;
  /**
   * Records the next requests but never answers them (status 0), until `release()`: a sender
   * stuck mid-request, e.g. to be killed there.
   */
  hold(): void;
  /** Answers requests again (those held stay unanswered until their sender gives up). */
  release(): void;
  clearFaults(): void;
  /** Closes the listening socket: connections are refused until `restart()`. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** The secret (signing) or token (URL) the receiver expects. Default: a fixed test value. */
  secret?: string;
  token?: string;
  /** The receiver's clock (for timestamp windows). Default Date.now. */
  now?: () => number;
}

export const WHSEC = `whsec_${Buffer.from('classiclink-test-webhook-secret!').toString('base64')}`;

type Check = (req: {
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: unknown;
}) => { status: number; body: string; accepted: boolean };

const json = (status: number, body: unknown) => ({ status, body: JSON.stringify(body), accepted: false });

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Standard Webhooks receiver: `Webhook.verify` (signature and the 5-minute window), 2xx on success. */
function webhookCheck(secret: string): Check {
  const wh = new Webhook(secret);
  return ({ headers, raw }) => {
    try {
      wh.verify(raw, {
        'webhook-id': str(headers['webhook-id']) ?? '',
        'webhook-timestamp': str(headers['webhook-timestamp']) ?? '',
        'webhook-signature': str(headers['webhook-signature']) ?? '',
      });
    } catch (err) {
      return { status: 400, body: `invalid signature: ${(err as Error).message}`, accepted: false };
    }
    if (headers['idempotency-key'] !== headers['webhook-id']) {
      return { status: 400, body: 'Idempotency-Key must equal webhook-id', accepted: false };
    }
    return { status: 204, body: '', accepted: true };
  };
}

/** Slack incoming webhook: the secret path; `200 ok`; plain-string errors. */
function slackCheck(token: string): Check {
  return ({ path, json: body }) => {
    if (path !== `/services/${token}`) return { status: 404, body: 'no_service', accepted: false };
    const b = obj(body);
    if (!b) return { status: 400, body: 'invalid_payload', accepted: false };
    const blocks = b.blocks;
    if (str(b.text) === undefined && !Array.isArray(blocks))
      return { status: 400, body: 'no_text', accepted: false };
    if (Array.isArray(blocks)) {
      for (const block of blocks) {
        const text = str(obj(obj(block)?.text)?.text);
        const type = str(obj(block)?.type);
        if (type === 'section' && (text === undefined || text.length > 3000)) {
          return { status: 400, body: 'invalid_blocks', accepted: false };
        }
        if (type === 'header' && (text === undefined || text.length > 150)) {
          return { status: 400, body: 'invalid_blocks', accepted: false };
        }
      }
    }
    return { status: 200, body: 'ok', accepted: true };
  };
}

/** DingTalk signed robot: access_token; timestamp (ms, ±1 h) and sign in the query; errcode answers. */
function dingtalkCheck(token: string, secret: string, now: () => number): Check {
  return ({ query, json: body }) => {
    if (query.get('access_token') !== token)
      return json(200, { errcode: 300001, errmsg: 'token is not exist' });
    const ts = query.get('timestamp') ?? '';
    // URLSearchParams decodes like the service: a bare `+` becomes a space and fails here.
    const sign = query.get('sign') ?? '';
    const expected = createHmac('sha256', secret).update(`${ts}\n${secret}`).digest('base64');
    if (!/^\d{13}$/.test(ts) || Math.abs(now() - Number(ts)) > 3_600_000 || sign !== expected) {
      return json(200, {
        errcode: 310000,
        errmsg: 'sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]',
      });
    }
    const b = obj(body);
    const md = obj(b?.markdown);
    const text = obj(b?.text);
    const ok =
      (b?.msgtype === 'markdown' && str(md?.title) && str(md?.text)) ||
      (b?.msgtype === 'text' && str(text?.content));
    if (!ok) return json(200, { errcode: 40035, errmsg: '缺少参数 json' });
    return { ...json(200, { errcode: 0, errmsg: 'ok' }), accepted: true };
  };
}

/** Lark / Feishu bot: timestamp (s, ±1 h) and sign in the body, key = ts+"\n"+secret, empty message. */
function larkCheck(token: string, secret: string, now: () => number): Check {
  return ({ path, raw, json: body }) => {
    if (path !== `/open-apis/bot/v2/hook/${token}`) {
      return json(200, {
        code: 19001,
        data: {},
        msg: 'param invalid: incoming webhook access token invalid',
      });
    }
    if (bytes(raw) > 20_000) return json(200, { code: 9499, data: {}, msg: 'request body too large' });
    const b = obj(body);
    const ts = String(b?.timestamp ?? '');
    const expected = createHmac('sha256', `${ts}\n${secret}`).update('').digest('base64');
    if (!/^\d{10}$/.test(ts) || Math.abs(now() / 1000 - Number(ts)) > 3600 || b?.sign !== expected) {
      return json(200, {
        code: 19021,
        data: {},
        msg: 'sign match fail or timestamp is not within one hour from current time',
      });
    }
    const type = str(b?.msg_type);
    const ok =
      (type === 'text' && str(obj(b?.content)?.text)) ||
      (type === 'interactive' && obj(b?.card)) ||
      (type === 'post' && obj(b?.content));
    if (!ok) return json(200, { code: 9499, data: {}, msg: 'Bad Request' });
    return { ...json(200, { code: 0, data: {}, msg: 'success' }), accepted: true };
  };
}

/** WeCom group robot: key in the query; markdown ≤ 4096 bytes, text ≤ 2048 bytes; errcode answers. */
function wecomCheck(token: string): Check {
  return ({ path, query, json: body }) => {
    if (path !== '/cgi-bin/webhook/send' || query.get('key') !== token) {
      return json(200, { errcode: 93000, errmsg: 'invalid webhook url, hint: [1700000000_1_abc]' });
    }
    const b = obj(body);
    if (b?.msgtype === 'markdown') {
      const content = str(obj(b.markdown)?.content);
      if (content === undefined) return json(200, { errcode: 40008, errmsg: 'invalid message type' });
      if (bytes(content) > 4096) {
        return json(200, { errcode: 40058, errmsg: 'markdown.content exceed max length 4096' });
      }
    } else if (b?.msgtype === 'text') {
      const content = str(obj(b.text)?.content);
      if (content === undefined || bytes(content) > 2048) {
        return json(200, { errcode: 40058, errmsg: 'text.content exceed max length 2048' });
      }
    } else {
      return json(200, { errcode: 40008, errmsg: 'invalid message type' });
    }
    return { ...json(200, { errcode: 0, errmsg: 'ok' }), accepted: true };
  };
}

export async function startReceiver(kind: ReceiverKind, opts: ReceiverOptions = {}): Promise<Receiver> {
  const now = opts.now ?? Date.now;
  const token = opts.token ?? `tok${kind}0123456789`;
  const secret = opts.secret ?? (kind === 'webhook' ? WHSEC : `SEC${kind}-secret+/=test`);
  const check: Check = {
    webhook: () => webhookCheck(secret),
    slack: () => slackCheck(token),
    dingtalk: () => dingtalkCheck(token, secret, now),
    lark: () => larkCheck(token, secret, now),
    wecom: () => wecomCheck(token),
  }[kind]();

  const requests: Received[] = [];
  const watchers: (() => void)[] = [];
  let faults: { fault: Fault; left: number }[] = [];
  let holding = false;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'http://receiver');
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      let answer: { status: number; body: string; accepted: boolean; headers?: Record<string, string> };
      const f = faults[0];
      if (holding) {
        answer = { status: 0, body: '', accepted: false };
      } else if (f) {
        f.left--;
        if (f.left <= 0) faults.shift();
        answer = { ...f.fault, accepted: false };
      } else {
        answer = check({ path: u.pathname, query: u.searchParams, headers: req.headers, raw, json: parsed });
      }
      requests.push({
        kind,
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        raw,
        json: parsed,
        status: answer.status,
        answer: answer.body,
        accepted: answer.accepted,
        idempotencyKey: str(req.headers['idempotency-key']),
      });
      if (holding) {
        for (const w of watchers.splice(0)) w();
        return;
      }
      res.writeHead(answer.status, {
        'content-type': answer.body.startsWith('{') ? 'application/json' : 'text/plain',
        ...answer.headers,
      });
      res.end(answer.body);
      for (const w of watchers.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const url = {
    webhook: `${base}/hooks/classiclink`,
    slack: `${base}/services/${token}`,
    dingtalk: `${base}/robot/send?access_token=${token}`,
    lark: `${base}/open-apis/bot/v2/hook/${token}`,
    wecom: `${base}/cgi-bin/webhook/send?key=${token}`,
  }[kind];

  const waitUntil = <T>(probe: () => T | undefined): Promise<T> =>
    new Promise((resolve) => {
      const tryNow = () => {
        const v = probe();
        if (v !== undefined) resolve(v);
        else watchers.push(tryNow);
      };
      tryNow();
    });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    kind,
    url,
    secret: kind === 'slack' || kind === 'wecom' ? undefined : secret,
    requests,
    accepted: () => requests.filter((r) => r.accepted),
    waitFor: (pred) => waitUntil(() => requests.find(pred)),
    waitForAccepted: (n) =>
      waitUntil(() => {
        const acc = requests.filter((r) => r.accepted);
        return acc.length >= n ? acc : undefined;
      }),
    fail(fault, count = Number.POSITIVE_INFINITY) {
      faults.push({ fault, left: count });
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
    },
    clearFaults() {
      faults = [];
    },
    stop,
    async restart() {
      if (!stopped) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      stopped = false;
    },
    // Closing is stopping for good: nothing restarts it afterwards.
    close: stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Pointing the service at receivers: the channel configuration, and a dispatcher with test-sized
// timings.

/** The Config keys of each channel: its URL, and its secret where the service signs. */
const CHANNEL_KEYS: Record<ReceiverKind, { url: keyof ChannelConfig; secret?: keyof ChannelConfig }> = {
  webhook: { url: 'ALERT_WEBHOOK_URL', secret: 'ALERT_WEBHOOK_SECRET' },
  slack: { url: 'ALERT_SLACK_WEBHOOK_URL' },
  dingtalk: { url: 'ALERT_DINGTALK_WEBHOOK_URL', secret: 'ALERT_DINGTALK_SECRET' },
  lark: { url: 'ALERT_LARK_WEBHOOK_URL', secret: 'ALERT_LARK_SECRET' },
  wecom: { url: 'ALERT_WECOM_WEBHOOK_URL' },
};

/** The channel configuration (the Config keys) that points at these receivers. */
export function channelConfig(receivers: readonly Receiver[]): ChannelConfig {
  const cfg: { -readonly [K in keyof ChannelConfig]: ChannelConfig[K] } = {};
  for (const r of receivers) {
    const keys = CHANNEL_KEYS[r.kind];
    cfg[keys.url] = r.url;
    if (keys.secret) cfg[keys.secret] = r.secret;
  }
  return cfg;
}

/** The same, as the env of a service process. */
export function channelEnv(receivers: readonly Receiver[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(channelConfig(receivers))) if (v !== undefined) env[k] = v;
  return env;
}

/** A dispatcher with test timings: retries after 1-5 ms, no pacing, silent. */
export function testDispatcher(
  store: Store,
  channels: ChannelConfig,
  overrides: Partial<AlertDispatcherOptions> = {},
) {
  return createAlertDispatcher({
    store,
    channels,
    log: silentLog,
    backoff: { baseMs: 1, capMs: 5 },
    pace: false,
    requestTimeoutMs: 5_000,
    ...overrides,
  });
}
