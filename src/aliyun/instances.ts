/**
 * ECS DescribeInstances for enrichment: the attributes of instances we know by id, and a DryRun
 * probe of the permission to read them.
 *
 * Why the probe: without `ecs:DescribeInstances` a RAM identity may get an empty list, not an
 * error (reference/alibaba-actiontrail.md §3.1). "The API knows none of these ids" and "the
 * identity may not read instances" look alike; only the second must never mark instances released.
 */
import { coerceError, ErrorCode, FatalError, isPermissionDenied } from '../errors.js';
import { API_INSTANCE_ID } from '../ids.js';
import type { CallOptions } from '../sync/index.js';
import type { Call } from './actions.js';
import { malformed, validate } from './answer.js';
import { checkRegion, invalid } from './request.js';
import {
  describeInstancesSchema,
  type FieldIssue,
  firstIssue,
  type InstanceRecord,
  instanceSchema,
  tagRecord,
} from './schemas.js';

/** DescribeInstances takes at most 100 ids per call (`InstanceIds`, a JSON array string). */
export const MAX_INSTANCE_IDS = 100;
/** And lists at most 100 per page (`MaxResults`). */
const INSTANCE_PAGE_SIZE = 100;

const ACTION = 'DescribeInstances';

/** An instance's context for people: the `instances` table's attributes. */
export interface InstanceAttributes {
  instanceId: string;
  /** `undefined` when the API gives none (absent, `null` or `''`), as for every optional field. */
  instanceName: string | undefined;
  /** `Running`, `Stopped`, `Pending`, `Starting`, `Stopping`, … as the API says it. */
  status: string;
  /** The classic inner IP (`InnerIpAddress`), else the VPC private IP: the first of the list. */
  privateIp: string | undefined;
  zoneId: string | undefined;
  resourceGroupId: string | undefined;
  /** From `Tags.Tag[{TagKey, TagValue}]`; `{}` when none. */
  tags: Record<string, string>;
  /** `classic` or `vpc` (an instance migrated to a VPC reports `vpc`). */
  networkType: string | undefined;
}

/** An instance record that did not validate: the field that failed, never a crash. */
export interface InstanceRefusal extends FieldIssue {
  /** The record's `InstanceId`, when it is a string. */
  instanceId: string | undefined;
}

export interface DescribedInstances {
  instances: InstanceAttributes[];
  refused: InstanceRefusal[];
  /**
   * Ids asked that the API neither listed nor refused. Released instances — or, with an empty
   * listing, a missing permission: ask `describeInstancesDryRun` before believing it.
   */
  missing: string[];
}

/** What the DryRun probe found: whether the identity may call DescribeInstances in the region. */
export interface InstanceReadPermission {
  allowed: boolean;
  /** The code that decided it: `DryRunOperation`, `Forbidden.RAM`, `NoPermission`, … or `OK`. */
  code: string;
  requestId: string | undefined;
}

export interface InstanceActions {
  /**
   * The attributes of `instanceIds` (deduplicated; 100 per call as a JSON array string, each call
   * paged by `NextToken`, calls one after another). An answer listing an instance that was not
   * asked is refused as a whole (a server ignoring the filter); one instance record that does not
   * validate is refused alone. An empty `instanceIds` makes no call.
   */
  describeInstances(
    regionId: string,
    instanceIds: readonly string[],
    opts?: CallOptions,
  ): Promise<DescribedInstances>;
  /**
   * May this identity read instances in `regionId`? A `DryRun=true` DescribeInstances:
   * `DryRunOperation` means allowed, a permission code (errors.ts `isPermissionDenied`) means
   * not; any other error is thrown. An answer listing instances (a server that ignores DryRun)
   * is a call that succeeded: allowed.
   */
  describeInstancesDryRun(regionId: string, opts?: CallOptions): Promise<InstanceReadPermission>;
}

/** `''` and `null` mean "none" in these answers. */
function present(v: string | null | undefined): string | undefined {
  return v === null || v === undefined || v === '' ? undefined : v;
}

/** A validated instance record, normalised. */
function attributesOf(i: InstanceRecord): InstanceAttributes {
  const inner = i.InnerIpAddress?.IpAddress ?? [];
  const vpc = i.VpcAttributes?.PrivateIpAddress?.IpAddress ?? [];
  return {
    instanceId: i.InstanceId,
    instanceName: present(i.InstanceName),
    status: i.Status,
    privateIp: present(inner.find((ip) => ip !== '') ?? vpc.find((ip) => ip !== '')),
    zoneId: present(i.ZoneId),
    resourceGroupId: present(i.ResourceGroupId),
    tags: tagRecord(i.Tags?.Tag, 'TagKey', 'TagValue'),
    networkType: present(i.InstanceNetworkType),
  };
}

