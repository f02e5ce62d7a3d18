/**
 * `link_event_causes`: the cause of every non-baseline link event, settled once — `found` (the
 * ActionTrail record behind it), `not_found` (none within ATTRIBUTION_WINDOW) or `unavailable`
 * (the identity may not read ActionTrail). DESIGN.md correctness rule 7 is applied here, in SQL,
 * in one statement: the rule and its evidence are in the same snapshot, and a concurrent settle
 * (two schedulers) only meets ON CONFLICT DO NOTHING.
 */
import { CAUSE_ACTIONS } from './cause-types.js';
import { query } from './tx.js';
import type {
  MarkCausesUnavailableInput,
  PendingCause,
  PendingCausesInput,
  SettleCausesInput,
  SettleCausesResult,
  StoreDeps,
} from './types.js';

const DEFAULT_PENDING_LIMIT = 1_000;

/**
 * The pending events of account $1 and region $2: non-baseline, no cause row yet; each with the
 * start of its target's previous applied scan (one probe of sync_runs_applied_idx). The scan of
 * the non-baseline events of a region is served by the partial link_events_attribution_idx.
 */
const PENDING = `
  SELECT e.id, e.account, e.region_id, e.vpc_id, e.instance_id, e.change, e.detected_at,
         (SELECT max(p.scan_started_at) FROM sync_runs p
           WHERE p.account = e.account AND p.region_id = e.region_id AND p.vpc_id = e.vpc_id
             AND p.status = 'succeeded' AND p.scan_started_at < r.scan_started_at) AS previous_scan_started_at
    FROM link_events e
    JOIN sync_runs r ON r.id = e.sync_run_id
   WHERE e.account = $1 AND e.region_id = $2 AND NOT e.baseline
     AND NOT EXISTS (SELECT 1 FROM link_event_causes c WHERE c.link_event_id = e.id)`;

interface PendingRow {
  id: string;
  account: string;
  region_id: string;
  vpc_id: string;
  instance_id: string;
  change: 'added' | 'removed';
  detected_at: Date;
  previous_scan_started_at: Date | null;
}

export async function pendingCauses(deps: StoreDeps, input: PendingCausesInput): Promise<PendingCause[]> {
  const res = await query<PendingRow>(
    deps.pool,
    `SELECT id::text AS id, account, region_id, vpc_id, instance_id, change, detected_at, previous_scan_started_at
       FROM (${PENDING}) AS pending
      ORDER BY detected_at, id
      LIMIT $3`,
    [input.account, input.regionId, input.limit ?? DEFAULT_PENDING_LIMIT],
  );
  return res.rows.map((r) => ({
    linkEventId: r.id,
    account: r.account,
    regionId: r.region_id,
    vpcId: r.vpc_id,
    instanceId: r.instance_id,
    change: r.change,
    detectedAt: r.detected_at,
    previousScanStartedAt: r.previous_scan_started_at,
  }));
}

/**
 * Rule 7, for every pending event of the account and region at once. A record is a candidate when
 * the call succeeded (no error code), names the event's instance, is an action that causes the
 * event's change (CAUSE_ACTIONS, passed in as $3-$5), names the event's VPC when the action names
 * one, and happened after the previous applied scan started (less the allowance) and before the
 * change was detected. The latest candidate wins (DISTINCT ON, by event_time; the event id breaks a
 * tie, so the answer never depends on the plan). An event with no candidate stays pending until its
 * window has run out, then is `not_found`. No previous applied scan on record: no window, no match.
 *
 * A candidate followed (at the same second or later, before detection) by a successful call of the
 * opposite change on the same instance and VPC — an attach, then a detach — is not the last word:
 * the scan saw the link as the first call left it, so a later call of the first kind must exist,
 * still on its way to ActionTrail (records arrive minutes late). Settling on the earlier one would
 * name the wrong person; the event stays pending until that record arrives, or its window ends.
 */
const SETTLE = `
  WITH pending AS (${PENDING}),
  actions AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::boolean[]) AS a(event_name, change, names_vpc)
  ), matched AS (
    SELECT DISTINCT ON (p.id) p.id, ce.event_id
      FROM pending p
      JOIN actions a ON a.change = p.change
      JOIN cloud_events ce
        ON ce.account = p.account AND ce.region_id = p.region_id AND ce.event_name = a.event_name
       AND ce.instance_ids @> ARRAY[p.instance_id]
       AND (NOT a.names_vpc OR ce.vpc_id = p.vpc_id)
       AND coalesce(ce.error_code, '') = ''
       AND ce.event_time > p.previous_scan_started_at - $7::double precision * interval '1 millisecond'
       AND ce.event_time < p.detected_at
     WHERE NOT EXISTS (
       SELECT 1 FROM actions o
         JOIN cloud_events x
           ON x.account = p.account AND x.region_id = p.region_id AND x.event_name = o.event_name
          AND x.instance_ids @> ARRAY[p.instance_id]
          AND (NOT o.names_vpc OR x.vpc_id = p.vpc_id)
          AND coalesce(x.error_code, '') = ''
          AND x.event_time >= ce.event_time AND x.event_time < p.detected_at
        WHERE o.change <> p.change)
     ORDER BY p.id, ce.event_time DESC, ce.event_id DESC
  ), settled AS (
    INSERT INTO link_event_causes (link_event_id, status, cloud_event_id, resolved_at)
    SELECT m.id, 'found', m.event_id, $6::timestamptz FROM matched m
    UNION ALL
    SELECT p.id, 'not_found', NULL, $6::timestamptz FROM pending p
     WHERE p.detected_at < $6::timestamptz - $8::double precision * interval '1 millisecond'
       AND NOT EXISTS (SELECT 1 FROM matched m WHERE m.id = p.id)
    ON CONFLICT (link_event_id) DO NOTHING
    RETURNING status
  )
  SELECT count(*) FILTER (WHERE status = 'found')::int AS found,
         count(*) FILTER (WHERE status = 'not_found')::int AS "notFound"
    FROM settled`;

export async function settleCauses(deps: StoreDeps, input: SettleCausesInput): Promise<SettleCausesResult> {
  const res = await query<SettleCausesResult>(deps.pool, SETTLE, [
    input.account,
    input.regionId,
    CAUSE_ACTIONS.map((a) => a.eventName),
    CAUSE_ACTIONS.map((a) => a.change),
    CAUSE_ACTIONS.map((a) => a.namesVpc),
    input.now,
    input.allowanceMs,
    input.windowMs,
  ]);
  return res.rows[0] ?? { found: 0, notFound: 0 };
}

export async function markCausesUnavailable(
  deps: StoreDeps,
  input: MarkCausesUnavailableInput,
): Promise<number> {
  // Never `not_found`: nothing was looked at, so nothing can be said to be missing.
  const res = await query(
    deps.pool,
    `INSERT INTO link_event_causes (link_event_id, status, cloud_event_id, resolved_at)
     SELECT e.id, 'unavailable', NULL, now() FROM link_events e
      WHERE e.account = $1 AND e.region_id = $2 AND NOT e.baseline
        AND ($3::timestamptz IS NULL OR e.detected_at < $3)
        AND NOT EXISTS (SELECT 1 FROM link_event_causes c WHERE c.link_event_id = e.id)
     ON CONFLICT (link_event_id) DO NOTHING`,
    [input.account, input.regionId, input.before ?? null],
  );
  return res.rowCount ?? 0;
}
