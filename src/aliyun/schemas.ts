/**
 * zod schemas of the API answers the client uses. Only the fields we read are checked (the API
 * adds fields freely); everything we read is checked. Missing `Links` / `Link` (and the like)
 * mean "empty", as the SDK models declare them optional.
 *
 * Two levels for the answers that carry context (instance and VPC attributes, ActionTrail
 * records): the page is checked as a whole (a broken page fails the call), each record on its own
 * (a record that does not validate is refused with the field that failed, and the others are
 * used). Attribute fields accept `null` as absent: context is read leniently, links strictly.
 */
import { z } from 'zod';
import { apiInstanceId, apiVpcId } from '../ids.js';

/** A VPC holds at most 1,000 links; a count far beyond any real account is a broken answer. */
const MAX_TOTAL_COUNT = 1_000_000;

const count = z.number().int().min(0).max(MAX_TOTAL_COUNT);
const pageNumber = z.number().int().min(0).max(MAX_TOTAL_COUNT);
const pageSize = z.number().int().min(0).max(1_000);

/** The fields of every paged answer. */
const paged = { RequestId: z.string(), TotalCount: count, PageNumber: pageNumber, PageSize: pageSize };

/** How the API wraps a list: `{ <Key>: [items] }`, both levels optional (absent means empty). */
function wrappedList<K extends string, T extends z.ZodType>(key: K, item: T) {
  return z.object({ [key]: z.array(item).optional() } as Record<K, z.ZodOptional<z.ZodArray<T>>>).optional();
}

export const describeClassicLinkInstancesSchema = z.object({
  ...paged,
  Links: wrappedList('Link', z.object({ InstanceId: apiInstanceId, VpcId: apiVpcId })),
});

export const describeRegionsSchema = z.object({
  RequestId: z.string(),
  Regions: wrappedList(
    'Region',
    z.object({ RegionId: z.string().min(1), LocalName: z.string(), RegionEndpoint: z.string().optional() }),
  ),
});

/** Optional text: absent, `null` or a string. */
const text = z.string().nullish();

/** A tag list as the API nests it, `{Tag: [{<key>: …, <value>: …}]}`; a missing value is `''`. */
function tagList<K extends string, V extends string>(key: K, value: V) {
  const tag = z.object({ [key]: z.string(), [value]: text } as Record<K, z.ZodString> &
    Record<V, typeof text>);
  return z.object({ Tag: z.array(tag).nullish() }).nullish();
}

/**
 * DescribeVpcs: the fields discovery needs are checked with the page (a VPC without a valid id
 * fails the listing); the attributes are `unknown` here and checked per VPC by
 * `vpcAttributesSchema`, so a malformed tag never stops discovery.
 */
export const describeVpcsSchema = z.object({
  ...paged,
  Vpcs: wrappedList(
    'Vpc',
    z.object({
      VpcId: apiVpcId,
      RegionId: z.string(),
      Status: z.string(),
      VpcName: z.unknown().optional(),
      CidrBlock: z.unknown().optional(),
      Tags: z.unknown().optional(),
    }),
  ),
});
export type DescribeVpcsBody = z.infer<typeof describeVpcsSchema>;

/** A VPC's attributes (tags `{Key, Value}`), checked apart from the listing. */
export const vpcAttributesSchema = z.object({
  VpcName: text,
  CidrBlock: text,
  Tags: tagList('Key', 'Value'),
});

/** A page of DescribeInstances: instances are checked one by one (`instanceSchema`). */
export const describeInstancesSchema = z.object({
  RequestId: z.string(),
  NextToken: text,
  Instances: z.object({ Instance: z.array(z.unknown()).nullish() }).nullish(),
});

/** `{IpAddress: [..]}`, as DescribeInstances nests every address list. */
const ipList = z.object({ IpAddress: z.array(z.string()).nullish() }).nullish();

/** One instance of DescribeInstances (tags `{TagKey, TagValue}`). */
export const instanceSchema = z.object({
  InstanceId: apiInstanceId,
  InstanceName: text,
  Status: z.string().min(1),
  InstanceNetworkType: text,
  ZoneId: text,
  ResourceGroupId: text,
  InnerIpAddress: ipList,
  VpcAttributes: z.object({ PrivateIpAddress: ipList }).nullish(),
  Tags: tagList('TagKey', 'TagValue'),
});
export type InstanceRecord = z.infer<typeof instanceSchema>;

/** A page of ActionTrail LookupEvents: `Events` are raw records (cloud-event.ts parses each). */
export const lookupEventsSchema = z.object({
  RequestId: z.string(),
  NextToken: text,
  Events: z.array(z.unknown()).nullish(),
});

/** What failed in one record of an answer: the field's path (`Tags.Tag.0.TagKey`) and why. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** The first issue of a record that did not validate, as a field and a message. */
export function firstIssue(error: z.ZodError): FieldIssue {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(record)';
  return { field, message: issue?.message ?? 'invalid' };
}

/** Tags as the API lists them → key → value (a key listed twice: the later value). */
export function tagRecord(
  tags: readonly Record<string, string | null | undefined>[] | null | undefined,
  key: string,
  value: string,
): Record<string, string> {
  // Object.fromEntries defines own properties, so a tag named `__proto__` stays a tag.
  return Object.fromEntries((tags ?? []).map((t) => [t[key] as string, t[value] ?? '']));
}

/** "path: message" for the first few issues, for a MalformedResponse message. */
export function describeIssues(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => {
    const path = i.path.length > 0 ? i.path.map(String).join('.') : '(root)';
    return `${path}: ${i.message}`;
  });
  const more = error.issues.length > max ? ` (+${error.issues.length - max} more)` : '';
  return parts.join('; ') + more;
}
