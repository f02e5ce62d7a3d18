/**
 * applyScan: the diff of a complete scan and everything it causes — link rows, events, the run's
 * status, the target's state, outbox rows and a NOTIFY — in ONE transaction under the target's
 * transaction-scoped advisory lock (DESIGN.md, correctness rules 2 and 3).
 */
import type pg from 'pg';
import { diffLinks, linkKey } from '../diff.js';
import { FatalError, RetryableError } from '../errors.js';
import type { Link } from '../source.js';
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

  return withTransaction(deps.pool, async (client) => {
    // Serialises every applyScan of this target (and only of this target) until COMMIT/ROLLBACK:
    // the supersede check, the diff read and the writes below see no concurrent change.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [targetLockText(target)]);

    // FOR UPDATE: a concurrent failRun of the same run waits for us, then finds it finished.
    const run = await client.query<{ status: string; account: string; region_id: string; vpc_id: string }>(
      'SELECT status, account, region_id, vpc_id FROM sync_runs WHERE id = $1::bigint FOR UPDATE',
      [runId],
    );
    const runRow = run.rows[0];
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

    // Compared in SQL, not in JS: timestamptz has microseconds, Date only milliseconds.
    const tgt = await client.query<{ superseded: boolean | null; baseline: boolean }>(
      `SELECT last_applied_scan_started_at >= $4 AS superseded,
              last_applied_scan_started_at IS NULL AS baseline
         FROM sync_targets
        WHERE account = $1 AND region_id = $2 AND vpc_id = $3
          FOR UPDATE`,
      [target.account, target.regionId, target.vpcId, input.scanStartedAt],
    );
    const targetRow = tgt.rows[0];
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
      deps.log.info({ runId, target }, 'scan superseded by a newer applied scan');
      return { outcome: 'superseded' };
    }
    const baseline = targetRow.baseline;

    // Read inside the transaction, under the lock: this, not the caller's earlier activeLinks()
    // read, is the state the diff is applied to.
    const active = await client.query<{ vpc_id: string; instance_id: string }>(
      `SELECT vpc_id, instance_id FROM classic_links
        WHERE account = $1 AND region_id = $2 AND vpc_id = $3 AND removed_at IS NULL`,
      [target.account, target.regionId, target.vpcId],
    );
    const current = active.rows.map((r) => ({ vpcId: r.vpc_id, instanceId: r.instance_id }));
    const { added, removed } = diffLinks(current, input.links);

    const unconfirmed = removed.filter((l) => !input.confirmedRemovals.has(linkKey(l)));
    if (unconfirmed.length > 0) {
      const listed = unconfirmed.slice(0, MAX_LISTED_KEYS).map(linkKey).join(', ');
      throw new RetryableError(
        `${unconfirmed.length} removal(s) not confirmed by lookup: ${listed}${unconfirmed.length > MAX_LISTED_KEYS ? ', …' : ''}`,
        { code: 'RemovalNotConfirmed' },
      );
    }

    if (added.length > 0) {
      const [vpcIds, instanceIds] = columns(added);
      // New links insert; a link removed earlier is reactivated, keeping its first_seen_at. The
      // WHERE makes "never rewrite an active row" explicit (none can be in `added`: we diffed
      // under the lock), and the row count check below proves it.
      const res = await client.query(
        `INSERT INTO classic_links AS c
                (account, region_id, vpc_id, instance_id, first_seen_at, removed_at, updated_at)
         SELECT $1, $2, a.vpc_id, a.instance_id, $5, NULL, $5
           FROM unnest($3::text[], $4::text[]) AS a(vpc_id, instance_id)
         ON CONFLICT (account, region_id, vpc_id, instance_id)
         DO UPDATE SET removed_at = NULL, updated_at = EXCLUDED.updated_at
          WHERE c.removed_at IS NOT NULL`,
        [target.account, target.regionId, vpcIds, instanceIds, detectedAt],
      );
      if (res.rowCount !== added.length) {
        throw new RetryableError('classic_links changed outside the target lock', {
          code: 'ConcurrentChange',
        });
      }
    }

    if (removed.length > 0) {
      const [vpcIds, instanceIds] = columns(removed);
      const res = await client.query(
        `UPDATE classic_links AS c
            SET removed_at = $5, updated_at = $5
           FROM unnest($3::text[], $4::text[]) AS r(vpc_id, instance_id)
          WHERE c.account = $1 AND c.region_id = $2
            AND c.vpc_id = r.vpc_id AND c.instance_id = r.instance_id
            AND c.removed_at IS NULL`,
        [target.account, target.regionId, vpcIds, instanceIds, detectedAt],
      );
      if (res.rowCount !== removed.length) {
        throw new RetryableError('classic_links changed outside the target lock', {
          code: 'ConcurrentChange',
        });
      }
    }

    const changed = added.length + removed.length > 0;
    if (changed) {
      const events = [
        ...added.map((l) => ({ ...l, change: 'added' })),
        ...removed.map((l) => ({ ...l, change: 'removed' })),
      ];
      await client.query(
        `INSERT INTO link_events
                (account, region_id, vpc_id, instance_id, change, detected_at, sync_run_id, baseline)
         SELECT $1, $2, e.vpc_id, e.instance_id, e.change, $6, $7::bigint, $8
           FROM unnest($3::text[], $4::text[], $5::text[]) AS e(vpc_id, instance_id, change)`,
        [
          target.account,
          target.regionId,
          events.map((e) => e.vpcId),
          events.map((e) => e.instanceId),
          events.map((e) => e.change),
          detectedAt,
          runId,
          baseline,
        ],
      );
    }

    await client.query(
      `UPDATE sync_runs
          SET status = 'succeeded', finished_at = $2, pages = $3, links_seen = $4, added = $5,
              removed = $6, request_id = $7, baseline = $8, scan_started_at = $9
        WHERE id = $1::bigint`,
      [
        runId,
        detectedAt,
        input.pages,
        input.links.length,
        added.length,
        removed.length,
        input.requestId ?? null,
        baseline,
        input.scanStartedAt,
      ],
    );

    await client.query(
      `UPDATE sync_targets
          SET last_success_at = $4, consecutive_failures = 0, last_applied_scan_started_at = $5,
              last_run_id = $6::bigint, retired_at = NULL, updated_at = now()
        WHERE account = $1 AND region_id = $2 AND vpc_id = $3`,
      [target.account, target.regionId, target.vpcId, detectedAt, input.scanStartedAt, runId],
    );

    const channels = [...new Set(input.channels)];
    if (changed && channels.length > 0 && (!baseline || input.alertOnBaseline)) {
      const payload: ChangesAlertPayload = {
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
      };
      // ON CONFLICT: the UNIQUE (sync_run_id, channel) is the last guard against a double alert.
      await client.query(
        `INSERT INTO alert_outbox (sync_run_id, kind, channel, payload)
         SELECT $1::bigint, 'changes', ch, $2::jsonb FROM unnest($3::text[]) AS ch
         ON CONFLICT (sync_run_id, channel) DO NOTHING`,
        [runId, JSON.stringify(payload), channels],
      );
    }

    if (changed)
      await notify(client, deps.notifyChannel, {
        runId,
        ...target,
        baseline,
        added: added.length,
        removed: removed.length,
      });

    deps.log.info(
      { runId, target, baseline, added: added.length, removed: removed.length, links: input.links.length },
      changed ? 'scan applied with changes' : 'scan applied, no change',
    );
    return { outcome: 'applied', baseline, added, removed };
  });
}

/** NOTIFY is transactional: listeners hear it at COMMIT, never for a rolled-back apply. */
async function notify(client: pg.PoolClient, channel: string, payload: ChangesNotification): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(payload)]);
}
