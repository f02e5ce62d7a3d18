/**
 * The RPC operations the worker uses, answered from the world. Handlers return the JSON body
 * without `RequestId` (the dispatcher adds it first) and, for a VPC listing, which page they served
 * (pagination drift and the malformed-body faults need it).
 */
import { SimApiError } from './api-error.js';
import { regionLocalName } from './ids.js';
import { intParam, listParam, optionalParam, type Params, requiredParam } from './params.js';
import type { RegionState } from './region-state.js';
import { compareStrings } from './sorted.js';
import type { World } from './world.js';

export const ECS_VERSION = '2014-05-26';
export const VPC_VERSION = '2016-04-28';

export interface ServedPage {
  regionId: string;
  vpcId: string;
  pageNumber: number;
  pageSize: number;
  totalCount: number;
}

export interface ActionResult {
  body: Record<string, unknown>;
  /** Set when a `VpcId` listing of DescribeClassicLinkInstances was served. */
  vpcPage?: ServedPage;
}

export type ActionHandler = (world: World, params: Params) => ActionResult;

/** `Version` → `Action` → handler: an action asked for under the wrong version is unknown. */
export const HANDLERS: Readonly<Record<string, Readonly<Record<string, ActionHandler>>>> = {
  [ECS_VERSION]: {
    DescribeRegions: describeRegions,
    DescribeClassicLinkInstances: describeClassicLinkInstances,
    AttachClassicLinkVpc: attachClassicLinkVpc,
    DetachClassicLinkVpc: detachClassicLinkVpc,
  },
  [VPC_VERSION]: { DescribeVpcs: describeVpcs },
};

export function findHandler(action: string, version: string): ActionHandler {
  const handler = HANDLERS[version]?.[action];
  if (!handler) {
    throw new SimApiError(
      'InvalidAction.NotFound',
      `Specified api is not found, please check your url and method. (Action=${action}, Version=${version})`,
    );
  }
  return handler;
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

function describeVpcs(world: World, params: Params): ActionResult {
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
      Vpcs: { Vpc: page.map((id) => vpcJson(r, id)) },
    },
  };
}

function vpcJson(r: RegionState, vpcId: string): Record<string, unknown> {
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
    ResourceGroupId: 'rg-acfmsimulator0000',
    OwnerId: 1234567890123456,
    CenStatus: 'Detached',
    DhcpOptionsSetStatus: 'Deleted',
    Tags: { Tag: [] },
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
