/**
 * The RPC operations the worker uses, answered from the world, and who may call them. Handlers
 * return the JSON body without `RequestId` (the dispatcher adds it first) and, for a VPC listing,
 * which page they served (pagination drift and the malformed-body faults need it).
 *
 * Every action needs its RAM action (`ecs:AttachClassicLinkVpc`…) in the key's permissions, else
 * `Forbidden.RAM`; DescribeInstances decides for itself (an empty list). The link-changing ECS
 * actions are audited: each call that reaches the operation, successful or failed, becomes an
 * ActionTrail record.
 */
import { SimApiError } from './api-error.js';
import type { ActionHandler, ActionResult, CallContext } from './context.js';
import { forbidden, permits } from './identity.js';
import { regionLocalName } from './ids.js';
import {
  callRegion,
  deleteInstance,
  deleteInstances,
  describeInstances,
  namedInstanceIds,
} from './instances.js';
import { lookupEvents } from './lookup-events.js';
import { intParam, listParam, optionalParam, type Params, requiredParam } from './params.js';
import type { RegionState } from './region-state.js';
import { compareStrings } from './sorted.js';
import { type AuditCall, type AuditedAction, ECS_API_VERSION } from './trail.js';
import type { World } from './world.js';

export type { ActionHandler, ActionResult, ServedPage } from './context.js';

export const ECS_VERSION = ECS_API_VERSION;
export const VPC_VERSION = '2016-04-28';
export const ACTIONTRAIL_VERSION = '2020-07-06';

interface ActionSpec {
  run: ActionHandler;
  /** `self`: the handler answers a caller without permission itself. Default: `Forbidden.RAM`. */
  denied?: 'self';
  /** Recorded in ActionTrail, whatever the outcome. */
  audited?: boolean;
}

/** `Version` → the API's RAM service prefix and its actions. */
const APIS: Readonly<Record<string, { service: string; actions: Readonly<Record<string, ActionSpec>> }>> = {
  [ECS_VERSION]: {
    service: 'ecs',
    actions: {
      DescribeRegions: { run: (ctx) => describeRegions(ctx.world) },
      DescribeClassicLinkInstances: { run: (ctx, p) => describeClassicLinkInstances(ctx.world, p) },
      DescribeInstances: { run: describeInstances, denied: 'self' },
      AttachClassicLinkVpc: { run: (ctx, p) => attachClassicLinkVpc(ctx.world, p), audited: true },
      DetachClassicLinkVpc: { run: (ctx, p) => detachClassicLinkVpc(ctx.world, p), audited: true },
      DeleteInstance: { run: deleteInstance, audited: true },
      DeleteInstances: { run: deleteInstances, audited: true },
    },
  },
  [VPC_VERSION]: {
    service: 'vpc',
    actions: { DescribeVpcs: { run: (ctx, p) => describeVpcs(ctx.world, p, ctx.actor.identity.accountId) } },
  },
  [ACTIONTRAIL_VERSION]: { service: 'actiontrail', actions: { LookupEvents: { run: lookupEvents } } },
};

/** An action asked for under the wrong version is unknown. */
export function findHandler(action: string, version: string): ActionHandler {
  const api = APIS[version];
  const spec = api?.actions[action];
  if (!api || !spec) {
    throw new SimApiError(
      'InvalidAction.NotFound',
      `Specified api is not found, please check your url and method. (Action=${action}, Version=${version})`,
    );
  }
  const ramAction = `${api.service}:${action}`;
  return (ctx, params) => {
    const run = (): ActionResult => {
      if (spec.denied !== 'self' && !permits(ctx.actor.identity.permissions, ramAction)) {
        throw forbidden(ctx.actor.identity, ramAction);
      }
      return spec.run(ctx, params);
    };
    return spec.audited ? ctx.trail.audit(auditCall(ctx, action as AuditedAction, params), run) : run();
  };
}

/** The ActionTrail facts of an audited API call, read from its parameters as sent. */
function auditCall(ctx: CallContext, eventName: AuditedAction, params: Params): AuditCall {
  const instanceIds = namedInstanceIds(params);
  const vpcId = optionalParam(params, 'VpcId');
  let regionId: string;
  try {
    regionId = callRegion(ctx, params, instanceIds);
  } catch {
    // A call naming nothing the world knows still happened somewhere: the first region stands in.
    regionId = ctx.world.regions()[0] ?? 'cn-hangzhou';
  }
  const call: AuditCall = {
    eventName,
    actor: ctx.actor,
    regionId,
    requestId: ctx.requestId,
    requestParameters: { ...params },
    instanceIds,
    at: ctx.now,
  };
  if (vpcId !== undefined && eventName !== 'DeleteInstance' && eventName !== 'DeleteInstances')
    call.vpcId = vpcId;
  return call;
}

function describeRegions(world: World): ActionResult {
  return {
    body: {
      Regions: {
        Region: world.regions().map((r) => ({
          RegionId: r,
          LocalName: regionLocalName(r),
          RegionEndpoint: `ecs.${r}.aliyuncs.com`,
          Status: 'available',
        })),
      },
    },
  };
}

function region(world: World, params: Params): RegionState {
  return world.requireRegion(requiredParam(params, 'RegionId'));
}

