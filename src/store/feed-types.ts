/**
 * Types of the change feed's side of the store: its place per account+region (`change_feed`), what
 * a poll reports, and the VPCs a record's instances are (or were just) linked to.
 */
import type { AccountRegion } from './attribute-types.js';

/** A feed's state per account+region (`change_feed`), as `status` shows it. */
export interface FeedStatusRow extends AccountRegion {
  /** Records up to this time have been read (a poll re-reads an overlap before it). */
  cursorAt: Date;
  lastPollAt: Date | null;
  lastSuccessAt: Date | null;
  /** `Code: message (RequestId)` of the last failed poll; kept after a later success. */
  lastError: string | null;
  lastErrorAt: Date | null;
  consecutiveFailures: number;
  /** Records the feed's polls have read, and the scans they scheduled, in total. */
  recordsSeen: number;
  scansScheduled: number;
}

export interface FeedCursorInput extends AccountRegion {
  /** The cursor of a feed polled for the first time (its row is created with it). */
  initial: Date;
}

export interface FeedPolledInput extends AccountRegion {
  polledAt: Date;
  /** The new cursor: the end of the window just read. A cursor never moves back. */
  cursorAt: Date;
  recordsSeen: number;
  scansScheduled: number;
  /**
   * A problem that did not stop the poll (records LookupEvents answered that did not validate):
   * kept as the last error, at `polledAt`, so `status` shows it; failures still reset.
   */
  warning?: string | undefined;
}

export interface FeedFailedInput extends AccountRegion {
  polledAt: Date;
  /** One line: the error's code, message and request id (never a secret). */
  error: string;
  /** What the poll read and scheduled before it failed (its records are stored). */
  recordsSeen: number;
  scansScheduled: number;
}

export interface LastAppliedScansInput {
  account: string;
  targets: readonly { regionId: string; vpcId: string }[];
}

/** When a target's last applied scan started: a change before it (less the allowance) is seen. */
export interface AppliedScan {
  regionId: string;
  vpcId: string;
  startedAt: Date;
}

export interface LinkedVpcsInput extends AccountRegion {
  instanceIds: readonly string[];
}

/** A VPC an instance is linked to now, or that a successful attach call named for it. */
export interface InstanceVpc {
  instanceId: string;
  vpcId: string;
}
