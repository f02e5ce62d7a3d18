/**
 * The alert outbox verbs: claim due rows under a lease, record what happened, count, and listen
 * for new rows. Rows are written by applyScan (kind 'changes', in the diff's transaction) and by
 * checkStaleness (staleness.ts: kinds 'stale' and 'recovered'); the alerts dispatcher delivers them.
 *
 * Delivery is at-least-once: a row is 'delivering' only for its lease (`claimed_until`). A
 * deliverer that dies after its claim leaves the row to become due again when the lease ends, and
 * the next deliverer sends it with the same id (the idempotency key receivers deduplicate on).
 *
 * Every attempt sends the same body: the first attempt stores what it rendered in `rendered_body`
 * (saveRenderedBody), and every later claim returns it — after a failure, a lease taken over from
 * a dead deliverer, or `alerts --requeue` (which keeps it). A 'changes' row is not claimed before
 * its run's context is settled or its ALERT_CONTEXT_WAIT has passed (ContextWait).
 */
import type { ChannelName } from '../alerts/index.js';
import { listen } from './listen.js';
import { query, truncate } from './tx.js';
import type {
  ClaimOutboxInput,
  ContextWait,
  FailOutboxInput,
  NextDueFilter,
  OutboxCounts,
  OutboxFilter,
  OutboxMessage,
  OutboxRow,
  OutboxStatus,
  OutboxStore,
  OutboxWatch,
  SaveRenderedBodyInput,
  StoreDeps,
} from './types.js';

interface OutboxDbRow {
  id: string;
  sync_run_id: string | null;
  kind: OutboxRow['kind'];
  channel: ChannelName;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  claimed_until: Date | null;
  payload: unknown;
  rendered_body?: string | null;
}

const COLUMNS = `id::text, sync_run_id::text, kind, channel, status, attempts, next_attempt_at, last_error,
                 created_at, delivered_at, claimed_until, payload`;

function runIdsParam(runIds: readonly string[] | undefined): string[] | null {
  return runIds === undefined ? null : [...runIds];
}

/**
 * The SQL condition "row `o` is held back, waiting for its run's context" (ContextWait), with the
 * placeholders of the time, the wait in ms and the causes flag. The context's definition is
 * link_history's, the one `contextForRun` counts by: an instance never described
 * (`instance_updated_at IS NULL`), a non-baseline cause not settled (`cause_status IS NULL`).
 * An instance is not waited for where the identity may not describe instances (`context_health`
 * says `permission_denied` for the account+region): that context is known not to come. (A missing
 * ActionTrail permission settles causes `unavailable`, so causes need no such rule.)
 *
 * The run's events are found by their detection time as well as their run: every event of a run
 * carries the payload's `detectedAt`, and link_events has an index on detected_at but none leading
 * with sync_run_id. And it is a scalar subquery with LIMIT 1, not EXISTS: with many rows waiting
 * (a burst), Postgres turns an EXISTS into one hashed subplan over every unsettled event of the
 * whole table (measured: a full scan of link_events per claim); a scalar subquery is always one
 * index probe per waiting row.
 */
function heldSql(now: string, waitMs: string, causes: string): string {
  return `(o.kind = 'changes' AND o.rendered_body IS NULL AND ${waitMs}::bigint > 0
      AND o.created_at > ${now}::timestamptz - ${waitMs}::bigint * interval '1 millisecond'
      AND (SELECT true FROM link_history h
            WHERE h.detected_at = (o.payload->>'detectedAt')::timestamptz
              AND h.sync_run_id = o.sync_run_id
              AND ((h.instance_updated_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM context_health ch
                                     WHERE ch.account = h.account AND ch.region_id = h.region_id
                                       AND ch.source = 'instances' AND ch.state = 'permission_denied'))
                   OR (${causes}::boolean AND NOT h.baseline AND h.cause_status IS NULL))
            LIMIT 1) IS NOT NULL)`;
}

/** The wait's parameters; nothing is held without one. */
function waitParams(wait: ContextWait | undefined): [number, boolean] {
  return wait === undefined ? [0, false] : [Math.max(0, Math.round(wait.waitMs)), wait.causes];
}

