/**
 * The alert outbox verbs: claim due rows under a lease, record what happened, count, and raise
 * staleness alerts. Rows are written by applyScan (kind 'changes', in the diff's transaction) and
 * by checkStaleness (kinds 'stale' and 'recovered'); alerts.ts delivers them.
 *
 * Delivery is at-least-once: a row is 'delivering' only for its lease (`claimed_until`). A
 * deliverer that dies after its claim leaves the row to become due again when the lease ends, and
 * the next deliverer sends it with the same id (the idempotency key receivers deduplicate on).
 */
import type pg from 'pg';
import type { ChannelName } from '../alerts/index.js';
import type { TargetRef } from '../links.js';
import { coerceDbError, query, truncate, withTransaction } from './tx.js';
import type {
  CheckStalenessInput,
  CheckStalenessResult,
  ClaimOutboxInput,
  FailOutboxInput,
  OutboxCounts,
  OutboxFilter,
  OutboxMessage,
  OutboxRow,
  OutboxStatus,
  OutboxStore,
  OutboxWatch,
  RecoveredAlertPayload,
  StaleAlertPayload,
  StoreDeps,
} from './types.js';

/** NOTIFY channel told about outbox rows that no applied scan announced (stale / recovered). */
export const DEFAULT_OUTBOX_NOTIFY_CHANNEL = 'classiclink_outbox';

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
}

const COLUMNS = `id::text, sync_run_id::text, kind, channel, status, attempts, next_attempt_at, last_error,
                 created_at, delivered_at, claimed_until, payload`;

function runIdsParam(runIds: readonly string[] | undefined): string[] | null {
  return runIds === undefined ? null : [...runIds];
}

export async function claimOutbox(deps: StoreDeps, input: ClaimOutboxInput): Promise<OutboxMessage[]> {
  // Why FOR UPDATE SKIP LOCKED: several deliverers (every `start` process, and `sync --once`)
  // claim from the same table at once. SKIP LOCKED lets each take the rows no other claimer is
  // taking right now instead of queueing behind its row locks (plain FOR UPDATE) or claiming the
  // same rows twice (no lock: two deliverers would both see a row as due and both send it). The
  // lock only lives for this statement; after it the 'delivering' status plus `claimed_until` is
  // what keeps other claimers off, so no transaction stays open while we talk HTTP.
  const res = await query<OutboxDbRow>(
    deps.pool,
    `WITH due AS (
       SELECT id FROM alert_outbox
        WHERE ((status = 'pending' AND next_attempt_at <= $1)
               OR (status = 'delivering' AND claimed_until <= $1))
          AND ($4::bigint[] IS NULL OR sync_run_id = ANY($4::bigint[]))
        ORDER BY next_attempt_at, created_at, id
        LIMIT $2
          FOR UPDATE SKIP LOCKED
     )
     UPDATE alert_outbox AS o
        SET status = 'delivering', attempts = o.attempts + 1,
            claimed_until = $1::timestamptz + $3 * interval '1 millisecond'
       FROM due
      WHERE o.id = due.id
     RETURNING o.id::text, o.sync_run_id::text, o.kind, o.channel, o.status, o.attempts, o.next_attempt_at,
               o.last_error, o.created_at, o.delivered_at, o.claimed_until, o.payload`,
    [input.now, input.limit, input.leaseMs, runIdsParam(input.runIds)],
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
      }) as OutboxMessage,
  );
  // The UPDATE returns rows in no particular order: keep the claim order (oldest first).
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
}

