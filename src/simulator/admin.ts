/**
 * The admin API under `/_sim/`: unsigned and unauthenticated on purpose. It is a loopback test
 * tool (the server binds 127.0.0.1 by default); do not expose a simulator beyond the machine.
 *
 *   GET    /_sim/faults      the faults in force (JSON `Faults`)
 *   PUT    /_sim/faults      replace them (JSON `Faults`; `{}` turns every fault off)
 *   GET    /_sim/requests    the recorded API requests
 *   DELETE /_sim/requests    forget them
 *   GET    /_sim/world       the world snapshot (the `worldFile` format)
 *   POST   /_sim/attach      {regionId, instanceId, vpcId}: link, with the API's rules
 *   POST   /_sim/detach      {regionId, instanceId, vpcId}: unlink
 *   POST   /_sim/instances   {regionId}: a new unlinked classic instance → {instanceId}
 *   POST   /_sim/vpcs        {regionId}: a new VPC → {vpcId}
 *
 * Bad input answers 400 `{"error": "…"}` (plus `code` when a world rule was broken).
 */
import { z } from 'zod';
import { SimApiError } from './api-error.js';
import type { IncomingApiRequest } from './incoming.js';
import type { Faults, RecordedRequest } from './types.js';
import type { World } from './world.js';

export interface AdminTarget {
  getFaults(): Faults;
  /** Validates and replaces; throws an Error with a readable message on bad input. */
  setFaults(f: unknown): void;
  requests: RecordedRequest[];
  clearRequests(): void;
  world: World;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
}

const LinkBody = z.object({
  regionId: z.string().min(1),
  instanceId: z.string().min(1),
  vpcId: z.string().min(1),
});
const RegionBody = z.object({ regionId: z.string().min(1) });

class BadInput extends Error {}

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
        t.world.attach(b.regionId, b.instanceId, b.vpcId);
        return { status: 200, body: { attached: b } };
      }
      case 'POST /_sim/detach': {
        const b = parse(LinkBody, req);
        t.world.detach(b.regionId, b.instanceId, b.vpcId);
        return { status: 200, body: { detached: b } };
      }
      case 'POST /_sim/instances':
        return { status: 200, body: { instanceId: t.world.createInstance(parse(RegionBody, req).regionId) } };
      case 'POST /_sim/vpcs':
        return { status: 200, body: { vpcId: t.world.createVpc(parse(RegionBody, req).regionId) } };
      default:
        return { status: 404, body: { error: `no admin route ${route}` } };
    }
  } catch (err) {
    if (err instanceof SimApiError) return { status: 400, body: { error: err.message, code: err.code } };
    if (err instanceof BadInput) return { status: 400, body: { error: err.message } };
    throw err;
  }
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
