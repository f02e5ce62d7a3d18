/**
 * One ActionTrail record — an item of LookupEvents' `Events`, or the `data` of an EventBridge push
 * — into what the `cloud_events` table stores. Pure: no clock, no I/O.
 *
 * Lenient where the real shape is unconfirmed (reference/alibaba-actiontrail.md §1.4, §5):
 * `eventVersion` a number or a string; ids a string or a number; instance ids from
 * `requestParameters.InstanceId` (one id, a list, or a JSON array), `InstanceIds` (a JSON array
 * string or an array), `InstanceId.N` (a repeated parameter flattened), and only when those name
 * none, `referencedResources['ACS::ECS::Instance']`; `requestParameters` itself an object or a
 * JSON string; `null` as absent. Strict where a wrong value would mislead: a record without an
 * id, a name, a time with its offset, a region or an identity type is refused, naming the field.
 */
import { z } from 'zod';
import { parseTimestamp } from '../ids.js';
import { type FieldIssue, firstIssue } from './schemas.js';

/** Who made the call (`userIdentity`). */
export interface CloudEventActor {
  /** `ram-user`, `root-account`, `assumed-role`, `system`, … as ActionTrail says it. */
  type: string;
  name?: string | undefined;
  principalId?: string | undefined;
  accountId?: string | undefined;
}

/** An ActionTrail record as `cloud_events` keeps it. */
export interface CloudEvent {
  /** Unique per record: the dedupe key. */
  eventId: string;
  eventName: string;
  eventTime: Date;
  /** The region of the operation. */
  acsRegion: string;
  /** The instances the call named; `[]` when it named none. */
  instanceIds: string[];
  /** `requestParameters.VpcId`: the VPC the call named (attach / detach). */
  vpcId?: string | undefined;
  actor: CloudEventActor;
  accessKeyId?: string | undefined;
  /** `sourceIpAddress`: an IP, or a service name for calls made by a service. */
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
  /** `requestId`: the RequestId of the audited call. */
  apiRequestId?: string | undefined;
  /** Set when the call failed (an empty `errorCode` is success): kept, never matched. */
  errorCode?: string | undefined;
}

/** A record that did not validate: which field and why (log one line with it), never a crash. */
export interface CloudEventRefusal extends FieldIssue {
  /** The record's `eventId`, when it is a string. */
  eventId: string | undefined;
}

export type ParsedCloudEvent = { ok: true; event: CloudEvent } | { ok: false; refusal: CloudEventRefusal };

/** Optional text: absent, `null` or a string (`''` is read as absent). */
const text = z.string().nullish();

/** An id some records give as a number: kept only when the number is exact. */
const idText = z
  .union([z.string(), z.number()])
  .nullish()
  .refine((v) => typeof v !== 'number' || Number.isSafeInteger(v), {
    message: 'a number too large to be exact; expected a string',
  });

const time = z.string().transform((s, ctx) => {
  const d = parseTimestamp(s);
  if (d === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an ISO-8601 time with its offset, like 2026-01-02T06:11:36Z',
    });
    return z.NEVER;
  }
  return d;
});

const recordSchema = z.object({
  eventId: z.string().min(1),
  eventName: z.string().min(1),
  eventTime: time,
  eventVersion: z.union([z.number(), z.string()]).nullish(),
  acsRegion: z.string().min(1),
  userIdentity: z.object({
    type: z.string().min(1),
    userName: text,
    principalId: idText,
    accountId: idText,
    accessKeyId: text,
  }),
  sourceIpAddress: text,
  userAgent: text,
  requestId: text,
  errorCode: text,
});

/** The resource type whose ids `referencedResources` lists for ECS instances. */
const INSTANCE_RESOURCE = 'ACS::ECS::Instance';

function present(v: string | number | null | undefined): string | undefined {
  return v === null || v === undefined || v === '' ? undefined : String(v);
}

function isIssue(v: unknown): v is FieldIssue {
  return typeof v === 'object' && v !== null && 'field' in v && 'message' in v;
}

