/**
 * The `enrich` job: the attributes of an account+region's instances — the instances of its
 * active links and those ever linked but never described (the periodic refresh, every
 * ENRICH_INTERVAL), or the instances a change just named — from DescribeInstances, and, for an
 * account with explicit targets (SYNC_TARGETS), its watched VPCs' attributes from DescribeVpcs
 * filtered by VpcId (with discovery, the plan's own listing records them: vpc-listing.ts).
 *
 * Context never lies, and never touches link truth:
 * - the store writes only what changed (a refresh that finds nothing new writes no row);
 * - an instance the API does not list is released only once a DryRun says the identity may read
 *   instances — without `ecs:DescribeInstances` the API answers an empty list, not an error, and
 *   that must never read as "every instance released": it is `permission_denied` in
 *   `context_health`, one warning, and nothing is marked;
 * - enrichment never writes a link: a released instance's link is removed only by a sync, whose
 *   lookup confirms it (DESIGN.md rule 1).
 */
import type { EcsClient, InstanceReadPermission } from '../aliyun/index.js';
import { coerceError, isPermissionDenied } from '../errors.js';
import type { ConfiguredTarget } from '../links.js';
import type { Logger } from '../log.js';
import type { EnrichJobResult } from '../queue/index.js';
import type { Store } from '../store/index.js';
import { permissionDetail, recordHealth } from './health.js';
import { instanceRecord, vpcRecord } from './records.js';

/** Instances described per store write: 10 DescribeInstances calls of 100, then one statement. */
const BATCH = 1_000;

export type EnrichApi = Pick<EcsClient, 'describeInstances' | 'describeInstancesDryRun' | 'describeVpcs'>;

export interface EnrichDeps {
  /** The account's API client (its credentials, its share of the account+region+API limiter). */
  apiFor(account: string): EnrichApi;
  /** The account's explicit targets (SYNC_TARGETS), whose VPCs this job refreshes; none: discovery. */
  explicitTargets(account: string): readonly ConfiguredTarget[] | undefined;
  store: Pick<
    Store,
    | 'instancesToRefresh'
    | 'instancesMissingAttributes'
    | 'upsertInstances'
    | 'markInstancesReleased'
    | 'upsertVpcs'
    | 'markVpcsDeleted'
    | 'recordContextCheck'
  >;
  now?: () => Date;
}

export interface EnrichRequest {
  account: string;
  regionId: string;
  /** Only these instances (a change just named them); without: the periodic refresh. */
  instanceIds?: readonly string[] | undefined;
  log: Logger;
  signal?: AbortSignal | undefined;
}

export async function runEnrich(deps: EnrichDeps, req: EnrichRequest): Promise<EnrichJobResult> {
  const now = deps.now ?? (() => new Date());
  const { account, regionId, log, signal } = req;
  const scope = { account, regionId };
  const api = deps.apiFor(account);
  const periodic = req.instanceIds === undefined;
  const ids = periodic
    ? [
        ...new Set([
          ...(await deps.store.instancesToRefresh(scope)),
          ...(await deps.store.instancesMissingAttributes(scope)),
        ]),
      ].sort()
    : [...new Set(req.instanceIds)].sort();
  const result: EnrichJobResult = { described: 0, written: 0, released: 0, vpcsWritten: 0, permission: 'ok' };
  const health = (state: 'ok' | 'permission_denied' | 'failing', detail: string | null) =>
    recordHealth(deps.store, { ...scope, source: 'instances', state, detail }, now(), log);

  // Asked at most once per job, and only when an id went unlisted.
  let permission: InstanceReadPermission | undefined;
  try {
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const seenAt = now();
      const described = await api.describeInstances(regionId, batch, { signal });
      result.described += batch.length;
      for (const r of described.refused) {
        log.warn(
          { instanceId: r.instanceId, field: r.field, problem: r.message },
          `DescribeInstances record refused at ${r.field}: ${r.message}`,
        );
      }
      result.written += await deps.store.upsertInstances({
        ...scope,
        instances: described.instances.map(instanceRecord),
        seenAt,
      });
      if (described.missing.length === 0) continue;
      permission ??= await api.describeInstancesDryRun(regionId, { signal });
      if (!permission.allowed) {
        result.permission = 'denied';
        await health(
          'permission_denied',
          permissionDetail(
            'instances',
            permission.code,
            `DescribeInstances listed ${described.instances.length} of ${batch.length} known instances and its DryRun was refused`,
          ),
        );
        break;
      }
      result.released += await deps.store.markInstancesReleased({
        ...scope,
        instanceIds: described.missing,
        at: now(),
      });
    }
  } catch (caught) {
    const err = coerceError(caught);
    if (!isPermissionDenied(err)) {
      await health('failing', `${err.code}: ${err.message}`);
      throw err;
    }
    result.permission = 'denied';
    await health(
      'permission_denied',
      permissionDetail('instances', err.code, 'DescribeInstances was refused'),
    );
  }
  if (result.permission === 'ok' && ids.length > 0) await health('ok', null);
  if (periodic) result.vpcsWritten = await refreshExplicitVpcs(deps, api, req, now);
  if (result.written + result.released + result.vpcsWritten > 0 || result.permission === 'denied') {
    log.info({ ...scope, ...result }, 'attributes refreshed');
  }
  return result;
}

/**
 * The attributes of an account's explicit targets in the region (no discovery listing reads them):
 * one DescribeVpcs per 20 VPCs, filtered by VpcId. A VPC the API no longer lists is marked deleted
 * (its runs fail with InvalidVpcId.NotFound). A failure is logged and left to the next cycle:
 * VPC names are worth less than the instances' refresh it would otherwise undo.
 */
async function refreshExplicitVpcs(
  deps: EnrichDeps,
  api: EnrichApi,
  req: EnrichRequest,
  now: () => Date,
): Promise<number> {
  const { account, regionId, log, signal } = req;
  const vpcIds = [
    ...new Set(
      (deps.explicitTargets(account) ?? []).filter((t) => t.regionId === regionId).map((t) => t.vpcId),
    ),
  ];
  if (vpcIds.length === 0) return 0;
  try {
    const seenAt = now();
    const listed = await api.describeVpcs(regionId, { vpcIds, signal });
    for (const v of listed) {
      if (v.refused) {
        log.warn(
          { vpcId: v.vpcId, field: v.refused.field, problem: v.refused.message },
          `DescribeVpcs attributes refused at ${v.refused.field}: ${v.refused.message}`,
        );
      }
    }
    const known = new Set(listed.map((v) => v.vpcId));
    const written = await deps.store.upsertVpcs({
      account,
      regionId,
      vpcs: listed.flatMap((v) => (v.attributes ? [vpcRecord(v.attributes)] : [])),
      seenAt,
    });
    const deleted = await deps.store.markVpcsDeleted({
      account,
      regionId,
      vpcIds: vpcIds.filter((id) => !known.has(id)),
      at: seenAt,
    });
    return written + deleted;
  } catch (caught) {
    const err = coerceError(caught);
    if (signal?.aborted) throw err;
    log.warn({ account, regionId, code: err.code }, `VPC attributes not refreshed: ${err.summary()}`);
    return 0;
  }
}
