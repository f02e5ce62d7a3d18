/**
 * Each channel against a local receiver that checks what the real service checks: the message a
 * run produces is accepted (payload and signature as that service verifies them), and each
 * service's refusal — in its real answer shape, often HTTP 200 — is a failed delivery.
 */
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/alerts/channel-set.js';
import { createStore, type Store } from '../../src/store/index.js';
import { useCleanup } from '../helpers/cleanup.js';
import { PENDING_CAUSE } from '../helpers/context.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import {
  channelConfig,
  type ReceiverKind,
  startReceiver,
  testDispatcher,
  WHSEC,
} from '../helpers/receivers.js';
import { changedRun } from '../helpers/store.js';

const db = useTestDb({ checkLeaks: true });
const defer = useCleanup();

async function setup(kind: ReceiverKind) {
  const { pool } = await db();
  const store = createStore({ pool, log: silentLog });
  const receiver = await startReceiver(kind);
  defer(() => receiver.close());
  return { pool, store, receiver };
}

async function outboxRow(pool: pg.Pool, runId: string, channel: string) {
  const { rows } = await pool.query<{
    id: string;
    status: string;
    attempts: number;
    last_error: string | null;
  }>(
    'SELECT id::text, status, attempts, last_error FROM alert_outbox WHERE sync_run_id = $1 AND channel = $2',
    [runId, channel],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function deliverOnce(store: Store, channels: ChannelConfig) {
  const dispatcher = testDispatcher(store, channels);
  try {
    return await dispatcher.deliverDue();
  } finally {
    await dispatcher.close();
  }
}

/** The markdown every chat channel shows: instance → VPC lines, region, counts, run id, alert id. */
function expectChatText(
  text: string,
  runId: string,
  outboxId: string,
  target: { regionId: string; account: string },
) {
  expect(text).toContain('i-new1 → vpc-1');
  expect(text).toContain('i-new2 → vpc-1');
  expect(text).toContain('i-old → vpc-1');
  expect(text).toContain(target.regionId);
  expect(text).toContain('Added (2)');
  expect(text).toContain('Removed (1)');
  expect(text).toContain(`run ${runId}`);
  expect(text).toContain(outboxId);
  expect(text).not.toContain('and ');
}

describe('alert channels', () => {
  it('generic webhook: Standard Webhooks signature verifies; id = outbox id = Idempotency-Key; body names everything', async () => {
    const { pool, store, receiver } = await setup('webhook');
    const { target, runId } = await changedRun(store, ['webhook']);
    expect(await deliverOnce(store, channelConfig([receiver]))).toEqual({ delivered: 1, failed: 0, dead: 0 });

    const row = await outboxRow(pool, runId, 'webhook');
    expect(row).toMatchObject({ status: 'delivered', attempts: 1 });
    const [req] = receiver.accepted();
    expect(receiver.requests).toHaveLength(1);
    expect(req?.headers['webhook-id']).toBe(row.id);
    expect(req?.idempotencyKey).toBe(row.id);
    expect(req?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // Verified independently with the reference library, as a receiver would.
    const verified = new Webhook(WHSEC).verify(req!.raw, {
      'webhook-id': String(req!.headers['webhook-id']),
      'webhook-timestamp': String(req!.headers['webhook-timestamp']),
      'webhook-signature': String(req!.headers['webhook-signature']),
    });
    expect(verified).toEqual({
      type: 'classiclink.links.changed',
      timestamp: '2025-01-01T00:01:30.000Z',
      data: {
        runId,
        account: target.account,
        regionId: 'cn-hangzhou',
        vpcId: 'vpc-1',
        detectedAt: '2025-01-01T00:01:30.000Z',
        baseline: false,
        // Nothing is known of the instances or the VPC yet, and the causes are still looked for.
        added: [
          { vpcId: 'vpc-1', instanceId: 'i-new1', instance: null, vpc: null, cause: PENDING_CAUSE },
          { vpcId: 'vpc-1', instanceId: 'i-new2', instance: null, vpc: null, cause: PENDING_CAUSE },
        ],
        removed: [{ vpcId: 'vpc-1', instanceId: 'i-old', instance: null, vpc: null, cause: PENDING_CAUSE }],
        addedCount: 2,
        removedCount: 1,
      },
    });
  });

  it('Slack: blocks with the markdown, answered 200 ok', async () => {
    const { pool, store, receiver } = await setup('slack');
    const { target, runId } = await changedRun(store, ['slack']);
    await deliverOnce(store, channelConfig([receiver]));
    const row = await outboxRow(pool, runId, 'slack');
    expect(row.status).toBe('delivered');
    const [req] = receiver.accepted();
    expect(req?.answer).toBe('ok');
    const body = req?.json as { text: string; blocks: { type: string; text: { text: string } }[] };
    expect(body.text).toContain('+2 added, -1 removed in vpc-1');
    expectChatText(body.blocks[1]!.text.text, runId, row.id, target);
    expect(req?.idempotencyKey).toBe(row.id);
  });

  it('DingTalk: signed mode (ms timestamp, secret-keyed HMAC of ts\\nsecret, URL-encoded) with markdown', async () => {
    const { pool, store, receiver } = await setup('dingtalk');
    // Several messages: a sign with a `+` in it must arrive intact (URL-encoded), whatever it is.
    const runs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => changedRun(store, ['dingtalk'])));
    expect(await deliverOnce(store, channelConfig([receiver]))).toEqual({ delivered: 6, failed: 0, dead: 0 });
    expect(receiver.requests.every((r) => r.accepted)).toBe(true);
    const { runId, target } = runs[0]!;
    const row = await outboxRow(pool, runId, 'dingtalk');
    const req = receiver.requests.find((r) => r.idempotencyKey === row.id);
    expect(req?.query.get('timestamp')).toMatch(/^\d{13}$/);
    const body = req?.json as { msgtype: string; markdown: { title: string; text: string } };
    expect(body.msgtype).toBe('markdown');
    expectChatText(body.markdown.text, runId, row.id, target);
  });

  it('Lark: signature in the body (s timestamp, key = ts\\nsecret, empty message), interactive card', async () => {
    const { pool, store, receiver } = await setup('lark');
    const { runId, target } = await changedRun(store, ['lark']);
    await deliverOnce(store, channelConfig([receiver]));
    const row = await outboxRow(pool, runId, 'lark');
    expect(row.status).toBe('delivered');
    const [req] = receiver.accepted();
    const body = req?.json as {
      timestamp: string;
      sign: string;
      msg_type: string;
      card: { elements: { text: { content: string } }[] };
    };
    expect(body.timestamp).toMatch(/^\d{10}$/);
    expect(body.msg_type).toBe('interactive');
    expectChatText(body.card.elements[0]!.text.content, runId, row.id, target);
    expect(req?.answer).toBe('{"code":0,"data":{},"msg":"success"}');
  });

  it('WeCom: markdown to the keyed URL', async () => {
    const { pool, store, receiver } = await setup('wecom');
    const { runId, target } = await changedRun(store, ['wecom']);
    await deliverOnce(store, channelConfig([receiver]));
    const row = await outboxRow(pool, runId, 'wecom');
    expect(row.status).toBe('delivered');
    const body = receiver.accepted()[0]?.json as { msgtype: string; markdown: { content: string } };
    expect(body.msgtype).toBe('markdown');
    expectChatText(body.markdown.content, runId, row.id, target);
  });

  // Each service's refusal, in its real shape: a misconfigured secret or URL is a failed delivery
  // (retried, then dead-lettered), never a silent success — even when the service answers HTTP 200.
  const refusals: {
    kind: ReceiverKind;
    how: string;
    misconfigure: (cfg: ChannelConfig) => ChannelConfig;
    status: number;
    error: RegExp;
  }[] = [
    {
      kind: 'webhook',
      how: 'another signing secret',
      misconfigure: (c) => ({
        ...c,
        ALERT_WEBHOOK_SECRET: `whsec_${Buffer.from('another secret').toString('base64')}`,
      }),
      status: 400,
      error: /HTTP_400: webhook answered HTTP 400: invalid signature/,
    },
    {
      kind: 'slack',
      how: 'a revoked webhook URL',
      misconfigure: (c) => ({ ...c, ALERT_SLACK_WEBHOOK_URL: `${c.ALERT_SLACK_WEBHOOK_URL}x` }),
      status: 404,
      error: /slack_no_service: slack answered HTTP 404: no_service/,
    },
    {
      kind: 'dingtalk',
      how: 'a wrong secret',
      misconfigure: (c) => ({ ...c, ALERT_DINGTALK_SECRET: 'SECwrong' }),
      status: 200,
      error: /dingtalk_310000: dingtalk refused the message: errcode 310000 sign not match/,
    },
    {
      kind: 'dingtalk',
      how: 'an unknown access_token',
      misconfigure: (c) => ({ ...c, ALERT_DINGTALK_WEBHOOK_URL: `${c.ALERT_DINGTALK_WEBHOOK_URL}x` }),
      status: 200,
      error: /dingtalk_300001/,
    },
    {
      kind: 'lark',
      how: 'a wrong secret',
      misconfigure: (c) => ({ ...c, ALERT_LARK_SECRET: 'wrong' }),
      status: 200,
      error: /lark_19021: lark refused the message: code 19021 sign match fail/,
    },
    {
      kind: 'wecom',
      how: 'a wrong key',
      misconfigure: (c) => ({ ...c, ALERT_WECOM_WEBHOOK_URL: `${c.ALERT_WECOM_WEBHOOK_URL}x` }),
      status: 200,
      error: /wecom_93000: wecom refused the message: errcode 93000 invalid webhook url/,
    },
  ];

  it.each(refusals)(
    '$kind refuses $how: a failed delivery, retried later',
    async ({ kind, misconfigure, status, error }) => {
      const { pool, store, receiver } = await setup(kind);
      const { runId } = await changedRun(store, [kind]);
      const dispatcher = testDispatcher(store, misconfigure(channelConfig([receiver])), {
        backoff: { baseMs: 60_000, capMs: 60_000 },
      });
      try {
        expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 1, dead: 0 });
      } finally {
        await dispatcher.close();
      }
      expect(receiver.requests.map((r) => [r.status, r.accepted])).toEqual([[status, false]]);
      const row = await outboxRow(pool, runId, kind);
      expect(row.status).toBe('pending');
      expect(row.attempts).toBe(1);
      expect(row.last_error).toMatch(error);
      // Not due again before its backoff: the next pass sends nothing.
      expect(await deliverOnce(store, misconfigure(channelConfig([receiver])))).toEqual({
        delivered: 0,
        failed: 0,
        dead: 0,
      });
    },
  );
});
