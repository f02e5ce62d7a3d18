/**
 * What the API said, as the store keeps it: DescribeInstances and DescribeVpcs attributes, and
 * ActionTrail records. The API side says "none" with `undefined` (or `''` for a VPC's name and
 * CIDR); the store with `null`. One mapping each, for every path that records them.
 */
import type {
  InstanceAttributes as ApiInstance,
  VpcAttributes as ApiVpc,
  CloudEvent,
} from '../aliyun/index.js';
import type { CloudEventRecord, InstanceAttributes, VpcAttributes } from '../store/index.js';

const orNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

export function instanceRecord(i: ApiInstance): InstanceAttributes {
  return {
    instanceId: i.instanceId,
    name: orNull(i.instanceName),
    status: orNull(i.status),
    privateIp: orNull(i.privateIp),
    zoneId: orNull(i.zoneId),
    resourceGroupId: orNull(i.resourceGroupId),
    tags: i.tags,
  };
}

export function vpcRecord(v: ApiVpc): VpcAttributes {
  return { vpcId: v.vpcId, name: orNull(v.vpcName), cidrBlock: orNull(v.cidrBlock), tags: v.tags };
}

/**
 * An ActionTrail record of `account`'s trail as `cloud_events` keeps it, whichever path brought it
 * (the LookupEvents poll, the EventBridge hook). Its region is the record's own `acsRegion`.
 */
export function cloudEventRecord(account: string, e: CloudEvent): CloudEventRecord {
  return {
    eventId: e.eventId,
    account,
    regionId: e.acsRegion,
    eventName: e.eventName,
    eventTime: e.eventTime,
    instanceIds: e.instanceIds,
    vpcId: orNull(e.vpcId),
    actor: {
      type: e.actor.type,
      name: orNull(e.actor.name),
      principalId: orNull(e.actor.principalId),
      accountId: orNull(e.actor.accountId),
    },
    accessKeyId: orNull(e.accessKeyId),
    sourceIp: orNull(e.sourceIp),
    userAgent: orNull(e.userAgent),
    apiRequestId: orNull(e.apiRequestId),
    errorCode: orNull(e.errorCode),
  };
}
