/**
 * The console's read verbs: the burn-down (from `link_event_days`, the daily counts of link events
 * a trigger keeps), the change log newest first with the console's filters, the change feed's
 * health, name search, and the records behind the VPC and instance pages. Each query is served by
 * an index (or reads a small table whole: `link_event_days`, `change_feed`, `sync_targets`), except
 * the name search, which scans `instances` and `vpcs`.
 */
import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type {
  AccountScope,
  ActiveCount,
  BurnDownInput,
  BurnDownPoint,
  ChangeCounts,
  ChangeFeedRow,
  ChangesPage,
  ChangesPageInput,
  ConsoleStore,
  InstanceRecord,
  NameMatch,
  TargetKey,
  TargetsInTrouble,
  TargetsInTroubleInput,
  VpcRecord,
} from './console-types.js';
import { eventRowOf } from './context.js';
import { eventConditions, type ReadDeps, runColumns, targetRows } from './read.js';
import { changeFeed, instances, linkEvents, linkHistory, syncRuns, syncTargets, vpcs } from './schema.js';
import { coerceDbError } from './tx.js';
import type { RunRow, TargetStatusRow } from './types.js';

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw coerceDbError(err);
  }
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Every day of every series: the grid of (account, region) × days from the series' first day on
 * record to `today`, left-joined to the daily counts (a day without events adds 0), summed in day
 * order. Days before `from` are summed but not returned, so the first point shown carries all the
 * history before it.
 */
const BURN_DOWN_SQL = `
  WITH series AS (
    SELECT account, region_id, min(day) AS first
      FROM link_event_days
     WHERE ($1::text IS NULL OR account = $1) AND ($2::text IS NULL OR region_id = $2)
     GROUP BY 1, 2
  ), grid AS (
    SELECT s.account, s.region_id, s.first + k AS day
      FROM series s, generate_series(0, $4::date - s.first) AS k
  ), cumulative AS (
    SELECT g.account, g.region_id, g.day,
           sum(coalesce(n.added - n.removed, 0))
             OVER (PARTITION BY g.account, g.region_id ORDER BY g.day) AS active
      FROM grid g
      LEFT JOIN link_event_days n
        ON n.account = g.account AND n.region_id = g.region_id AND n.day = g.day
  )
  SELECT account, region_id, to_char(day, 'YYYY-MM-DD') AS day, active::int AS active
    FROM cumulative
   WHERE $3::date IS NULL OR day >= $3::date
   ORDER BY account, region_id, day`;

async function burnDown(deps: ReadDeps, input: BurnDownInput): Promise<BurnDownPoint[]> {
  if (!DAY.test(input.today) || (input.from !== undefined && !DAY.test(input.from))) {
    throw new TypeError('burnDown: days are YYYY-MM-DD');
  }
  const res = await guarded(() =>
    deps.pool.query<{ account: string; region_id: string; day: string; active: number }>({
      text: BURN_DOWN_SQL,
      values: [input.account ?? null, input.regionId ?? null, input.from ?? null, input.today],
    }),
  );
  return res.rows.map((r) => ({ account: r.account, regionId: r.region_id, day: r.day, active: r.active }));
}

