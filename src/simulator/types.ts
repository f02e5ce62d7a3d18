/**
 * The simulator's public types. Other modules (tests, the demo, benchmarks, the `simulate` command)
 * code against exactly these; keep them stable.
 */

/** A key pair the simulator accepts. A key with `securityToken` behaves like STS credentials. */
export interface SimulatorKey {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, every request signed with this key must carry this token (STS). */
  securityToken?: string;
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
  /** Closes the server, stops churn and latency timers, destroys open sockets. Idempotent. */
  close(): Promise<void>;
}