export async function completeOutbox(deps: StoreDeps, id: string, deliveredAt: Date): Promise<void> {
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

export async function failOutbox(deps: StoreDeps, input: FailOutboxInput): Promise<OutboxStatus | undefined> {
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

export async function releaseOutbox(
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

export async function requeueDeadOutbox(
  deps: StoreDeps & { outboxNotifyChannel: string },
  filter: { ids?: readonly string[] | undefined; channel?: string | undefined } = {},
): Promise<number> {
  const res = await query(
    deps.pool,
    `UPDATE alert_outbox
        SET status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = NULL
      WHERE status = 'dead'
        AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
        AND ($2::text IS NULL OR channel = $2)`,
    [filter.ids === undefined ? null : [...filter.ids], filter.channel ?? null],
  );
  if ((res.rowCount ?? 0) > 0)
    await query(deps.pool, 'SELECT pg_notify($1, $2)', [deps.outboxNotifyChannel, 'requeue']);
  return res.rowCount ?? 0;
}

export async function nextOutboxDueAt(
  deps: StoreDeps,
  filter?: { runIds?: readonly string[] | undefined },
): Promise<Date | null> {
  const res = await query<{ due: Date | null }>(
    deps.pool,
    `SELECT min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE claimed_until END) AS due
       FROM alert_outbox
      WHERE status IN ('pending', 'delivering')
        AND ($1::bigint[] IS NULL OR sync_run_id = ANY($1::bigint[]))`,
    [runIdsParam(filter?.runIds)],
  );
  return res.rows[0]?.due ?? null;
}

export async function listOutbox(deps: StoreDeps, filter: OutboxFilter = {}): Promise<OutboxRow[]> {
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

export async function outboxCounts(
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

interface TargetStateRow {
  account: string;
  region_id: string;
  vpc_id: string;
  last_success_at: Date | null;
  created_at: Date;
  stale_alerted_at: Date | null;
  consecutive_failures: number;
  last_error_code: string | null;
  last_error_message: string | null;
}

const TARGET_STATE = `account, region_id, vpc_id, last_success_at, created_at, stale_alerted_at,
                      consecutive_failures, last_error_code, last_error_message`;

const ref = (r: TargetStateRow): TargetRef => ({
  account: r.account,
  regionId: r.region_id,
  vpcId: r.vpc_id,
});

async function insertAlerts(
  client: pg.PoolClient,
  kind: 'stale' | 'recovered',
  payloads: readonly (StaleAlertPayload | RecoveredAlertPayload)[],
  channels: readonly string[],
): Promise<number> {
  if (payloads.length === 0 || channels.length === 0) return 0;
  const res = await client.query(
    `INSERT INTO alert_outbox (kind, channel, payload)
     SELECT $1, ch, p FROM unnest($2::jsonb[]) WITH ORDINALITY AS a(p, n) CROSS JOIN unnest($3::text[]) AS ch
      ORDER BY n, ch`,
    [kind, payloads.map((p) => JSON.stringify(p)), [...new Set(channels)]],
  );
  return res.rowCount ?? 0;
}

async function setStaleAlertedAt(
  client: pg.PoolClient,
  rows: readonly TargetStateRow[],
  value: Date | null,
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `UPDATE sync_targets AS t SET stale_alerted_at = $4
       FROM unnest($1::text[], $2::text[], $3::text[]) AS k(account, region_id, vpc_id)
      WHERE t.account = k.account AND t.region_id = k.region_id AND t.vpc_id = k.vpc_id`,
    [rows.map((r) => r.account), rows.map((r) => r.region_id), rows.map((r) => r.vpc_id), value],
  );
}

export async function checkStaleness(
  deps: StoreDeps & { outboxNotifyChannel: string },
  input: CheckStalenessInput,
): Promise<CheckStalenessResult> {
  const { now, staleAfterMs, channels } = input;
  const result = await withTransaction(deps.pool, async (client) => {
    // FOR UPDATE makes concurrent checks (one per `start` process) idempotent: the second waits
    // for the first, re-reads the row, no longer matches the WHERE, and raises nothing.
    // Recovery first: a target that recovered and went stale again in one check interval gets
    // its 'recovered' and then a new 'stale', in that order.
    const recovered = await client.query<TargetStateRow>(
      `SELECT ${TARGET_STATE} FROM sync_targets
        WHERE stale_alerted_at IS NOT NULL AND last_success_at > stale_alerted_at
        ORDER BY account, region_id, vpc_id
          FOR UPDATE`,
    );
    await setStaleAlertedAt(client, recovered.rows, null);
    let inserted = await insertAlerts(
      client,
      'recovered',
      recovered.rows.map(
        (r): RecoveredAlertPayload => ({
          account: r.account,
          regionId: r.region_id,
          vpcId: r.vpc_id,
          detectedAt: now.toISOString(),
          lastSuccessAt: (r.last_success_at ?? now).toISOString(),
          staleAlertedAt: (r.stale_alerted_at ?? now).toISOString(),
        }),
      ),
      channels,
    );

    // A target never synced counts from its creation: a target that never succeeds is stale too.
    const stale = await client.query<TargetStateRow>(
      `SELECT ${TARGET_STATE} FROM sync_targets
        WHERE retired_at IS NULL AND stale_alerted_at IS NULL
          AND COALESCE(last_success_at, created_at) <= $1::timestamptz - $2 * interval '1 millisecond'
        ORDER BY account, region_id, vpc_id
          FOR UPDATE`,
      [now, staleAfterMs],
    );
    await setStaleAlertedAt(client, stale.rows, now);
    inserted += await insertAlerts(
      client,
      'stale',
      stale.rows.map(
        (r): StaleAlertPayload => ({
          account: r.account,
          regionId: r.region_id,
          vpcId: r.vpc_id,
          detectedAt: now.toISOString(),
          lastSuccessAt: r.last_success_at?.toISOString() ?? null,
          staleSince: (r.last_success_at ?? r.created_at).toISOString(),
          staleAfterSeconds: Math.round(staleAfterMs / 1000),
          consecutiveFailures: r.consecutive_failures,
          lastErrorCode: r.last_error_code,
          lastErrorMessage: r.last_error_message,
        }),
      ),
      channels,
    );
    // Transactional: deliverers hear it at COMMIT.
    if (inserted > 0) await client.query('SELECT pg_notify($1, $2)', [deps.outboxNotifyChannel, 'staleness']);
    return { stale: stale.rows.map(ref), recovered: recovered.rows.map(ref) };
  });
  if (result.stale.length > 0 || result.recovered.length > 0) {
    deps.log.info({ stale: result.stale, recovered: result.recovered }, 'staleness alerts raised');
  }
  return result;
}

export async function watchOutbox(
  deps: StoreDeps & { notifyChannel: string; outboxNotifyChannel: string },
  onWake: () => void,
): Promise<OutboxWatch> {
  // A dedicated connection: LISTEN lives on one session. It is destroyed, not returned to the
  // pool, on close, so no other user of the pool inherits the LISTEN.
  let client: pg.PoolClient;
  try {
    client = await deps.pool.connect();
  } catch (err) {
    throw coerceDbError(err);
  }
  let markLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  const onNotification = () => onWake();
  const onError = () => markLost();
  client.on('notification', onNotification);
  client.on('error', onError);
  client.on('end', onError);
  try {
    for (const ch of new Set([deps.notifyChannel, deps.outboxNotifyChannel])) {
      await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
    }
  } catch (err) {
    client.release(true);
    throw coerceDbError(err);
  }
  let closed: Promise<void> | undefined;
  return {
    lost,
    close() {
      closed ??= (async () => {
        client.off('notification', onNotification);
        client.release(true);
        markLost();
      })();
      return closed;
    },
  };
}

/** The outbox verbs, bound to the store's pool and NOTIFY channels. */
export function outboxVerbs(
  deps: StoreDeps & { notifyChannel: string; outboxNotifyChannel?: string | undefined },
): OutboxStore {
  const full = { ...deps, outboxNotifyChannel: deps.outboxNotifyChannel ?? DEFAULT_OUTBOX_NOTIFY_CHANNEL };
  return {
    claimOutbox: (input) => claimOutbox(full, input),
    completeOutbox: (id, deliveredAt) => completeOutbox(full, id, deliveredAt),
    failOutbox: (input) => failOutbox(full, input),
    releaseOutbox: (input) => releaseOutbox(full, input),
    requeueDeadOutbox: (filter) => requeueDeadOutbox(full, filter),
    nextOutboxDueAt: (filter) => nextOutboxDueAt(full, filter),
    listOutbox: (filter) => listOutbox(full, filter),
    outboxCounts: (filter) => outboxCounts(full, filter),
    checkStaleness: (input) => checkStaleness(full, input),
    watchOutbox: (onWake) => watchOutbox(full, onWake),
  };
}
