/**
 * The API actions we use, over one `call` capability (the client signs, sends, retries and reads):
 * DescribeClassicLinkInstances (one page, and every page of a listing by VpcId or by InstanceId),
 * DescribeRegions and DescribeVpcs. Each checks what its answer promises beyond its schema: the
 * page asked for, no link outside the query, no id twice.
 */
import { FatalError, RetryableError } from '../errors.js';
import { API_VPC_ID } from '../ids.js';
import type { Link } from '../links.js';
import type { CallOptions, LinkPage } from '../sync/index.js';
import { pagesInOrder } from '../sync/index.js';
import { malformed, type ParseAnswer, validate } from './answer.js';
import type { ApiName } from './endpoints.js';
import {
  type ClassicLinkQuery,
  checkRegion,
  classicLinkParams,
  invalid,
  MAX_LINK_PAGE_SIZE,
} from './request.js';
import {
  type DescribeVpcsBody,
  describeClassicLinkInstancesSchema,
  describeRegionsSchema,
  describeVpcsSchema,
  type FieldIssue,
  firstIssue,
  tagRecord,
  vpcAttributesSchema,
} from './schemas.js';

/** DescribeVpcs pages at most 50. */
const VPC_PAGE_SIZE = 50;
/** DescribeVpcs filters by at most 20 VPC ids per call (`VpcId`, comma-separated). */
const VPC_FILTER_SIZE = 20;
/** DescribeVpcs pages fetched at once after the first. */
const VPC_PAGE_PARALLEL = 4;
/** DescribeRegions is global; any regional endpoint answers it. */
const REGIONS_REGION_ID = 'cn-hangzhou';

/** One API call as an action asks for it. */
export interface ApiCall<T> {
  api: ApiName;
  regionId: string;
  action: string;
  params: Record<string, string>;
  parse: ParseAnswer<T>;
  signal?: AbortSignal | undefined;
}

/** Makes one call, retries included: the client's `call`. */
export type Call = <T>(call: ApiCall<T>) => Promise<T>;

export interface RegionInfo {
  regionId: string;
  localName: string;
  endpoint?: string;
}

/** A VPC's context for people: the `vpcs` table's attributes. */
export interface VpcAttributes {
  vpcId: string;
  /** `''` when the VPC has no name. */
  vpcName: string;
  /** The primary CIDR (the only one ClassicLink reaches); `''` when the answer has none. */
  cidrBlock: string;
  tags: Record<string, string>;
}

/** A VPC's attributes that did not validate: the VPC is still listed (discovery never fails on them). */
export interface VpcRefusal extends FieldIssue {
  vpcId: string;
}

/**
 * One VPC of a DescribeVpcs listing. Discovery reads `vpcId`; enrichment reads `attributes` from
 * the same listing (no second call), or logs `refused` (exactly one of the two is set).
 */
export interface VpcInfo {
  vpcId: string;
  regionId: string;
  status: string;
  attributes?: VpcAttributes;
  refused?: VpcRefusal;
}

export interface EcsActions {
  describeClassicLinkInstances(req: ClassicLinkQuery, opts?: CallOptions): Promise<LinkPage>;
  /**
   * All pages of a listing (by VpcId or ≤100 InstanceIds), page size default 100. Yields each
   * validated page; stops when PageNumber*PageSize >= TotalCount or on a short page. Does NOT judge
   * completeness (the sync layer does); terminates because TotalCount is bounded by the schema.
   */
  classicLinkPages(req: Omit<ClassicLinkQuery, 'pageNumber'>, opts?: CallOptions): AsyncIterable<LinkPage>;
  /** ECS DescribeRegions (LocalName in English), sent to `regionId`'s endpoint (default cn-hangzhou). */
  describeRegions(opts?: CallOptions & { regionId?: string | undefined }): Promise<RegionInfo[]>;
  /**
   * VPC DescribeVpcs, every page (PageSize 50): each VPC with its attributes (name, CIDR, tags) or
   * the refusal of them. One listing serves discovery (ids) and enrichment (attributes). With
   * `vpcIds`, only those (the `VpcId` filter, 20 per call): the refresh of explicit targets; a VPC
   * the API does not know is simply not listed.
   */
  describeVpcs(
    regionId: string,
    opts?: CallOptions & { vpcIds?: readonly string[] | undefined },
  ): Promise<VpcInfo[]>;
}

