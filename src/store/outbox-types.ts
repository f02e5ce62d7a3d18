/** Types of the alert outbox (outbox.ts) and of the staleness alerts written into it (staleness.ts). */
import type { ChannelName } from '../alerts/index.js';
import type { Link, TargetRef } from '../links.js';
import type { ALERT_KINDS, OUTBOX_STATUSES } from './schema.js';

export type AlertKind = (typeof ALERT_KINDS)[number];
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

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
  /**
   * The body as first rendered for this row's channel (`rendered_body`), before any per-attempt
   * signature: every attempt sends it. null until the first attempt renders it.
   */
  renderedBody: string | null;
} & (
  | { kind: 'changes'; payload: ChangesAlertPayload }
  | { kind: 'stale'; payload: StaleAlertPayload }
  | { kind: 'recovered'; payload: RecoveredAlertPayload }
);

/**
 * ALERT_CONTEXT_WAIT: a 'changes' row not yet rendered is held back while its run's context is
 * unsettled — an event's instance never described, or (with `causes`) a non-baseline event's cause
 * still pending — until `waitMs` after the row's `created_at`. Held rows are neither claimed nor
 * charged an attempt: they stay 'pending' and are simply not due yet.
 */
export interface ContextWait {
  /** How long after `created_at` a row may be held; 0 holds nothing. */
  waitMs: number;
  /** Wait for causes too (ATTRIBUTION=on); with false, for instance attributes only. */
  causes: boolean;
}

export interface ClaimOutboxInput {
  /** At most this many rows. */
  limit: number;
  /** The lease: an unfinished claim is due again after this. */
  leaseMs: number;
  now: Date;
  /** Only rows of these runs (for `sync --once`). */
  runIds?: readonly string[] | undefined;
  /** Hold back 'changes' rows whose run's context is not settled yet; absent: hold nothing. */
  contextWait?: ContextWait | undefined;
}

export interface NextDueFilter {
  /** Only rows of these runs. */
  runIds?: readonly string[] | undefined;
  /**
   * Held rows (as `claimOutbox` holds them) count as due when their wait ends, or after
   * `recheckMs` from `now` if sooner: their context may settle before the wait ends.
   */
  contextWait?: (ContextWait & { now: Date; recheckMs: number }) | undefined;
}

export interface SaveRenderedBodyInput {
  id: string;
  body: string;
  renderedAt: Date;
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

/** A LISTEN connection (`watchOutbox`, `watchChanges`). */
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
  /**
   * Stores a row's first rendered body: only while `rendered_body` is NULL, so deliverers that
   * render one alert at once agree on one body. Returns the body stored (ours, or the first one).
   */
  saveRenderedBody(input: SaveRenderedBodyInput): Promise<string>;
  /** The earliest time a row (of `runIds`, when given) becomes due; null when none is waiting. */
  nextOutboxDueAt(filter?: NextDueFilter): Promise<Date | null>;
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
  /**
   * LISTENs for new outbox rows (the changes channel and the outbox channel). Fails with a
   * FatalError `ListenUnheard` when the connection cannot hear a NOTIFY (listen.ts): behind a
   * transaction pooler without DATABASE_DIRECT_URL.
   */
  watchOutbox(onWake: () => void): Promise<OutboxWatch>;
}
