/** Types of the read side: the filters of the read verbs and the rows they return. */
import type { InstanceAttributes } from './attribute-types.js';
import type { CauseStatus, CloudEventActor } from './cause-types.js';
import type { LinkChange, RunStatus } from './run-types.js';

export interface LinkFilter {
  account?: string | undefined;
  regionId?: string | undefined;
  vpcId?: string | undefined;
  /** Links as they were at this time (from link_events via links_at()); default: now. */
  at?: Date | undefined;
}

export interface EventFilter {
  account?: string | undefined;
  /** detected_at >= since. */
  since?: Date | undefined;
  /** detected_at < until. */
  until?: Date | undefined;
  regionId?: string | undefined;
  vpcId?: string | undefined;
  instanceId?: string | undefined;
  /** At most this many events: the oldest (default) or, with `newest`, the newest. Default: all. */
  limit?: number | undefined;
  /** With `limit`: keep the newest events instead of the oldest (still returned oldest first). */
  newest?: boolean | undefined;
}

export interface LinkRow {
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  /** Start of the linked interval that contains now (or `at`). */
  linkedSince: Date;
  /** First time this link was ever seen; null for point-in-time (`at`) answers. */
  firstSeenAt: Date | null;
  /** The instance as last described; absent when it never was. */
  instance?: InstanceContext;
  /** The VPC as last described; absent when it never was. */
  vpc?: VpcContext;
  /** The cause of the change that linked it (the start of `linkedSince`); absent while pending or for a baseline. */
  cause?: CauseContext;
  /**
   * The change that linked it was a baseline (the target's first scan found the link: never
   * attributed), which tells a cause that will never come from one still pending; null when that
   * change is no longer on record.
   */
  baseline: boolean | null;
}

/** What is known of an instance (`instances`): its attributes, and whether the API still knows it. */
export interface InstanceContext extends Omit<InstanceAttributes, 'instanceId'> {
  /** When the API stopped knowing it; null while it exists. */
  releasedAt: Date | null;
}

/** What is known of a VPC (`vpcs`). */
export interface VpcContext {
  name: string | null;
  cidr: string | null;
  tags: Record<string, string>;
  /** When the API stopped knowing it; null while it exists. */
  deletedAt: Date | null;
}

/**
 * The settled cause of a change (`link_event_causes`): the ActionTrail call behind it when
 * `found`; otherwise only that it is unknown, and why (`not_found`: no record within the window;
 * `unavailable`: the identity may not read ActionTrail).
 */
export type CauseContext =
  | {
      status: 'found';
      /** The `cloud_events.event_id` matched. */
      eventId: string;
      eventName: string;
      eventTime: Date;
      actor: CloudEventActor;
      sourceIp: string | null;
      resolvedAt: Date;
    }
  | { status: Exclude<CauseStatus, 'found'>; resolvedAt: Date };

/** The context of a run's changes, for the alert that tells of them. */
export interface RunContext {
  /** The run's events (added, then removed; by VPC and instance), each with what is known. */
  events: EventRow[];
  /** Events whose cause is not settled yet (baseline events never get one and are not counted). */
  causesPending: number;
  /** Events whose instance was never described. */
  instancesUnknown: number;
}

export interface EventRow {
  id: string;
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  change: LinkChange;
  detectedAt: Date;
  syncRunId: string;
  baseline: boolean;
  /** The instance as last described; absent when it never was. */
  instance?: InstanceContext;
  /** The VPC as last described; absent when it never was. */
  vpc?: VpcContext;
  /** The settled cause; absent while pending, and for baseline events (never attributed). */
  cause?: CauseContext;
}

export interface TargetStatusRow {
  account: string;
  regionId: string;
  vpcId: string;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  lastRequestId: string | null;
  consecutiveFailures: number;
  lastAppliedScanStartedAt: Date | null;
  lastRunId: string | null;
  createdAt: Date;
  updatedAt: Date;
  staleAlertedAt: Date | null;
  retiredAt: Date | null;
  /** Links of the target linked now. */
  activeLinks: number;
}

export interface RunRow {
  id: string;
  account: string;
  regionId: string;
  vpcId: string;
  jobId: string;
  attempt: number;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  pages: number | null;
  linksSeen: number | null;
  added: number | null;
  removed: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  baseline: boolean;
  scanStartedAt: Date | null;
}

/** The sort key of an event in the change log: (detected_at, id). */
export interface EventKey {
  detectedAt: Date;
  id: string;
}

export interface EventsPageInput {
  /** The events to page through (`limit` and `newest` are the page's business, not the filter's). */
  filter: Omit<EventFilter, 'limit' | 'newest'>;
  /** The key of the last event already returned; the page starts after it. Default: the first event. */
  after?: EventKey | undefined;
  /** At most this many events. */
  limit: number;
}

export interface EventsPage {
  /** Oldest first. */
  events: EventRow[];
  /** The key to continue after; undefined when no event follows. */
  next: EventKey | undefined;
}
