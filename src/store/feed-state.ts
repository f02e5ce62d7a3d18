/**
 * What `status` (the CLI and GET /v1/status) and the console's overview say of a change feed, defined once: its state, its
 * lag and whether its last error is current.
 */
import type { FeedStatusRow } from './feed-types.js';

/**
 * - `failing`: its last poll failed (consecutive failures > 0);
 * - `waiting`: polled, never successfully yet (or not polled at all);
 * - `ok`: its last poll read its whole window.
 */
export type FeedState = 'ok' | 'failing' | 'waiting';

export interface FeedHealth {
  state: FeedState;
  /** Whole seconds from the cursor (what has been read up to) to now: how old a change may be unseen. */
  lagSeconds: number;
  /** Whole seconds since the last successful poll; null if none. */
  secondsSinceSuccess: number | null;
  /** The recorded error is older than the last success (kept for the record). */
  lastErrorBeforeLastSuccess: boolean;
}

export function feedHealth(
  f: Pick<FeedStatusRow, 'consecutiveFailures' | 'lastSuccessAt' | 'lastErrorAt' | 'cursorAt'>,
  now: Date,
): FeedHealth {
  const t = now.getTime();
  return {
    state: f.consecutiveFailures > 0 ? 'failing' : f.lastSuccessAt === null ? 'waiting' : 'ok',
    lagSeconds: Math.max(0, Math.round((t - f.cursorAt.getTime()) / 1000)),
    secondsSinceSuccess:
      f.lastSuccessAt === null ? null : Math.max(0, Math.round((t - f.lastSuccessAt.getTime()) / 1000)),
    lastErrorBeforeLastSuccess:
      f.lastErrorAt !== null &&
      f.lastSuccessAt !== null &&
      f.lastErrorAt.getTime() < f.lastSuccessAt.getTime(),
  };
}