export function ecsActions(call: Call): EcsActions {
  async function describeClassicLinkInstances(
    req: ClassicLinkQuery,
    callOpts?: CallOptions,
  ): Promise<LinkPage> {
    const pageNumber = req.pageNumber ?? 1;
    const pageSize = req.pageSize ?? MAX_LINK_PAGE_SIZE;
    const params = classicLinkParams({ ...req, pageNumber, pageSize });
    const action = 'DescribeClassicLinkInstances';
    const asked = params.InstanceId === undefined ? undefined : new Set(req.instanceIds);
    const parse = (body: unknown, text: string): LinkPage => {
      const b = validate(describeClassicLinkInstancesSchema, body, text, action);
      const fail = (what: string) => malformed(`${action} answer ${what}`, text, 200, b.RequestId);
      if (b.PageNumber !== pageNumber)
        throw fail(`is page ${b.PageNumber}, but page ${pageNumber} was asked`);
      const raw = b.Links?.Link ?? [];
      const links: Link[] = new Array(raw.length);
      const seen = new Set<string>();
      for (let i = 0; i < raw.length; i++) {
        const l = raw[i] as { InstanceId: string; VpcId: string };
        if (asked === undefined && l.VpcId !== req.vpcId) {
          throw fail(
            `has a link to a foreign VPC at Links.Link.${i}: ${l.InstanceId} → ${l.VpcId}, asked ${req.vpcId}`,
          );
        }
        if (asked !== undefined && !asked.has(l.InstanceId)) {
          throw fail(`has a link of an instance that was not asked at Links.Link.${i}: ${l.InstanceId}`);
        }
        if (seen.has(l.InstanceId)) throw fail(`lists instance ${l.InstanceId} twice on one page`);
        seen.add(l.InstanceId);
        links[i] = { instanceId: l.InstanceId, vpcId: l.VpcId };
      }
      return {
        requestId: b.RequestId,
        totalCount: b.TotalCount,
        pageNumber: b.PageNumber,
        pageSize: b.PageSize,
        links,
      };
    };
    return call({ api: 'ecs', regionId: req.regionId, action, params, parse, signal: callOpts?.signal });
  }

  async function* classicLinkPages(
    req: Omit<ClassicLinkQuery, 'pageNumber'>,
    callOpts?: CallOptions,
  ): AsyncGenerator<LinkPage> {
    const pageSize = req.pageSize ?? MAX_LINK_PAGE_SIZE;
    const seen = new Set<string>();
    // Termination: every further page needs pageNumber*pageSize < TotalCount, and the schema bounds
    // TotalCount, so even a server that keeps answering full pages ends the loop.
    for (let pageNumber = 1; ; pageNumber++) {
      const page = await describeClassicLinkInstances({ ...req, pageNumber, pageSize }, callOpts);
      // Why only "every link already seen": links moving between pages is normal (attachments
      // during the scan shift later pages; the sync layer's completeness rules catch that). A later
      // page made only of earlier links is a backend that ignored PageNumber and echoed it — a
      // broken answer, not drift (drift would need ≥ pageSize attachments between two calls).
      if (pageNumber > 1 && page.links.length > 0 && page.links.every((l) => seen.has(l.instanceId))) {
        throw new FatalError(
          `DescribeClassicLinkInstances page ${pageNumber} only repeats links of earlier pages ` +
            `(the server seems to ignore PageNumber); first repeated: ${page.links[0]?.instanceId}`,
          { code: 'MalformedResponse', requestId: page.requestId, httpStatus: 200 },
        );
      }
      for (const l of page.links) seen.add(l.instanceId);
      yield page;
      if (page.links.length < pageSize || pageNumber * pageSize >= page.totalCount) return;
    }
  }

  async function describeRegions(
    callOpts?: CallOptions & { regionId?: string | undefined },
  ): Promise<RegionInfo[]> {
    const regionId = callOpts?.regionId ?? REGIONS_REGION_ID;
    checkRegion(regionId);
    const action = 'DescribeRegions';
    const parse = (body: unknown, text: string): RegionInfo[] =>
      (validate(describeRegionsSchema, body, text, action).Regions?.Region ?? []).map((r) => {
        const info: RegionInfo = { regionId: r.RegionId, localName: r.LocalName };
        if (r.RegionEndpoint) info.endpoint = r.RegionEndpoint;
        return info;
      });
    const params = { AcceptLanguage: 'en-US' };
    return call({ api: 'ecs', regionId, action, params, parse, signal: callOpts?.signal });
  }

  /**
   * Every VPC of a region. Page 1 gives TotalCount; the remaining pages are fetched a few at a
   * time (the limiter still paces them) instead of one after another. A listing that changed
   * while it was read (TotalCount moving, or unique VPCs not adding up to it) is refused as
   * retryable: discovery must not retire a target because a page shifted under it.
   */
  async function describeVpcs(
    regionId: string,
    callOpts?: CallOptions & { vpcIds?: readonly string[] | undefined },
  ): Promise<VpcInfo[]> {
    checkRegion(regionId);
    if (callOpts?.vpcIds === undefined) return vpcListing(regionId, {}, callOpts);
    const ids = [...new Set(callOpts.vpcIds)].sort();
    for (const id of ids) {
      if (!API_VPC_ID.test(id)) throw invalid(`invalid VPC id ${JSON.stringify(id.slice(0, 64))}`);
    }
    const out: VpcInfo[] = [];
    for (let i = 0; i < ids.length; i += VPC_FILTER_SIZE) {
      const chunk = ids.slice(i, i + VPC_FILTER_SIZE);
      const asked = new Set(chunk);
      for (const v of await vpcListing(regionId, { VpcId: chunk.join(',') }, callOpts)) {
        // A server ignoring the filter would hand us other VPCs' attributes: never record those.
        if (!asked.has(v.vpcId)) {
          throw new FatalError(`DescribeVpcs answer lists ${v.vpcId}, which was not asked`, {
            code: 'MalformedResponse',
            httpStatus: 200,
          });
        }
        out.push(v);
      }
    }
    return out;
  }

  async function vpcListing(
    regionId: string,
    filter: Record<string, string>,
    callOpts?: CallOptions,
  ): Promise<VpcInfo[]> {
    const action = 'DescribeVpcs';
    const fetchPage = (pageNumber: number) =>
      call({
        api: 'vpc',
        regionId,
        action,
        params: {
          RegionId: regionId,
          ...filter,
          PageNumber: String(pageNumber),
          PageSize: String(VPC_PAGE_SIZE),
        },
        parse: (body, text) => {
          const b = validate(describeVpcsSchema, body, text, action);
          const fail = (what: string) => malformed(`${action} answer ${what}`, text, 200, b.RequestId);
          if (b.PageNumber !== pageNumber)
            throw fail(`is page ${b.PageNumber}, but page ${pageNumber} was asked`);
          const ids = new Set<string>();
          for (const v of b.Vpcs?.Vpc ?? []) {
            if (ids.has(v.VpcId)) throw fail(`lists ${v.VpcId} twice on one page`);
            ids.add(v.VpcId);
          }
          return b;
        },
        signal: callOpts?.signal,
      });
    const first = await fetchPage(1);
    const total = first.TotalCount;
    const pageCount = Math.max(1, Math.ceil(total / VPC_PAGE_SIZE));
    // Each page is folded in as it arrives and dropped: a region of 10,000 VPCs never holds its
    // 200 parsed answers at once.
    const byId = new Map<string, VpcInfo>();
    const fold = (page: DescribeVpcsBody) => {
      if (page.TotalCount !== total) {
        throw new RetryableError(
          `${action} TotalCount changed from ${total} to ${page.TotalCount} while paging`,
          {
            code: 'InconsistentListing',
            requestId: page.RequestId,
          },
        );
      }
      for (const v of page.Vpcs?.Vpc ?? []) {
        const info: VpcInfo = { vpcId: v.VpcId, regionId: v.RegionId, status: v.Status };
        const a = vpcAttributesSchema.safeParse(v);
        if (a.success) {
          info.attributes = {
            vpcId: v.VpcId,
            vpcName: a.data.VpcName ?? '',
            cidrBlock: a.data.CidrBlock ?? '',
            tags: tagRecord(a.data.Tags?.Tag, 'Key', 'Value'),
          };
        } else {
          info.refused = { vpcId: v.VpcId, ...firstIssue(a.error) };
        }
        byId.set(v.VpcId, info);
      }
    };
    fold(first);
    for await (const [, page] of pagesInOrder(2, pageCount, VPC_PAGE_PARALLEL, fetchPage)) fold(page);
    if (byId.size !== total) {
      throw new RetryableError(`${action} listed ${byId.size} unique VPCs, TotalCount says ${total}`, {
        code: 'InconsistentListing',
        requestId: first.RequestId,
      });
    }
    return [...byId.values()];
  }

  return { describeClassicLinkInstances, classicLinkPages, describeRegions, describeVpcs };
}
