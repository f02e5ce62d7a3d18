/**
 * Keyset paging of the change log: one page of events after a given (detected_at, id), oldest
 * first, and the key to continue from. A page may end inside one instant (a run's events share
 * it); the id breaks the tie, so a walk returns every event exactly once.
 */
import { and, asc, gt, gte, or, sql } from 'drizzle-orm';
import { eventRowOf, type HistoryRow } from './context.js';
import { eventConditions, type ReadDeps } from './read.js';
import { linkHistory } from './schema.js';
import { coerceDbError } from './tx.js';
import type { EventsPage, EventsPageInput } from './types.js';

export async function eventsPage(deps: ReadDeps, input: EventsPageInput): Promise<EventsPage> {
  const { after, limit } = input;
  // `detected_at >= t` lets the detected_at index bound the scan; the OR drops the events of that
  // instant already returned. The id is compared as numeric: a forged cursor's id may not fit bigint.
  const keyset =
    after === undefined
      ? undefined
      : and(
          gte(linkHistory.detectedAt, after.detectedAt),
          or(gt(linkHistory.detectedAt, after.detectedAt), sql`${linkHistory.id} > ${after.id}::numeric`),
        );
  const conditions = eventConditions(input.filter, linkHistory);
  let rows: HistoryRow[];
  try {
    rows = await deps.db
      .select()
      .from(linkHistory)
      .where(keyset === undefined ? conditions : and(conditions, keyset))
      .orderBy(asc(linkHistory.detectedAt), asc(linkHistory.id))
      .limit(limit + 1);
  } catch (err) {
    throw coerceDbError(err);
  }
  const events = rows.slice(0, limit).map(eventRowOf);
  const last = events[events.length - 1];
  return {
    events,
    next:
      rows.length > limit && last !== undefined ? { detectedAt: last.detectedAt, id: last.id } : undefined,
  };
}