async function activeByRegion(deps: ReadDeps, scope: AccountScope): Promise<ActiveCount[]> {
  const res = await guarded(() =>
    deps.pool.query<{ account: string; region_id: string; active: number }>(
      `SELECT account, region_id, sum(added - removed)::int AS active
         FROM link_event_days WHERE $1::text IS NULL OR account = $1
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [scope.account ?? null],
    ),
  );
  return res.rows.map((r) => ({ account: r.account, regionId: r.region_id, active: r.active }));
}

async function changeCounts(deps: ReadDeps, input: AccountScope & { since: Date }): Promise<ChangeCounts> {
  // The detected_at index bounds the range; baseline events are not changes.
  const rows = await guarded(() =>
    deps.db
      .select({
        added: sql<number>`count(*) FILTER (WHERE ${linkEvents.change} = 'added')::int`.mapWith(Number),
        removed: sql<number>`count(*) FILTER (WHERE ${linkEvents.change} = 'removed')::int`.mapWith(Number),
      })
      .from(linkEvents)
      .where(
        and(
          gte(linkEvents.detectedAt, input.since),
          eq(linkEvents.baseline, false),
          input.account === undefined ? undefined : eq(linkEvents.account, input.account),
        ),
      ),
  );
  return rows[0] ?? { added: 0, removed: 0 };
}

async function changeFeedRows(deps: ReadDeps, scope: AccountScope): Promise<ChangeFeedRow[]> {
  return guarded(() =>
    deps.db
      .select({
        account: changeFeed.account,
        regionId: changeFeed.regionId,
        cursorAt: changeFeed.cursorAt,
        lastPollAt: changeFeed.lastPollAt,
        lastSuccessAt: changeFeed.lastSuccessAt,
        lastError: changeFeed.lastError,
        lastErrorAt: changeFeed.lastErrorAt,
        consecutiveFailures: changeFeed.consecutiveFailures,
      })
      .from(changeFeed)
      .where(scope.account === undefined ? undefined : eq(changeFeed.account, scope.account))
      .orderBy(asc(changeFeed.account), asc(changeFeed.regionId)),
  );
}

async function changesPage(deps: ReadDeps, input: ChangesPageInput): Promise<ChangesPage> {
  const { filter, before, limit } = input;
  const conds: (SQL | undefined)[] = [eventConditions(filter, linkHistory)];
  if (filter.actor !== undefined) {
    // Through the causes' index on cloud_event_id rather than the view's column (unindexed).
    conds.push(sql`${linkHistory.id} IN (
      SELECT c.link_event_id FROM link_event_causes c JOIN cloud_events ce ON ce.event_id = c.cloud_event_id
       WHERE ce.actor_name = ${filter.actor})`);
  }
  if (filter.vpcId !== undefined && filter.regionId === undefined) {
    // Every event's target is in sync_targets: naming its account and region lets the per-link
    // index serve a VPC's events when the filter gives no region.
    conds.push(sql`(${linkHistory.account}, ${linkHistory.regionId}) IN (
      SELECT account, region_id FROM sync_targets WHERE vpc_id = ${filter.vpcId})`);
  }
  if (filter.anyOf !== undefined) {
    const { instanceIds, vpcIds } = filter.anyOf;
    const any = [
      instanceIds.length > 0 ? inArray(linkHistory.instanceId, [...instanceIds]) : undefined,
      vpcIds.length > 0 ? inArray(linkHistory.vpcId, [...vpcIds]) : undefined,
    ].filter((c): c is SQL => c !== undefined);
    // Nothing matched: nothing to show.
    conds.push(any.length === 0 ? sql`false` : or(...any));
  }
  if (before !== undefined) {
    // `detected_at <= t` lets the index bound the scan; the OR drops the events of that instant
    // already shown. The id is compared as numeric: a forged cursor's id may not fit bigint.
    conds.push(
      and(
        lte(linkHistory.detectedAt, before.detectedAt),
        or(lt(linkHistory.detectedAt, before.detectedAt), sql`${linkHistory.id} < ${before.id}::numeric`),
      ),
    );
  }
  const present = conds.filter((c): c is SQL => c !== undefined);
  const rows = await guarded(() =>
    deps.db
      .select()
      .from(linkHistory)
      .where(present.length === 0 ? undefined : and(...present))
      .orderBy(desc(linkHistory.detectedAt), desc(linkHistory.id))
      .limit(limit + 1),
  );
  const events = rows.slice(0, limit).map(eventRowOf);
  const last = events[events.length - 1];
  return {
    events,
    next:
      rows.length > limit && last !== undefined ? { detectedAt: last.detectedAt, id: last.id } : undefined,
  };
}

/**
 * A search by name is a case-insensitive prefix (`web` finds `web-01`), so that the expression
 * indexes on `lower(name)` (migration 0006) serve it; `%`, `_` and `\` match themselves.
 */
const likePattern = (text: string) => `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

async function findByName(
  deps: ReadDeps,
  input: AccountScope & { text: string; limit: number },
): Promise<NameMatch[]> {
  const pattern = likePattern(input.text);
  const [found, foundVpcs] = await Promise.all([
    guarded(() =>
      deps.db
        .select({
          account: instances.account,
          regionId: instances.regionId,
          id: instances.instanceId,
          name: instances.instanceName,
        })
        .from(instances)
        .where(
          and(
            sql`lower(${instances.instanceName}) LIKE ${pattern}`,
            input.account === undefined ? undefined : eq(instances.account, input.account),
          ),
        )
        .orderBy(asc(instances.instanceName), asc(instances.instanceId))
        .limit(input.limit),
    ),
    guarded(() =>
      deps.db
        .select({ account: vpcs.account, regionId: vpcs.regionId, id: vpcs.vpcId, name: vpcs.vpcName })
        .from(vpcs)
        .where(
          and(
            sql`lower(${vpcs.vpcName}) LIKE ${pattern}`,
            input.account === undefined ? undefined : eq(vpcs.account, input.account),
          ),
        )
        .orderBy(asc(vpcs.vpcName), asc(vpcs.vpcId))
        .limit(input.limit),
    ),
  ]);
  return [
    ...found.map((r) => ({ kind: 'instance' as const, ...r })),
    ...foundVpcs.map((r) => ({ kind: 'vpc' as const, ...r })),
  ];
}

async function locate(deps: ReadDeps, input: AccountScope & { id: string }): Promise<NameMatch[]> {
  // An instance is found through its links (the instance index), a VPC through its target.
  const res = await guarded(() =>
    deps.pool.query<{ kind: 'instance' | 'vpc'; account: string; region_id: string; name: string | null }>(
      `SELECT DISTINCT 'instance' AS kind, c.account, c.region_id, i.instance_name AS name
         FROM classic_links c
         LEFT JOIN instances i
           ON i.account = c.account AND i.region_id = c.region_id AND i.instance_id = c.instance_id
        WHERE c.instance_id = $1 AND ($2::text IS NULL OR c.account = $2)
       UNION
       SELECT DISTINCT 'vpc', t.account, t.region_id, v.vpc_name
         FROM sync_targets t
         LEFT JOIN vpcs v ON v.account = t.account AND v.region_id = t.region_id AND v.vpc_id = t.vpc_id
        WHERE t.vpc_id = $1 AND ($2::text IS NULL OR t.account = $2)
        ORDER BY 1, 2, 3`,
      [input.id, input.account ?? null],
    ),
  );
  return res.rows.map((r) => ({
    kind: r.kind,
    account: r.account,
    regionId: r.region_id,
    id: input.id,
    name: r.name,
  }));
}

async function vpcRecord(
  deps: ReadDeps,
  key: { account: string; regionId: string; vpcId: string },
): Promise<VpcRecord | undefined> {
  const rows = await guarded(() =>
    deps.db
      .select()
      .from(vpcs)
      .where(and(eq(vpcs.account, key.account), eq(vpcs.regionId, key.regionId), eq(vpcs.vpcId, key.vpcId))),
  );
  const r = rows[0];
  if (r === undefined) return undefined;
  return {
    account: r.account,
    regionId: r.regionId,
    vpcId: r.vpcId,
    name: r.vpcName,
    cidr: r.cidrBlock,
    tags: r.tags,
    deletedAt: r.deletedAt,
    updatedAt: r.updatedAt,
  };
}

async function instanceRecord(
  deps: ReadDeps,
  key: { account: string; regionId: string; instanceId: string },
): Promise<InstanceRecord | undefined> {
  const rows = await guarded(() =>
    deps.db
      .select()
      .from(instances)
      .where(
        and(
          eq(instances.account, key.account),
          eq(instances.regionId, key.regionId),
          eq(instances.instanceId, key.instanceId),
        ),
      ),
  );
  const r = rows[0];
  if (r === undefined) return undefined;
  return {
    account: r.account,
    regionId: r.regionId,
    instanceId: r.instanceId,
    name: r.instanceName,
    status: r.status,
    privateIp: r.privateIp,
    zoneId: r.zoneId,
    resourceGroupId: r.resourceGroupId,
    tags: r.tags,
    releasedAt: r.releasedAt,
    updatedAt: r.updatedAt,
  };
}

async function recentRuns(
  deps: ReadDeps,
  input: { account: string; regionId: string; vpcId: string; limit: number },
): Promise<RunRow[]> {
  // sync_runs_target_started_idx, read backwards.
  const rows = await guarded(() =>
    deps.db
      .select(runColumns)
      .from(syncRuns)
      .where(
        and(
          eq(syncRuns.account, input.account),
          eq(syncRuns.regionId, input.regionId),
          eq(syncRuns.vpcId, input.vpcId),
        ),
      )
      .orderBy(desc(syncRuns.startedAt), desc(syncRuns.id))
      .limit(input.limit),
  );
  return rows.map((r) => ({ ...r, id: r.id.toString() }));
}

async function targetsInTrouble(deps: ReadDeps, input: TargetsInTroubleInput): Promise<TargetsInTrouble> {
  // A superset of what targetHealth (target-state.ts, the one rule) calls failing or stale; the
  // caller applies the rule. Counting every target's links (as listTargets does) is left to the
  // few found here.
  const scope = and(
    input.account === undefined ? undefined : eq(syncTargets.account, input.account),
    input.regionId === undefined ? undefined : eq(syncTargets.regionId, input.regionId),
    isNull(syncTargets.retiredAt),
  );
  const [counted, rows] = await Promise.all([
    guarded(() =>
      deps.db
        .select({ n: sql<number>`count(*)::int`.mapWith(Number) })
        .from(syncTargets)
        .where(scope),
    ),
    targetRows(
      deps,
      and(
        scope,
        or(
          sql`${syncTargets.consecutiveFailures} > 0`,
          isNull(syncTargets.lastSuccessAt),
          lt(syncTargets.lastSuccessAt, input.staleBefore),
        ),
      ),
    ),
  ]);
  return {
    watched: counted[0]?.n ?? 0,
    targets: rows,
  };
}

async function targetStatus(deps: ReadDeps, key: TargetKey): Promise<TargetStatusRow | undefined> {
  const rows = await targetRows(
    deps,
    and(
      eq(syncTargets.account, key.account),
      eq(syncTargets.regionId, key.regionId),
      eq(syncTargets.vpcId, key.vpcId),
    ),
  );
  return rows[0];
}

/** The verbs, bound to the read side's pool. */
export function consoleVerbs(deps: ReadDeps): ConsoleStore {
  return {
    targetsInTrouble: (input) => targetsInTrouble(deps, input),
    targetStatus: (key) => targetStatus(deps, key),
    burnDown: (input) => burnDown(deps, input),
    activeByRegion: (scope) => activeByRegion(deps, scope),
    changeCounts: (input) => changeCounts(deps, input),
    changeFeed: (scope) => changeFeedRows(deps, scope),
    changesPage: (input) => changesPage(deps, input),
    findByName: (input) => findByName(deps, input),
    locate: (input) => locate(deps, input),
    vpcRecord: (key) => vpcRecord(deps, key),
    instanceRecord: (key) => instanceRecord(deps, key),
    recentRuns: (input) => recentRuns(deps, input),
  };
}
