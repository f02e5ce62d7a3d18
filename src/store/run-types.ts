/**
 * Types of the write side: a run's start and failure, the scan it applies (and the NOTIFY it
 * sends), and the target list discovery records.
 */

import type { ChannelName } from '../alerts/index.js';
import type { Link, TargetRef } from '../links.js';
import type { LINK_CHANGES, RUN_STATUSES } from './schema.js';

export type RunStatus = (typeof RUN_STATUSES)[number];
export type LinkChange = (typeof LINK_CHANGES)[number];

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
   * `${vpcId}/${instanceId}` (`linkKey` in links.ts). A link the diff would remove that is not in
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
