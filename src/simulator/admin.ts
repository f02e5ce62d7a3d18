/**
 * The admin API under `/_sim/`: unsigned and unauthenticated on purpose. It is a loopback test
 * tool (the server binds 127.0.0.1 by default); do not expose a simulator beyond the machine.
 *
 *   GET    /_sim/faults      the faults in force (JSON `Faults`)
 *   PUT    /_sim/faults      replace them (JSON `Faults`; `{}` turns every fault off)
 *   GET    /_sim/requests    the recorded API requests
 *   DELETE /_sim/requests    forget them
 *   GET    /_sim/world       the world snapshot (the `worldFile` format)
 *   POST   /_sim/attach      {regionId, instanceId, vpcId, user?, sourceIp?, userAgent?}: link, with
 *                            the API's rules, recorded in ActionTrail (failed calls too)
 *   POST   /_sim/detach      the same body: unlink
 *   POST   /_sim/release     {regionId, instanceId | instanceIds, user?, …}: release (forced), with the
 *                            link; recorded as DeleteInstance, or DeleteInstances for several ids
 *   POST   /_sim/instances   {regionId}: a new unlinked classic instance → {instanceId}
 *   POST   /_sim/vpcs        {regionId}: a new VPC → {vpcId}
 *   GET    /_sim/instance?regionId=&instanceId=   an instance's attributes
 *   POST   /_sim/instance    {regionId, instanceId, instanceName?, status?, tags?, resourceGroupId?}:
 *                            change attributes (no ActionTrail record) → the instance
 *   GET    /_sim/vpc?regionId=&vpcId=             a VPC's attributes
 *   POST   /_sim/vpc         {regionId, vpcId, vpcName?, cidrBlock?, tags?} → the VPC
 *   GET    /_sim/keys        every key's identity (RAM user, principal, permissions; no secrets)
 *   POST   /_sim/keys        {accessKeyId, userName?, permissions?, sourceIp? ('' clears)} → the identity
 *   GET    /_sim/actiontrail           {delayMs, drops, events: [{seq, at, visibleAt, dropped, record}]}
 *   DELETE /_sim/actiontrail           forget every record
 *   POST   /_sim/actiontrail/drop      {next?: n, instanceId?}: drop the next n records / every later
 *                                      record naming the instance → the drop rules
 *   DELETE /_sim/actiontrail/drop      clear the drop rules
 *   GET    /_sim/eventbridge            the push target (no token), its rules and every delivery
 *   POST   /_sim/eventbridge/drop       {next?: n, instanceId?}: the next n pushes / every later push
 *                                       naming the instance are lost (LookupEvents still has them)
 *   POST   /_sim/eventbridge/duplicate  {next: n}: the next n records are pushed twice
 *   POST   /_sim/eventbridge/delay      {ms, next?: n}: the next n pushes (all, without next) wait ms more
 *   DELETE /_sim/eventbridge/rules      clear the push rules
 *
 * `tags` is an object `{"key": "value"}` or, to keep an exact order, `[{"key","value"}]`; it
 * replaces every tag. `user` defaults to `sim-admin`, `sourceIp` to the caller's address.
 * Bad input answers 400 `{"error": "…"}` (plus `code` when a world rule was broken).
 */
import { z } from 'zod';
import { SimApiError } from './api-error.js';
import { ADMIN_USER, ADMIN_USER_AGENT, type AuditedWrites, type Writer } from './audited.js';
import type { EventBridgePush } from './eventbridge.js';
import type { Identities } from './identity.js';
import type { IncomingApiRequest } from './incoming.js';
import type { ActionTrail } from './trail.js';
import { type Faults, INSTANCE_STATUSES, type RecordedRequest, type SimTag } from './types.js';
import type { World } from './world.js';

export interface AdminTarget {
  getFaults(): Faults;
  /** Validates and replaces; throws an Error with a readable message on bad input. */
  setFaults(f: unknown): void;
  requests: RecordedRequest[];
  clearRequests(): void;
  world: World;
  writes: AuditedWrites;
  trail: ActionTrail;
  identities: Identities;
  /** The ActionTrail delay in force, in ms. */
  trailDelayMs(): number;
  /** The EventBridge push, when the simulator has a target. */
  push: EventBridgePush | undefined;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
}

