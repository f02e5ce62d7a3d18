/**
 * checkStaleness: raises the 'stale' and 'recovered' alert rows (outbox.ts delivers them) and
 * records the open alert in `sync_targets.stale_alerted_at`, so a check can run as often as it
 * likes and each alert is raised once.
 */

import type pg from 'pg';
import type { ChannelName } from '../alerts/index.js';
import type { TargetRef } from '../links.js';
import { withTransaction } from './tx.js';
import type {
  CheckStalenessInput,
  CheckStalenessResult,
  RecoveredAlertPayload,
  StaleAlertPayload,
  StoreDeps,
} from './types.js';

interface TargetStateRow {
  account: string;
  region_id: string;
  vpc_id: string;
  last_success_at: Date | null;
  stale_since: Date;
  stale_alerted_at: Date | null;
  consecutive_failures: number;
  last_error_code: string | null;
  last_error_message: string | null;
}

/**
 * What a target's staleness is counted from: its last complete scan, else its creation, so a
 * target that never succeeds raises an alert too, after ALERT_STALE_AFTER and not at once (unlike
 * `status`, which shows a target never scanned as stale: target-state.ts).
 */
const STALE_SINCE = 'COALESCE(last_success_at, created_at)';

const TARGET_STATE = `account, region_id, vpc_id, last_success_at, ${STALE_SINCE} AS stale_since,
                      stale_alerted_at, consecutive_failures, last_error_code, last_error_message`;

const ref = (r: TargetStateRow): TargetRef => ({
  account: r.account,
  regionId: r.region_id,
  vpcId: r.vpc_id,
});

async function insertAlerts(
  client: pg.PoolClient,
  kind: 'stale' | 'recovered',
  payloads: readonly (StaleAlertPayload | RecoveredAlertPayload)[],
  channels: readonly ChannelName[],
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

    const stale = await client.query<TargetStateRow>(
      `SELECT ${TARGET_STATE} FROM sync_targets
        WHERE retired_at IS NULL AND stale_alerted_at IS NULL
          AND ${STALE_SINCE} <= $1::timestamptz - $2 * interval '1 millisecond'
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
          staleSince: r.stale_since.toISOString(),
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
