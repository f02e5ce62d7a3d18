/** What an API handler gets: the world, the trail, who calls, and the request's own facts. */
import type { Actor } from './identity.js';
import type { ActionTrail } from './trail.js';
import type { World } from './world.js';

export interface CallContext {
  world: World;
  trail: ActionTrail;
  actor: Actor;
  requestId: string;
  /** Epoch ms the request arrived. */
  now: number;
  /**
   * The region the endpoint names (`actiontrail.<region>.aliyuncs.com`, or a `/<region>` path on
   * the simulator's one port), for APIs without a `RegionId` parameter.
   */
  endpointRegion?: string;
}

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

export type ActionHandler = (ctx: CallContext, params: Readonly<Record<string, string>>) => ActionResult;
