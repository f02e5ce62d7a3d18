/**
 * The store's public types: its dependencies, its verbs (`Store`) and, re-exported from the files
 * of each area, their inputs and the rows they return. Ids of bigserial columns travel as decimal
 * strings (they may exceed 2^53).
 */
import type pg from 'pg';
import type { Link, TargetRef } from '../links.js';
import type { Logger } from '../log.js';
import type {
  AccountRegion,
  MarkInstancesReleasedInput,
  MarkUnlistedVpcsDeletedInput,
  MarkVpcsDeletedInput,
  MissingAttributesInput,
  UpsertInstancesInput,
  UpsertVpcsInput,
} from './attribute-types.js';
import type {
  CloudEventRecord,
  MarkCausesUnavailableInput,
  PendingCause,
  PendingCausesInput,
  ReceivedVia,
  SettleCausesInput,
  SettleCausesResult,
} from './cause-types.js';
import type { ConsoleStore } from './console-types.js';
import type {
  AppliedScan,
  FeedCursorInput,
  FeedFailedInput,
  FeedPolledInput,
  FeedStatusRow,
  InstanceVpc,
  LastAppliedScansInput,
  LinkedVpcsInput,
} from './feed-types.js';
import type { ContextCheckInput, ContextCheckResult, ContextHealthRow } from './health-types.js';
import type { OutboxStore, OutboxWatch } from './outbox-types.js';
import type {
  EventFilter,
  EventRow,
  EventsPage,
  EventsPageInput,
  LinkFilter,
  LinkRow,
  RunContext,
  RunRow,
  TargetStatusRow,
} from './read-types.js';
import type {
  ApplyScanInput,
  ApplyScanResult,
  ChangesNotification,
  FailRunInput,
  StartRunInput,
  SyncTargetListInput,
  SyncTargetListResult,
} from './run-types.js';

export type * from './attribute-types.js';
export type * from './cause-types.js';
export type * from './console-types.js';
export type * from './feed-types.js';
export type * from './health-types.js';
export type * from './outbox-types.js';
export type * from './read-types.js';
export type * from './run-types.js';

export interface StoreDeps {
  pool: pg.Pool;
  log: Logger;
  /** Postgres NOTIFY channel told about every applied change. Default `classiclink_changes`. */
  notifyChannel?: string | undefined;
  /** Where LISTEN connections come from: a session-capable pool (DATABASE_DIRECT_URL). Default `pool`. */
  listenPool?: pg.Pool | undefined;
  /** The variable naming the LISTEN connections' URL, for the error when they hear nothing. Default DATABASE_URL. */
  listenVia?: 'DATABASE_URL' | 'DATABASE_DIRECT_URL' | undefined;
  /** How long a new LISTEN connection waits for its probe NOTIFY before it is judged deaf. Default 5 s. */
  listenProbeMs?: number | undefined;
}

export interface PruneInput {
  /** History before this time goes (what `links_at()` after it needs stays). */
  olderThan: Date;
  /** Rows per statement. Default 5,000. */
  batchSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Rows pruned, per table. */
export interface PruneResult {
  events: number;
  outbox: number;
  runs: number;
  /** ActionTrail records no settled cause refers to. */
  cloudEvents: number;
}

export interface Store extends OutboxStore, ConsoleStore {
  /** Inserts a 'running' sync_runs row (and the sync_targets row if new). Returns its id. */
  startRun(input: StartRunInput): Promise<string>;
  /** Active links of a target (removed_at IS NULL), sorted: for finding removal candidates to confirm. */
  activeLinks(target: TargetRef): Promise<Link[]>;
  /** Applies a complete scan in one transaction under the target's advisory lock. */
  applyScan(input: ApplyScanInput): Promise<ApplyScanResult>;
  /** Marks a running run failed and bumps its target's failure state, atomically; no-op for a finished run. */
  failRun(input: FailRunInput): Promise<void>;
  /**
   * Links now, or at `filter.at`. Sorted by account, region, VPC, instance. Each carries what is
   * known of its instance and VPC, and the cause of the change that linked it.
   */
  listLinks(filter: LinkFilter): Promise<LinkRow[]>;
  /** The change log, oldest first; each event with what is known of its instance, VPC and cause. */
  listEvents(filter: EventFilter): Promise<EventRow[]>;
  /** How many events match the filter (its `limit` and `newest` aside). */
  countEvents(filter: EventFilter): Promise<number>;
  /** One page of the change log after a key (keyset paging over detected_at, id). */
  eventsPage(input: EventsPageInput): Promise<EventsPage>;
  /** Every target with its sync state. */
  listTargets(filter?: { account?: string | undefined }): Promise<TargetStatusRow[]>;
  getRun(runId: string): Promise<RunRow | undefined>;
  /**
   * The changes of a run with their context, for the alert that tells of them: the alert renderer
   * waits (ALERT_CONTEXT_WAIT) while `causesPending` or `instancesUnknown` is above zero.
   */
  contextForRun(runId: string): Promise<RunContext>;
  /** Records discovery's answer: creates new targets, retires the missing, un-retires the found. */
  syncTargetList(input: SyncTargetListInput): Promise<SyncTargetListResult>;
  /** EVENT_RETENTION: prunes events, delivered alerts and unreferenced runs before a cutoff, in batches. */
  pruneHistory(input: PruneInput): Promise<PruneResult>;
  /** LISTENs for applied scans that changed something: `onChange` gets each one's NOTIFY. */
  watchChanges(onChange: (note: ChangesNotification) => void): Promise<OutboxWatch>;

