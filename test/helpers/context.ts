/**
 * Context rows for the faces' tests (CLI, HTTP): one account whose changes cover every state a
 * change's context can be in — a baseline, a cause found, one not found, one unavailable, one
 * pending; an instance and a VPC never described; an instance described without tags — and one
 * instance whose name, tags and actor are hostile. Written through the store's verbs, as the
 * engine writes them.
 */
import type { TargetRef } from '../../src/links.js';
import type { CloudEventRecord, Store } from '../../src/store/index.js';
import { at } from './clock.js';
import { cloudEvent, instanceAttrs, scan, uniqueTarget } from './store.js';

/** Quotes, markup, emoji, a newline, ANSI colour and title sequences, a bidi override, then 4 KB. */
export const HOSTILE = `evil"name'<script>alert(1)</script>🦄\nFAKE ROW\u001b[31mRED\u001b[0m\u001b]0;pwned\u0007\u202eabc${'x'.repeat(4096)}`;
export const HOSTILE_TAGS: Record<string, string> = {
  'owner\nfake': '\u001b[2Jgone',
  env: 'prod',
  '<script>': '生产',
  [HOSTILE]: HOSTILE,
};
export const HOSTILE_ACTOR = `mallory\r\u001b[1A${'y'.repeat(300)}`;

/** What the context world's ActionTrail check says (LookupEvents refused since minute 35). */
export const NO_TRAIL_DETAIL =
  'LookupEvents was refused (Forbidden.RAM): the identity lacks actiontrail:LookupEvents (who made each change)';

/** The context world's health as `status --json` and `/v1/status` give it (ISO times). */
export const worldContextHealth = (world: ContextWorld) => [
  {
    account: world.target.account,
    regionId: 'cn-hangzhou',
    instances: {
      state: 'ok',
      detail: null,
      since: at(41).toISOString(),
      checkedAt: at(50).toISOString(),
      lastOkAt: at(50).toISOString(),
    },
    actiontrail: {
      state: 'permission_denied',
      detail: NO_TRAIL_DETAIL,
      since: at(35).toISOString(),
      checkedAt: at(35).toISOString(),
      lastOkAt: at(12).toISOString(),
    },
  },
];

/** When each change was detected: 30 s after its scan started at `at(minute)`. */
export const detected = (minute: number): Date => new Date(at(minute).getTime() + 30_000);

export interface ContextWorld {
  /** vpc-ctx, described as `prod-vpc`: i-base (baseline), i-found, i-evil, i-gone, i-noperm, i-pending. */
  target: TargetRef;
  /** vpc-bare of the same account, never described: i-bare (baseline, never described). */
  bare: TargetRef;
  attachFound: CloudEventRecord;
  attachEvil: CloudEventRecord;
}

/**
 * m0: baseline i-base (and i-bare in vpc-bare) · m10: +i-found (attached by ops-admin, ram-user,
 * from 1.2.3.4 at 00:05:12Z) and +i-evil (attached by HOSTILE_ACTOR) · m20: +i-gone (no record:
 * not_found) · m30: +i-noperm (LookupEvents forbidden: unavailable) · m40: +i-pending (nothing
 * settled yet). i-pending and i-bare are never described; i-noperm has no tags; i-gone is
 * released (at(42)). Context health: instances ok (last at 50); ActionTrail ok at 12, refused since
 * 35 (NO_TRAIL_DETAIL).
 */