async function claimOutbox(deps: StoreDeps, input: ClaimOutboxInput): Promise<OutboxMessage[]> {
  // Why FOR UPDATE SKIP LOCKED: several deliverers (every `start` process, and `sync --once`)
  // claim from the same table at once. SKIP LOCKED lets each take the rows no other claimer is
  // taking right now instead of queueing behind its row locks (plain FOR UPDATE) or claiming the
  // same rows twice (no lock: two deliverers would both see a row as due and both send it). The
  // lock only lives for this statement; after it the 'delivering' status plus `claimed_until` is
  // what keeps other claimers off, so no transaction stays open while we talk HTTP.
  // Rows held for their run's context are skipped, not claimed and given back: waiting costs
  // them no attempt and no write.
  const res = await query<OutboxDbRow>(
    deps.pool,
    `WITH due AS (
       SELECT o.id FROM alert_outbox o
        WHERE ((o.status = 'pending' AND o.next_attempt_at <= $1)
               OR (o.status = 'delivering' AND o.claimed_until <= $1))
          AND ($4::bigint[] IS NULL OR o.sync_run_id = ANY($4::bigint[]))
          AND NOT ${heldSql('$1', '$5', '$6')}
        ORDER BY o.next_attempt_at, o.created_at, o.id
        LIMIT $2
          FOR UPDATE OF o SKIP LOCKED
     )
     UPDATE alert_outbox AS o
        SET status = 'delivering', attempts = o.attempts + 1,
            claimed_until = $1::timestamptz + $3 * interval '1 millisecond'
       FROM due
      WHERE o.id = due.id
     RETURNING o.id::text, o.sync_run_id::text, o.kind, o.channel, o.status, o.attempts, o.next_attempt_at,
               o.last_error, o.created_at, o.delivered_at, o.claimed_until, o.payload, o.rendered_body`,
    [input.now, input.limit, input.leaseMs, runIdsParam(input.runIds), ...waitParams(input.contextWait)],
  );
  const rows = res.rows.map(
    (r) =>
      ({
        id: r.id,
        syncRunId: r.sync_run_id,
        kind: r.kind,
        channel: r.channel,
        payload: r.payload,
        attempts: r.attempts,
        createdAt: r.created_at,
        claimedUntil: r.claimed_until ?? input.now,
        renderedBody: r.rendered_body ?? null,
      }) as OutboxMessage,
  );
  // The UPDATE returns rows in no particular order: keep the claim order (oldest first).
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
}

async function completeOutbox(deps: StoreDeps, id: string, deliveredAt: Date): Promise<void> {
  // Not fenced by the claim: if our lease ran out and another deliverer took the row over, the
  // receiver has the message all the same. A row already delivered keeps its first delivered_at.
  await query(
    deps.pool,
    `UPDATE alert_outbox
        SET status = 'delivered', delivered_at = COALESCE(delivered_at, $2), claimed_until = NULL
      WHERE id = $1::uuid AND status <> 'delivered'`,
    [id, deliveredAt],
  );
}

async function failOutbox(deps: StoreDeps, input: FailOutboxInput): Promise<OutboxStatus | undefined> {
  // Fenced by `attempts`: a deliverer whose lease expired (and whose row another claim took over,
  // counting a new attempt) must not overwrite the newer claim's state.
  const res = await query<{ status: OutboxStatus }>(
    deps.pool,
    `UPDATE alert_outbox
        SET status = CASE WHEN $4::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
            next_attempt_at = COALESCE($4::timestamptz, next_attempt_at),
            last_error = $3, claimed_until = NULL
      WHERE id = $1::uuid AND status = 'delivering' AND attempts = $2
     RETURNING status`,
    [input.id, input.attempts, truncate(input.error, 1000), input.retryAt],
  );
  return res.rows[0]?.status;
}

async function releaseOutbox(
  deps: StoreDeps,
  input: { id: string; attempts: number; at: Date },
): Promise<void> {
  await query(
    deps.pool,
    `UPDATE alert_outbox
        SET status = 'pending', attempts = attempts - 1, next_attempt_at = $3, claimed_until = NULL
      WHERE id = $1::uuid AND status = 'delivering' AND attempts = $2`,
    [input.id, input.attempts, input.at],
  );
}

async function requeueDeadOutbox(
  deps: StoreDeps & { outboxNotifyChannel: string },
  filter: { ids?: readonly string[] | undefined; channel?: ChannelName | undefined } = {},
): Promise<number> {
  // Due at once for any deliverer: the claim compares with the deliverer's clock, which counts in
  // whole milliseconds (and may run behind the database's), so `now()` here could still be a
  // moment in its future. The row's creation time is in the past of every clock that saw it.
  const res = await query(
    deps.pool,
    `UPDATE alert_outbox
        SET status = 'pending', attempts = 0, next_attempt_at = LEAST(created_at, now()), claimed_until = NULL
      WHERE status = 'dead'
        AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
        AND ($2::text IS NULL OR channel = $2)`,
    [filter.ids === undefined ? null : [...filter.ids], filter.channel ?? null],
  );
  if ((res.rowCount ?? 0) > 0)
    await query(deps.pool, 'SELECT pg_notify($1, $2)', [deps.outboxNotifyChannel, 'requeue']);
  return res.rowCount ?? 0;
}

async function saveRenderedBody(deps: StoreDeps, input: SaveRenderedBodyInput): Promise<string> {
  // Only while NULL: of deliverers rendering one row at once (a lease taken over mid-render), the
  // first to commit wins. A loser's UPDATE waits for the winner's row lock, re-reads the row and
  // finds it set; the SELECT after it (a new snapshot) reads the winner's body.
  const set = await query<{ body: string }>(
    deps.pool,
    `UPDATE alert_outbox SET rendered_body = $2, rendered_at = $3
      WHERE id = $1::uuid AND rendered_body IS NULL
     RETURNING rendered_body AS body`,
    [input.id, input.body, input.renderedAt],
  );
  if (set.rows[0]) return set.rows[0].body;
  const kept = await query<{ body: string | null }>(
    deps.pool,
    'SELECT rendered_body AS body FROM alert_outbox WHERE id = $1::uuid',
    [input.id],
  );
  return kept.rows[0]?.body ?? input.body;
}

