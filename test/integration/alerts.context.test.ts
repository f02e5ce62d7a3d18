/**
 * What an alert says, and when it goes: each changed link with its instance's name and tags, the
 * VPC's name and who made the change, as known when the alert is rendered — once its run's context
 * is settled or ALERT_CONTEXT_WAIT has passed, whichever comes first — and then the same body on
 * every attempt, whoever makes it. Through real Postgres and the five local receivers; the context
 * is written with the store's verbs, as the enrichment and attribution engine writes it.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { AlertDispatcher } from '../../src/alerts/dispatcher.js';
import type { TargetRef } from '../../src/links.js';
import { escapeText } from '../../src/safe-text.js';
import { createStore, type Store } from '../../src/store/index.js';
import { killChildren, startCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { at } from '../helpers/clock.js';
import { CONTROL, HOSTILE, HOSTILE_ACTOR, HOSTILE_TAGS, PENDING_CAUSE } from '../helpers/context.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import {
  channelConfig,
  channelEnv,
  type Received,
  type ReceiverKind,
  startReceiver,
  testDispatcher,
} from '../helpers/receivers.js';
import { changedRun, cloudEvent, instanceAttrs } from '../helpers/store.js';

const db = useTestDb({ each: 'test', checkLeaks: true });
const defer = useCleanup();

const KINDS: ReceiverKind[] = ['webhook', 'slack', 'dingtalk', 'lark', 'wecom'];
const NONE = { delivered: 0, failed: 0, dead: 0 };

/**
 * A store, receivers of `kinds`, and one run that changed something (i-old removed; i-new1 and
 * i-new2 added, or `after`), with one outbox row per channel and no context yet.
 */
async function setup(kinds: ReceiverKind[] = KINDS, after?: string[]) {
  const { pool, url } = await db();
  const store = createStore({ pool, log: silentLog });
  const receivers = await Promise.all(kinds.map((k) => startReceiver(k)));
  defer(() => Promise.all(receivers.map((r) => r.close())));
  const { target, runId } = await changedRun(store, kinds, after ? { after } : {});
  return { pool, url, store, receivers, config: channelConfig(receivers), target, runId };
}

function track(d: AlertDispatcher): AlertDispatcher {
  defer(() => d.close());
  return d;
}

const scope = (t: TargetRef) => ({ account: t.account, regionId: t.regionId });
const NAMES: Record<string, string> = { 'i-new1': 'web-01', 'i-new2': 'web-02', 'i-old': 'db-00' };

/** DescribeInstances' answer for `names` (tags env=prod, team=web), and DescribeVpcs' (prod-vpc). */
async function describe_(store: Store, target: TargetRef, names = NAMES, seenAt = at(2)): Promise<void> {
  await store.upsertInstances({
    ...scope(target),
    instances: Object.entries(names).map(([id, name]) =>
      instanceAttrs(id, { name, tags: { team: 'web', env: 'prod' } }),
    ),
    seenAt,
  });
  await store.upsertVpcs({
    ...scope(target),
    vpcs: [{ vpcId: target.vpcId, name: 'prod-vpc', cidrBlock: '172.16.0.0/12', tags: {} }],
    seenAt,
  });
}

/** ActionTrail records of the run's changes, each made by `actor` at 00:01:10Z, and rule 7 applied. */
async function attribute(store: Store, target: TargetRef, actor = 'ops-admin', sourceIp = '1.2.3.4') {
  const call = (eventName: string, instanceId: string, name = actor) =>
    cloudEvent(target, {
      eventName,
      eventTime: new Date(at(1).getTime() + 10_000),
      instanceIds: [instanceId],
      actor: { type: 'ram-user', name, principalId: '2741806465482', accountId: '1547353256850' },
      sourceIp,
    });
  await store.recordCloudEvents(
    [
      call('AttachClassicLinkVpc', 'i-new1'),
      call('AttachClassicLinkVpc', 'i-new2'),
      call('DetachClassicLinkVpc', 'i-old'),
    ],
    'poll',
  );
  const settled = await store.settleCauses({
    ...scope(target),
    now: at(2),
    windowMs: 900_000,
    allowanceMs: 0,
  });
  expect(settled.found).toBe(3);
}

interface OutboxState {
  channel: string;
  status: string;
  attempts: number;
  rendered: boolean;
}

