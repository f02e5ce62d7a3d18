/**
 * Drizzle table definitions: the public column contract of DESIGN.md "Data" and the input to
 * drizzle-kit (`npm run generate`). Column names are a contract — people query them from psql,
 * Grafana and BI — so add columns, never rename one.
 *
 * Only the store's own files import this module. What drizzle cannot express (the `links_at()`
 * point-in-time function and the `active_links` view) lives in the custom migration `0001_*`; the
 * `link_history` view in `0003_*` (declared below as `.existing()`, so drizzle can read it).
 *
 * Timestamps are `timestamptz`; the times of links and events are the caller's `detectedAt`, so
 * `classic_links`, `link_events` and `links_at()` agree with each other to the microsecond.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
/** Tag key → value, as a JSON object (the API's `{TagKey,TagValue}` / `{Key,Value}` lists folded). */
const tagsColumn = () => jsonb('tags').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`);

export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'superseded'] as const;
export const LINK_CHANGES = ['added', 'removed'] as const;
export const ALERT_KINDS = ['changes', 'stale', 'recovered'] as const;
export const OUTBOX_STATUSES = ['pending', 'delivering', 'delivered', 'dead'] as const;
export const CAUSE_STATUSES = ['found', 'not_found', 'unavailable'] as const;
export const RECEIVED_VIA = ['poll', 'hook'] as const;
/** What a `context_health` row is about: reading instance attributes, or ActionTrail (attribution). */
export const CONTEXT_SOURCES = ['instances', 'actiontrail'] as const;
/** `permission_denied`: the identity lacks the permission; `failing`: any other error. */
export const CONTEXT_STATES = ['ok', 'permission_denied', 'failing'] as const;

/** Per target (one VPC of one region of one account): the state of its syncs. */
export const syncTargets = pgTable(
  'sync_targets',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    vpcId: text('vpc_id').notNull(),
    lastSuccessAt: tstz('last_success_at'),
    lastFailureAt: tstz('last_failure_at'),
    lastErrorCode: text('last_error_code'),
    lastErrorMessage: text('last_error_message'),
    lastRequestId: text('last_request_id'),
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    /** Start time of the last applied scan: an older scan arriving later is 'superseded'. */
    lastAppliedScanStartedAt: tstz('last_applied_scan_started_at'),
    /** The last run that finished as succeeded or failed (no FK: sync_runs already points here). */
    lastRunId: bigint('last_run_id', { mode: 'bigint' }),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /** When a staleness alert was last raised for this target; NULL when none is open. */
    staleAlertedAt: tstz('stale_alerted_at'),
    /** When discovery stopped finding this VPC; NULL while it is watched. */
    retiredAt: tstz('retired_at'),
  },
  (t) => [primaryKey({ name: 'sync_targets_pkey', columns: [t.account, t.regionId, t.vpcId] })],
);

/** One row per scan attempt of a target. */
export const syncRuns = pgTable(
  'sync_runs',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    vpcId: text('vpc_id').notNull(),
    jobId: text('job_id').notNull(),
    attempt: integer('attempt').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull().default('running'),
    /** When the run's scan began (before its first page). */
    startedAt: tstz('started_at').notNull(),
    finishedAt: tstz('finished_at'),
    pages: integer('pages'),
    linksSeen: integer('links_seen'),
    added: integer('added'),
    removed: integer('removed'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    requestId: text('request_id'),
    /** True when this run applied the target's first scan (its events are baseline events). */
    baseline: boolean('baseline').notNull().default(false),
    /** Start of the scan that was applied (a run may rescan; `started_at` is the run's first). */
    scanStartedAt: tstz('scan_started_at'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('sync_runs_status_check', sql`status in ('running', 'succeeded', 'failed', 'superseded')`),
    foreignKey({
      name: 'sync_runs_target_fkey',
      columns: [t.account, t.regionId, t.vpcId],
      foreignColumns: [syncTargets.account, syncTargets.regionId, syncTargets.vpcId],
    }),
    index('sync_runs_target_started_idx').on(t.account, t.regionId, t.vpcId, t.startedAt),
    index('sync_runs_running_idx').on(t.startedAt).where(sql`status = 'running'`),
    // Attribution: "the target's previous applied scan" of a change is one probe (max below a time).
    index('sync_runs_applied_idx')
      .on(t.account, t.regionId, t.vpcId, t.scanStartedAt)
      .where(sql`status = 'succeeded'`),
  ],
);

/** One row per link ever seen; `removed_at IS NULL` means linked now. */
export const classicLinks = pgTable(
  'classic_links',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    vpcId: text('vpc_id').notNull(),
    instanceId: text('instance_id').notNull(),
    /** The first time this link was ever seen; kept when the link is removed and re-added. */
    firstSeenAt: tstz('first_seen_at').notNull(),
    removedAt: tstz('removed_at'),
    /** Last change of this row (added, removed or re-added): for an active link, "linked since". */
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'classic_links_pkey', columns: [t.account, t.regionId, t.vpcId, t.instanceId] }),
    index('classic_links_active_target_idx')
      .on(t.account, t.regionId, t.vpcId)
      .where(sql`removed_at is null`),
    index('classic_links_instance_idx').on(t.instanceId),
  ],
);

/** Append-only change log. */
export const linkEvents = pgTable(
  'link_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    vpcId: text('vpc_id').notNull(),
    instanceId: text('instance_id').notNull(),
    change: text('change', { enum: LINK_CHANGES }).notNull(),
    detectedAt: tstz('detected_at').notNull(),
    syncRunId: bigint('sync_run_id', { mode: 'bigint' })
      .notNull()
      .references(() => syncRuns.id),
    /** True for the first successful scan of a target; baseline events do not alert. */
    baseline: boolean('baseline').notNull().default(false),
  },
  (t) => [
    check('link_events_change_check', sql`change in ('added', 'removed')`),
    // A run cannot emit the same event twice, even by a bug.
    unique('link_events_run_link_key').on(t.syncRunId, t.vpcId, t.instanceId),
    index('link_events_detected_idx').on(t.detectedAt),
    // Serves per-target and per-link history, and links_at() (latest event per link before T).
    index('link_events_link_idx').on(t.account, t.regionId, t.vpcId, t.instanceId, t.detectedAt),
    index('link_events_instance_idx').on(t.instanceId, t.detectedAt),
    // Attribution's pending set: the non-baseline events of one account+region (baseline events,
    // most of the table, never get a cause).
    index('link_events_attribution_idx').on(t.account, t.regionId, t.detectedAt).where(sql`not baseline`),
  ],
);

/** Alert deliveries to do; the `id` is the idempotency key sent to receivers. */
export const alertOutbox = pgTable(
  'alert_outbox',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The run that changed something; NULL for alerts not caused by a run (stale). */
    syncRunId: bigint('sync_run_id', { mode: 'bigint' }).references(() => syncRuns.id),
    kind: text('kind', { enum: ALERT_KINDS }).notNull(),
    channel: text('channel').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: OUTBOX_STATUSES }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: tstz('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    deliveredAt: tstz('delivered_at'),
    /** A delivering row whose claim expired is claimable again (its deliverer died). */
    claimedUntil: tstz('claimed_until'),
    /**
     * The message as first rendered for this channel (before any per-attempt signature), kept so
     * that every retry of this alert sends the same body. NULL until the first attempt renders it.
     */
    renderedBody: text('rendered_body'),
    renderedAt: tstz('rendered_at'),
  },
  (t) => [
    check('alert_outbox_kind_check', sql`kind in ('changes', 'stale', 'recovered')`),
    check('alert_outbox_status_check', sql`status in ('pending', 'delivering', 'delivered', 'dead')`),
    // One message per run per channel: a retried apply cannot enqueue twice.
    unique('alert_outbox_run_channel_key').on(t.syncRunId, t.channel),
    index('alert_outbox_due_idx').on(t.status, t.nextAttemptAt),
  ],
);

/**
 * The attributes of every classic instance that was ever in a link, as DescribeInstances last
 * answered. A row is written only when an attribute changed (`updated_at` is that change), so a
 * refresh that finds nothing new writes nothing.
 */
export const instances = pgTable(
  'instances',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    instanceId: text('instance_id').notNull(),
    instanceName: text('instance_name'),
    status: text('status'),
    privateIp: text('private_ip'),
    zoneId: text('zone_id'),
    resourceGroupId: text('resource_group_id'),
    /** Tag key → value. */
    tags: tagsColumn(),
    /** When the API stopped knowing the instance; NULL while it exists. */
    releasedAt: tstz('released_at'),
    /** Last change of any attribute. */
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'instances_pkey', columns: [t.account, t.regionId, t.instanceId] }),
    check('instances_tags_check', sql`jsonb_typeof(tags) = 'object'`),
  ],
);

/** The attributes of every watched VPC, as DescribeVpcs last answered. Same write rule as `instances`. */
export const vpcs = pgTable(
  'vpcs',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    vpcId: text('vpc_id').notNull(),
    vpcName: text('vpc_name'),
    cidrBlock: text('cidr_block'),
    tags: tagsColumn(),
    /** When the API stopped knowing the VPC; NULL while it exists. */
    deletedAt: tstz('deleted_at'),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'vpcs_pkey', columns: [t.account, t.regionId, t.vpcId] }),
    check('vpcs_tags_check', sql`jsonb_typeof(tags) = 'object'`),
  ],
);

/**
 * Link-relevant ActionTrail records, however they arrived (poll or hook), each stored once. Failed
 * calls (`error_code` set) are kept for the audit but never matched as a cause.
 */
export const cloudEvents = pgTable(
  'cloud_events',
  {
    /** The record's `eventId`. */
    eventId: text('event_id').primaryKey(),
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    eventName: text('event_name').notNull(),
    eventTime: tstz('event_time').notNull(),
    /** Every instance the call named (`InstanceId`, `InstanceIds`, `InstanceId.N`). */
    instanceIds: text('instance_ids').array().notNull().default(sql`'{}'::text[]`),
    vpcId: text('vpc_id'),
    actorType: text('actor_type'),
    actorName: text('actor_name'),
    actorPrincipalId: text('actor_principal_id'),
    actorAccountId: text('actor_account_id'),
    accessKeyId: text('access_key_id'),
    sourceIp: text('source_ip'),
    userAgent: text('user_agent'),
    apiRequestId: text('api_request_id'),
    errorCode: text('error_code'),
    receivedVia: text('received_via', { enum: RECEIVED_VIA }).notNull(),
    receivedAt: tstz('received_at').notNull().defaultNow(),
  },
  (t) => [
    check('cloud_events_received_via_check', sql`received_via in ('poll', 'hook')`),
    // Attribution: the records of one action in one account+region over a time window …
    index('cloud_events_lookup_idx').on(t.account, t.regionId, t.eventName, t.eventTime),
    // … or those naming one instance (`instance_ids @> ARRAY[…]`). fastupdate off: a GIN pending
    // list is read in full by every search, and settling probes this index once per pending event.
    index('cloud_events_instance_ids_idx').using('gin', t.instanceIds).with({ fastupdate: 'off' }),
    // The console's change log filtered by who made the change.
    index('cloud_events_actor_idx').on(t.actorName),
  ],
);

/** The settled cause of a non-baseline link event (no row yet = still pending). */
export const linkEventCauses = pgTable(
  'link_event_causes',
  {
    // Pruned with its event: a cause means nothing without it.
    linkEventId: bigint('link_event_id', { mode: 'bigint' })
      .primaryKey()
      .references(() => linkEvents.id, { onDelete: 'cascade' }),
    status: text('status', { enum: CAUSE_STATUSES }).notNull(),
    /** The matched record; NULL unless `found`. */
    cloudEventId: text('cloud_event_id').references(() => cloudEvents.eventId),
    resolvedAt: tstz('resolved_at').notNull(),
  },
  (t) => [
    check('link_event_causes_status_check', sql`status in ('found', 'not_found', 'unavailable')`),
    check('link_event_causes_found_check', sql`(status = 'found') = (cloud_event_id is not null)`),
    // Serves the foreign key's checks when cloud_events are pruned.
    index('link_event_causes_cloud_event_idx').on(t.cloudEventId),
  ],
);

/**
 * The health of the context sources per account+region: can the identity read instance attributes
 * (`DescribeInstances`, checked by DryRun when a describe lists nothing for ids we know) and
 * ActionTrail (`LookupEvents`)? Shown by `status`; written only when the state or detail changes
 * (and `checked_at` on each check).
 */
export const contextHealth = pgTable(
  'context_health',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    source: text('source', { enum: CONTEXT_SOURCES }).notNull(),
    state: text('state', { enum: CONTEXT_STATES }).notNull(),
    /** The API's code and message (or our own words) when not ok. */
    detail: text('detail'),
    /** When the current state began. */
    since: tstz('since').notNull(),
    /** The last check of this source, whatever its outcome. */
    checkedAt: tstz('checked_at').notNull(),
    lastOkAt: tstz('last_ok_at'),
  },
  (t) => [
    primaryKey({ columns: [t.account, t.regionId, t.source] }),
    check('context_health_source_check', sql`source in ('instances', 'actiontrail')`),
    check('context_health_state_check', sql`state in ('ok', 'permission_denied', 'failing')`),
  ],
);

/**
 * The ActionTrail change feed's place per account+region: records up to `cursor_at` have been read
 * (each poll re-reads an overlap before it, for late-arriving records; `event_id` makes that
 * harmless). Survives restarts, so a restarted feed neither misses nor re-applies.
 */
export const changeFeed = pgTable(
  'change_feed',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    cursorAt: tstz('cursor_at').notNull(),
    lastPollAt: tstz('last_poll_at'),
    lastSuccessAt: tstz('last_success_at'),
    lastError: text('last_error'),
    lastErrorAt: tstz('last_error_at'),
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    /** Records seen by the feed (poll) in total, and the scans they scheduled. */
    recordsSeen: bigint('records_seen', { mode: 'number' }).notNull().default(0),
    scansScheduled: bigint('scans_scheduled', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.account, t.regionId] })],
);

/**
 * Link events counted per account, region and UTC day (`added`, `removed`): what the console's
 * burn-down adds up, so it reads a few thousand rows instead of every event. Kept by a statement
 * trigger on `link_events` (migration `0005_*`), in the transaction that records the events, so it
 * never disagrees with them; pruning history leaves it alone, so the burn-down outlives
 * EVENT_RETENTION.
 */
export const linkEventDays = pgTable(
  'link_event_days',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    added: integer('added').notNull().default(0),
    removed: integer('removed').notNull().default(0),
  },
  (t) => [primaryKey({ name: 'link_event_days_pkey', columns: [t.account, t.regionId, t.day] })],
);

/**
 * The `link_history` view (created by the custom migration `0003_*`): every link event with its
 * instance's and VPC's attributes and its settled cause. Declared here so the read side queries it
 * typed; `.existing()` keeps drizzle-kit from generating it.
 */
export const linkHistory = pgView('link_history', {
  id: bigint('id', { mode: 'bigint' }).notNull(),
  account: text('account').notNull(),
  regionId: text('region_id').notNull(),
  vpcId: text('vpc_id').notNull(),
  instanceId: text('instance_id').notNull(),
  change: text('change', { enum: LINK_CHANGES }).notNull(),
  detectedAt: tstz('detected_at').notNull(),
  syncRunId: bigint('sync_run_id', { mode: 'bigint' }).notNull(),
  baseline: boolean('baseline').notNull(),
  instanceName: text('instance_name'),
  instanceStatus: text('instance_status'),
  instancePrivateIp: text('instance_private_ip'),
  instanceZoneId: text('instance_zone_id'),
  instanceResourceGroupId: text('instance_resource_group_id'),
  instanceTags: jsonb('instance_tags').$type<Record<string, string>>(),
  instanceReleasedAt: tstz('instance_released_at'),
  /** NULL when the instance was never described. */
  instanceUpdatedAt: tstz('instance_updated_at'),
  vpcName: text('vpc_name'),
  vpcCidrBlock: text('vpc_cidr_block'),
  vpcTags: jsonb('vpc_tags').$type<Record<string, string>>(),
  vpcDeletedAt: tstz('vpc_deleted_at'),
  /** NULL when the VPC was never described. */
  vpcUpdatedAt: tstz('vpc_updated_at'),
  /** NULL while the cause is pending (and for baseline events, which have none). */
  causeStatus: text('cause_status', { enum: CAUSE_STATUSES }),
  causeResolvedAt: tstz('cause_resolved_at'),
  causeEventId: text('cause_event_id'),
  causeEventName: text('cause_event_name'),
  causeEventTime: tstz('cause_event_time'),
  causeActorType: text('cause_actor_type'),
  causeActorName: text('cause_actor_name'),
  causeActorPrincipalId: text('cause_actor_principal_id'),
  causeActorAccountId: text('cause_actor_account_id'),
  causeSourceIp: text('cause_source_ip'),
}).existing();
