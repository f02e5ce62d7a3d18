/**
 * The read side (CLI `links` / `events` / `status`, the HTTP read API, and the sync's removal
 * candidates). Typed drizzle queries over schema.ts. Events and links carry their context (the
 * instance's and VPC's attributes and the cause) from the `link_history` view (context.ts).
 */
import { and, asc, desc, eq, getViewSelectedFields, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { Link, TargetRef } from '../links.js';
import { contextOf, eventRowOf } from './context.js';
import { classicLinks, linkEvents, linkHistory, syncRuns, syncTargets } from './schema.js';
import { coerceDbError } from './tx.js';
import type {
  EventFilter,
  EventRow,
  LinkFilter,
  LinkRow,
  RunRow,
  StoreDeps,
  TargetStatusRow,
} from './types.js';

export interface ReadDeps extends StoreDeps {
  db: NodePgDatabase;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw coerceDbError(err);
  }
}

function defined(conds: (SQL | undefined)[]): SQL | undefined {
  const present = conds.filter((c): c is SQL => c !== undefined);
  return present.length === 0 ? undefined : and(...present);
}

export async function activeLinks(deps: ReadDeps, target: TargetRef): Promise<Link[]> {
  // On the sync hot path (once per job), served by the partial index on active links per target.
  // Only the instance ids travel: every row is the target's VPC. Unnamed (parsed per call): a
  // named statement breaks behind a transaction-pooling PgBouncer (apply-scan.ts says why).
  const res = await guarded(() =>
    deps.pool.query<{ instance_id: string }>({
      text: `SELECT instance_id FROM classic_links
              WHERE account = $1 AND region_id = $2 AND vpc_id = $3 AND removed_at IS NULL
              ORDER BY instance_id`,
      values: [target.account, target.regionId, target.vpcId],
    }),
  );
  return res.rows.map((r) => ({ vpcId: target.vpcId, instanceId: r.instance_id }));
}

export async function listLinks(deps: ReadDeps, filter: LinkFilter): Promise<LinkRow[]> {
  if (filter.at !== undefined) return linksAt(deps, filter.at, filter);
  // The context of an active link is that of the event that added it: an active row is only
  // written when (re-)added, at that event's detected_at (and pruning keeps that event).
  const rows = await guarded(() =>
    deps.db
      .select({
        account: classicLinks.account,
        regionId: classicLinks.regionId,
        vpcId: classicLinks.vpcId,
        instanceId: classicLinks.instanceId,
        // An active row is only written when (re-)added, so updated_at starts its interval.
        linkedSince: classicLinks.updatedAt,
        firstSeenAt: classicLinks.firstSeenAt,
        history: getViewSelectedFields(linkHistory),
      })
      .from(classicLinks)
      .leftJoin(
        linkHistory,
        and(
          eq(linkHistory.account, classicLinks.account),
          eq(linkHistory.regionId, classicLinks.regionId),
          eq(linkHistory.vpcId, classicLinks.vpcId),
          eq(linkHistory.instanceId, classicLinks.instanceId),
          eq(linkHistory.detectedAt, classicLinks.updatedAt),
          eq(linkHistory.change, 'added'),
        ),
      )
      .where(
        defined([
          isNull(classicLinks.removedAt),
          filter.account === undefined ? undefined : eq(classicLinks.account, filter.account),
          filter.regionId === undefined ? undefined : eq(classicLinks.regionId, filter.regionId),
          filter.vpcId === undefined ? undefined : eq(classicLinks.vpcId, filter.vpcId),
        ]),
      )
      .orderBy(
        asc(classicLinks.account),
        asc(classicLinks.regionId),
        asc(classicLinks.vpcId),
        asc(classicLinks.instanceId),
      ),
  );
  return rows.map(({ history, ...link }) => ({
    ...link,
    baseline: history?.baseline ?? null,
    ...(history === null ? {} : contextOf(history)),
  }));
}

async function linksAt(deps: ReadDeps, at: Date, filter: LinkFilter): Promise<LinkRow[]> {
  // links_at() (the one definition of "linked at T") names each link and the detection time of the
  // event that added it; that event's link_history row carries the link's context.
  const inner = defined([
    filter.account === undefined ? undefined : sql`account = ${filter.account}`,
    filter.regionId === undefined ? undefined : sql`region_id = ${filter.regionId}`,
    filter.vpcId === undefined ? undefined : sql`vpc_id = ${filter.vpcId}`,
  ]);
  const rows = await guarded(() =>
    deps.db
      .select()
      .from(linkHistory)
      .where(
        and(
          eq(linkHistory.change, 'added'),
          sql`(${linkHistory.account}, ${linkHistory.regionId}, ${linkHistory.vpcId}, ${linkHistory.instanceId},
               ${linkHistory.detectedAt}) IN (
            SELECT account, region_id, vpc_id, instance_id, linked_since FROM links_at(${at.toISOString()}::timestamptz)
             ${inner === undefined ? sql`` : sql`WHERE ${inner}`})`,
        ),
      )
      .orderBy(
        asc(linkHistory.account),
        asc(linkHistory.regionId),
        asc(linkHistory.vpcId),
        asc(linkHistory.instanceId),
        desc(linkHistory.id),
      ),
  );
  // Two events adding one link at one instant cannot both exist (the second scan would find it
  // linked); should they, the link is still listed once.
  const out: LinkRow[] = [];
  for (const h of rows) {
    const last = out[out.length - 1];
    if (
      last?.account === h.account &&
      last.regionId === h.regionId &&
      last.vpcId === h.vpcId &&
      last.instanceId === h.instanceId
    )
      continue;
    out.push({
      account: h.account,
      regionId: h.regionId,
      vpcId: h.vpcId,
      instanceId: h.instanceId,
      linkedSince: h.detectedAt,
      firstSeenAt: null,
      baseline: h.baseline,
      ...contextOf(h),
    });
  }
  return out;
}

