/**
 * The simulator's public types. Other modules (tests, the demo, benchmarks, the `simulate` command)
 * code against exactly these; keep them stable.
 */
import type { EventBridgePush, EventBridgeTarget } from './eventbridge.js';

/** A key pair the simulator accepts. A key with `securityToken` behaves like STS credentials. */
export interface SimulatorKey {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, every request signed with this key must carry this token (STS). */
  securityToken?: string;
  /**
   * The RAM user the key belongs to, as ActionTrail names the caller. Default `sim-user-<n>`
   * (`n` = the key's position, from 1). Settable at run time (`setIdentity`, `POST /_sim/keys`).
   */
  userName?: string;
  /**
   * RAM actions the key may call, e.g. `ecs:DescribeInstances`, `actiontrail:LookupEvents`; `*`
   * matches any run of characters (`ecs:*`, `*`). Default `['*']` (everything).
   */
  permissions?: string[];
}

/** Who a key is, as ActionTrail records it, and what it may call. */
export interface KeyIdentity {
  accessKeyId: string;
  userName: string;
  /** The RAM user's id: derived from the account and the user name, so one name is one principal. */
  principalId: string;
  accountId: string;
  permissions: string[];
  /** Recorded as `sourceIpAddress` instead of the caller's socket address, when set. */
  sourceIp?: string;
}

