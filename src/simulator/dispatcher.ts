/**
 * The RPC dispatcher: one port for every API (ECS, VPC, ActionTrail), the action named by `Action`
 * (V1) or `x-acs-action` (V3) under its `Version`. Order of checks, as the real gateway: signature
 * and credentials, then the action, then throttling and injected faults, then the operation itself
 * (with its permission check); successful answers may then be corrupted on demand.
 */

import { ACTIONTRAIL_VERSION, ECS_VERSION, findHandler, VPC_VERSION } from './actions.js';
import { type Answer, errorAnswer, jsonAnswer, newRequestId } from './answer.js';
import { defaultMessage, SimApiError } from './api-error.js';
import { type AuthContext, authenticate, type Identified, identify, missing } from './auth.js';
import type { CallContext } from './context.js';
import type { FaultEngine } from './faults.js';
import type { Identities } from './identity.js';
import { headerValue, type IncomingApiRequest } from './incoming.js';
import { corrupt } from './malformed.js';
import type { NonceCache } from './nonce-cache.js';
import type { QpsLimiter } from './qps-limiter.js';
import type { ActionTrail } from './trail.js';
import type { SimulatorKey } from './types.js';
import { MAX_LINKS_PER_VPC, type World } from './world.js';

export interface DispatcherDeps {
  world: World;
  keys: ReadonlyMap<string, SimulatorKey>;
  identities: Identities;
  trail: ActionTrail;
  nonces: NonceCache;
  faults: FaultEngine;
  qps: QpsLimiter;
  maxClockSkewMs: number;
}

/**
 * A region as the path of an ActionTrail endpoint: ActionTrail has no `RegionId` parameter (the
 * host names the region), and the simulator serves every region on one port, so
 * `ACTIONTRAIL_ENDPOINT=http://127.0.0.1:<port>/{region}` says which region a lookup is for.
 */
const REGION_PATH = /^\/([a-z]{2,}(?:-[a-z0-9]+)+)\/?$/;
/** `ecs.cn-hangzhou.aliyuncs.com`, `actiontrail-vpc.cn-beijing.aliyuncs.com`… (through a proxy). */
const REGION_HOST = /^[a-z]+(?:-vpc)?\.([a-z]{2,}(?:-[a-z0-9]+)+)\.aliyuncs\.com(?::\d+)?$/;

export interface Dispatched {
  id: Identified;
  answer: Answer;
  /** How long to hold the answer back (latency faults). */
  delayMs: number;
}

export function dispatch(deps: DispatcherDeps, req: IncomingApiRequest, now: number): Dispatched {
  const id = identify(req);
  const faulty = deps.faults.appliesTo(id.action);
  const delayMs = faulty ? deps.faults.delayMs() : 0;
  const requestId = newRequestId();
  try {
    return { id, delayMs, answer: answerFor(deps, req, id, faulty, requestId, now) };
  } catch (err) {
    const apiErr =
      err instanceof SimApiError ? err : new SimApiError('InternalError', `simulator bug: ${String(err)}`);
    return { id, delayMs, answer: errorAnswer(apiErr, requestId, hostIdOf(id), productOf(id)) };
  }
}

function answerFor(
  deps: DispatcherDeps,
  req: IncomingApiRequest,
  id: Identified,
  faulty: boolean,
  requestId: string,
  now: number,
): Answer {
  const pathRegion = REGION_PATH.exec(req.pathname)?.[1];
  if (req.pathname !== '/' && !(pathRegion !== undefined && id.version === ACTIONTRAIL_VERSION)) {
    throw new SimApiError('InvalidAction.NotFound', `Specified api is not found: path ${req.pathname}.`, 404);
  }
  if (req.method !== 'GET' && req.method !== 'POST') {
    throw new SimApiError('UnsupportedHTTPMethod', `HTTP method ${req.method} is not supported.`);
  }
  const auth: AuthContext = {
    keys: deps.keys,
    nonces: deps.nonces,
    maxClockSkewMs: deps.maxClockSkewMs,
    now,
    routed: pathRegion !== undefined,
  };
  authenticate(req, id, auth);
  if (id.action === '') throw missing('Action');
  if (id.version === '') throw missing('Version');
  const handler = findHandler(id.action, id.version);

  const f = deps.faults.current;
  if (faulty) {
    const injected =
      f.qpsCap !== undefined && !deps.qps.admit(id.accessKeyId ?? '', f.qpsCap, now)
        ? 'qps-cap'
        : deps.faults.pickError();
    if (injected === 'reset') return { ...jsonAnswer(0, {}, requestId), reset: true, fault: 'reset' };
    if (injected !== undefined) return injectedError(injected, f.retryAfterMs, requestId, id);
    const failing = failingVpc(f.failVpcs, id.params.VpcId);
    if (failing) {
      const err = new SimApiError(failing.code, defaultMessage(failing.code));
      const answer = errorAnswer(err, requestId, hostIdOf(id), productOf(id));
      return { ...answer, fault: `failVpc:${failing.vpcId}` };
    }
  }

  const ctx = callContext(deps, req, id, requestId, now, pathRegion);
  const result = handler(ctx, id.params);
  const body = { RequestId: requestId, ...result.body };
  const page = result.vpcPage;
  if (faulty && f.paginationDrift && page && page.pageNumber * page.pageSize < page.totalCount) {
    drift(deps.world, page.regionId, page.vpcId, page.pageNumber * page.pageSize);
  }
  const kind = faulty ? deps.faults.pickMalformed() : undefined;
  if (kind !== undefined) {
    const firstPage = () => handler(ctx, { ...id.params, PageNumber: '1' }).body;
    const other = otherVpc(deps.world, id.params.RegionId, id.params.VpcId);
    const raw = corrupt(kind, body, firstPage, other);
    if (raw) return { status: 200, ...raw, headers: {}, requestId, fault: `malformed:${kind}` };
  }
  return jsonAnswer(200, body, requestId);
}

