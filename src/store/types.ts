/**
 * The store's public types: its verbs (`Store`), their inputs and the rows the read side returns.
 * Ids of bigserial columns travel as decimal strings (they may exceed 2^53).
 */
import type pg from 'pg';
import type { ChannelName } from '../alerts/index.js';
import type { Link, TargetRef } from '../links.js';
import type { Logger } from '../log.js';
import type { PruneInput, PruneResult } from './prune.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'superseded';

export interface StoreDeps {
  pool: pg.Pool;
  log: Logger;
  /** Postgres NOTIFY channel told about every applied change. Default `classiclink_changes`. */
  notifyChannel?: string | undefined;
}

export interface StartRunInput {
  target: TargetRef;
  jobId: string;
  attempt: number;
  /** When the run's scan began (before its first page). */
  startedAt: Date;
}

export interface ApplyScanInput {
  runId: string;
  target: TargetRef;
  /** When the scan began (before its first page); orders scans of a target. */
  scanStartedAt: Date;
  /** The complete, validated set of links of the target (every `vpcId` is the target's). */
  links: Link[];
  pages: number;
  /** The last page's RequestId. */
  requestId?: string | undefined;
  /**
   * Removal candidates the caller confirmed gone by a direct InstanceId lookup, keyed
   * `${vpcId}/${instanceId}` (`linkKey` in diff.ts). A link the diff would remove that is not in
   * this set is not removed: applyScan throws RetryableError 'RemovalNotConfirmed' and the caller
   * rescans.
   */
  confirmedRemovals: ReadonlySet<string>;
  /** Configured alert channels: one alert_outbox row each for a run that changed something. */
  channels: readonly ChannelName[];
  /** Alert on the baseline (first) scan of a target too. */
  alertOnBaseline: boolean;
  /** The detection time written to events, link rows, the run's finished_at and last_success_at. */
  detectedAt: Date;
}

export type ApplyScanResult =
  | { outcome: 'applied'; baseline: boolean; added: Link[]; removed: Link[] }
  | { outcome: 'superseded' }
  | { outcome: 'already-finished'; status: string };

export interface FailRunInput {
  runId: string;
  target: TargetRef;
  code: string;
  message: string;
  requestId?: string | undefined;
  finishedAt: Date;
}

export interface SyncTargetListInput {
  account: string;
  regionId: string;
  /** Every VPC discovery found in this account and region. */
  vpcIds: string[];
}

export interface SyncTargetListResult {
  /** Targets seen for the first time (inserted, never synced yet). */
  created: number;
  /** Targets that were retired and are discovered again. */
  unretired: number;
  /** Targets no longer discovered, now retired. */
  retired: number;
  /**
   * Targets not discovered (retired, now or before) that still have active links: each needs a
   * final scan, so the removals of a VPC that disappeared with its links are recorded.
   */
  finalScans: string[];
  /**
   * Pages that the last finished scan of a target read, for the listed targets where it was more
   * than one (a plan paces its jobs by the API calls they are expected to make).
   */
  lastPages: Record<string, number>;
}

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

export interface LinkRow {
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  /** Start of the linked interval that contains now (or `at`). */
  linkedSince: Date;
  /** First time this link was ever seen; null for point-in-time (`at`) answers. */
  firstSeenAt: Date | null;
}

