/**
 * The engine's view of a link source. The engine (scan completeness, diff, events, outbox) knows
 * nothing ClassicLink-specific; ClassicLink (ecs-client.ts) is the first source behind this.
 */
import type { Link } from '../links.js';

/** One validated page of a listing. */
export interface LinkPage {
  requestId: string;
  totalCount: number;
  pageNumber: number;
  pageSize: number;
  links: Link[];
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Options of a page call. */
export interface PageOptions extends CallOptions {
  /**
   * Discovery no longer lists this target (the retirement scan of a target that still has active
   * links): the source answers "does not exist" as an empty listing. Without it, a target the API
   * does not know is an error with the API's code — a typo in SYNC_TARGETS is never "0 links".
   */
  gone?: boolean | undefined;
}

/**
 * What the engine needs from a source, for one account: discover the targets of a region, list a
 * target's links page by page, and look links up directly by instance id (to confirm removals).
 */
export interface LinkSource {
  /** The VPC ids of a region (all pages). */
  discover(regionId: string, opts?: CallOptions): Promise<string[]>;
  /** One page of a target's links. */
  page(
    target: { regionId: string; vpcId: string },
    pageNumber: number,
    pageSize: number,
    opts?: PageOptions,
  ): Promise<LinkPage>;
  /** The current links of up to 100 instances, whatever VPC they are linked to. */
  lookup(regionId: string, instanceIds: readonly string[], opts?: CallOptions): Promise<Link[]>;
}
