/**
 * The read side (CLI `links` / `events` / `status`, the HTTP read API, and the sync's removal
 * candidates). Typed drizzle queries over schema.ts where they fit; raw SQL for links_at().
 */
import { and, asc, desc, eq, gte, isNull, lt, type SQL, sql } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { Link, TargetRef } from '../links.js';
import { classicLinks, linkEvents, syncRuns, syncTargets } from './schema.js';
import { coerceDbError, query } from './tx.js';
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
  // On the sync hot path (once per job): a named statement, parsed and planned once per
  // connection, served by the partial index on active links per target. Only the instance ids
  // travel: every row is the target's VPC.
  const res = await guarded(() =>
    deps.pool.query<{ instance_id: string }>({
      name: 'classiclink_active_links',
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
      })
      .from(classicLinks)
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
  return rows;
}

async function linksAt(deps: ReadDeps, at: Date, filter: LinkFilter): Promise<LinkRow[]> {
  // pool.query, not drizzle's execute: drizzle's driver hands timestamptz back as strings.
  const res = await query<{
    account: string;
    region_id: string;
    vpc_id: string;
    instance_id: string;
    linked_since: Date;
  }>(
    deps.pool,
    `SELECT account, region_id, vpc_id, instance_id, linked_since
       FROM links_at($1)
      WHERE ($2::text IS NULL OR account = $2)
        AND ($3::text IS NULL OR region_id = $3)
        AND ($4::text IS NULL OR vpc_id = $4)
      ORDER BY account, region_id, vpc_id, instance_id`,
    [at, filter.account ?? null, filter.regionId ?? null, filter.vpcId ?? null],
  );
  return res.rows.map((r) => ({
    account: r.account,
    regionId: r.region_id,
    vpcId: r.vpc_id,
    instanceId: r.instance_id,
    linkedSince: r.linked_since,
    firstSeenAt: null,
  }));
}

export function eventConditions(filter: EventFilter): SQL | undefined {
  return defined([
    filter.account === undefined ? undefined : eq(linkEvents.account, filter.account),
    filter.regionId === undefined ? undefined : eq(linkEvents.regionId, filter.regionId),
    filter.vpcId === undefined ? undefined : eq(linkEvents.vpcId, filter.vpcId),
    filter.instanceId === undefined ? undefined : eq(linkEvents.instanceId, filter.instanceId),
    filter.since === undefined ? undefined : gte(linkEvents.detectedAt, filter.since),
    filter.until === undefined ? undefined : lt(linkEvents.detectedAt, filter.until),
  ]);
}

export async function listEvents(deps: ReadDeps, filter: EventFilter): Promise<EventRow[]> {
  // The newest N: read backwards (the same indexes serve it), then turn the page around.
  const newest = filter.newest === true && filter.limit !== undefined;
  const q = deps.db
    .select()
    .from(linkEvents)
    .where(eventConditions(filter))
    .orderBy(
      ...(newest
        ? [desc(linkEvents.detectedAt), desc(linkEvents.id)]
        : [asc(linkEvents.detectedAt), asc(linkEvents.id)]),
    );
  const rows = await guarded(() => (filter.limit === undefined ? q : q.limit(filter.limit)));
  if (newest) rows.reverse();
  return rows.map((r) => ({ ...r, id: r.id.toString(), syncRunId: r.syncRunId.toString() }));
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
      .where(account === undefined ? undefined : eq(syncTargets.account, account))
      .orderBy(asc(syncTargets.account), asc(syncTargets.regionId), asc(syncTargets.vpcId)),
  );
  return rows.map((r) => ({ ...r, lastRunId: r.lastRunId === null ? null : r.lastRunId.toString() }));
}

export async function getRun(deps: ReadDeps, runId: string): Promise<RunRow | undefined> {
  if (!/^\d{1,19}$/.test(runId)) return undefined;
  const rows = await guarded(() =>
    deps.db
      .select({
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
      })
      .from(syncRuns)
      .where(eq(syncRuns.id, BigInt(runId))),
  );
  const row = rows[0];
  return row === undefined ? undefined : { ...row, id: row.id.toString() };
}