const WriterFields = {
  user: z.string().min(1).optional(),
  sourceIp: z.string().min(1).optional(),
  userAgent: z.string().optional(),
};
const LinkBody = z.object({
  regionId: z.string().min(1),
  instanceId: z.string().min(1),
  vpcId: z.string().min(1),
  ...WriterFields,
});
const ReleaseBody = z
  .object({
    regionId: z.string().min(1),
    instanceId: z.string().min(1).optional(),
    instanceIds: z.array(z.string().min(1)).min(1).max(100).optional(),
    ...WriterFields,
  })
  .refine((b) => (b.instanceId === undefined) !== (b.instanceIds === undefined), {
    message: 'give instanceId or instanceIds (one of them)',
  });
const RegionBody = z.object({ regionId: z.string().min(1) });
const Tags = z.union([
  z.record(z.string(), z.string()),
  z.array(z.object({ key: z.string(), value: z.string() }).strict()),
]);
const InstanceBody = z
  .object({
    regionId: z.string().min(1),
    instanceId: z.string().min(1),
    instanceName: z.string().optional(),
    status: z.enum(INSTANCE_STATUSES).optional(),
    tags: Tags.optional(),
    resourceGroupId: z.string().optional(),
  })
  .strict();
const VpcBody = z
  .object({
    regionId: z.string().min(1),
    vpcId: z.string().min(1),
    vpcName: z.string().optional(),
    cidrBlock: z.string().min(1).optional(),
    tags: Tags.optional(),
  })
  .strict();
const KeyBody = z
  .object({
    accessKeyId: z.string().min(1),
    userName: z.string().min(1).optional(),
    permissions: z.array(z.string().min(1)).optional(),
    sourceIp: z.string().optional(),
  })
  .strict();
const DropBody = z
  .object({ next: z.number().int().min(0).optional(), instanceId: z.string().min(1).optional() })
  .strict();

const PushDuplicateBody = z.object({ next: z.number().int().min(1) }).strict();
const PushDelayBody = z
  .object({ ms: z.number().int().min(0).max(86_400_000), next: z.number().int().min(1).optional() })
  .strict();

class BadInput extends Error {}

function pushOf(t: AdminTarget): EventBridgePush {
  if (!t.push) throw new NoPush();
  return t.push;
}

class NoPush extends Error {}

