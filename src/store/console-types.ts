/** Types of the console's read verbs (console.ts): what the built-in web console shows. */
import type { FeedStatusRow } from './feed-types.js';
import type {
  EventFilter,
  EventKey,
  EventRow,
  InstanceContext,
  RunRow,
  TargetStatusRow,
  VpcContext,
} from './read-types.js';

/** An account's scope: one account, or every account (undefined: ACCOUNTS_FILE deployments). */
export interface AccountScope {
  account?: string | undefined;
}

export interface BurnDownInput extends AccountScope {
  regionId?: string | undefined;
  /** First UTC day shown (`YYYY-MM-DD`); undefined: the first day on record. */
  from?: string | undefined;
  /** The last UTC day shown (`YYYY-MM-DD`): today, by the caller's clock. */
  today: string;
}

/** Links active at the end of one UTC day, in one account and region. */
export interface BurnDownPoint {
  account: string;
  regionId: string;
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  active: number;
}

/** Links active now in one account and region. */
export interface ActiveCount {
  account: string;
  regionId: string;
  active: number;
}

/** Non-baseline changes detected in a time range. */
export interface ChangeCounts {
  added: number;
  removed: number;
}

/**
 * The ActionTrail change feed's place and health in one account and region (`change_feed`): the
 * feed's own row (feed-types.ts), less its running totals.
 */
export type ChangeFeedRow = Omit<FeedStatusRow, 'recordsSeen' | 'scansScheduled'>;

/** The change log's filter in the console: the CLI's, and who made the change, and sets of ids. */
export interface ChangesFilter extends Omit<EventFilter, 'limit' | 'newest'> {
  /** The ActionTrail caller's user name (`cause_actor_name`), exactly. */
  actor?: string | undefined;
  /** Events of any of these instances or of any of these VPCs (a name search's matches). */
  anyOf?: { instanceIds: readonly string[]; vpcIds: readonly string[] } | undefined;
}

export interface ChangesPageInput {
  filter: ChangesFilter;
  /** The key of the last (oldest) event already shown; the page continues before it. */
  before?: EventKey | undefined;
  limit: number;
}

export interface ChangesPage {
  /** Newest first. */
  events: EventRow[];
  /** The key to continue from (older events); undefined when none is left. */
  next: EventKey | undefined;
}

/** An instance or a VPC whose name matched a search. */
export interface NameMatch {
  kind: 'instance' | 'vpc';
  account: string;
  regionId: string;
  id: string;
  name: string | null;
}

/** An instance as last described (`instances`). */
export interface InstanceRecord extends InstanceContext {
  account: string;
  regionId: string;
  instanceId: string;
  updatedAt: Date;
}

/** A VPC as last described (`vpcs`). */
export interface VpcRecord extends VpcContext {
  account: string;
  regionId: string;
  vpcId: string;
  updatedAt: Date;
}

export interface TargetKey {
  account: string;
  regionId: string;
  vpcId: string;
}

export interface InstanceKey {
  account: string;
  regionId: string;
  instanceId: string;
}

export interface TargetsInTroubleInput extends AccountScope {
  regionId?: string | undefined;
  /** Targets without a success since this time are candidates (ALERT_STALE_AFTER ago). */
  staleBefore: Date;
}

export interface TargetsInTrouble {
  /** Targets watched (not retired). */
  watched: number;
  /**
   * Watched targets whose last run failed or that have no success since `staleBefore`, each with
   * its state's columns: the caller applies `targetHealth` (the one rule) to them.
   */
  targets: TargetStatusRow[];
}

export interface ConsoleStore {
  /** The watched targets that may be failing or stale, and how many are watched. */
  targetsInTrouble(input: TargetsInTroubleInput): Promise<TargetsInTrouble>;
  /** One target's sync state; undefined when it was never a target. */
  targetStatus(key: TargetKey): Promise<TargetStatusRow | undefined>;
  /**
   * Links active at the end of each UTC day from `from` to `today`, per account and region: the
   * cumulative sum of the daily counts of link events (`link_event_days`), every day present.
   */
  burnDown(input: BurnDownInput): Promise<BurnDownPoint[]>;
  /** Links active now per account and region (the same sums, to today). */
  activeByRegion(scope: AccountScope): Promise<ActiveCount[]>;
  /** Non-baseline changes detected at or after `since`. */
  changeCounts(input: AccountScope & { since: Date }): Promise<ChangeCounts>;
  /** The change feed's rows; none when it never ran. */
  changeFeed(scope: AccountScope): Promise<ChangeFeedRow[]>;
  /** One page of the change log, newest first (keyset over detected_at, id). */
  changesPage(input: ChangesPageInput): Promise<ChangesPage>;
  /** Instances and VPCs whose name contains `text` (any case), at most `limit` of each. */
  findByName(input: AccountScope & { text: string; limit: number }): Promise<NameMatch[]>;
  /** Where an instance id or a VPC id is known (its accounts and regions). */
  locate(input: AccountScope & { id: string }): Promise<NameMatch[]>;
  /** A VPC as last described; undefined when it never was. */
  vpcRecord(key: TargetKey): Promise<VpcRecord | undefined>;
  /** An instance as last described; undefined when it never was. */
  instanceRecord(key: InstanceKey): Promise<InstanceRecord | undefined>;
  /** A target's last runs, newest first. */
  recentRuns(input: TargetKey & { limit: number }): Promise<RunRow[]>;
}