/** The columns an event filter reads: of `link_events`, or of the `link_history` view over it. */
interface EventColumns {
  account: AnyPgColumn;
  regionId: AnyPgColumn;
  vpcId: AnyPgColumn;
  instanceId: AnyPgColumn;
  detectedAt: AnyPgColumn;
}

export function eventConditions(filter: EventFilter, cols: EventColumns = linkEvents): SQL | undefined {
  return defined([
    filter.account === undefined ? undefined : eq(cols.account, filter.account),
    filter.regionId === undefined ? undefined : eq(cols.regionId, filter.regionId),
    filter.vpcId === undefined ? undefined : eq(cols.vpcId, filter.vpcId),
    filter.instanceId === undefined ? undefined : eq(cols.instanceId, filter.instanceId),
    filter.since === undefined ? undefined : gte(cols.detectedAt, filter.since),
    filter.until === undefined ? undefined : lt(cols.detectedAt, filter.until),
  ]);
}

export async function listEvents(deps: ReadDeps, filter: EventFilter): Promise<EventRow[]> {
  // The newest N: read backwards (the same indexes serve it), then turn the page around.
  const newest = filter.newest === true && filter.limit !== undefined;
  const q = deps.db
    .select()
    .from(linkHistory)
    .where(eventConditions(filter, linkHistory))
    .orderBy(
      ...(newest
        ? [desc(linkHistory.detectedAt), desc(linkHistory.id)]
        : [asc(linkHistory.detectedAt), asc(linkHistory.id)]),
    );
  const rows = await guarded(() => (filter.limit === undefined ? q : q.limit(filter.limit)));
  if (newest) rows.reverse();
  return rows.map(eventRowOf);
}

export async function countEvents(deps: ReadDeps, filter: EventFilter): Promise<number> {
  const rows = await guarded(() =>
    deps.db
      .select({ n: sql<number>`count(*)::int`.mapWith(Number) })
      .from(linkEvents)
      .where(eventConditions(filter)),
  );
  return rows[0]?.n ?? 0;
}

export async function listTargets(
  deps: ReadDeps,
  filter?: { account?: string | undefined },
): Promise<TargetStatusRow[]> {
  const account = filter?.account;
  return targetRows(deps, account === undefined ? undefined : eq(syncTargets.account, account));
}

/** Targets matching `where` with their state's columns and their active links, in target order. */
export async function targetRows(deps: ReadDeps, where: SQL | undefined): Promise<TargetStatusRow[]> {
  const rows = await guarded(() =>
    deps.db
      .select({
        account: syncTargets.account,
        regionId: syncTargets.regionId,
        vpcId: syncTargets.vpcId,
        lastSuccessAt: syncTargets.lastSuccessAt,
        lastFailureAt: syncTargets.lastFailureAt,
        lastErrorCode: syncTargets.lastErrorCode,
        lastErrorMessage: syncTargets.lastErrorMessage,
        lastRequestId: syncTargets.lastRequestId,
        consecutiveFailures: syncTargets.consecutiveFailures,
        lastAppliedScanStartedAt: syncTargets.lastAppliedScanStartedAt,
        lastRunId: syncTargets.lastRunId,
        createdAt: syncTargets.createdAt,
        updatedAt: syncTargets.updatedAt,
        staleAlertedAt: syncTargets.staleAlertedAt,
        retiredAt: syncTargets.retiredAt,
        // Served by the partial index on active links per target. Qualified by hand: drizzle renders
        // a one-table select's columns unqualified, which inside this subquery would mean `c`'s.
        activeLinks: sql<number>`(
          SELECT count(*)::int FROM classic_links c
           WHERE c.account = sync_targets.account AND c.region_id = sync_targets.region_id
             AND c.vpc_id = sync_targets.vpc_id AND c.removed_at IS NULL)`.mapWith(Number),
      })
      .from(syncTargets)
      .where(where)
      .orderBy(asc(syncTargets.account), asc(syncTargets.regionId), asc(syncTargets.vpcId)),
  );
  return rows.map((r) => ({ ...r, lastRunId: r.lastRunId === null ? null : r.lastRunId.toString() }));
}

/** The columns of a `RunRow`, as read by `getRun` and the console's recent runs. */
export const runColumns = {
  id: syncRuns.id,
  account: syncRuns.account,
  regionId: syncRuns.regionId,
  vpcId: syncRuns.vpcId,
  jobId: syncRuns.jobId,
  attempt: syncRuns.attempt,
  status: syncRuns.status,
  startedAt: syncRuns.startedAt,
  finishedAt: syncRuns.finishedAt,
  pages: syncRuns.pages,
  linksSeen: syncRuns.linksSeen,
  added: syncRuns.added,
  removed: syncRuns.removed,
  errorCode: syncRuns.errorCode,
  errorMessage: syncRuns.errorMessage,
  requestId: syncRuns.requestId,
  baseline: syncRuns.baseline,
  scanStartedAt: syncRuns.scanStartedAt,
};

export async function getRun(deps: ReadDeps, runId: string): Promise<RunRow | undefined> {
  if (!/^\d{1,19}$/.test(runId)) return undefined;
  const rows = await guarded(() =>
    deps.db
      .select(runColumns)
      .from(syncRuns)
      .where(eq(syncRuns.id, BigInt(runId))),
  );
  const row = rows[0];
  return row === undefined ? undefined : { ...row, id: row.id.toString() };
}
