/**
 * zod schemas of the API answers the client uses. Only the fields we read are checked (the API
 * adds fields freely); everything we read is checked. Missing `Links` / `Link` (and the like)
 * mean "empty", as the SDK models declare them optional.
 */
import { z } from 'zod';

/** A VPC holds at most 1,000 links; a count far beyond any real account is a broken answer. */
export const MAX_TOTAL_COUNT = 1_000_000;

const count = z.number().int().min(0).max(MAX_TOTAL_COUNT);
const pageNumber = z.number().int().min(0).max(MAX_TOTAL_COUNT);
const pageSize = z.number().int().min(0).max(1_000);

export const linkSchema = z.object({
  InstanceId: z.string().regex(/^i-[A-Za-z0-9_-]+$/, 'expected an instance id (i-…)'),
  VpcId: z.string().regex(/^vpc-[A-Za-z0-9_-]+$/, 'expected a VPC id (vpc-…)'),
});

export const describeClassicLinkInstancesSchema = z.object({
  RequestId: z.string(),
  TotalCount: count,
  PageNumber: pageNumber,
  PageSize: pageSize,
  Links: z.object({ Link: z.array(linkSchema).optional() }).optional(),
});
export type DescribeClassicLinkInstancesBody = z.infer<typeof describeClassicLinkInstancesSchema>;

export const describeRegionsSchema = z.object({
  RequestId: z.string(),
  Regions: z
    .object({
      Region: z
        .array(
          z.object({
            RegionId: z.string().min(1),
            LocalName: z.string(),
            RegionEndpoint: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type DescribeRegionsBody = z.infer<typeof describeRegionsSchema>;

export const describeVpcsSchema = z.object({
  RequestId: z.string(),
  TotalCount: count,
  PageNumber: pageNumber,
  PageSize: pageSize,
  Vpcs: z
    .object({
      Vpc: z
        .array(
          z.object({
            VpcId: z.string().regex(/^vpc-[A-Za-z0-9_-]+$/, 'expected a VPC id (vpc-…)'),
            RegionId: z.string(),
            Status: z.string(),
            VpcName: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type DescribeVpcsBody = z.infer<typeof describeVpcsSchema>;

/** The error shape: any answer carrying a string `Code` is an error answer. */
export const apiErrorSchema = z.object({
  Code: z.string().min(1),
  Message: z.string().optional(),
  RequestId: z.string().optional(),
  HostId: z.string().optional(),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** "path: message" for the first few issues, for a MalformedResponse message. */
export function describeIssues(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => {
    const path = i.path.length > 0 ? i.path.map(String).join('.') : '(root)';
    return `${path}: ${i.message}`;
  });
  const more = error.issues.length > max ? ` (+${error.issues.length - max} more)` : '';
  return parts.join('; ') + more;
}
