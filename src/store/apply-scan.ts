/**
 * applyScan: the diff of a complete scan and everything it causes — link rows, events, the run's
 * status, the target's state, outbox rows and a NOTIFY — in ONE transaction under the target's
 * transaction-scoped advisory lock (DESIGN.md, correctness rules 2 and 3).
 */
import type pg from 'pg';
import { ErrorCode, FatalError, RetryableError } from '../errors.js';
import type { Link } from '../links.js';
import { diffLinks, linkKey } from '../links.js';
import { targetLockText, withTransaction } from './tx.js';
import type {
  ApplyScanInput,
  ApplyScanResult,
  ChangesAlertPayload,
  ChangesNotification,
  StoreDeps,
} from './types.js';

const MAX_LISTED_KEYS = 10;

function columns(links: readonly Link[]): [string[], string[]] {
  return [links.map((l) => l.vpcId), links.map((l) => l.instanceId)];
}

export async function applyScan(
  deps: StoreDeps & { notifyChannel: string },
  input: ApplyScanInput,
): Promise<ApplyScanResult> {
  const { target, runId, detectedAt } = input;
  const outside = input.links.filter((l) => l.vpcId !== target.vpcId);
  if (outside.length > 0) {
    throw new FatalError(`scan of ${target.vpcId} holds links of another VPC (${outside[0]?.vpcId})`, {
      code: 'LinkOutsideTarget',
    });
  }

  // Literals of the one multi-statement read below (simple protocol: no bind parameters). The run
  // id comes from startRun (a bigint as text); anything else is refused rather than quoted.
  if (!/^\d{1,19}$/.test(runId))
    throw new FatalError(`sync run ${runId} does not exist`, { code: 'RunNotFound' });

  return withTransaction(deps.pool, async (client) => {
    const lit = (v: string) => client.escapeLiteral(v);
    const [acct, region, vpc] = [lit(target.account), lit(target.regionId), lit(target.vpcId)];
    const scanStarted = lit(input.scanStartedAt.toISOString());
    // ONE round trip, four statements, each with its own snapshot (READ COMMITTED):
    // 1. Serialises every applyScan of this target (and only of this target) until COMMIT/ROLLBACK:
    //    the supersede check, the diff read and the writes below see no concurrent change. It must
    //    be a statement of its own, before the reads: their snapshots are taken after the lock.
    // 2. FOR UPDATE: a concurrent failRun of the same run waits for us, then finds it finished.
    // 3. The target's row; compared in SQL, not in JS: timestamptz has microseconds, Date only ms.
    // 4. The active links, read under the lock: this, not the caller's earlier activeLinks() read,
    //    is the state the diff is applied to.
    const results = (await client.query(
      `SELECT pg_advisory_xact_lock(hashtextextended(${lit(targetLockText(target))}, 0));
       SELECT status, account, region_id, vpc_id FROM sync_runs WHERE id = ${runId}::bigint FOR UPDATE;
       SELECT last_applied_scan_started_at >= ${scanStarted}::timestamptz AS superseded,
              last_applied_scan_started_at IS NULL AS baseline
         FROM sync_targets
        WHERE account = ${acct} AND region_id = ${region} AND vpc_id = ${vpc}
          FOR UPDATE;
       SELECT instance_id FROM classic_links
        WHERE account = ${acct} AND region_id = ${region} AND vpc_id = ${vpc} AND removed_at IS NULL`,
    )) as unknown as pg.QueryResult[];
    const runRow = results[1]?.rows[0] as
      | { status: string; account: string; region_id: string; vpc_id: string }
      | undefined;
    if (!runRow) throw new FatalError(`sync run ${runId} does not exist`, { code: 'RunNotFound' });
    if (
      runRow.account !== target.account ||
      runRow.region_id !== target.regionId ||
      runRow.vpc_id !== target.vpcId
    ) {
      throw new FatalError(`sync run ${runId} belongs to another target`, { code: 'RunTargetMismatch' });
    }
    // A job retried after its first attempt committed: nothing is applied twice.
    if (runRow.status !== 'running') return { outcome: 'already-finished', status: runRow.status };

    const targetRow = results[2]?.rows[0] as { superseded: boolean | null; baseline: boolean } | undefined;
    if (!targetRow) throw new FatalError('sync target row is missing', { code: 'TargetNotFound' });

    if (targetRow.superseded === true) {
      // A newer scan of this target was applied while this one ran: applying ours would roll
      // the target back in time. Record the run as superseded; change nothing else.
      await client.query(
        `UPDATE sync_runs
            SET status = 'superseded', finished_at = $2, pages = $3, links_seen = $4, request_id = $5,
                scan_started_at = $6
          WHERE id = $1::bigint`,
        [runId, detectedAt, input.pages, input.links.length, input.requestId ?? null, input.scanStartedAt],
      );
      return { outcome: 'superseded' };
    }
    const baseline = targetRow.baseline;

    const activeRows = (results[3]?.rows ?? []) as { instance_id: string }[];
    const current = activeRows.map((r) => ({ vpcId: target.vpcId, instanceId: r.instance_id }));
    const { added, removed } = diffLinks(current, input.links);

    const unconfirmed = removed.filter((l) => !input.confirmedRemovals.has(linkKey(l)));
    if (unconfirmed.length > 0) {
      const listed = unconfirmed.slice(0, MAX_LISTED_KEYS).map(linkKey).join(', ');
      throw new RetryableError(
        `${unconfirmed.length} removal(s) not confirmed by lookup: ${listed}${unconfirmed.length > MAX_LISTED_KEYS ? ', …' : ''}`,
        { code: ErrorCode.RemovalNotConfirmed },
      );
    }

    const changed = added.length + removed.length > 0;
    const channels = [...new Set(input.channels)];
    const alert = changed && channels.length > 0 && (!baseline || input.alertOnBaseline);
    const payload: ChangesAlertPayload | null = alert
      ? {
          runId,
          account: target.account,
          regionId: target.regionId,
          vpcId: target.vpcId,
          detectedAt: detectedAt.toISOString(),
          baseline,
          added,
          removed,
          addedCount: added.length,
          removedCount: removed.length,
        }
      : null;
    // NOTIFY is transactional: listeners hear it at COMMIT, never for a rolled-back apply.
    const notification: ChangesNotification | null = changed
      ? { runId, ...target, baseline, added: added.length, removed: removed.length }
      : null;
    const [addedVpcs, addedIds] = columns(added);
    const [removedVpcs, removedIds] = columns(removed);

    // Every write of the apply in ONE statement (one round trip, set-based): data-modifying CTEs
    // all run, on disjoint rows, whatever the final SELECT reads. New links insert; a link removed
    // earlier is reactivated, keeping its first_seen_at. The WHEREs make "never rewrite an active
    // row" and "only remove an active row" explicit (we diffed under the lock), and the row counts
    // returned prove it. An unchanged rescan writes only its run and its target row.
    // ON CONFLICT on the outbox: the UNIQUE (sync_run_id, channel) is the last guard against a
    // double alert.
    // The removal UPDATE names the target's VPC as a constant (every removed link is the target's):
    // joined on (vpc_id, instance_id) from unnest(), the planner scanned every active link of the
    // REGION per apply — the cost grew with the number of VPCs (found by the 1,000,000-link bench).
    // An unnamed statement, parsed per job: a named one (prepared once per connection) breaks
    // behind a transaction-pooling PgBouncer, where the next transaction may run on a server
    // connection that never prepared it, or one another client already prepared it on.
    const res = await client.query<{ inserted: number; removed: number }>({
      text: `WITH ins AS (
         INSERT INTO classic_links AS c
                (account, region_id, vpc_id, instance_id, first_seen_at, removed_at, updated_at)
         SELECT $1, $2, a.vpc_id, a.instance_id, $5, NULL, $5
           FROM unnest($3::text[], $4::text[]) AS a(vpc_id, instance_id)
         ON CONFLICT (account, region_id, vpc_id, instance_id)
         DO UPDATE SET removed_at = NULL, updated_at = EXCLUDED.updated_at
          WHERE c.removed_at IS NOT NULL
         RETURNING 1
       ), rem AS (
         UPDATE classic_links AS c
            SET removed_at = $5, updated_at = $5
           FROM unnest($7::text[]) AS r(instance_id)
          WHERE c.account = $1 AND c.region_id = $2 AND c.vpc_id = $16
            AND c.instance_id = r.instance_id AND c.removed_at IS NULL
         RETURNING 1
       ), ev AS (
         INSERT INTO link_events
                (account, region_id, vpc_id, instance_id, change, detected_at, sync_run_id, baseline)
         SELECT $1, $2, e.vpc_id, e.instance_id, e.change, $5, $8::bigint, $9
           FROM (SELECT vpc_id, instance_id, 'added' AS change FROM unnest($3::text[], $4::text[]) AS x(vpc_id, instance_id)
                 UNION ALL
                 SELECT vpc_id, instance_id, 'removed' FROM unnest($6::text[], $7::text[]) AS y(vpc_id, instance_id)) AS e
       ), run AS (
         UPDATE sync_runs
            SET status = 'succeeded', finished_at = $5, pages = $10, links_seen = $11, added = $12,
                removed = $13, request_id = $14, baseline = $9, scan_started_at = $15
          WHERE id = $8::bigint
       ), tgt AS (
         UPDATE sync_targets
            SET last_success_at = $5, consecutive_failures = 0, last_applied_scan_started_at = $15,
                last_run_id = $8::bigint, retired_at = NULL, updated_at = now()
          WHERE account = $1 AND region_id = $2 AND vpc_id = $16
       ), outbox AS (
         INSERT INTO alert_outbox (sync_run_id, kind, channel, payload)
         SELECT $8::bigint, 'changes', ch, $17::jsonb FROM unnest($18::text[]) AS ch
          WHERE $17::jsonb IS NOT NULL
         ON CONFLICT (sync_run_id, channel) DO NOTHING
       ), note AS (
         SELECT pg_notify($19, $20) WHERE $20::text IS NOT NULL
       )
       SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM rem)::int AS removed,
              (SELECT count(*) FROM note)::int AS notified`,
      values: [
        target.account,
        target.regionId,
        addedVpcs,
        addedIds,
        detectedAt,
        removedVpcs,
        removedIds,
        runId,
        baseline,
        input.pages,
        input.links.length,
        added.length,
        removed.length,
        input.requestId ?? null,
        input.scanStartedAt,
        target.vpcId,
        payload === null ? null : JSON.stringify(payload),
        alert ? channels : [],
        deps.notifyChannel,
        notification === null ? null : JSON.stringify(notification),
      ],
    });
    const counts = res.rows[0];
    if (counts?.inserted !== added.length || counts.removed !== removed.length) {
      throw new RetryableError('classic_links changed outside the target lock', {
        code: 'ConcurrentChange',
      });
    }

    return { outcome: 'applied', baseline, added, removed };
  });
}
