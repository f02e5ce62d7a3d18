/**
 * ECS instance operations: `DescribeInstances` (the real nesting, `InstanceIds` as a JSON array
 * of ≤ 100, `MaxResults`/`NextToken` paging, the empty list a key without permission gets) and
 * `DeleteInstance` / `DeleteInstances` (release, with the link). Facts: reference/
 * alibaba-actiontrail.md §3 and the ecs20140526 SDK models.
 */
import { SimApiError } from './api-error.js';
import { INSTANCE_TYPES } from './attributes.js';
import { missing } from './auth.js';
import type { ActionResult, CallContext } from './context.js';
import { globMatch } from './glob.js';
import { forbidden, permits } from './identity.js';
import {
  boolParam,
  indexedParams,
  intParam,
  invalid,
  jsonListParam,
  optionalParam,
  type Params,
  requiredParam,
} from './params.js';
import type { RegionState } from './region-state.js';
import { lowerBound } from './sorted.js';
import type { World } from './world.js';

/** Instances per DeleteInstances / DescribeInstances InstanceIds. */
const MAX_IDS = 100;

/**
 * DescribeInstances. Checks run in the real order: parameters, then permission. A key without
 * `ecs:DescribeInstances` gets an empty list (HTTP 200), as the real API answers it, and only a
 * `DryRun=true` call tells the two apart: `DryRunOperation` (400) with permission, `Forbidden.RAM`
 * (403) without.
 */