export async function contextWorld(store: Store): Promise<ContextWorld> {
  const target = uniqueTarget('vpc-ctx');
  const bare: TargetRef = { ...target, vpcId: 'vpc-bare' };
  const scope = { account: target.account, regionId: target.regionId };
  const linked = ['i-base'];
  await scan(store, target, linked, { minute: 0 });
  await scan(store, bare, ['i-bare'], { minute: 0 });

  linked.push('i-found', 'i-evil');
  await scan(store, target, linked, { minute: 10 });
  const attachFound = cloudEvent(target, {
    eventName: 'AttachClassicLinkVpc',
    eventTime: new Date(at(5).getTime() + 12_000),
    instanceIds: ['i-found'],
    actor: { type: 'ram-user', name: 'ops-admin', principalId: '2741806465482', accountId: '1547353256850' },
    sourceIp: '1.2.3.4',
  });
  const attachEvil = cloudEvent(target, {
    eventName: 'AttachClassicLinkVpc',
    eventTime: at(6),
    instanceIds: ['i-evil'],
    actor: { type: 'ram-user', name: HOSTILE_ACTOR, principalId: '666', accountId: '1547353256850' },
  });
  await store.recordCloudEvents([attachFound, attachEvil], 'poll');
  await store.settleCauses({ ...scope, now: detected(10), windowMs: 60_000, allowanceMs: 0 });

  linked.push('i-gone');
  await scan(store, target, linked, { minute: 20 });
  await store.settleCauses({ ...scope, now: at(25), windowMs: 60_000, allowanceMs: 0 });

  linked.push('i-noperm');
  await scan(store, target, linked, { minute: 30 });
  await store.markCausesUnavailable({ ...scope, before: at(35) });

  linked.push('i-pending');
  await scan(store, target, linked, { minute: 40 });

  await store.upsertInstances({
    ...scope,
    instances: [
      instanceAttrs('i-base', { name: 'db-0', tags: { team: 'web', env: 'prod' } }),
      instanceAttrs('i-found', { name: 'web-01', privateIp: '10.0.0.7' }),
      instanceAttrs('i-evil', { name: HOSTILE, tags: HOSTILE_TAGS }),
      instanceAttrs('i-gone', { name: '生产-web-02', tags: { env: 'prod' } }),
      instanceAttrs('i-noperm', { name: 'batch-03', tags: {} }),
    ],
    seenAt: at(41),
  });
  await store.markInstancesReleased({ ...scope, instanceIds: ['i-gone'], at: at(42) });
  await store.upsertVpcs({
    ...scope,
    vpcs: [{ vpcId: target.vpcId, name: 'prod-vpc', cidrBlock: '172.16.0.0/12', tags: { team: 'core' } }],
    seenAt: at(41),
  });
  // Context health: instances readable (checked at 41 and 50), ActionTrail refused since 35.
  await store.recordContextCheck({ ...scope, source: 'instances', state: 'ok', detail: null, at: at(41) });
  await store.recordContextCheck({ ...scope, source: 'instances', state: 'ok', detail: null, at: at(50) });
  await store.recordContextCheck({ ...scope, source: 'actiontrail', state: 'ok', detail: null, at: at(12) });
  await store.recordContextCheck({
    ...scope,
    source: 'actiontrail',
    state: 'permission_denied',
    detail: NO_TRAIL_DETAIL,
    at: at(35),
  });
  return { target, bare, attachFound, attachEvil };
}

/** The cause of a change still looked for, as `--json` and `/v1` show it. */
export const PENDING_CAUSE = {
  status: 'pending',
  eventId: null,
  eventName: null,
  eventTime: null,
  actor: null,
  sourceIp: null,
  resolvedAt: null,
} as const;

/** The cause of `record` as `--json` and `/v1` show it (times as JSON has them). */
export function foundCause(record: CloudEventRecord, resolvedAt: Date) {
  return {
    status: 'found',
    eventId: record.eventId,
    eventName: record.eventName,
    eventTime: record.eventTime.toISOString(),
    actor: record.actor,
    sourceIp: record.sourceIp,
    resolvedAt: resolvedAt.toISOString(),
  };
}

/** What vpc-ctx is described as, in JSON. */
export const PROD_VPC = { name: 'prod-vpc', cidr: '172.16.0.0/12', tags: { team: 'core' }, deletedAt: null };

/** Terminal controls, bidi controls, line and paragraph separators: none may reach a text face. */
export const CONTROL = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
