/**
 * What `status` (the CLI and GET /v1/status) says of a target, defined once: its state, whether it
 * is stale, and whether its last error is current or an old one a later success left behind.
 */

/** The columns of a target row the rules read. */
export interface TargetFacts {
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  consecutiveFailures: number;
  retiredAt: Date | null;
}

/**
 * - `retired`: no longer listed (kept for history, not synced, never stale or failing);
 * - `failing`: its last run failed (consecutive failures > 0), however recent its last success;
 * - `stale`: no complete scan for ALERT_STALE_AFTER (never one: counted as stale at once, where
 *   the stale alert (staleness.ts) counts from the target's creation, giving a first scan time);
 * - `ok`: its last run succeeded, recently enough.
 * A target both failing and stale is `failing`; `stale` says the rest.
 */
export type TargetState = 'retired' | 'failing' | 'stale' | 'ok';

export interface TargetHealth {
  state: TargetState;
  /** Watched and without a complete scan for `staleAfterMs`. */
  stale: boolean;
  /** Whole seconds since the last success; null if it never succeeded. */
  secondsSinceSuccess: number | null;
  /**
   * The recorded error (`lastErrorCode`, `lastFailureAt`…) is an old one: a success came after
   * it. Its columns are kept for the record; it no longer describes the target.
   */
  lastErrorBeforeLastSuccess: boolean;
}

export function targetHealth(t: TargetFacts, now: Date, staleAfterMs: number): TargetHealth {
  const ageMs = t.lastSuccessAt === null ? undefined : now.getTime() - t.lastSuccessAt.getTime();
  const stale = t.retiredAt === null && (ageMs === undefined || ageMs > staleAfterMs);
  const state: TargetState =
    t.retiredAt !== null ? 'retired' : t.consecutiveFailures > 0 ? 'failing' : stale ? 'stale' : 'ok';
  return {
    state,
    stale,
    secondsSinceSuccess: ageMs === undefined ? null : Math.round(ageMs / 1000),
    lastErrorBeforeLastSuccess: t.lastFailureAt !== null && t.consecutiveFailures === 0,
  };
}
