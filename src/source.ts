/**
 * The engine's view of a link source. The engine (scan completeness, diff, events, outbox) knows
 * nothing ClassicLink-specific; ClassicLink (ecs-client.ts) is the first source behind this.
 */

/** One link: a classic instance linked to a VPC. */
export interface Link {
  instanceId: string;
  vpcId: string;
}

/** A sync target: one VPC of one region of one account. */
export interface TargetRef {
  account: string;
  regionId: string;
  vpcId: string;
}

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
