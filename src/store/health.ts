/**
 * `context_health`: the last check of each context source per account+region. A check that finds
 * what the last one found only moves `checked_at` (and `last_ok_at` when ok); `since` moves when
 * the state changes. The caller learns whether anything changed, so it logs one line per change
 * rather than one per check.
 */
import { query, storable, truncate } from './tx.js';
import type {
  ContextCheck,
  ContextCheckInput,
  ContextCheckResult,
  ContextHealthRow,
  ContextState,
  StoreDeps,
} from './types.js';

export async function recordContextCheck(
  deps: StoreDeps,
  input: ContextCheckInput,
): Promise<ContextCheckResult> {
  // `previous` is read in the statement's snapshot, before the upsert: one round trip. Two checks
  // racing both see the old row, and both may say "changed": one log line too many, nothing worse.
  const res = await query<{ previous_state: ContextState | null; previous_detail: string | null }>(
    deps.pool,
    `WITH previous AS (
       SELECT state, detail FROM context_health WHERE account = $1 AND region_id = $2 AND source = $3
     ), upserted AS (
       INSERT INTO context_health AS h (account, region_id, source, state, detail, since, checked_at, last_ok_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6, CASE WHEN $4 = 'ok' THEN $6::timestamptz END)
       ON CONFLICT (account, region_id, source) DO UPDATE
          SET since = CASE WHEN h.state = EXCLUDED.state THEN h.since ELSE EXCLUDED.since END,
              state = EXCLUDED.state, detail = EXCLUDED.detail,
              checked_at = greatest(h.checked_at, EXCLUDED.checked_at),
              last_ok_at = CASE WHEN EXCLUDED.last_ok_at IS NULL THEN h.last_ok_at
                                ELSE greatest(h.last_ok_at, EXCLUDED.last_ok_at) END
       RETURNING 1
     )
     SELECT p.state AS previous_state, p.detail AS previous_detail
       FROM (SELECT count(*) FROM upserted) AS u LEFT JOIN previous p ON true`,
    [
      input.account,
      input.regionId,
      input.source,
      input.state,
      input.detail === null ? null : truncate(storable(input.detail)),
      input.at,
    ],
  );
  const row = res.rows[0];
  const previous = row?.previous_state ?? null;
  const detail = input.detail === null ? null : truncate(storable(input.detail));
  return {
    changed: previous !== input.state || (row?.previous_detail ?? null) !== detail,
    previous,
  };
}

interface HealthRow {
  account: string;
  region_id: string;
  source: 'instances' | 'actiontrail';
  state: ContextState;
  detail: string | null;
  since: Date;
  checked_at: Date;
  last_ok_at: Date | null;
}

export async function listContextHealth(
  deps: StoreDeps,
  filter: { account?: string | undefined },
): Promise<ContextHealthRow[]> {
  const res = await query<HealthRow>(
    deps.pool,
    `SELECT account, region_id, source, state, detail, since, checked_at, last_ok_at
       FROM context_health WHERE $1::text IS NULL OR account = $1
      ORDER BY account, region_id, source`,
    [filter.account ?? null],
  );
  const out: ContextHealthRow[] = [];
  for (const r of res.rows) {
    let last = out.at(-1);
    if (last === undefined || last.account !== r.account || last.regionId !== r.region_id) {
      last = { account: r.account, regionId: r.region_id, instances: null, actiontrail: null };
      out.push(last);
    }
    const check: ContextCheck = {
      state: r.state,
      detail: r.detail,
      since: r.since,
      checkedAt: r.checked_at,
      lastOkAt: r.last_ok_at,
    };
    last[r.source] = check;
  }
  return out;
}