/** Instance statuses of DescribeInstances. */
export const INSTANCE_STATUSES = ['Pending', 'Running', 'Starting', 'Stopping', 'Stopped'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** The instance attributes that do not depend on links. */
export interface InstanceAttrs {
  instanceName: string;
  status: InstanceStatus;
  /** The classic private IP (`InnerIpAddress.IpAddress[0]`). */
  innerIp: string;
  zoneId: string;
  resourceGroupId: string;
  tags: SimTag[];
  /** `yyyy-MM-ddTHH:mmZ`, as the real API's samples. */
  creationTime: string;
  instanceType: string;
}

/** A tag as the simulator keeps it; ECS answers `{TagKey,TagValue}`, VPC `{Key,Value}`. */
export interface SimTag {
  key: string;
  value: string;
}

/** A classic instance's attributes, as DescribeInstances reports them. */
export interface SimInstance extends InstanceAttrs {
  instanceId: string;
  regionId: string;
  /** The VPC it is linked to, or null. */
  linkedVpcId: string | null;
}

/** The attributes an admin call may change; absent fields stay as they are. */
export interface InstancePatch {
  instanceName?: string;
  status?: InstanceStatus;
  /** Replaces every tag. */
  tags?: SimTag[];
  resourceGroupId?: string;
}

/** A VPC's attributes, as DescribeVpcs reports them. */
export interface SimVpc {
  vpcId: string;
  regionId: string;
  vpcName: string;
  cidrBlock: string;
  tags: SimTag[];
  creationTime: string;
}

export interface VpcPatch {
  vpcName?: string;
  cidrBlock?: string;
  /** Replaces every tag. */
  tags?: SimTag[];
}

/** One ActionTrail record (the raw JSON object LookupEvents returns in `Events`). */
export interface TrailRecord {
  eventId: string;
  eventVersion: number;
  eventName: string;
  eventType: 'ApiCall';
  eventRW: 'Write';
  eventSource: string;
  eventTime: string;
  acsRegion: string;
  serviceName: 'Ecs';
  apiVersion: string;
  requestId: string;
  requestParameters: Record<string, string>;
  responseElements?: Record<string, string>;
  referencedResources: Record<string, string[]>;
  resourceType: string;
  resourceName: string;
  userIdentity: {
    type: 'ram-user';
    principalId: string;
    accountId: string;
    userName: string;
    accessKeyId: string;
  };
  sourceIpAddress: string;
  userAgent: string;
  isGlobal: false;
  /** Set only when the call failed. */
  errorCode?: string;
  errorMessage?: string;
}

/** A record as the simulator holds it: when LookupEvents may see it, and whether it was dropped. */
export interface TrailEntry {
  seq: number;
  /** Epoch ms of the call. */
  at: number;
  /** Epoch ms from which LookupEvents returns it. */
  visibleAt: number;
  /** Dropped by a drop rule: never returned by LookupEvents (listed here for tests). */
  dropped: boolean;
  /** The instances the call named (drop rules and ResourceName lookups match on them). */
  instanceIds: string[];
  record: TrailRecord;
}

/** The ActionTrail side of a running simulator, for in-process tests. */
export interface SimActionTrail {
  /** Every record, oldest first, dropped ones included. */
  entries(): TrailEntry[];
  /** The next `n` records are dropped (made and never visible). */
  dropNext(n: number): void;
  /** Every later record naming this instance is dropped, until `clearDrops()`. */
  dropInstance(instanceId: string): void;
  clearDrops(): void;
  /** Forgets every record. */
  clear(): void;
}

/** Malformed-body flavours; see faults.ts for what each one does to a successful answer. */
export type MalformedKind =
  | 'non-json'
  | 'truncated'
  | 'html'
  | 'empty'
  | 'wrong-types'
  | 'missing-fields'
  | 'negative-total'
  | 'page-echo'
  | 'foreign-vpc'
  | 'duplicates';

/** Faults injected into API answers (never into `/_sim/` admin answers). All default to off. */
export interface Faults {
  /** Added to every API answer, in ms. Default 0. */
  latencyMs?: number;
  /** Extra delay, in ms, added to a fraction `latencySpikeRate` (0..1) of answers. */
  latencySpikeMs?: number;
  latencySpikeRate?: number;
  /** Probability 0..1 of HTTP 400 `Throttling.User` (Alibaba throttles with 400). */
  throttleRate?: number;
  /** Probability 0..1 of HTTP 503 `ServiceUnavailable`. */
  unavailableRate?: number;
  /** Probability 0..1 of HTTP 500 `InternalError`. */
  internalErrorRate?: number;
  /** Probability 0..1 of destroying the socket without any answer. */
  resetRate?: number;
  /** Probability 0..1 that a successful answer's body is corrupted as `malformedKind` says. */
  malformedRate?: number;
  /** Default `'non-json'`. */
  malformedKind?: MalformedKind;
  /** vpcId → error `Code` answered, every time, to any request naming that VPC (status from the code). */
  failVpcs?: Record<string, string>;
  /**
   * After serving a page of a `VpcId` listing that is not the last page, attach a new instance to
   * that VPC (sorting before the page's end) so `TotalCount` grows and later pages shift.
   */
  paginationDrift?: boolean;
  /** Max requests per second per AccessKeyId (sliding one-second window); more → 400 `Throttling.User`. */
  qpsCap?: number;
  /** If set, throttling answers carry `x-acs-retry-after: <ms>`. */
  retryAfterMs?: number;
  /** If set, faults apply only to these actions. */
  actions?: string[];
  /**
   * How long an ActionTrail record stays invisible to LookupEvents after its call, in ms. Default
   * 1,000 when absent (not a fault that `{}` turns off: the real lag is never zero). Applies to
   * records made while it is in force, whatever `actions` says.
   */
  actionTrailDelayMs?: number;
}

/** The `worldFile` / `snapshot()` format. */
export interface WorldJson {
  version: 1;
  regions: WorldRegionJson[];
}

export interface WorldRegionJson {
  regionId: string;
  vpcs: { vpcId: string; vpcName?: string; cidrBlock?: string }[];
  /** Every classic instance of the region, linked or not. Instances named in `links` are added if absent. */
  instances: string[];
  links: { instanceId: string; vpcId: string }[];
}

export interface SimulatorOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Seeds the world, the keys and every fault decision. Default 1. */
  seed?: number;
  /** Default `['cn-hangzhou', 'cn-beijing']`. Ignored with `worldFile`. */
  regions?: string[];
  /** Default 3. */
  vpcsPerRegion?: number;
  /** Default 5, at most 1,000 (the ClassicLink per-VPC quota). */
  linksPerVpc?: number;
  /** Classic instances not linked, available to attach. Default 10. */
  unlinkedPerRegion?: number;
  /** Path of a JSON `WorldJson` used instead of the seed generator. */
  worldFile?: string;
  /** Default: one key pair generated from the seed. */
  keys?: SimulatorKey[];
  faults?: Faults;
  /** The world changes by itself every `intervalMs` (demo): `attach` new links, `detach` existing ones. */
  churn?: { intervalMs: number; attach: number; detach: number };
  /** Accepted clock skew of `Timestamp` / `x-acs-date`, and how long nonces are remembered. Default 15 min. */
  maxClockSkewMs?: number;
  /**
   * Keep at most this many recorded requests (the newest). Default: unbounded, as tests want every
   * request; long benchmarks may bound it.
   */
  maxRecordedRequests?: number;
  /** The Alibaba Cloud account (`userIdentity.accountId`, `OwnerId`). Default: 16 digits from the seed. */
  accountId?: string;
  /**
   * Longest instance/VPC name, tag key or tag value the admin endpoints store, in UTF-8 bytes.
   * The real API stops at 128 characters; tests store hostile values of 4 KB and more. Default 65,536.
   */
  maxAttributeBytes?: number;
  /** Keep at most this many ActionTrail records (the newest). Default 100,000. */
  maxActionTrailRecords?: number;
  /**
   * Push each ActionTrail record, once visible, to this EventBridge-style HTTP target in the
   * CloudEvents envelope (eventbridge.ts). Default: no push.
   */
  eventBridge?: EventBridgeTarget;
}

