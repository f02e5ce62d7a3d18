/**
 * Signing and answer-judging of each channel, against the services' published recipes and, for
 * the generic webhook, the reference `standardwebhooks` library.
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createChannels } from '../../src/alerts/channel-set.js';
import { checkHttpStatus } from '../../src/alerts/channels/answer.js';
import {
  dingtalkChannel,
  dingtalkSign,
  larkChannel,
  larkSign,
  slackChannel,
  wecomChannel,
} from '../../src/alerts/channels/chat.js';
import type { AlertAnswer } from '../../src/alerts/channels/types.js';
import { standardWebhookSignature, webhookChannel } from '../../src/alerts/channels/webhook.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/store/types.js';

const message: OutboxMessage = {
  id: '0b8a3c9e-5f7d-4a51-9d3e-2f1c6b7a8e90',
  syncRunId: '42',
  channel: 'webhook',
  attempts: 1,
  createdAt: new Date('2025-01-01T00:00:00Z'),
  claimedUntil: new Date('2025-01-01T00:02:00Z'),
  renderedBody: null,
  kind: 'changes',
  payload: {
    runId: '42',
    account: 'prod',
    regionId: 'cn-hangzhou',
    vpcId: 'vpc-bp1',
    detectedAt: '2025-01-01T00:00:30.000Z',
    baseline: false,
    added: [{ vpcId: 'vpc-bp1', instanceId: 'i-a' }],
    removed: [],
    addedCount: 1,
    removedCount: 0,
  },
};

const answer = (status: number, body: string, headers: AlertAnswer['headers'] = {}): AlertAnswer => ({
  status,
  body,
  headers,
});

describe('Standard Webhooks signing', () => {
  it('matches the spec example (whsec key base64-decoded; signs id.timestamp.body)', () => {
    // The example of the standard-webhooks spec and its reference libraries.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const sig = standardWebhookSignature(
      secret,
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('every request verifies with the library and carries the outbox id twice', () => {
    const secret = `whsec_${Buffer.from('k'.repeat(32)).toString('base64')}`;
    const now = new Date();
    const channel = webhookChannel('https://hooks.example.com/x', secret);
    const body = channel.render(message, undefined);
    const req = channel.request(message, body, now);
    expect(req.body).toBe(body);
    expect(req.headers['webhook-id']).toBe(message.id);
    expect(req.headers['idempotency-key']).toBe(message.id);
    expect(req.headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(new Webhook(secret).verify(req.body, req.headers)).toMatchObject({
      type: 'classiclink.links.changed',
    });
    // A later attempt sends the stored body, byte for byte; only the signature headers change.
    const later = channel.request(message, body, new Date(now.getTime() + 5000));
    expect(later.body).toBe(req.body);
    expect(later.headers['webhook-signature']).not.toBe(req.headers['webhook-signature']);
  });
});

describe('DingTalk and Lark signatures are not each other', () => {
  const secret = 'SECabc';

  it('DingTalk: HMAC keyed with the secret over "ts\\nsecret", ms timestamp, URL-encoded in the query', () => {
    const expected = createHmac('sha256', secret).update(`1700000000000\n${secret}`).digest('base64');
    expect(dingtalkSign(secret, 1_700_000_000_000)).toBe(expected);
    expect(dingtalkSign(secret, 1_700_000_000_000)).not.toBe(larkSign(secret, 1_700_000_000_000));
    // Find a time whose sign holds a `+`: it must travel as %2B, never as a bare `+` (a space).
    let ts = 1_700_000_000_000;
    while (!dingtalkSign(secret, ts).includes('+')) ts++;
    const ding = dingtalkChannel('https://oapi.dingtalk.com/robot/send?access_token=T', secret);
    const body = ding.render(message, undefined);
    const req = ding.request(message, body, new Date(ts));
    expect(req.body).toBe(body);
    const url = new URL(req.url);
    expect(url.searchParams.get('access_token')).toBe('T');
    expect(url.searchParams.get('timestamp')).toBe(String(ts));
    expect(url.searchParams.get('sign')).toBe(dingtalkSign(secret, ts));
    expect(url.search).toContain('%2B');
    expect(url.search.split('sign=')[1]).not.toContain('+');
  });

  it('Lark: HMAC keyed with "ts\\nsecret" over an empty message, s timestamp, in the body', () => {
    const expected = createHmac('sha256', `1700000000\n${secret}`).update('').digest('base64');
    expect(larkSign(secret, 1_700_000_000)).toBe(expected);
    const lark = larkChannel('https://open.feishu.cn/open-apis/bot/v2/hook/T', secret);
    const body = lark.render(message, undefined);
    expect(JSON.parse(body)).not.toHaveProperty('sign');
    const req = lark.request(message, body, new Date(1_700_000_000_999));
    expect(JSON.parse(req.body)).toMatchObject({
      timestamp: '1700000000',
      sign: expected,
      msg_type: 'interactive',
    });
    // The signature fields come first; without them the request is the stored body, byte for byte.
    expect(req.body).toBe(`{"timestamp":"1700000000","sign":"${expected}",${body.slice(1)}`);
  });

  it('without a secret, neither signs', () => {
    const ding = dingtalkChannel('https://oapi.dingtalk.com/robot/send?access_token=T', undefined);
    const d = ding.request(message, ding.render(message, undefined), new Date());
    expect(new URL(d.url).searchParams.has('sign')).toBe(false);
    const lark = larkChannel('https://open.feishu.cn/open-apis/bot/v2/hook/T', undefined);
    const body = lark.render(message, undefined);
    const l = lark.request(message, body, new Date());
    expect(l.body).toBe(body);
    expect(JSON.parse(l.body)).not.toHaveProperty('sign');
  });
});

describe('answers', () => {
  const slack = slackChannel('https://hooks.slack.com/services/T/B/X');
  const ding = dingtalkChannel('https://oapi.dingtalk.com/robot/send?access_token=T', 's');
  const lark = larkChannel('https://open.feishu.cn/open-apis/bot/v2/hook/T', 's');
  const wecom = wecomChannel('https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K');

  it('success answers', () => {
    expect(() => slack.check(answer(200, 'ok'))).not.toThrow();
    expect(() => ding.check(answer(200, '{"errcode":0,"errmsg":"ok"}'))).not.toThrow();
    expect(() => lark.check(answer(200, '{"code":0,"data":{},"msg":"success"}'))).not.toThrow();
    expect(() => wecom.check(answer(200, '{"errcode":0,"errmsg":"ok"}'))).not.toThrow();
  });

  it.each([
    ['slack 404 no_service', () => slack.check(answer(404, 'no_service')), FatalError, 'slack_no_service'],
    [
      'slack 400 invalid_payload',
      () => slack.check(answer(400, 'invalid_payload')),
      FatalError,
      'slack_invalid_payload',
    ],
    ['slack 200 but not ok', () => slack.check(answer(200, 'hello')), FatalError, 'slack_not_ok'],
    ['slack 503', () => slack.check(answer(503, 'down')), RetryableError, 'slack_down'],
    [
      'dingtalk 200 errcode 310000',
      () => ding.check(answer(200, '{"errcode":310000,"errmsg":"sign not match"}')),
      FatalError,
      'dingtalk_310000',
    ],
    [
      'lark 200 code 19021',
      () => lark.check(answer(200, '{"code":19021,"msg":"sign match fail"}')),
      FatalError,
      'lark_19021',
    ],
    [
      'wecom 200 errcode 93000',
      () => wecom.check(answer(200, '{"errcode":93000,"errmsg":"invalid webhook url"}')),
      FatalError,
      'wecom_93000',
    ],
    ['wecom 200 not JSON', () => wecom.check(answer(200, '<html>')), RetryableError, 'BadAnswer'],
    ['lark 500', () => lark.check(answer(500, '')), RetryableError, 'HTTP_500'],
  ])('%s', (_name, fn, type, code) => {
    try {
      fn();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(type);
      expect((err as RetryableError).code).toBe(code);
    }
  });

  it('HTTP status table: 429/408/5xx retry (honouring Retry-After), redirects and other 4xx are fatal', () => {
    const judge = (a: AlertAnswer) => {
      try {
        checkHttpStatus('webhook', a);
        return 'ok';
      } catch (err) {
        return err instanceof RetryableError ? `retry ${err.retryAfterMs ?? '-'}` : 'fatal';
      }
    };
    expect(judge(answer(204, ''))).toBe('ok');
    expect(judge(answer(429, '', { 'retry-after': '7' }))).toBe('retry 7000');
    expect(judge(answer(408, ''))).toBe('retry -');
    expect(judge(answer(502, ''))).toBe('retry -');
    expect(judge(answer(301, '', { location: 'https://elsewhere.example/' }))).toBe('fatal');
    expect(judge(answer(401, ''))).toBe('fatal');
  });
});

describe('createChannels', () => {
  it('names the configured channels like configuredChannels, and exposes only URL origins', () => {
    const channels = createChannels({
      ALERT_WEBHOOK_URL: 'https://hooks.example.com/secret-path?token=x',
      ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/SECRET',
      ALERT_WECOM_WEBHOOK_URL: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K',
    });
    expect([...channels.keys()]).toEqual(['webhook', 'slack', 'wecom']);
    expect(channels.get('slack')?.origin).toBe('https://hooks.slack.com');
    expect(channels.get('webhook')?.origin).toBe('https://hooks.example.com');
  });
});