export function handleAdmin(req: IncomingApiRequest, t: AdminTarget): AdminAnswer {
  const route = `${req.method} ${req.pathname.replace(/\/+$/, '')}`;
  try {
    switch (route) {
      case 'GET /_sim/faults':
        return { status: 200, body: t.getFaults() };
      case 'PUT /_sim/faults':
        try {
          t.setFaults(jsonBody(req));
        } catch (err) {
          throw new BadInput(err instanceof Error ? err.message : String(err));
        }
        return { status: 200, body: t.getFaults() };
      case 'GET /_sim/requests':
        return { status: 200, body: t.requests };
      case 'DELETE /_sim/requests':
        t.clearRequests();
        return { status: 200, body: { cleared: true } };
      case 'GET /_sim/world':
        return { status: 200, body: t.world.snapshot() };
      case 'POST /_sim/attach': {
        const b = parse(LinkBody, req);
        t.writes.attach(writer(b, req), b.regionId, b.instanceId, b.vpcId);
        return { status: 200, body: { attached: link(b) } };
      }
      case 'POST /_sim/detach': {
        const b = parse(LinkBody, req);
        t.writes.detach(writer(b, req), b.regionId, b.instanceId, b.vpcId);
        return { status: 200, body: { detached: link(b) } };
      }
      case 'POST /_sim/release': {
        const b = parse(ReleaseBody, req);
        const ids = b.instanceIds ?? [b.instanceId as string];
        t.writes.release(writer(b, req), b.regionId, ids);
        return { status: 200, body: { released: { regionId: b.regionId, instanceIds: ids } } };
      }
      case 'POST /_sim/instances':
        return { status: 200, body: { instanceId: t.world.createInstance(parse(RegionBody, req).regionId) } };
      case 'POST /_sim/vpcs':
        return { status: 200, body: { vpcId: t.world.createVpc(parse(RegionBody, req).regionId) } };
      case 'GET /_sim/instance': {
        const found = t.world.instance(queryParam(req, 'regionId'), queryParam(req, 'instanceId'));
        return found ? { status: 200, body: found } : notFound('no such instance');
      }
      case 'POST /_sim/instance': {
        const { regionId, instanceId, tags, ...rest } = parse(InstanceBody, req);
        const patch = tags === undefined ? rest : { ...rest, tags: tagList(tags) };
        return { status: 200, body: t.world.updateInstance(regionId, instanceId, patch) };
      }
      case 'GET /_sim/vpc': {
        const found = t.world.vpc(queryParam(req, 'regionId'), queryParam(req, 'vpcId'));
        return found ? { status: 200, body: found } : notFound('no such VPC');
      }
      case 'POST /_sim/vpc': {
        const { regionId, vpcId, tags, ...rest } = parse(VpcBody, req);
        const patch = tags === undefined ? rest : { ...rest, tags: tagList(tags) };
        return { status: 200, body: t.world.updateVpc(regionId, vpcId, patch) };
      }
      case 'GET /_sim/keys':
        return { status: 200, body: t.identities.list() };
      case 'POST /_sim/keys': {
        const { accessKeyId, ...change } = parse(KeyBody, req);
        if (t.identities.get(accessKeyId) === undefined) return notFound(`no key ${accessKeyId}`);
        return { status: 200, body: t.identities.set(accessKeyId, change) };
      }
      case 'GET /_sim/actiontrail':
        return {
          status: 200,
          body: { delayMs: t.trailDelayMs(), drops: t.trail.drops(), events: t.trail.entries() },
        };
      case 'DELETE /_sim/actiontrail':
        t.trail.clear();
        return { status: 200, body: { cleared: true } };
      case 'POST /_sim/actiontrail/drop': {
        const b = parse(DropBody, req);
        if (b.next === undefined && b.instanceId === undefined)
          throw new BadInput('give next and/or instanceId');
        if (b.next !== undefined) t.trail.dropNext(b.next);
        if (b.instanceId !== undefined) t.trail.dropInstance(b.instanceId);
        return { status: 200, body: t.trail.drops() };
      }
      case 'DELETE /_sim/actiontrail/drop':
        t.trail.clearDrops();
        return { status: 200, body: t.trail.drops() };
      case 'GET /_sim/eventbridge':
        return { status: 200, body: pushOf(t).status() };
      case 'POST /_sim/eventbridge/drop': {
        const b = parse(DropBody, req);
        if (b.next === undefined && b.instanceId === undefined)
          throw new BadInput('give next and/or instanceId');
        const push = pushOf(t);
        if (b.next !== undefined) push.dropNext(b.next);
        if (b.instanceId !== undefined) push.dropInstance(b.instanceId);
        return { status: 200, body: push.status().rules };
      }
      case 'POST /_sim/eventbridge/duplicate': {
        const push = pushOf(t);
        push.duplicateNext(parse(PushDuplicateBody, req).next);
        return { status: 200, body: push.status().rules };
      }
      case 'POST /_sim/eventbridge/delay': {
        const b = parse(PushDelayBody, req);
        const push = pushOf(t);
        push.delay(b.ms, b.next);
        return { status: 200, body: push.status().rules };
      }
      case 'DELETE /_sim/eventbridge/rules': {
        const push = pushOf(t);
        push.clearRules();
        return { status: 200, body: push.status().rules };
      }
      default:
        return { status: 404, body: { error: `no admin route ${route}` } };
    }
  } catch (err) {
    if (err instanceof SimApiError) return { status: 400, body: { error: err.message, code: err.code } };
    if (err instanceof BadInput) return { status: 400, body: { error: err.message } };
    if (err instanceof NoPush) {
      return notFound('no EventBridge target: start the simulator with --eventbridge-target');
    }
    throw err;
  }
}

function writer(
  b: { user?: string; sourceIp?: string; userAgent?: string },
  req: IncomingApiRequest,
): Writer {
  return {
    user: b.user ?? ADMIN_USER,
    sourceIp: b.sourceIp ?? req.remoteAddress,
    userAgent: b.userAgent ?? ADMIN_USER_AGENT,
  };
}

function link(b: { regionId: string; instanceId: string; vpcId: string }) {
  return { regionId: b.regionId, instanceId: b.instanceId, vpcId: b.vpcId };
}

function tagList(tags: z.infer<typeof Tags>): SimTag[] {
  return Array.isArray(tags) ? tags : Object.entries(tags).map(([key, value]) => ({ key, value }));
}

function notFound(error: string): AdminAnswer {
  return { status: 404, body: { error } };
}

function queryParam(req: IncomingApiRequest, name: string): string {
  const v = req.query[name];
  if (v === undefined || v === '') throw new BadInput(`the query needs ${name}`);
  return v;
}

function jsonBody(req: IncomingApiRequest): unknown {
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new BadInput('the body must be JSON');
  }
}

function parse<T>(schema: z.ZodType<T>, req: IncomingApiRequest): T {
  const parsed = schema.safeParse(jsonBody(req));
  if (!parsed.success) throw new BadInput(z.prettifyError(parsed.error));
  return parsed.data;
}