/**
 * By `VpcId`: one page of that VPC's links, sorted by InstanceId. By `InstanceId` (≤100): the links
 * of those instances in any VPC (filtered by `VpcId` when both are given), paged the same way.
 */
function describeClassicLinkInstances(world: World, params: Params): ActionResult {
  const r = region(world, params);
  const vpcId = optionalParam(params, 'VpcId');
  const instanceIds = listParam(params, 'InstanceId', 100);
  if (vpcId === undefined && instanceIds === undefined) {
    throw new SimApiError(
      'MissingParameter',
      'Either the VpcId parameter or the InstanceId parameter must be specified.',
    );
  }
  const pageNumber = intParam(params, 'PageNumber', 1, 1, 1_000_000);
  const pageSize = intParam(params, 'PageSize', 10, 1, 100);
  if (vpcId !== undefined) world.requireVpc(r, vpcId);
  const offset = (pageNumber - 1) * pageSize;
  let items: { InstanceId: string; VpcId: string }[];
  let totalCount: number;
  if (instanceIds === undefined && vpcId !== undefined) {
    const list = r.linksByVpc.get(vpcId) ?? [];
    totalCount = list.length;
    items = list.slice(offset, offset + pageSize).map((i) => ({ InstanceId: i, VpcId: vpcId }));
  } else {
    const found: { InstanceId: string; VpcId: string }[] = [];
    for (const id of instanceIds ?? []) {
      const linked = r.instanceVpc.get(id);
      if (linked && (vpcId === undefined || linked === vpcId)) found.push({ InstanceId: id, VpcId: linked });
    }
    found.sort((a, b) => compareStrings(a.InstanceId, b.InstanceId));
    totalCount = found.length;
    items = found.slice(offset, offset + pageSize);
  }
  const result: ActionResult = {
    body: { TotalCount: totalCount, PageNumber: pageNumber, PageSize: pageSize, Links: { Link: items } },
  };
  if (instanceIds === undefined && vpcId !== undefined) {
    result.vpcPage = { regionId: r.regionId, vpcId, pageNumber, pageSize, totalCount };
  }
  return result;
}

function describeVpcs(world: World, params: Params, accountId: string): ActionResult {
  const r = region(world, params);
  const pageNumber = intParam(params, 'PageNumber', 1, 1, 1_000_000);
  const pageSize = intParam(params, 'PageSize', 10, 1, 50);
  const wanted = listParam(params, 'VpcId', 20);
  const name = optionalParam(params, 'VpcName');
  const isDefault = optionalParam(params, 'IsDefault');
  let ids: readonly string[] = r.vpcIds;
  // Filters are rare (the worker lists everything), so they may cost a scan; the plain listing is a slice.
  if (wanted !== undefined) ids = wanted.filter((id) => r.hasVpc(id)).sort();
  if (name !== undefined) ids = ids.filter((id) => r.vpcMeta.get(id)?.vpcName === name);
  if (isDefault === 'true') ids = [];
  const offset = (pageNumber - 1) * pageSize;
  const page = ids.slice(offset, offset + pageSize);
  return {
    body: {
      TotalCount: ids.length,
      PageNumber: pageNumber,
      PageSize: pageSize,
      Vpcs: { Vpc: page.map((id) => vpcJson(r, id, accountId)) },
    },
  };
}

/** One `Vpcs.Vpc[]` item; tags as `{Key,Value}` (ECS instances say `{TagKey,TagValue}`). */
function vpcJson(r: RegionState, vpcId: string, accountId: string): Record<string, unknown> {
  const m = r.vpcMeta.get(vpcId);
  const suffix = vpcId.slice(4);
  return {
    VpcId: vpcId,
    RegionId: r.regionId,
    Status: 'Available',
    VpcName: m?.vpcName ?? '',
    CidrBlock: m?.cidrBlock ?? '172.16.0.0/12',
    Ipv6CidrBlock: '',
    VRouterId: `vrt-${suffix}`,
    VSwitchIds: { VSwitchId: [] },
    SecondaryCidrBlocks: { SecondaryCidrBlock: [] },
    UserCidrs: { UserCidr: [] },
    NatGatewayIds: { NatGatewayIds: [] },
    IsDefault: false,
    Description: '',
    CreationTime: m?.creationTime ?? '2019-01-01T00:00:00Z',
    ResourceGroupId: m?.resourceGroupId ?? '',
    OwnerId: Number(accountId),
    CenStatus: 'Detached',
    DhcpOptionsSetStatus: 'Deleted',
    Tags: { Tag: (m?.tags ?? []).map((t) => ({ Key: t.key, Value: t.value })) },
  };
}

function attachClassicLinkVpc(world: World, params: Params): ActionResult {
  const regionId = requiredParam(params, 'RegionId');
  const instanceId = requiredParam(params, 'InstanceId');
  const vpcId = requiredParam(params, 'VpcId');
  world.attach(regionId, instanceId, vpcId);
  return { body: {} };
}

function detachClassicLinkVpc(world: World, params: Params): ActionResult {
  const regionId = requiredParam(params, 'RegionId');
  const instanceId = requiredParam(params, 'InstanceId');
  const vpcId = requiredParam(params, 'VpcId');
  world.detach(regionId, instanceId, vpcId);
  return { body: {} };
}
