/**
 * zod schemas of the API answers the client uses. Only the fields we read are checked (the API
 * adds fields freely); everything we read is checked. Missing `Links` / `Link` (and the like)
 * mean "empty", as the SDK models declare them optional.
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

export const describeVpcsSchema = z.object({
  ...paged,
  Vpcs: wrappedList(
    'Vpc',
    z.object({ VpcId: apiVpcId, RegionId: z.string(), Status: z.string(), VpcName: z.string().optional() }),
  ),
});
export type DescribeVpcsBody = z.infer<typeof describeVpcsSchema>;

/** "path: message" for the first few issues, for a MalformedResponse message. */
export function describeIssues(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => {
    const path = i.path.length > 0 ? i.path.map(String).join('.') : '(root)';
    return `${path}: ${i.message}`;
  });
  const more = error.issues.length > max ? ` (+${error.issues.length - max} more)` : '';
  return parts.join('; ') + more;
}
