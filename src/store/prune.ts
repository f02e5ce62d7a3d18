/**
 * EVENT_RETENTION: prunes history older than a cutoff in small batches (one short statement
 * each, never one giant delete that holds locks and bloats WAL), keeping what the point-in-time
 * answers after the cutoff still need.
 */
import { query } from './tx.js';
import type { PruneInput, PruneResult, StoreDeps } from './types.js';

/**
 * Of a link's events before the cutoff, only the last one matters after the cutoff, and only if
 * it is 'added' (the link was linked at the cutoff: `links_at(t)` for any t after the cutoff needs
 * it). Every other event before the cutoff goes.
 */
const PRUNE_EVENTS = `
  WITH doomed AS (
    SELECT e.id FROM link_events e
     WHERE e.detected_at < $1
       AND (e.change = 'removed' OR EXISTS (
             SELECT 1 FROM link_events n
              WHERE n.account = e.account AND n.region_id = e.region_id
                AND n.vpc_id = e.vpc_id AND n.instance_id = e.instance_id
                AND n.detected_at < $1
                AND (n.detected_at, n.id) > (e.detected_at, e.id)))
     ORDER BY e.id
     LIMIT $2
  )
  DELETE FROM link_events WHERE id IN (SELECT id FROM doomed)`;

/** Delivered and dead-lettered alerts older than the cutoff (pending ones are never pruned). */
const PRUNE_OUTBOX = `
  WITH doomed AS (
    SELECT id FROM alert_outbox
     WHERE created_at < $1 AND status IN ('delivered', 'dead')
     LIMIT $2
  )
  DELETE FROM alert_outbox WHERE id IN (SELECT id FROM doomed)`;

/** Finished runs older than the cutoff that no event, alert or target refers to any more. */
const PRUNE_RUNS = `
  WITH doomed AS (
    SELECT r.id FROM sync_runs r
     WHERE r.started_at < $1 AND r.status <> 'running'
       AND NOT EXISTS (SELECT 1 FROM link_events e WHERE e.sync_run_id = r.id)
       AND NOT EXISTS (SELECT 1 FROM alert_outbox o WHERE o.sync_run_id = r.id)
       AND NOT EXISTS (SELECT 1 FROM sync_targets t WHERE t.last_run_id = r.id)
     ORDER BY r.id
     LIMIT $2
  )
  DELETE FROM sync_runs WHERE id IN (SELECT id FROM doomed)`;

/**
 * ActionTrail records from before the cutoff that no settled cause refers to. A record that is a
 * cause stays while its event does (pruning the event drops the cause row with it, and the record
 * goes in a later pass).
 */
const PRUNE_CLOUD_EVENTS = `
  WITH doomed AS (
    SELECT ce.event_id FROM cloud_events ce
     WHERE ce.event_time < $1
       AND NOT EXISTS (SELECT 1 FROM link_event_causes c WHERE c.cloud_event_id = ce.event_id)
     LIMIT $2
  )
  DELETE FROM cloud_events WHERE event_id IN (SELECT event_id FROM doomed)`;

async function inBatches(deps: StoreDeps, sql: string, input: PruneInput): Promise<number> {
  const batch = input.batchSize ?? 5_000;
  let total = 0;
  for (;;) {
    input.signal?.throwIfAborted();
    const res = await query(deps.pool, sql, [input.olderThan, batch]);
    total += res.rowCount ?? 0;
    if ((res.rowCount ?? 0) < batch) return total;
  }
}

export async function pruneHistory(deps: StoreDeps, input: PruneInput): Promise<PruneResult> {
  const events = await inBatches(deps, PRUNE_EVENTS, input);
  const outbox = await inBatches(deps, PRUNE_OUTBOX, input);
  const runs = await inBatches(deps, PRUNE_RUNS, input);
  const cloudEvents = await inBatches(deps, PRUNE_CLOUD_EVENTS, input);
  return { events, outbox, runs, cloudEvents };
}
