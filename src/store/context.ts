/**
 * The context of link events and links — the instance's and the VPC's attributes and the settled
 * cause — read from the `link_history` view, and turned into the optional `instance`, `vpc` and
 * `cause` of the read side's rows (one mapping for events, links and a run's alert).
 */
import { asc, eq } from 'drizzle-orm';
import type { ReadDeps } from './read.js';
import { linkHistory } from './schema.js';
import { coerceDbError } from './tx.js';
import type { CauseContext, EventRow, InstanceContext, RunContext, VpcContext } from './types.js';

export type HistoryRow = typeof linkHistory.$inferSelect;

/** What is known of an event's instance, VPC and cause; a part never described or settled is absent. */
export interface Context {
  instance?: InstanceContext;
  vpc?: VpcContext;
  cause?: CauseContext;
}

export function contextOf(h: HistoryRow): Context {
  const out: Context = {};
  if (h.instanceUpdatedAt !== null) {
    out.instance = {
      name: h.instanceName,
      status: h.instanceStatus,
      privateIp: h.instancePrivateIp,
      zoneId: h.instanceZoneId,
      resourceGroupId: h.instanceResourceGroupId,
      tags: h.instanceTags ?? {},
      releasedAt: h.instanceReleasedAt,
    };
  }
  if (h.vpcUpdatedAt !== null) {
    out.vpc = { name: h.vpcName, cidr: h.vpcCidrBlock, tags: h.vpcTags ?? {}, deletedAt: h.vpcDeletedAt };
  }
  const resolvedAt = h.causeResolvedAt;
  if (h.causeStatus === 'not_found' || h.causeStatus === 'unavailable') {
    if (resolvedAt !== null) out.cause = { status: h.causeStatus, resolvedAt };
  } else if (
    // 'found' always has its record (a CHECK ties the two, the foreign key keeps the record).
    h.causeStatus === 'found' &&
    resolvedAt !== null &&
    h.causeEventId !== null &&
    h.causeEventName !== null &&
    h.causeEventTime !== null
  ) {
    out.cause = {
      status: 'found',
      eventId: h.causeEventId,
      eventName: h.causeEventName,
      eventTime: h.causeEventTime,
      actor: {
        type: h.causeActorType,
        name: h.causeActorName,
        principalId: h.causeActorPrincipalId,
        accountId: h.causeActorAccountId,
      },
      sourceIp: h.causeSourceIp,
      resolvedAt,
    };
  }
  return out;
}

/** A `link_history` row as the read side's event row. */
export function eventRowOf(h: HistoryRow): EventRow {
  return {
    id: h.id.toString(),
    account: h.account,
    regionId: h.regionId,
    vpcId: h.vpcId,
    instanceId: h.instanceId,
    change: h.change,
    detectedAt: h.detectedAt,
    syncRunId: h.syncRunId.toString(),
    baseline: h.baseline,
    ...contextOf(h),
  };
}

export async function contextForRun(deps: ReadDeps, runId: string): Promise<RunContext> {
  if (!/^\d{1,19}$/.test(runId)) return { events: [], causesPending: 0, instancesUnknown: 0 };
  let rows: HistoryRow[];
  try {
    rows = await deps.db
      .select()
      .from(linkHistory)
      .where(eq(linkHistory.syncRunId, BigInt(runId)))
      .orderBy(asc(linkHistory.change), asc(linkHistory.vpcId), asc(linkHistory.instanceId));
  } catch (err) {
    throw coerceDbError(err);
  }
  const events = rows.map(eventRowOf);
  return {
    events,
    causesPending: events.filter((e) => !e.baseline && e.cause === undefined).length,
    instancesUnknown: events.filter((e) => e.instance === undefined).length,
  };
}
