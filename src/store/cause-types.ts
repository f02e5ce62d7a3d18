/**
 * Types of the attribution side: the ActionTrail records the change feed stores (`cloud_events`),
 * the actions that can cause a link change (DESIGN.md rule 7), and the inputs and outputs of the
 * verbs that settle each link event's cause (`link_event_causes`).
 */
import type { AccountRegion } from './attribute-types.js';
import type { EventRow } from './read-types.js';
import type { LinkChange } from './run-types.js';
import type { CAUSE_STATUSES, RECEIVED_VIA } from './schema.js';

export type CauseStatus = (typeof CAUSE_STATUSES)[number];
/** How a record reached us: the LookupEvents poll, or the EventBridge push. */
export type ReceivedVia = (typeof RECEIVED_VIA)[number];

/**
 * The ActionTrail calls that cause a link change, and which change each causes (DESIGN.md rule
 * 7). `namesVpc`: the record names the VPC, and a cause must name the event's VPC; a delete names
 * none (the link went with the instance). The change feed queries LookupEvents for these names.
 */
export const CAUSE_ACTIONS = [
  { eventName: 'AttachClassicLinkVpc', change: 'added', namesVpc: true },
  { eventName: 'DetachClassicLinkVpc', change: 'removed', namesVpc: true },
  { eventName: 'DeleteInstance', change: 'removed', namesVpc: false },
  { eventName: 'DeleteInstances', change: 'removed', namesVpc: false },
] as const satisfies readonly { eventName: string; change: LinkChange; namesVpc: boolean }[];

/** Who made a call (`userIdentity`). */
export interface CloudEventActor {
  /** `userIdentity.type`: ram-user, root-account, assumed-role, system, … */
  type: string | null;
  /** `userIdentity.userName`. */
  name: string | null;
  principalId: string | null;
  accountId: string | null;
}

/** One ActionTrail record, as the change feed parsed it. Fields the record lacks are null. */
export interface CloudEventRecord {
  /** `eventId`: the dedupe key. */
  eventId: string;
  /** The account whose trail it came from (our account name, as in every table). */
  account: string;
  /** `acsRegion`. */
  regionId: string;
  eventName: string;
  eventTime: Date;
  /** Every instance the call named (`InstanceId`, `InstanceIds`, `InstanceId.N`); may be empty. */
  instanceIds: string[];
  /** The VPC the call named (`VpcId`), if any. */
  vpcId: string | null;
  actor: CloudEventActor;
  accessKeyId: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  /** `requestId`: the RequestId of the audited call. */
  apiRequestId: string | null;
  /** Non-empty when the call failed: such a record is kept but never matched as a cause. */
  errorCode: string | null;
}

/** A non-baseline link event whose cause is not settled yet, with what rule 7 needs to look for it. */
export interface PendingCause
  extends Pick<EventRow, 'account' | 'regionId' | 'vpcId' | 'instanceId' | 'change' | 'detectedAt'> {
  linkEventId: string;
  /**
   * Start of the target's previous applied scan (the latest succeeded run of the target whose scan
   * started before this event's): the cause happened after it (less a clock allowance) and before
   * `detectedAt`. NULL when no such run is on record: the window has no start, and no record is
   * ever matched (the event ends `not_found`).
   */
  previousScanStartedAt: Date | null;
}

export interface PendingCausesInput extends AccountRegion {
  /** At most this many events, oldest first. Default 1,000. */
  limit?: number | undefined;
}

export interface SettleCausesInput extends AccountRegion {
  /** The `resolved_at` of what is settled now, and the clock `windowMs` is measured against. */
  now: Date;
  /** ATTRIBUTION_WINDOW: an event detected longer ago than this with no match is `not_found`. */
  windowMs: number;
  /** Clock allowance subtracted from the previous applied scan's start (ActionTrail's clock vs ours). */
  allowanceMs: number;
}

export interface SettleCausesResult {
  /** Events whose cause was found now. */
  found: number;
  /** Events settled `not_found` now (their window ran out). */
  notFound: number;
}

export interface MarkCausesUnavailableInput extends AccountRegion {
  /** Only events detected before this time. Default: every pending event. */
  before?: Date | undefined;
}