interface InstancePage {
  requestId: string;
  nextToken: string | undefined;
  instances: InstanceAttributes[];
  refused: InstanceRefusal[];
}

export function instanceActions(call: Call): InstanceActions {
  function page(
    regionId: string,
    ids: readonly string[],
    nextToken: string | undefined,
    callOpts?: CallOptions,
  ): Promise<InstancePage> {
    const asked = new Set(ids);
    const params: Record<string, string> = {
      RegionId: regionId,
      InstanceIds: JSON.stringify(ids),
      MaxResults: String(INSTANCE_PAGE_SIZE),
    };
    if (nextToken !== undefined) params.NextToken = nextToken;
    const parse = (body: unknown, text: string): InstancePage => {
      const b = validate(describeInstancesSchema, body, text, ACTION);
      const out: InstancePage = {
        requestId: b.RequestId,
        nextToken: present(b.NextToken),
        instances: [],
        refused: [],
      };
      for (const [n, raw] of (b.Instances?.Instance ?? []).entries()) {
        const rawId = (raw as { InstanceId?: unknown } | null)?.InstanceId;
        const instanceId = typeof rawId === 'string' ? rawId : undefined;
        if (instanceId !== undefined && API_INSTANCE_ID.test(instanceId) && !asked.has(instanceId)) {
          throw malformed(
            `${ACTION} answer lists an instance that was not asked at Instances.Instance.${n}: ${instanceId}`,
            text,
            200,
            b.RequestId,
          );
        }
        const r = instanceSchema.safeParse(raw);
        if (r.success) out.instances.push(attributesOf(r.data));
        else out.refused.push({ instanceId, ...firstIssue(r.error) });
      }
      return out;
    };
    return call({ api: 'ecs', regionId, action: ACTION, params, parse, signal: callOpts?.signal });
  }

  async function describeInstances(
    regionId: string,
    instanceIds: readonly string[],
    callOpts?: CallOptions,
  ): Promise<DescribedInstances> {
    checkRegion(regionId);
    const ids = [...new Set(instanceIds)];
    for (const id of ids) {
      if (!API_INSTANCE_ID.test(id)) throw invalid(`invalid instance id ${JSON.stringify(id.slice(0, 64))}`);
    }
    const found = new Map<string, InstanceAttributes>();
    const refused: InstanceRefusal[] = [];
    for (let start = 0; start < ids.length; start += MAX_INSTANCE_IDS) {
      const chunk = ids.slice(start, start + MAX_INSTANCE_IDS);
      const tokens = new Set<string>();
      // Termination: a token seen before is a server going round in circles, refused; every other
      // page must bring a new token, and a chunk of 100 ids fits one page of 100.
      for (let token: string | undefined, pages = 0; ; pages++) {
        const p = await page(regionId, chunk, token, callOpts);
        for (const i of p.instances) found.set(i.instanceId, i);
        refused.push(...p.refused);
        if (p.nextToken === undefined) break;
        if (tokens.has(p.nextToken) || pages > chunk.length) {
          throw new FatalError(`${ACTION} keeps answering NextToken ${JSON.stringify(p.nextToken)}`, {
            code: 'MalformedResponse',
            requestId: p.requestId,
            httpStatus: 200,
          });
        }
        tokens.add(p.nextToken);
        token = p.nextToken;
      }
    }
    const refusedIds = new Set(refused.map((r) => r.instanceId));
    return {
      instances: [...found.values()],
      refused,
      missing: ids.filter((id) => !found.has(id) && !refusedIds.has(id)),
    };
  }

  async function describeInstancesDryRun(
    regionId: string,
    callOpts?: CallOptions,
  ): Promise<InstanceReadPermission> {
    checkRegion(regionId);
    try {
      const requestId = await call({
        api: 'ecs',
        regionId,
        action: ACTION,
        params: { RegionId: regionId, DryRun: 'true' },
        parse: (body, text) => validate(describeInstancesSchema, body, text, ACTION).RequestId,
        signal: callOpts?.signal,
      });
      return { allowed: true, code: 'OK', requestId };
    } catch (caught) {
      const err = coerceError(caught);
      if (err.code === ErrorCode.DryRunPassed)
        return { allowed: true, code: err.code, requestId: err.requestId };
      if (isPermissionDenied(err)) return { allowed: false, code: err.code, requestId: err.requestId };
      throw err;
    }
  }

  return { describeInstances, describeInstancesDryRun };
}
