/** The write verbs around a run that are not applyScan: startRun, failRun, syncTargetList. */
import { FatalError } from '../errors.js';
import { query, truncate } from './tx.js';
import type {
  FailRunInput,
  StartRunInput,
  StoreDeps,
  SyncTargetListInput,
  SyncTargetListResult,
} from './types.js';

export async function startRun(deps: StoreDeps, input: StartRunInput): Promise<string> {
  const { target } = input;
  // One statement: the target row (first run of a new target) and the run row commit together.
  // The FK from sync_runs to sync_targets is checked at the end of the statement, when the
  // CTE's insert is visible; a concurrent first run of the same target waits on the conflict.
  // A run of the same job still 'running' belongs to an attempt whose worker died (SIGKILL, lost
  // host): BullMQ handed the job to us after its lock expired. Close it as failed, so no run stays
  // 'running' for ever; should that worker still be alive after all, its applyScan finds the run
  // finished and applies nothing.
  const res = await query<{ id: string }>(
    deps.pool,
    `WITH target AS (
       INSERT INTO sync_targets (account, region_id, vpc_id) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING
     ), abandoned AS (
       UPDATE sync_runs
          SET status = 'failed', finished_at = $6, error_code = 'WorkerLost',
              error_message = 'the worker running this attempt stopped before it finished; the job was picked up again'
        WHERE job_id = $4 AND account = $1 AND region_id = $2 AND vpc_id = $3 AND status = 'running'
     )
     INSERT INTO sync_runs (account, region_id, vpc_id, job_id, attempt, status, started_at)
     VALUES ($1, $2, $3, $4, $5, 'running', $6)
     RETURNING id::text AS id`,
    [target.account, target.regionId, target.vpcId, input.jobId, input.attempt, input.startedAt],
  );
  const id = res.rows[0]?.id;
  if (id === undefined) throw new FatalError('INSERT … RETURNING returned no row', { code: 'INTERNAL' });
  return id;
}

export async function failRun(deps: StoreDeps, input: FailRunInput): Promise<void> {
  // One statement, so one transaction: the run turns 'failed' and its target's failure state is
  // bumped together, or neither. `status = 'running'` makes a second call (or a call racing an
  // applyScan that committed first — it holds the run row lock) a no-op.
  const res = await query(
    deps.pool,
    `WITH run AS (
       UPDATE sync_runs
          SET status = 'failed', finished_at = $2, error_code = $3, error_message = $4, request_id = $5
        WHERE id = $1::bigint AND status = 'running'
       RETURNING id, account, region_id, vpc_id
     )
     UPDATE sync_targets AS t
        SET last_failure_at = $2, last_error_code = $3, last_error_message = $4, last_request_id = $5,
            consecutive_failures = t.consecutive_failures + 1, last_run_id = run.id, updated_at = now()
       FROM run
      WHERE t.account = run.account AND t.region_id = run.region_id AND t.vpc_id = run.vpc_id`,
    [input.runId, input.finishedAt, input.code, truncate(input.message), input.requestId ?? null],
  );
  deps.log.info(
    { runId: input.runId, target: input.target, code: input.code, recorded: res.rowCount === 1 },
    'run failed',
  );
}

export async function syncTargetList(
  deps: StoreDeps,
  input: SyncTargetListInput,
): Promise<SyncTargetListResult> {
  const vpcIds = [...new Set(input.vpcIds)];
  // One statement. The CTEs touch disjoint rows: `created` inserts rows that did not exist,
  // `unretired` updates retired rows in the list, `retired` updates live rows not in it. The last
  // column names the targets not in the list (retired now or before) that still have active links:
  // a VPC that disappeared between two syncs took its links with it, and only a scan of it (empty
  // now) and a lookup of each link by InstanceId can record those removals. Index probes on the
  // active-links index, one per retired target.
  const res = await query<SyncTargetListResult>(
    deps.pool,
    `WITH created AS (
       INSERT INTO sync_targets (account, region_id, vpc_id)
       SELECT $1, $2, v FROM unnest($3::text[]) AS v
       ON CONFLICT DO NOTHING
       RETURNING 1
     ), unretired AS (
       UPDATE sync_targets SET retired_at = NULL, updated_at = now()
        WHERE account = $1 AND region_id = $2 AND vpc_id = ANY($3::text[]) AND retired_at IS NOT NULL
       RETURNING 1
     ), retired AS (
       UPDATE sync_targets SET retired_at = now(), updated_at = now()
        WHERE account = $1 AND region_id = $2 AND vpc_id <> ALL($3::text[]) AND retired_at IS NULL
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM created)::int AS created,
            (SELECT count(*) FROM unretired)::int AS unretired,
            (SELECT count(*) FROM retired)::int AS retired,
            ARRAY(SELECT t.vpc_id FROM sync_targets AS t
                   WHERE t.account = $1 AND t.region_id = $2 AND t.vpc_id <> ALL($3::text[])
                     AND EXISTS (SELECT 1 FROM classic_links AS c
                                  WHERE c.account = t.account AND c.region_id = t.region_id
                                    AND c.vpc_id = t.vpc_id AND c.removed_at IS NULL)
                   ORDER BY 1) AS "finalScans",
            (SELECT coalesce(json_object_agg(t.vpc_id, r.pages), '{}'::json)
               FROM sync_targets AS t JOIN sync_runs AS r ON r.id = t.last_run_id
              WHERE t.account = $1 AND t.region_id = $2 AND t.vpc_id = ANY($3::text[])
                AND r.pages > 1) AS "lastPages"`,
    [input.account, input.regionId, vpcIds],
  );
  const counts = res.rows[0] ?? { created: 0, unretired: 0, retired: 0, finalScans: [], lastPages: {} };
  deps.log.info(
    {
      account: input.account,
      regionId: input.regionId,
      created: counts.created,
      unretired: counts.unretired,
      retired: counts.retired,
      finalScans: counts.finalScans.length,
    },
    'target list synced',
  );
  return counts;
}
