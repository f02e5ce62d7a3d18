/**
 * Types of the attribute side: what DescribeInstances and DescribeVpcs said about an instance or a
 * VPC, as the caller hands it to the store, and the inputs of the verbs that write and read them.
 */

/** One account and one region: the scope of the attribute and attribution verbs. */
export interface AccountRegion {
  account: string;
  regionId: string;
}

/** An instance as DescribeInstances answered it. Unknown attributes are null, never guessed. */
export interface InstanceAttributes {
  instanceId: string;
  /** `InstanceName`. */
  name: string | null;
  /** `Status`: Running, Stopped, … */
  status: string | null;
  /** The classic instance's inner IP (`InnerIpAddress.IpAddress[0]`). */
  privateIp: string | null;
  zoneId: string | null;
  resourceGroupId: string | null;
  /** Tag key → value (`Tags.Tag[]` of `{TagKey, TagValue}`). `{}` when it has none. */
  tags: Record<string, string>;
}

/** A VPC as DescribeVpcs answered it. */
export interface VpcAttributes {
  vpcId: string;
  /** `VpcName`. */
  name: string | null;
  /** `CidrBlock`. */
  cidrBlock: string | null;
  /** Tag key → value (`Tags.Tag[]` of `{Key, Value}`). `{}` when it has none. */
  tags: Record<string, string>;
}

export interface UpsertInstancesInput extends AccountRegion {
  /** What the API said now; an id listed twice counts once (the last one). */
  instances: InstanceAttributes[];
  /**
   * When the API was asked: the `updated_at` of each row this changes. A description older than
   * a row's last change is stale (a slower concurrent refresh) and writes nothing.
   */
  seenAt: Date;
}

export interface MarkInstancesReleasedInput extends AccountRegion {
  /** Instances the API no longer knows (confirmed: never on an empty answer alone). */
  instanceIds: string[];
  /** Written to `released_at` and `updated_at`. */
  at: Date;
}

export interface UpsertVpcsInput extends AccountRegion {
  /** What the API said now; an id listed twice counts once (the last one). */
  vpcs: VpcAttributes[];
  /** As `UpsertInstancesInput.seenAt`. */
  seenAt: Date;
}

export interface MarkVpcsDeletedInput extends AccountRegion {
  /** VPCs the API no longer knows. */
  vpcIds: string[];
  /** Written to `deleted_at` and `updated_at`. */
  at: Date;
}

export interface MarkUnlistedVpcsDeletedInput extends AccountRegion {
  /** Every VPC a complete DescribeVpcs listing of the region gave: the others are gone. */
  listed: string[];
  /** Written to `deleted_at` and `updated_at`. */
  at: Date;
}

export interface MissingAttributesInput extends AccountRegion {
  /** At most this many ids. Default 1,000. */
  limit?: number | undefined;
}