/** An id, a comma list, a JSON array string, or an array of strings → the ids. */
function idList(value: unknown, field: string): string[] | FieldIssue {
  if (value === undefined || value === null) return [];
  let v = value;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!t.startsWith('[')) return t.split(',').flatMap((s) => (s.trim() === '' ? [] : [s.trim()]));
    try {
      v = JSON.parse(t);
    } catch {
      return { field, message: 'expected a JSON array of ids' };
    }
  }
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    return v.flatMap((s: string) => (s.trim() === '' ? [] : [s.trim()]));
  }
  return { field, message: 'expected an id, a list of ids or a JSON array of ids' };
}

/** `requestParameters`: an object, a JSON string of one, or absent. */
function objectField(value: unknown, field: string): Record<string, unknown> | FieldIssue {
  if (value === undefined || value === null || value === '') return {};
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return { field, message: 'expected an object or a JSON object string' };
    }
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  return { field, message: 'expected an object' };
}

/** The instance ids and VPC the call named, from its request parameters (see the file comment). */
function named(record: Record<string, unknown>): { instanceIds: string[]; vpcId?: string } | FieldIssue {
  const params = objectField(record.requestParameters, 'requestParameters');
  if (isIssue(params)) return params;
  const ids: string[] = [];
  for (const key of ['InstanceId', 'InstanceIds']) {
    const list = idList(params[key], `requestParameters.${key}`);
    if (isIssue(list)) return list;
    ids.push(...list);
  }
  // A repeated parameter flattened as `InstanceId.1`, `InstanceId.2`, … in its index order.
  const flattened = Object.keys(params)
    .map((key) => ({ key, n: /^InstanceIds?\.(\d+)$/.exec(key)?.[1] }))
    .filter((k): k is { key: string; n: string } => k.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n));
  for (const { key } of flattened) {
    const list = idList(params[key], `requestParameters.${key}`);
    if (isIssue(list)) return list;
    ids.push(...list);
  }
  if (ids.length === 0) {
    const refs = objectField(record.referencedResources, 'referencedResources');
    if (isIssue(refs)) return refs;
    const list = idList(refs[INSTANCE_RESOURCE], `referencedResources.${INSTANCE_RESOURCE}`);
    if (isIssue(list)) return list;
    ids.push(...list);
  }
  const vpc = params.VpcId;
  if (vpc !== undefined && vpc !== null && typeof vpc !== 'string') {
    return { field: 'requestParameters.VpcId', message: 'expected a string' };
  }
  // Why not the record's top-level `vpcId`: that is the VPC the request came from (a call made
  // through a VPC endpoint), not the VPC the call acted on.
  return { instanceIds: [...new Set(ids)], vpcId: present(vpc) };
}

/** Parses one ActionTrail record; a record that does not validate is refused with its field. */
export function parseCloudEvent(record: unknown): ParsedCloudEvent {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { ok: false, refusal: { eventId: undefined, field: '(record)', message: 'expected an object' } };
  }
  const raw = record as Record<string, unknown>;
  const eventId = typeof raw.eventId === 'string' ? raw.eventId : undefined;
  const r = recordSchema.safeParse(raw);
  if (!r.success) return { ok: false, refusal: { eventId, ...firstIssue(r.error) } };
  const ids = named(raw);
  if (isIssue(ids)) return { ok: false, refusal: { eventId, ...ids } };
  const e = r.data;
  const who = e.userIdentity;
  return {
    ok: true,
    event: {
      eventId: e.eventId,
      eventName: e.eventName,
      eventTime: e.eventTime,
      acsRegion: e.acsRegion,
      instanceIds: ids.instanceIds,
      vpcId: ids.vpcId,
      actor: {
        type: who.type,
        name: present(who.userName),
        principalId: present(who.principalId),
        accountId: present(who.accountId),
      },
      accessKeyId: present(who.accessKeyId),
      sourceIp: present(e.sourceIpAddress),
      userAgent: present(e.userAgent),
      apiRequestId: present(e.requestId),
      errorCode: present(e.errorCode),
    },
  };
}
