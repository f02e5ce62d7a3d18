/**
 * The change feed's SQL: its cursor and health per account+region (`change_feed`), which
 * ActionTrail records are already stored, the VPCs an instance a record names is linked to, and
 * when each target's last applied scan started.
 * The feed itself (sync/feed.ts) only schedules scans: nothing here writes a link or an event.
 */
import { query, storable } from './tx.js';
import type {
  AppliedScan,
  FeedCursorInput,
  FeedFailedInput,
  FeedPolledInput,
  FeedStatusRow,
  InstanceVpc,
  LastAppliedScansInput,
  LinkedVpcsInput,
  StoreDeps,
} from './types.js';

interface FeedRow {
  account: string;
  region_id: string;
  cursor_at: Date;
  last_poll_at: Date | null;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  consecutive_failures: number;
  records_seen: string;
  scans_scheduled: string;
}

const FEED_COLUMNS = `account, region_id, cursor_at, last_poll_at, last_success_at, last_error, last_error_at,
  consecutive_failures, records_seen::text, scans_scheduled::text`;

function feedRow(r: FeedRow): FeedStatusRow {
  return {
    account: r.account,
    regionId: r.region_id,
    cursorAt: r.cursor_at,
    lastPollAt: r.last_poll_at,
    lastSuccessAt: r.last_success_at,
    lastError: r.last_error,
    lastErrorAt: r.last_error_at,
    consecutiveFailures: r.consecutive_failures,
    recordsSeen: Number(r.records_seen),
    scansScheduled: Number(r.scans_scheduled),
  };
}

/** The feed's row, created with `initial` as its cursor when this is its first poll. */
export async function feedCursor(deps: StoreDeps, input: FeedCursorInput): Promise<FeedStatusRow> {
  // Insert-if-absent and read in one statement: a concurrent first poll finds the row either way.
  const res = await query<FeedRow>(
    deps.pool,
    `WITH ins AS (
       INSERT INTO change_feed (account, region_id, cursor_at) VALUES ($1, $2, $3)
       ON CONFLICT (account, region_id) DO NOTHING
       RETURNING ${FEED_COLUMNS})
     SELECT * FROM ins
     UNION ALL
     SELECT ${FEED_COLUMNS} FROM change_feed WHERE account = $1 AND region_id = $2
     LIMIT 1`,
    [input.account, input.regionId, input.initial],
  );
  const row = res.rows[0];
  if (!row) throw new Error(`change_feed row of ${input.account}/${input.regionId} not found`);
  return feedRow(row);
}

export async function feedPolled(deps: StoreDeps, input: FeedPolledInput): Promise<void> {
  await query(
    deps.pool,
    `UPDATE change_feed
        SET cursor_at = greatest(cursor_at, $3), last_poll_at = $4, last_success_at = $4,
            consecutive_failures = 0, records_seen = records_seen + $5, scans_scheduled = scans_scheduled + $6,
            last_error = coalesce($7, last_error),
            last_error_at = CASE WHEN $7::text IS NULL THEN last_error_at ELSE $4 END
      WHERE account = $1 AND region_id = $2`,
    [
      input.account,
      input.regionId,
      input.cursorAt,
      input.polledAt,
      input.recordsSeen,
      input.scansScheduled,
      input.warning === undefined ? null : storable(input.warning),
    ],
  );
}

export async function feedFailed(deps: StoreDeps, input: FeedFailedInput): Promise<void> {
  await query(
    deps.pool,
    `UPDATE change_feed
        SET last_poll_at = $3, last_error = $4, last_error_at = $3,
            consecutive_failures = consecutive_failures + 1,
            records_seen = records_seen + $5, scans_scheduled = scans_scheduled + $6
      WHERE account = $1 AND region_id = $2`,
    [
      input.account,
      input.regionId,
      input.polledAt,
      storable(input.error),
      input.recordsSeen,
      input.scansScheduled,
    ],
  );
}

export async function listFeeds(
  deps: StoreDeps,
  filter: { account?: string | undefined } = {},
): Promise<FeedStatusRow[]> {
  const res = await query<FeedRow>(
    deps.pool,
    `SELECT ${FEED_COLUMNS} FROM change_feed
      WHERE $1::text IS NULL OR account = $1
      ORDER BY account, region_id`,
    [filter.account ?? null],
  );
  return res.rows.map(feedRow);
}

/** Of these event ids, the ones `cloud_events` holds already, each with when it was stored. */
export async function knownCloudEvents(
  deps: StoreDeps,
  eventIds: readonly string[],
): Promise<Map<string, Date>> {
  if (eventIds.length === 0) return new Map();
  const ids = [...new Set(eventIds.map((id) => storable(id)))];
  const res = await query<{ event_id: string; received_at: Date }>(
    deps.pool,
    'SELECT event_id, received_at FROM cloud_events WHERE event_id = ANY($1::text[])',
    [ids],
  );
  return new Map(res.rows.map((r) => [r.event_id, r.received_at]));
}

/**
 * When each target's last applied scan started (`sync_targets`), for the targets on record; a
 * target never scanned is left out.
 */
export async function lastAppliedScans(
  deps: StoreDeps,
  input: LastAppliedScansInput,
): Promise<AppliedScan[]> {
  if (input.targets.length === 0) return [];
  const res = await query<{ region_id: string; vpc_id: string; started_at: Date }>(
    deps.pool,
    `SELECT st.region_id, st.vpc_id, st.last_applied_scan_started_at AS started_at
       FROM unnest($2::text[], $3::text[]) AS t(region_id, vpc_id)
       JOIN sync_targets st ON st.account = $1 AND st.region_id = t.region_id AND st.vpc_id = t.vpc_id
      WHERE st.last_applied_scan_started_at IS NOT NULL`,
    [
      input.account,
      input.targets.map((t) => storable(t.regionId)),
      input.targets.map((t) => storable(t.vpcId)),
    ],
  );
  return res.rows.map((r) => ({ regionId: r.region_id, vpcId: r.vpc_id, startedAt: r.started_at }));
}

/**
 * The VPCs each instance is linked to now (active links), and those a successful attach call
 * recorded in `cloud_events` named for it: a link attached since its VPC's last scan is not yet in
 * `classic_links`, but its attach record is (the feed stores records before it schedules).
 */
export async function linkedVpcs(deps: StoreDeps, input: LinkedVpcsInput): Promise<InstanceVpc[]> {
  if (input.instanceIds.length === 0) return [];
  const ids = [...new Set(input.instanceIds.map((id) => storable(id)))];
  const res = await query<{ instance_id: string; vpc_id: string }>(
    deps.pool,
    `SELECT instance_id, vpc_id FROM classic_links
      WHERE account = $1 AND region_id = $2 AND instance_id = ANY($3::text[]) AND removed_at IS NULL
     UNION
     SELECT i.id, c.vpc_id FROM cloud_events c, unnest(c.instance_ids) AS i(id)
      WHERE c.account = $1 AND c.region_id = $2 AND c.event_name = 'AttachClassicLinkVpc'
        AND c.error_code IS NULL AND c.vpc_id IS NOT NULL AND c.instance_ids && $3::text[]
        AND i.id = ANY($3::text[])
     ORDER BY 1, 2`,
    [input.account, input.regionId, ids],
  );
  return res.rows.map((r) => ({ instanceId: r.instance_id, vpcId: r.vpc_id }));
}