/** Who calls (the authenticated key's identity) and which region the endpoint names. */
function callContext(
  deps: DispatcherDeps,
  req: IncomingApiRequest,
  id: Identified,
  requestId: string,
  now: number,
  pathRegion: string | undefined,
): CallContext {
  const identity = deps.identities.get(id.accessKeyId ?? '');
  // authenticate() has accepted the key, so it has an identity; anything else is a simulator bug.
  if (!identity) throw new Error(`no identity for the authenticated key ${id.accessKeyId}`);
  const ctx: CallContext = {
    world: deps.world,
    trail: deps.trail,
    actor: {
      identity,
      sourceIp: identity.sourceIp ?? req.remoteAddress,
      userAgent: headerValue(req.headers, 'user-agent') ?? '',
    },
    requestId,
    now,
  };
  const lookupRegion = id.version === ACTIONTRAIL_VERSION ? id.params.RegionId?.trim() : undefined;
  const hostRegion = REGION_HOST.exec(headerValue(req.headers, 'host') ?? '')?.[1];
  const region = pathRegion ?? (lookupRegion || undefined) ?? hostRegion;
  if (region !== undefined) ctx.endpointRegion = region;
  return ctx;
}

function injectedError(
  kind: 'qps-cap' | 'throttle' | 'unavailable' | 'internal',
  retryAfterMs: number | undefined,
  requestId: string,
  id: Identified,
): Answer {
  const code =
    kind === 'unavailable' ? 'ServiceUnavailable' : kind === 'internal' ? 'InternalError' : 'Throttling.User';
  const answer = errorAnswer(
    new SimApiError(code, defaultMessage(code)),
    requestId,
    hostIdOf(id),
    productOf(id),
  );
  if (code === 'Throttling.User' && retryAfterMs !== undefined) {
    answer.headers['x-acs-retry-after'] = String(retryAfterMs);
  }
  return { ...answer, fault: kind };
}

function failingVpc(
  failVpcs: Record<string, string> | undefined,
  vpcParam: string | undefined,
): { vpcId: string; code: string } | undefined {
  if (!failVpcs || vpcParam === undefined) return undefined;
  for (const vpcId of vpcParam.split(',')) {
    const code = failVpcs[vpcId.trim()];
    if (code !== undefined) return { vpcId: vpcId.trim(), code };
  }
  return undefined;
}

/**
 * Pagination drift: a new instance, sorting before the end of the page just served, is attached to
 * the VPC, so TotalCount grows and every later page shifts by one (the last served link reappears).
 */
function drift(world: World, regionId: string, vpcId: string, served: number): void {
  const region = world.region(regionId);
  const list = region?.linksByVpc.get(vpcId);
  const bound = list?.[served - 1];
  if (!list || bound === undefined || list.length >= MAX_LINKS_PER_VPC) return;
  world.attach(regionId, world.createInstanceBefore(regionId, bound), vpcId);
}

function otherVpc(world: World, regionId: string | undefined, vpcId: string | undefined): string {
  const vpcs = regionId === undefined ? [] : (world.region(regionId)?.vpcIds ?? []);
  return vpcs.find((v) => v !== vpcId) ?? 'vpc-foreign00000000000000000';
}

const PRODUCTS: Readonly<Record<string, string>> = {
  [ECS_VERSION]: 'Ecs',
  [VPC_VERSION]: 'Vpc',
  [ACTIONTRAIL_VERSION]: 'Actiontrail',
};

function productOf(id: Identified): string {
  return PRODUCTS[id.version] ?? 'Ecs';
}

function hostIdOf(id: Identified): string {
  const region = id.params.RegionId;
  return `${productOf(id).toLowerCase()}${region ? `.${region}` : ''}.aliyuncs.com`;
}
