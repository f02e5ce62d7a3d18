/**
 * The store's public types: its dependencies, its verbs (`Store`) and, re-exported from the files
 * of each area, their inputs and the rows they return. Ids of bigserial columns travel as decimal
 * strings (they may exceed 2^53).
 */
import type pg from 'pg';
import type { Link, TargetRef } from '../links.js';
import type { Logger } from '../log.js';
import type { OutboxStore, OutboxWatch } from './outbox-types.js';
import type {
  EventFilter,
  EventRow,
  EventsPage,
  EventsPageInput,
  LinkFilter,
  LinkRow,
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

export type * from './outbox-types.js';
export type * from './read-types.js';
export type * from './run-types.js';

export interface StoreDeps {
  pool: pg.Pool;
  log: Logger;
  /** Postgres NOTIFY channel told about every applied change. Default `classiclink_changes`. */
  notifyChannel?: string | undefined;
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
  /** How many events match the filter (its `limit` and `newest` aside). */
  countEvents(filter: EventFilter): Promise<number>;
  /** One page of the change log after a key (keyset paging over detected_at, id). */
  eventsPage(input: EventsPageInput): Promise<EventsPage>;
  /** Every target with its sync state. */
  listTargets(filter?: { account?: string | undefined }): Promise<TargetStatusRow[]>;
  getRun(runId: string): Promise<RunRow | undefined>;
  /** Records discovery's answer: creates new targets, retires the missing, un-retires the found. */
  syncTargetList(input: SyncTargetListInput): Promise<SyncTargetListResult>;
  /** EVENT_RETENTION: prunes events, delivered alerts and unreferenced runs before a cutoff, in batches. */
  pruneHistory(input: PruneInput): Promise<PruneResult>;
  /** LISTENs for applied scans that changed something: `onChange` gets each one's NOTIFY. */
  watchChanges(onChange: (note: ChangesNotification) => void): Promise<OutboxWatch>;
}
