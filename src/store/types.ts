/**
 * The store's public types: its verbs (`Store`), their inputs and the rows the read side returns.
 * Ids of bigserial columns travel as decimal strings (they may exceed 2^53).
 */
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { Link, TargetRef } from '../source.js';

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
  channels: readonly string[];
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
  /** At most this many events (the oldest first). Default: all. */
  limit?: number | undefined;
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

export interface Store {
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
  /** Every target with its sync state. */
  listTargets(filter?: { account?: string | undefined }): Promise<TargetStatusRow[]>;
  getRun(runId: string): Promise<RunRow | undefined>;
  /** Records discovery's answer: creates new targets, retires the missing, un-retires the found. */
  syncTargetList(input: SyncTargetListInput): Promise<SyncTargetListResult>;
}