async function outbox(pool: pg.Pool, runId: string): Promise<OutboxState[]> {
  const res = await pool.query<OutboxState>(
    `SELECT channel, status, attempts, rendered_body IS NOT NULL AS rendered FROM alert_outbox
      WHERE sync_run_id = $1::bigint ORDER BY channel`,
    [runId],
  );
  return res.rows;
}

/** The parts of the chat channels' bodies that carry the message. */
interface ChatBody {
  blocks?: { text: { text: string } }[];
  markdown?: { text?: string; content?: string };
  card?: { elements: { text: { content: string } }[] };
}

/** The markup a chat channel was sent (what its service parses). */
function markup(r: Received): string {
  const b = r.json as ChatBody;
  switch (r.kind) {
    case 'slack':
      return (b.blocks ?? []).map((block) => block.text.text).join('\n');
    case 'dingtalk':
      return b.markdown?.text ?? '';
    case 'wecom':
      return b.markdown?.content ?? '';
    case 'lark':
      return (b.card?.elements ?? []).map((e) => e.text.content).join('\n');
    case 'webhook':
      throw new Error('the webhook is read as JSON');
  }
}

/** What a person reads in a chat message: Slack's plain text as sent, the markdown with our escapes undone. */
const read = (r: Received): string => (r.kind === 'slack' ? markup(r) : unmarkdown(markup(r)));

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&' };
/** CommonMark's reading of our escapes: backslash escapes, then entities. */
const unmarkdown = (s: string) =>
  s.replace(/\\([\\`*_[\]~])/g, '$1').replace(/&(lt|gt|amp);/g, (e) => ENTITIES[e] ?? e);

/** The request's body less the attempt's signature fields (Lark's `timestamp` and `sign`, put first). */
function unsigned(r: Received): string {
  if (r.kind !== 'lark') return r.raw;
  const head = /^\{"timestamp":"\d{10}","sign":"[A-Za-z0-9+/]+=*",/.exec(r.raw);
  expect(head, 'lark signature fields first').not.toBeNull();
  return `{${r.raw.slice(head?.[0].length ?? 0)}`;
}

/** The attempt's signature, where the channel signs. */
function signature(r: Received): string | undefined {
  if (r.kind === 'webhook') return String(r.headers['webhook-signature']);
  if (r.kind === 'dingtalk') return r.query.get('sign') ?? '';
  if (r.kind === 'lark') return String((r.json as { sign: string }).sign);
  return undefined;
}

interface HookLink {
  instanceId: string;
  instance: { name: string | null; tags: Record<string, string> } | null;
  vpc: { name: string | null } | null;
  cause: { status: string; actor: { name: string | null } | null; sourceIp: string | null } | null;
}

function hookLinks(r: Received): Record<string, HookLink> {
  const data = (r.json as { data: { added: HookLink[]; removed: HookLink[] } }).data;
  return Object.fromEntries([...data.added, ...data.removed].map((l) => [l.instanceId, l]));
}

describe('alert context', () => {
  it('context that settles within the wait is in the alert: names, tags, the VPC, who made each change', async () => {
    const { pool, store, receivers, config, target, runId } = await setup();
    // A poll interval beyond the test timeout: only the loop's look at waiting rows can send them.
    const dispatcher = track(
      testDispatcher(store, config, { contextWaitMs: 600_000, contextPollMs: 20, pollMs: 600_000 }),
    );
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    await describe_(store, target);
    // Instances described, causes still pending: still waiting — unclaimed, no attempt spent.
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    expect(await outbox(pool, runId)).toEqual(
      KINDS.map((k) => ({ channel: k, status: 'pending', attempts: 0, rendered: false })).sort((a, b) =>
        a.channel.localeCompare(b.channel),
      ),
    );

    const loop = new AbortController();
    const running = dispatcher.run(loop.signal);
    await attribute(store, target);
    await Promise.all(receivers.map((r) => r.waitForAccepted(1)));
    loop.abort();
    await running;

    for (const r of receivers) {
      expect(r.requests, r.kind).toHaveLength(1);
      if (r.kind === 'webhook') {
        const links = hookLinks(r.requests[0]!);
        expect(links['i-new1']).toMatchObject({
          instance: { name: 'web-01', tags: { env: 'prod', team: 'web' } },
          vpc: { name: 'prod-vpc' },
          cause: { status: 'found', actor: { name: 'ops-admin' }, sourceIp: '1.2.3.4' },
        });
        expect(links['i-old']?.cause).toMatchObject({ status: 'found', eventName: 'DetachClassicLinkVpc' });
        continue;
      }
      const text = read(r.requests[0]!);
      expect(text, r.kind).toContain('VPC: vpc-1 (prod-vpc)');
      const by = 'by ops-admin (ram-user) from 1.2.3.4 at 00:01:10Z';
      expect(text, r.kind).toContain(`i-new1 → vpc-1 (prod-vpc) · web-01 · env=prod,team=web · ${by}`);
      expect(text, r.kind).toContain(`i-new2 → vpc-1 (prod-vpc) · web-02 · env=prod,team=web · ${by}`);
      expect(text, r.kind).toContain(`i-old → vpc-1 (prod-vpc) · db-00 · env=prod,team=web · ${by}`);
      expect(text, r.kind).not.toContain('unknown');
    }
  });

  it('context still missing when the wait ends: sent with what is known, the rest said unknown', async () => {
    const { store, receivers, config, target } = await setup();
    let ahead = 0;
    const dispatcher = track(
      testDispatcher(store, config, { contextWaitMs: 60_000, now: () => new Date(Date.now() + ahead) }),
    );
    // The VPC and one instance are described; nothing else ever comes.
    await describe_(store, target, { 'i-new1': 'web-01' });
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    // 61 s on (the receivers allow 5 minutes between clocks): the wait is over.
    ahead = 61_000;
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 5, failed: 0, dead: 0 });

    for (const r of receivers) {
      const req = r.requests[0]!;
      if (r.kind === 'webhook') {
        const links = hookLinks(req);
        expect(links['i-new1']).toMatchObject({ instance: { name: 'web-01' }, cause: PENDING_CAUSE });
        expect(links['i-new2']).toMatchObject({
          instance: null,
          vpc: { name: 'prod-vpc' },
          cause: PENDING_CAUSE,
        });
        continue;
      }
      const text = read(req);
      expect(text, r.kind).toContain(
        'i-new1 → vpc-1 (prod-vpc) · web-01 · env=prod,team=web · cause unknown so far',
      );
      expect(text, r.kind).toContain(
        'i-new2 → vpc-1 (prod-vpc) · instance not yet described · cause unknown so far',
      );
      expect(text, r.kind).toContain('i-old → vpc-1 (prod-vpc) · instance not yet described');
    }
  });

  it('instances the identity may not describe are not waited for: sent once the causes settle', async () => {
    const { store, receivers, config, target } = await setup(['webhook', 'slack']);
    const dispatcher = track(testDispatcher(store, config, { contextWaitMs: 600_000, attribution: false }));
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    // Another account+region's missing permission changes nothing for this one.
    await store.recordContextCheck({
      account: target.account,
      regionId: 'elsewhere-1',
      source: 'instances',
      state: 'permission_denied',
      detail: 'Forbidden.RAM',
      at: at(1),
    });
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    await store.recordContextCheck({
      ...scope(target),
      source: 'instances',
      state: 'permission_denied',
      detail: 'Forbidden.RAM: User not authorized to operate on the specified resource.',
      at: at(1),
    });
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 2, failed: 0, dead: 0 });
    const slack = read(receivers.find((r) => r.kind === 'slack')!.requests[0]!);
    expect(slack).toContain('i-new1 → vpc-1 · instance not yet described');
  });

  it('ATTRIBUTION=off: an alert waits for instance attributes only, and says nothing of causes', async () => {
    const { store, receivers, config, target } = await setup(['webhook', 'slack', 'wecom']);
    const dispatcher = track(testDispatcher(store, config, { contextWaitMs: 600_000, attribution: false }));
    expect(await dispatcher.deliverDue()).toEqual(NONE);
    // Described; the causes stay pending (nothing attributes them): sent now.
    await describe_(store, target);
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 3, failed: 0, dead: 0 });
    for (const r of receivers) {
      const req = r.requests[0]!;
      if (r.kind === 'webhook') {
        expect(Object.values(hookLinks(req)).map((l) => l.cause)).toEqual([null, null, null]);
        continue;
      }
      const text = read(req);
      expect(text, r.kind).toContain('i-new1 → vpc-1 (prod-vpc) · web-01 · env=prod,team=web');
      expect(text, r.kind).not.toContain('cause');
    }
  });

  it('alerts waiting for context hold up no other alert, however many wait', async () => {
    const { pool, store, receivers, config, runId: waiting } = await setup(['webhook']);
    // A later run of another target whose context is complete (described, attributed).
    const other = await changedRun(store, ['webhook']);
    await describe_(store, other.target);
    await attribute(store, other.target);
    // One row per claim: the older, waiting row comes first in claim order and must be passed over.
    const dispatcher = track(testDispatcher(store, config, { contextWaitMs: 600_000, batchSize: 1 }));
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(receivers[0]?.accepted().map((r) => hookLinks(r)['i-new1']?.instance?.name)).toEqual(['web-01']);
    expect(await outbox(pool, waiting)).toEqual([
      { channel: 'webhook', status: 'pending', attempts: 0, rendered: false },
    ]);
  });

  it('sync --once waits for context only as long as its own bound allows, then sends what is known', async () => {
    const { store, receivers, config, target, runId } = await setup(['webhook', 'wecom']);
    const dispatcher = track(testDispatcher(store, config, { contextWaitMs: 600_000 }));
    // A run whose context is complete goes at once, with it.
    const ready = await changedRun(store, ['webhook', 'wecom']);
    await describe_(store, ready.target);
    await attribute(store, ready.target);
    expect(await dispatcher.deliverRuns([ready.runId], 30_000)).toEqual({
      delivered: 2,
      pending: 0,
      dead: 0,
    });
    expect(read(receivers[1]!.requests[0]!)).toContain('web-01 · env=prod,team=web · by ops-admin');

    // A bound of 400 ms ends long before a 10-minute wait: the run's alerts go out within it.
    await describe_(store, target, { 'i-new2': 'web-02' });
    expect(await dispatcher.deliverRuns([runId], 400)).toEqual({ delivered: 2, pending: 0, dead: 0 });
    const text = read(receivers[1]!.requests[1]!);
    expect(text).toContain('i-new1 → vpc-1 (prod-vpc) · instance not yet described · cause unknown so far');
    expect(text).toContain('i-new2 → vpc-1 (prod-vpc) · web-02 · env=prod,team=web · cause unknown so far');
  });
});

describe('one alert, one body', () => {
  it('a retry after a failed first attempt sends the first body byte for byte, freshly signed', async () => {
    const { pool, store, receivers, config, target, runId } = await setup();
    for (const r of receivers) r.fail({ status: 500, body: 'try later' }, 1);
    await describe_(store, target);
    let clock = Date.now();
    const dispatcher = track(testDispatcher(store, config, { now: () => new Date(clock) }));
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 5, dead: 0 });

    // Between the attempts, the context changes: a new rendering would tell another story.
    await attribute(store, target, 'mallory');
    await describe_(store, target, { ...NAMES, 'i-new1': 'renamed-01' }, at(3));
    clock += 2_000;
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 5, failed: 0, dead: 0 });

    for (const r of receivers) {
      expect(
        r.requests.map((q) => q.status),
        r.kind,
      ).toEqual([500, r.kind === 'webhook' ? 204 : 200]);
      const [first, second] = r.requests as [Received, Received];
      expect(second.accepted, r.kind).toBe(true);
      expect(unsigned(second), r.kind).toBe(unsigned(first));
      expect(second.raw, r.kind).toContain('web-01');
      expect(second.raw, r.kind).not.toContain('renamed-01');
      expect(second.raw, r.kind).not.toContain('mallory');
      // Signed per attempt: the signature (over a new timestamp) is not the first one.
      if (signature(first) !== undefined) expect(signature(second), r.kind).not.toBe(signature(first));
    }
    expect((await outbox(pool, runId)).map((o) => [o.status, o.attempts, o.rendered])).toEqual(
      KINDS.map(() => ['delivered', 2, true]),
    );
  });

  it('alerts --requeue of a dead-lettered alert sends the body it was first rendered with', async () => {
    const { store, receivers, config, target } = await setup(['webhook', 'lark']);
    for (const r of receivers) r.fail({ status: 503, body: 'down' }, 1);
    await describe_(store, target);
    const dispatcher = track(testDispatcher(store, config, { maxAttempts: 1 }));
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 0, dead: 2 });

    await attribute(store, target, 'mallory');
    expect(await store.requeueDeadOutbox({})).toBe(2);
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 2, failed: 0, dead: 0 });
    for (const r of receivers) {
      const [first, second] = r.requests as [Received, Received];
      expect(second.accepted, r.kind).toBe(true);
      expect(unsigned(second), r.kind).toBe(unsigned(first));
      expect(second.raw, r.kind).not.toContain('mallory');
    }
  });

  it('a deliverer process killed mid-request: the next deliverer sends the body the dead one rendered', async () => {
    const { pool, url, store, receivers, target, runId } = await setup();
    defer(() => killChildren());
    await describe_(store, target);
    for (const r of receivers) r.hold();
    const a = await startCli(
      ['start', '--role', 'alerts'],
      {
        DATABASE_URL: url,
        REDIS_URL: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: `test-${randomUUID()}`,
        LOG_LEVEL: 'info',
        ALERT_CONTEXT_WAIT: '0',
        ...channelEnv(receivers),
      },
      'deliverer A',
    );
    // A's requests reach every receiver, which never answers; A dies there.
    await Promise.all(receivers.map((r) => r.waitFor(() => true)));
    a.signal('SIGKILL');
    expect((await a.waitForExit()).signal).toBe('SIGKILL');
    expect((await outbox(pool, runId)).map((o) => [o.status, o.attempts, o.rendered])).toEqual(
      KINDS.map(() => ['delivering', 1, true]),
    );

    // The context changes before anyone sends again.
    await attribute(store, target, 'mallory');
    await describe_(store, target, { ...NAMES, 'i-new1': 'renamed-01' }, at(3));
    for (const r of receivers) r.release();
    // B, after A's 2-minute lease (its clock 121 s on, within every receiver's timestamp window).
    const b = track(
      testDispatcher(store, channelConfig(receivers), { now: () => new Date(Date.now() + 121_000) }),
    );
    expect(await b.deliverDue()).toEqual({ delivered: 5, failed: 0, dead: 0 });

    for (const r of receivers) {
      const [fromA, fromB] = r.requests as [Received, Received];
      expect(fromA.status, r.kind).toBe(0);
      expect(fromB.accepted, r.kind).toBe(true);
      expect(fromB.idempotencyKey, r.kind).toBe(fromA.idempotencyKey);
      expect(unsigned(fromB), r.kind).toBe(unsigned(fromA));
      // What A knew when it rendered (ALERT_CONTEXT_WAIT=0): names, causes not yet found.
      expect(fromB.raw, r.kind).not.toContain('mallory');
      expect(fromB.raw, r.kind).not.toContain('renamed-01');
      if (r.kind !== 'webhook')
        expect(read(fromB), r.kind).toContain('web-01 · env=prod,team=web · cause unknown so far');
    }
  });
});

/** Markup of every channel's dialect: emphasis, code, a link, mentions, a tag, an entity. */
const MARKUP_NAME = '*bold* _it_ ~s~ `code` [l](https://evil.example) &amp; back\\slash';
const MARKUP_ACTOR = '<!here> <!channel> @channel <@U024BE7LH> <at id=all></at> <font>x</font>';

describe('hostile text from the cloud', () => {
  it('names, tags and actors are shown verbatim but inert, and clipped with a marker, in every channel', async () => {
    expect(MARKUP_NAME.length).toBeLessThan(100);
    expect(MARKUP_ACTOR.length).toBeLessThan(80);
    const { store, receivers, config, target } = await setup(KINDS, ['i-evil', 'i-markup']);
    const vpcName = `vpc"<b>*${'z'.repeat(300)}`;
    await store.upsertInstances({
      ...scope(target),
      instances: [
        instanceAttrs('i-evil', { name: HOSTILE, tags: HOSTILE_TAGS }),
        instanceAttrs('i-markup', { name: MARKUP_NAME, tags: { [MARKUP_NAME]: '🦄' } }),
        instanceAttrs('i-old', { name: 'db-00' }),
      ],
      seenAt: at(2),
    });
    await store.upsertVpcs({
      ...scope(target),
      vpcs: [{ vpcId: target.vpcId, name: vpcName, cidrBlock: '172.16.0.0/12', tags: {} }],
      seenAt: at(2),
    });
    const call = (instanceId: string, name: string, sourceIp: string, eventName = 'AttachClassicLinkVpc') =>
      cloudEvent(target, {
        eventName,
        eventTime: new Date(at(1).getTime() + 10_000),
        instanceIds: [instanceId],
        actor: { type: 'ram-user', name, principalId: '666', accountId: '1547353256850' },
        sourceIp,
      });
    await store.recordCloudEvents(
      [
        call('i-evil', HOSTILE_ACTOR, '1.2.3.4'),
        call('i-markup', MARKUP_ACTOR, '<!here>'),
        call('i-old', 'ops-admin', '1.2.3.4', 'DetachClassicLinkVpc'),
      ],
      'poll',
    );
    await store.settleCauses({ ...scope(target), now: at(2), windowMs: 900_000, allowanceMs: 0 });

    const dispatcher = track(testDispatcher(store, config, { contextWaitMs: 600_000 }));
    expect(await dispatcher.deliverDue()).toEqual({ delivered: 5, failed: 0, dead: 0 });

    for (const r of receivers) {
      // Accepted: valid JSON of the channel's shape, within its size limit.
      expect(
        r.requests.map((q) => q.accepted),
        r.kind,
      ).toEqual([true]);
      const req = r.requests[0]!;
      if (r.kind === 'webhook') {
        // Exact: JSON carries every value whole.
        const links = hookLinks(req);
        expect(links['i-evil']).toMatchObject({
          instance: { name: HOSTILE, tags: HOSTILE_TAGS },
          vpc: { name: vpcName },
          cause: { actor: { name: HOSTILE_ACTOR } },
        });
        expect(links['i-markup']).toMatchObject({
          instance: { name: MARKUP_NAME },
          cause: { actor: { name: MARKUP_ACTOR }, sourceIp: '<!here>' },
        });
        continue;
      }
      const text = read(req);
      // Controls are visible escapes; nothing from the cloud starts a line of its own.
      expect(text.replaceAll('\n', ' '), r.kind).not.toMatch(CONTROL);
      expect(text, r.kind).toContain(
        escapeText(`evil"name'<script>alert(1)</script>🦄\nFAKE ROW\u001b[31mRED`),
      );
      expect(text, r.kind).toContain(escapeText(`by mallory\r\u001b[1Ayyy`));
      const items = text.split('\n').filter((l) => /^(- |• )i-/.test(l));
      expect(items.map((l) => l.slice(2, l.indexOf(' →'))).sort(), r.kind).toEqual([
        'i-evil',
        'i-markup',
        'i-old',
      ]);
      // 4 KB values are clipped, with a marker; emoji survive whole.
      expect(text, r.kind).not.toContain('x'.repeat(100));
      expect(text, r.kind).not.toContain('z'.repeat(100));
      expect(
        items.find((l) => l.includes('i-evil')),
        r.kind,
      ).toMatch(/x…/);
      expect(text, r.kind).toContain(`${MARKUP_NAME}=🦄`);
      // The markup reads as written ...
      expect(text, r.kind).toContain(`i-markup → vpc-1 (vpc"<b>*zzz`);
      expect(text, r.kind).toContain(`${MARKUP_NAME} · `);
      expect(text, r.kind).toContain(`by ${MARKUP_ACTOR} (ram-user) from <!here> at 00:01:10Z`);
      // ... and is inert: Slack gets plain text only (nothing parsed: no mention, no format);
      // the markdown services never get a `<` (no <at>, <@user>, <font>), nor live emphasis.
      const sent = markup(req);
      if (r.kind === 'slack') {
        const body = req.json as { text: string; blocks: { text: { type: string; emoji: boolean } }[] };
        expect(body.blocks.map((b) => [b.text.type, b.text.emoji])).toEqual([
          ['plain_text', false],
          ['plain_text', false],
        ]);
        expect(body.text).not.toMatch(/[<>]/);
      } else {
        expect(sent, r.kind).not.toMatch(/[<>]/);
        expect(sent, r.kind).toContain(
          '\\*bold\\* \\_it\\_ \\~s\\~ \\`code\\` \\[l\\](https://evil.example) &amp;amp;',
        );
      }
    }
  });
});