export interface EventRow {
  id: string;
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  change: 'added' | 'removed';
  detectedAt: Date;
  syncRunId: string;
  baseline: boolean;
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

/** The payload of an alert_outbox row of kind 'changes' (the generic webhook's body is built from it). */
export interface ChangesAlertPayload {
  runId: string;
  account: string;
  regionId: string;
  vpcId: string;
  /** ISO 8601. */
  detectedAt: string;
  baseline: boolean;
  added: Link[];
  removed: Link[];
  addedCount: number;
  removedCount: number;
}

/** The payload of a NOTIFY on the store's channel (small: Postgres caps it under 8000 bytes). */
export interface ChangesNotification {
  runId: string;
  account: string;
  regionId: string;
  vpcId: string;
  baseline: boolean;
  added: number;
  removed: number;
}

export interface Store extends OutboxStore {
  /** Inserts a 'running' sync_runs row (and the sync_targets row if new). Returns its id. */
  startRun(input: StartRunInput): Promise<string>;
  /** Active links of a target (removed_at IS NULL), sorted: for finding removal candidates to confirm. */
  activeLinks(target: TargetRef): Promise<Link[]>;
  /** Applies a complete scan in one transaction under the target's advisory lock. */
  applyScan(input: ApplyScanInput): Promise<ApplyScanResult>;
  /** Marks a running run failed and bumps its target's failure state, atomically; no-op for a finished run. */
  failRun(input: FailRunInput): Promise<void>;
  /** Links now, or at `filter.at`. Sorted by account, region, VPC, instance. */
  listLinks(filter: LinkFilter): Promise<LinkRow[]>;
  /** The change log, oldest first. */
  listEvents(filter: EventFilter): Promise<EventRow[]>;
  /** One page of the change log after a key (keyset paging over detected_at, id). */
  eventsPage(input: EventsPageInput): Promise<EventsPage>;
  /** How many events match the filter (its `limit` and `newest` aside). */
  countEvents(filter: EventFilter): Promise<number>;
  /** Every target with its sync state. */
  listTargets(filter?: { account?: string | undefined }): Promise<TargetStatusRow[]>;
  getRun(runId: string): Promise<RunRow | undefined>;
  /** Records discovery's answer: creates new targets, retires the missing, un-retires the found. */
  syncTargetList(input: SyncTargetListInput): Promise<SyncTargetListResult>;
  /** EVENT_RETENTION: prunes events, delivered alerts and unreferenced runs before a cutoff, in batches. */
  pruneHistory(input: PruneInput): Promise<PruneResult>;
}

// ---------------------------------------------------------------------------------------------
// Alert outbox (store/outbox.ts): delivery claims, results, counts, and staleness alerts.

export type AlertKind = 'changes' | 'stale' | 'recovered';
export type OutboxStatus = 'pending' | 'delivering' | 'delivered' | 'dead';

/** The payload of an alert_outbox row of kind 'stale': a target had no complete scan for too long. */
export interface StaleAlertPayload {
  account: string;
  regionId: string;
  vpcId: string;
  /** ISO 8601: when the check found the target stale. */
  detectedAt: string;
  /** ISO 8601: the last complete scan, or null when the target never had one. */
  lastSuccessAt: string | null;
  /** ISO 8601: the time staleness is counted from (last success, else the target's creation). */
  staleSince: string;
  /** ALERT_STALE_AFTER in seconds. */
  staleAfterSeconds: number;
  consecutiveFailures: number;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
}

/** The payload of an alert_outbox row of kind 'recovered': a stale target completed a scan again. */
export interface RecoveredAlertPayload {
  account: string;
  regionId: string;
  vpcId: string;
  /** ISO 8601: when the check saw the recovery. */
  detectedAt: string;
  /** ISO 8601: the scan that ended the staleness. */
  lastSuccessAt: string;
  /** ISO 8601: when the stale alert was raised. */
  staleAlertedAt: string;
}

/** One claimed outbox row; `kind` decides the payload's type. */
export type OutboxMessage = {
  /** The idempotency key sent to the receiver with every attempt. */
  id: string;
  syncRunId: string | null;
  channel: ChannelName;
  /** Attempts including this one (the claim counts it). Also the claim's fencing token. */
  attempts: number;
  createdAt: Date;
  /** End of this claim's lease. */
  claimedUntil: Date;
} & (
  | { kind: 'changes'; payload: ChangesAlertPayload }
  | { kind: 'stale'; payload: StaleAlertPayload }
  | { kind: 'recovered'; payload: RecoveredAlertPayload }
);

export interface ClaimOutboxInput {
  /** At most this many rows. */
  limit: number;
  /** The lease: an unfinished claim is due again after this. */
  leaseMs: number;
  now: Date;
  /** Only rows of these runs (for `sync --once`). */
  runIds?: readonly string[] | undefined;
}

export interface FailOutboxInput {
  id: string;
  /** The `attempts` of the claim (fencing: a claim taken over after its lease records nothing). */
  attempts: number;
  error: string;
  /** When to try again; `null` dead-letters the row. */
  retryAt: Date | null;
}

export interface OutboxRow {
  id: string;
  syncRunId: string | null;
  kind: AlertKind;
  channel: ChannelName;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  claimedUntil: Date | null;
  payload: unknown;
}

export interface OutboxFilter {
  status?: OutboxStatus | undefined;
  runIds?: readonly string[] | undefined;
  channel?: ChannelName | undefined;
  /** Only these outbox ids (UUIDs). */
  ids?: readonly string[] | undefined;
  /** Newest first, at most this many. Default 100. */
  limit?: number | undefined;
}

export interface OutboxCounts {
  pending: number;
  delivering: number;
  delivered: number;
  dead: number;
  /** Creation time of the oldest row not yet delivered nor dead; null when none. */
  oldestUndeliveredAt: Date | null;
  byChannel: Partial<
    Record<ChannelName, { pending: number; delivering: number; delivered: number; dead: number }>
  >;
}

export interface CheckStalenessInput {
  now: Date;
  staleAfterMs: number;
  /** One outbox row per channel for each stale / recovered target. */
  channels: readonly ChannelName[];
}

export interface CheckStalenessResult {
  stale: TargetRef[];
  recovered: TargetRef[];
}

/** A LISTEN connection: `onWake` runs on every NOTIFY about new outbox rows. */
export interface OutboxWatch {
  /** Resolves when the connection is lost (then open a new watch). */
  readonly lost: Promise<void>;
  close(): Promise<void>;
}

/** The outbox verbs of the Store. */
export interface OutboxStore {
  /**
   * Claims due rows (pending and due, or delivering with an expired lease) as 'delivering' under
   * a lease, counting an attempt. Rows locked by another claimer are skipped, never waited for.
   */
  claimOutbox(input: ClaimOutboxInput): Promise<OutboxMessage[]>;
  /** Records a delivery (whoever's claim it was: a message delivered is delivered). */
  completeOutbox(id: string, deliveredAt: Date): Promise<void>;
  /** Records a failed attempt: due again at `retryAt`, or dead when it is null. Returns the new status. */
  failOutbox(input: FailOutboxInput): Promise<OutboxStatus | undefined>;
  /** Gives a claimed, unsent row back (due at `at`), uncounting its attempt. */
  releaseOutbox(input: { id: string; attempts: number; at: Date }): Promise<void>;
  /**
   * Gives dead rows a new round of attempts (an operator's "retry": after fixing a channel's
   * configuration or an outage longer than the retries). Same ids, so receivers still deduplicate.
   * Returns how many rows were requeued.
   */
  requeueDeadOutbox(filter?: {
    ids?: readonly string[] | undefined;
    channel?: ChannelName | undefined;
  }): Promise<number>;
  /** The earliest time a row (of `runIds`, when given) becomes due; null when none is waiting. */
  nextOutboxDueAt(filter?: { runIds?: readonly string[] | undefined }): Promise<Date | null>;
  /** Rows, newest first. */
  listOutbox(filter?: OutboxFilter): Promise<OutboxRow[]>;
  /** Counts per status (and per channel) for `status` and metrics; `runIds` restricts them. */
  outboxCounts(filter?: { runIds?: readonly string[] | undefined }): Promise<OutboxCounts>;
  /**
   * Raises one 'stale' alert per channel for each watched target without a complete scan for
   * `staleAfterMs` (counted from its creation when it never had one), and one 'recovered' alert
   * when a stale-alerted target has succeeded since. Idempotent: `stale_alerted_at` records it.
   */
  checkStaleness(input: CheckStalenessInput): Promise<CheckStalenessResult>;
  /** LISTENs for new outbox rows (the changes channel and the outbox channel). */
  watchOutbox(onWake: () => void): Promise<OutboxWatch>;
}