export interface RecordedRequest {
  seq: number;
  /** Epoch ms when the request arrived. */
  at: number;
  action: string;
  regionId?: string;
  /** Operation parameters only (no signature, nonce, timestamp, key or token). */
  params: Record<string, string>;
  accessKeyId?: string;
  signature: 'v1' | 'v3' | 'none';
  /** `SignatureNonce` / `x-acs-signature-nonce`, when sent. */
  nonce?: string;
  /** HTTP status answered; 0 when the socket was reset. */
  status: number;
  /** Error `Code` answered, if any. */
  code?: string;
  /** Which injected fault shaped the answer, if any (e.g. `throttle`, `reset`, `malformed:truncated`). */
  fault?: string;
}

export interface SimWorld {
  regions(): string[];
  vpcs(regionId: string): string[];
  /** The truth, sorted by VPC then instance. */
  links(regionId: string, vpcId?: string): { instanceId: string; vpcId: string }[];
  /** Same rules as the API; throws a `SimApiError` on violation. */
  attach(regionId: string, instanceId: string, vpcId: string): void;
  detach(regionId: string, instanceId: string, vpcId: string): void;
  /** A new unlinked classic instance. */
  createInstance(regionId: string): string;
  /** An instance's attributes, or undefined when the region has no such instance (or it was released). */
  instance(regionId: string, instanceId: string): SimInstance | undefined;
  /**
   * Changes attributes (no ActionTrail record: renames and retags are not link changes). Throws a
   * `SimApiError` for an unknown instance or a value over the size limit.
   */
  updateInstance(regionId: string, instanceId: string, patch: InstancePatch): SimInstance;
  /**
   * Releases the instance with its link, straight in the world: no status rule and no ActionTrail
   * record (the API and the admin endpoint record theirs). Throws `InvalidInstanceId.NotFound`.
   */
  releaseInstance(regionId: string, instanceId: string): void;
  vpc(regionId: string, vpcId: string): SimVpc | undefined;
  updateVpc(regionId: string, vpcId: string, patch: VpcPatch): SimVpc;
  createVpc(regionId: string): string;
  /** Deletes a VPC with its links (the instances stay, unlinked); returns those instances. */
  deleteVpc(regionId: string, vpcId: string): string[];
  snapshot(): WorldJson;
}

export interface RunningSimulator {
  /** e.g. `http://127.0.0.1:45678`; use as `ECS_ENDPOINT` and `VPC_ENDPOINT`. */
  url: string;
  keys: SimulatorKey[];
  /** Every API request, in order (admin requests are not recorded). */
  requests: RecordedRequest[];
  clearRequests(): void;
  /** The faults in force. */
  readonly faults: Faults;
  /** Replaces the faults (throws on an invalid value). */
  setFaults(f: Faults): void;
  world: SimWorld;
  /** The ActionTrail records every Attach/Detach/Delete call made (API, admin endpoints, churn). */
  actionTrail: SimActionTrail;
  /** Who each key is and what it may call. */
  identities(): KeyIdentity[];
  /** Renames a key's RAM user and/or replaces its permissions; throws for an unknown key. */
  setIdentity(
    accessKeyId: string,
    change: { userName?: string; permissions?: string[]; sourceIp?: string },
  ): KeyIdentity;
  /** The account every key belongs to. */
  accountId: string;
  /** The EventBridge push, when `eventBridge` was given: its rules and deliveries. */
  eventBridge: EventBridgePush | undefined;
  /** Closes the server, stops churn and latency timers, destroys open sockets. Idempotent. */
  close(): Promise<void>;
}