export function describeInstances(ctx: CallContext, params: Params): ActionResult {
  const region = ctx.world.requireRegion(requiredParam(params, 'RegionId'));
  const ids = jsonListParam(params, 'InstanceIds', MAX_IDS);
  const innerIps = jsonListParam(params, 'InnerIpAddresses', MAX_IDS);
  const dryRun = boolParam(params, 'DryRun') ?? false;
  const tokenParam = optionalParam(params, 'NextToken');
  const maxParam = optionalParam(params, 'MaxResults');
  const after = tokenParam === undefined ? undefined : decodeToken(tokenParam);
  const byToken = tokenParam !== undefined || maxParam !== undefined;
  // MaxResults below 10 means 10, above 100 means 100 (the SDK's documented rule), not an error.
  const maxResults = maxParam === undefined ? 10 : clamp(intParam(params, 'MaxResults', 10, 0, 1e9), 10, 100);
  const pageNumber = byToken ? 1 : intParam(params, 'PageNumber', 1, 1, 1_000_000);
  const pageSize = byToken ? maxResults : intParam(params, 'PageSize', 10, 1, 100);
  const match = filterOf(ctx.world, region, params, innerIps);

  const ramAction = 'ecs:DescribeInstances';
  const allowed = permits(ctx.actor.identity.permissions, ramAction);
  if (dryRun) {
    if (!allowed) throw forbidden(ctx.actor.identity, ramAction);
    throw new SimApiError('DryRunOperation', 'Request validation has been passed with DryRun flag set.');
  }
  const empty = { TotalCount: 0, PageNumber: pageNumber, PageSize: pageSize, NextToken: '' };
  if (!allowed) return { body: { ...empty, Instances: { Instance: [] } } };

  const source: readonly string[] =
    ids === undefined ? region.sortedInstances() : ids.filter((id) => region.instanceVpc.has(id)).sort();
  const matched = match ? source.filter(match) : source;
  let start: number;
  if (after !== undefined) {
    start = lowerBound(matched, after);
    if (matched[start] === after) start++;
  } else {
    start = byToken ? 0 : (pageNumber - 1) * pageSize;
  }
  const page = matched.slice(start, start + pageSize);
  const last = page[page.length - 1];
  const more = start + pageSize < matched.length && last !== undefined;
  return {
    body: {
      TotalCount: matched.length,
      PageNumber: pageNumber,
      PageSize: pageSize,
      NextToken: more ? encodeToken(last) : '',
      Instances: { Instance: page.map((id) => instanceJson(ctx.world, region, id)) },
    },
  };
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

/** The token is the last id served, hex-encoded: opaque to clients, stable under inserts. */
function encodeToken(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('hex');
}

function decodeToken(token: string): string {
  const id = /^([0-9a-f]{2})+$/.test(token) ? Buffer.from(token, 'hex').toString('utf8') : '';
  if (!id.startsWith('i-')) throw invalid('NextToken', ' Use the NextToken of the previous answer.');
  return id;
}

/** The filters of a call as one predicate, or undefined when none is given. */
function filterOf(
  world: World,
  region: RegionState,
  params: Params,
  innerIps: string[] | undefined,
): ((id: string) => boolean) | undefined {
  const checks: ((id: string) => boolean)[] = [];
  const attrs = (id: string) => world.attrsOf(region, id);
  const status = optionalParam(params, 'Status');
  if (status !== undefined) checks.push((id) => attrs(id).status === status);
  const zoneId = optionalParam(params, 'ZoneId');
  if (zoneId !== undefined) checks.push((id) => attrs(id).zoneId === zoneId);
  const group = optionalParam(params, 'ResourceGroupId');
  if (group !== undefined) checks.push((id) => attrs(id).resourceGroupId === group);
  const name = optionalParam(params, 'InstanceName');
  if (name !== undefined) checks.push((id) => globMatch(name, attrs(id).instanceName));
  if (innerIps !== undefined) checks.push((id) => innerIps.includes(attrs(id).innerIp));
  // Classic instances only: a VPC-type filter (network type, VpcId, VSwitchId) matches none of them.
  const network = optionalParam(params, 'InstanceNetworkType');
  const vpcOnly = ['VpcId', 'VSwitchId'].some((p) => optionalParam(params, p) !== undefined);
  if ((network !== undefined && network !== 'classic') || vpcOnly) checks.push(() => false);
  for (const { n, values } of indexedParams(params, 'Tag', ['Key', 'Value'])) {
    const key = values.Key;
    if (key === undefined || key === '') throw missing(`Tag.${n}.Key`);
    const value = values.Value;
    checks.push((id) =>
      attrs(id).tags.some((t) => t.key === key && (value === undefined || t.value === value)),
    );
  }
  if (checks.length === 0) return undefined;
  return (id) => checks.every((c) => c(id));
}

/** One `Instances.Instance[]` item, in the real nesting; `Tags` only when the instance has tags. */
export function instanceJson(world: World, region: RegionState, instanceId: string): Record<string, unknown> {
  const a = world.attrsOf(region, instanceId);
  const size = INSTANCE_TYPES[a.instanceType] ?? { cpu: 1, memory: 2048 };
  const suffix = instanceId.slice(2);
  const out: Record<string, unknown> = {
    InstanceId: instanceId,
    InstanceName: a.instanceName,
    HostName: `iZ${suffix}Z`,
    Description: '',
    Status: a.status,
    InstanceNetworkType: 'classic',
    RegionId: region.regionId,
    ZoneId: a.zoneId,
    ResourceGroupId: a.resourceGroupId,
    CreationTime: a.creationTime,
    StartTime: a.creationTime,
    ExpiredTime: '2099-12-31T15:59Z',
    AutoReleaseTime: '',
    InstanceChargeType: 'PostPaid',
    InternetChargeType: 'PayByTraffic',
    InternetMaxBandwidthIn: 200,
    InternetMaxBandwidthOut: 0,
    StoppedMode: a.status === 'Stopped' ? 'KeepCharging' : 'Not-applicable',
    InstanceType: a.instanceType,
    InstanceTypeFamily: a.instanceType.split('.').slice(0, 2).join('.'),
    Cpu: size.cpu,
    Memory: size.memory,
    OSName: 'CentOS  7.9 64位',
    OSNameEn: 'CentOS  7.9 64 bit',
    OSType: 'linux',
    ImageId: 'centos_7_9_x64_20G_alibase_20230613.vhd',
    IoOptimized: false,
    DeletionProtection: false,
    DeviceAvailable: true,
    Recyclable: false,
    SpotStrategy: 'NoSpot',
    VlanId: '',
    SerialNumber: '',
    InnerIpAddress: { IpAddress: [a.innerIp] },
    PublicIpAddress: { IpAddress: [] },
    EipAddress: { IpAddress: '', AllocationId: '', InternetChargeType: '' },
    VpcAttributes: { VpcId: '', VSwitchId: '', NatIpAddress: '', PrivateIpAddress: { IpAddress: [] } },
    SecurityGroupIds: { SecurityGroupId: [`sg-${suffix}`] },
    OperationLocks: { LockReason: [] },
  };
  if (a.tags.length > 0) out.Tags = { Tag: a.tags.map((t) => ({ TagKey: t.key, TagValue: t.value })) };
  return out;
}

/**
 * DeleteInstance: releases one instance and, with it, its link. The instance must be Stopped, or
 * Running with `Force=true` (`IncorrectInstanceStatus` otherwise). The SDK sends no `RegionId` (the
 * regional host says it); the simulator takes it when given, else finds the instance's region.
 */
export function deleteInstance(ctx: CallContext, params: Params): ActionResult {
  const instanceId = requiredParam(params, 'InstanceId');
  const force = boolParam(params, 'Force') ?? false;
  const dryRun = boolParam(params, 'DryRun') ?? false;
  const regionId = callRegion(ctx, params, [instanceId]);
  const region = ctx.world.requireRegion(regionId);
  checkReleasable(ctx.world, region, instanceId, force);
  if (dryRun) {
    throw new SimApiError('DryRunOperation', 'Request validation has been passed with DryRun flag set.');
  }
  ctx.world.releaseInstance(regionId, instanceId);
  return { body: {} };
}

/** DeleteInstances: `InstanceId.1…N` (1..100), all checked before any is released. */
export function deleteInstances(ctx: CallContext, params: Params): ActionResult {
  const regionId = requiredParam(params, 'RegionId');
  const ids = [...new Set(namedInstanceIds(params))];
  if (ids.length === 0) throw missing('InstanceId.1');
  if (ids.length > MAX_IDS) throw invalid('InstanceId', ` At most ${MAX_IDS} values may be specified.`);
  const force = boolParam(params, 'Force') ?? false;
  const dryRun = boolParam(params, 'DryRun') ?? false;
  const region = ctx.world.requireRegion(regionId);
  for (const id of ids) checkReleasable(ctx.world, region, id, force);
  // The SDK documents DRYRUN.SUCCESS for this action (DeleteInstance says DryRunOperation).
  if (dryRun)
    throw new SimApiError('DRYRUN.SUCCESS', 'This request is a dryrun request with successful result.');
  for (const id of ids) ctx.world.releaseInstance(regionId, id);
  return { body: {} };
}

/** The instance ids a call names: `InstanceId`, or `InstanceId.N` (DeleteInstances). */
export function namedInstanceIds(params: Params): string[] {
  const single = optionalParam(params, 'InstanceId');
  if (single !== undefined) return [single];
  return indexedParams(params, 'InstanceId')
    .map((p) => p.value.trim())
    .filter((v) => v !== '');
}

/** The region a call acts in: its `RegionId`, the endpoint's region, or the instance's own. */
export function callRegion(ctx: CallContext, params: Params, ids: readonly string[]): string {
  const named = optionalParam(params, 'RegionId') ?? ctx.endpointRegion;
  if (named !== undefined) return named;
  for (const id of ids) {
    const found = ctx.world.regionOfInstance(id);
    if (found !== undefined) return found;
  }
  throw new SimApiError('InvalidInstanceId.NotFound', 'The specified InstanceId does not exist.');
}

function checkReleasable(world: World, region: RegionState, instanceId: string, force: boolean): void {
  if (!region.instanceVpc.has(instanceId)) {
    throw new SimApiError('InvalidInstanceId.NotFound', 'The specified InstanceId does not exist.');
  }
  const status = world.attrsOf(region, instanceId).status;
  if (status === 'Stopped' || (status === 'Running' && force)) return;
  throw new SimApiError(
    'IncorrectInstanceStatus',
    status === 'Running'
      ? 'The instance is Running: stop it first, or release it with Force=true.'
      : `The current status of the resource does not support this operation (${status}).`,
  );
}