  // Attributes (attributes.ts). Each write is one statement that writes only the rows whose
  // attributes changed, and returns how many it wrote: a refresh that finds nothing new returns 0.

  /** Records what DescribeInstances said; clears `released_at` of an instance the API knows again. */
  upsertInstances(input: UpsertInstancesInput): Promise<number>;
  /** Sets `released_at` of instances the API no longer knows (a row is created for one never described). */
  markInstancesReleased(input: MarkInstancesReleasedInput): Promise<number>;
  /** Records what DescribeVpcs said; clears `deleted_at` of a VPC the API knows again. */
  upsertVpcs(input: UpsertVpcsInput): Promise<number>;
  /** Sets `deleted_at` of VPCs the API no longer knows. */
  markVpcsDeleted(input: MarkVpcsDeletedInput): Promise<number>;
  /** Sets `deleted_at` of the region's VPCs a complete listing no longer gives (discovery's). */
  markUnlistedVpcsDeleted(input: MarkUnlistedVpcsDeletedInput): Promise<number>;
  /** Instances in an active link of the account and region, sorted: what the periodic refresh describes. */
  instancesToRefresh(input: AccountRegion): Promise<string[]>;
  /**
   * Instances ever in a link of the account and region that have no `instances` row yet (linked
   * ones first): what is described right after a change is applied.
   */
  instancesMissingAttributes(input: MissingAttributesInput): Promise<string[]>;

  // Attribution (cloud-events.ts, causes.ts).

  /**
   * Stores ActionTrail records, each once (by `eventId`), however often and by whichever path they
   * arrive. Returns the records that were new (input order; the first of a repeated id).
   */
  recordCloudEvents(
    records: readonly CloudEventRecord[],
    receivedVia: ReceivedVia,
  ): Promise<CloudEventRecord[]>;
  /**
   * Non-baseline link events of the account and region whose cause is not settled, oldest first,
   * with the time window rule 7 searches (`previousScanStartedAt` … `detectedAt`): what the caller
   * queries LookupEvents for before `settleCauses`.
   */
  pendingCauses(input: PendingCausesInput): Promise<PendingCause[]>;
  /**
   * Applies DESIGN.md rule 7 to every pending event of the account and region in one statement:
   * `found` with the latest matching record, or `not_found` once `windowMs` has passed since
   * detection. Call it after recording the records of the window the pending events need.
   */
  settleCauses(input: SettleCausesInput): Promise<SettleCausesResult>;
  /**
   * Settles pending events as `unavailable` (the identity lacks actiontrail:LookupEvents): never
   * `not_found`, since nothing was looked at. Returns how many.
   */
  markCausesUnavailable(input: MarkCausesUnavailableInput): Promise<number>;

  // The change feed (change-feed.ts). It only schedules scans: none of these writes a link or event.

  /** Of these ActionTrail event ids, the ones already stored (by either path), with when. */
  knownCloudEvents(eventIds: readonly string[]): Promise<Map<string, Date>>;
  /** When each of an account's targets' last applied scan started (targets never scanned: none). */
  lastAppliedScans(input: LastAppliedScansInput): Promise<AppliedScan[]>;
  /**
   * The VPCs the instances are linked to now, and those a stored successful attach call named for
   * them: where a detach or delete that names only the instance may have changed a link.
   */
  linkedVpcs(input: LinkedVpcsInput): Promise<InstanceVpc[]>;
  /** The feed's state, its row created with `initial` as the cursor at its first poll. */
  feedCursor(input: FeedCursorInput): Promise<FeedStatusRow>;
  /** A poll that read its whole window: the cursor advances (never back), failures reset. */
  feedPolled(input: FeedPolledInput): Promise<void>;
  /** A poll that failed: the cursor stays, the error and one more consecutive failure are kept. */
  feedFailed(input: FeedFailedInput): Promise<void>;
  /** Every feed's state (of one account when given), by account and region. */
  listFeeds(filter?: { account?: string | undefined }): Promise<FeedStatusRow[]>;

  // Context health (health.ts).

  /**
   * Records one check of a context source (instances, actiontrail) of an account+region: moves
   * `checked_at` (and `last_ok_at` when ok), and `since` when the state changed. Says whether the
   * state or detail changed, so the caller logs a change once.
   */
  recordContextCheck(input: ContextCheckInput): Promise<ContextCheckResult>;
  /** Every account+region's context health (of one account when given), sorted. */
  listContextHealth(filter?: { account?: string | undefined }): Promise<ContextHealthRow[]>;
}
