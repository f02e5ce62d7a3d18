/**
 * Types of `context_health`: per account+region, whether the context sources — reading instance
 * attributes, and reading ActionTrail for causes — work, and since when. What `status` and
 * `/v1/status` show next to the targets.
 */
import type { AccountRegion } from './attribute-types.js';
import type { CONTEXT_SOURCES, CONTEXT_STATES } from './schema.js';

/** `instances` (DescribeInstances) or `actiontrail` (LookupEvents). */
export type ContextSource = (typeof CONTEXT_SOURCES)[number];
/** `ok`; `permission_denied` (the identity lacks the permission); `failing` (any other error). */
export type ContextState = (typeof CONTEXT_STATES)[number];

export interface ContextCheckInput extends AccountRegion {
  source: ContextSource;
  state: ContextState;
  /** The API's code and message (or our own words) when not ok; null when ok. */
  detail: string | null;
  /** When the check was made. */
  at: Date;
}

export interface ContextCheckResult {
  /** The state or the detail differs from the last check's (or there was none): worth one log line. */
  changed: boolean;
  /** The state before this check; null for the first check of this source. */
  previous: ContextState | null;
}

/** One source's last check. */
export interface ContextCheck {
  state: ContextState;
  detail: string | null;
  /** When the current state began. */
  since: Date;
  /** The last check, whatever its outcome. */
  checkedAt: Date;
  /** The last check that found it ok; null if none did. */
  lastOkAt: Date | null;
}

/** The context health of one account+region: each source's last check, null if never checked. */
export interface ContextHealthRow extends AccountRegion {
  instances: ContextCheck | null;
  actiontrail: ContextCheck | null;
}