async function nextOutboxDueAt(deps: StoreDeps, filter?: NextDueFilter): Promise<Date | null> {
  const wait = filter?.contextWait;
  const base = `CASE WHEN o.status = 'pending' THEN o.next_attempt_at ELSE o.claimed_until END`;
  const res = await query<{ due: Date | null }>(
    deps.pool,
    `SELECT min(CASE WHEN ${heldSql('$2', '$3', '$4')}
                     THEN GREATEST(${base}, LEAST(o.created_at + $3::bigint * interval '1 millisecond',
                                                  $2::timestamptz + $5::bigint * interval '1 millisecond'))
                     ELSE ${base} END) AS due
       FROM alert_outbox o
      WHERE o.status IN ('pending', 'delivering')
        AND ($1::bigint[] IS NULL OR o.sync_run_id = ANY($1::bigint[]))`,
    [
      runIdsParam(filter?.runIds),
      wait?.now ?? new Date(0),
      ...waitParams(wait),
      Math.max(0, Math.round(wait?.recheckMs ?? 0)),
    ],
  );
  return res.rows[0]?.due ?? null;
}

async function listOutbox(deps: StoreDeps, filter: OutboxFilter = {}): Promise<OutboxRow[]> {
  const res = await query<OutboxDbRow>(
    deps.pool,
    `SELECT ${COLUMNS} FROM alert_outbox
      WHERE ($1::text IS NULL OR status = $1)
        AND ($2::bigint[] IS NULL OR sync_run_id = ANY($2::bigint[]))
        AND ($3::text IS NULL OR channel = $3)
        AND ($5::uuid[] IS NULL OR id = ANY($5::uuid[]))
      ORDER BY created_at DESC, id
      LIMIT $4`,
    [
      filter.status ?? null,
      runIdsParam(filter.runIds),
      filter.channel ?? null,
      filter.limit ?? 100,
      filter.ids === undefined ? null : [...filter.ids],
    ],
  );
  return res.rows.map((r) => ({
    id: r.id,
    syncRunId: r.sync_run_id,
    kind: r.kind,
    channel: r.channel,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
    claimedUntil: r.claimed_until,
    payload: r.payload,
  }));
}

async function outboxCounts(
  deps: StoreDeps,
  filter?: { runIds?: readonly string[] | undefined },
): Promise<OutboxCounts> {
  const res = await query<{ channel: ChannelName; status: OutboxStatus; n: number; oldest: Date | null }>(
    deps.pool,
    `SELECT channel, status, count(*)::int AS n,
            min(created_at) FILTER (WHERE status IN ('pending', 'delivering')) AS oldest
       FROM alert_outbox
      WHERE ($1::bigint[] IS NULL OR sync_run_id = ANY($1::bigint[]))
      GROUP BY channel, status`,
    [runIdsParam(filter?.runIds)],
  );
  const counts: OutboxCounts = {
    pending: 0,
    delivering: 0,
    delivered: 0,
    dead: 0,
    oldestUndeliveredAt: null,
    byChannel: {},
  };
  for (const r of res.rows) {
    counts[r.status] += r.n;
    const ch = counts.byChannel[r.channel] ?? { pending: 0, delivering: 0, delivered: 0, dead: 0 };
    ch[r.status] += r.n;
    counts.byChannel[r.channel] = ch;
    if (r.oldest !== null && (counts.oldestUndeliveredAt === null || r.oldest < counts.oldestUndeliveredAt)) {
      counts.oldestUndeliveredAt = r.oldest;
    }
  }
  return counts;
}

/** LISTENs on both channels: applied scans (new 'changes' rows) and the outbox's own. */
function watchOutbox(
  deps: StoreDeps & { notifyChannel: string; outboxNotifyChannel: string },
  onWake: () => void,
): Promise<OutboxWatch> {
  return listen(deps, [deps.notifyChannel, deps.outboxNotifyChannel], () => onWake());
}

/** The outbox verbs, bound to the store's pool and NOTIFY channels. */
export function outboxVerbs(
  full: StoreDeps & { notifyChannel: string; outboxNotifyChannel: string },
): Omit<OutboxStore, 'checkStaleness'> {
  return {
    claimOutbox: (input) => claimOutbox(full, input),
    completeOutbox: (id, deliveredAt) => completeOutbox(full, id, deliveredAt),
    failOutbox: (input) => failOutbox(full, input),
    releaseOutbox: (input) => releaseOutbox(full, input),
    saveRenderedBody: (input) => saveRenderedBody(full, input),
    requeueDeadOutbox: (filter) => requeueDeadOutbox(full, filter),
    nextOutboxDueAt: (filter) => nextOutboxDueAt(full, filter),
    listOutbox: (filter) => listOutbox(full, filter),
    outboxCounts: (filter) => outboxCounts(full, filter),
    watchOutbox: (onWake) => watchOutbox(full, onWake),
  };
}
