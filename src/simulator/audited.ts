/**
 * Link changes made on someone's behalf without a signed request — the admin endpoints and churn —
 * recorded in ActionTrail exactly as the API records its own calls (same event names, parameters
 * and identity fields), so a test cannot tell an admin attach from an API one by its record.
 */
import { newRequestId } from './answer.js';
import { SimApiError } from './api-error.js';
import { hash32 } from './attributes.js';
import type { Identities } from './identity.js';
import type { ActionTrail, AuditCall, AuditedAction } from './trail.js';
import type { World } from './world.js';

/** Who makes a change: a RAM user name (a key's user when one has it), where from, with what. */
export interface Writer {
  user: string;
  sourceIp: string;
  userAgent: string;
}

/** Default writer of the admin endpoints. */
export const ADMIN_USER = 'sim-admin';
export const ADMIN_USER_AGENT = 'classiclink-sync-simulator/admin';

/** The named RAM users churn acts as (the demo prints who made each change). */
const CHURN_WRITERS: readonly Writer[] = [
  { user: 'ops-admin', sourceIp: '47.96.12.34', userAgent: 'AlibabaCloud (linux; x64) Terraform/1.9.5' },
  { user: 'migration-bot', sourceIp: '10.0.3.17', userAgent: 'aliyun-cli/3.0.250' },
  { user: 'alice.wang', sourceIp: '116.62.45.78', userAgent: 'AlibabaCloud (darwin; arm64) Node.js/20' },
];

/** Churn's writer for a change of this instance: picked by hash, so the churn stream is untouched. */
export function churnWriter(instanceId: string): Writer {
  return CHURN_WRITERS[hash32(0, instanceId) % CHURN_WRITERS.length] as Writer;
}

export class AuditedWrites {
  constructor(
    private readonly world: World,
    private readonly trail: ActionTrail,
    private readonly identities: Identities,
  ) {}

  attach(w: Writer, regionId: string, instanceId: string, vpcId: string): void {
    const params = { RegionId: regionId, InstanceId: instanceId, VpcId: vpcId };
    this.trail.audit(this.call(w, 'AttachClassicLinkVpc', regionId, params, [instanceId], vpcId), () =>
      this.world.attach(regionId, instanceId, vpcId),
    );
  }

  detach(w: Writer, regionId: string, instanceId: string, vpcId: string): void {
    const params = { RegionId: regionId, InstanceId: instanceId, VpcId: vpcId };
    this.trail.audit(this.call(w, 'DetachClassicLinkVpc', regionId, params, [instanceId], vpcId), () =>
      this.world.detach(regionId, instanceId, vpcId),
    );
  }

  /**
   * Releases instances whatever their status (a forced release), recorded as `DeleteInstance`
   * (one id) or `DeleteInstances` (`InstanceId.1…`). All are checked before any is released.
   */
  release(w: Writer, regionId: string, instanceIds: readonly string[]): void {
    const one = instanceIds.length === 1;
    const params: Record<string, string> = { RegionId: regionId, Force: 'true' };
    if (one) params.InstanceId = instanceIds[0] as string;
    else {
      instanceIds.forEach((id, i) => {
        params[`InstanceId.${i + 1}`] = id;
      });
    }
    const call = this.call(w, one ? 'DeleteInstance' : 'DeleteInstances', regionId, params, [...instanceIds]);
    this.trail.audit(call, () => {
      if (instanceIds.length === 0) throw new SimApiError('MissingParameter', 'No InstanceId was given.');
      for (const id of instanceIds) {
        if (this.world.instance(regionId, id) === undefined) {
          throw new SimApiError('InvalidInstanceId.NotFound', 'The specified InstanceId does not exist.');
        }
      }
      for (const id of instanceIds) this.world.releaseInstance(regionId, id);
    });
  }

  private call(
    w: Writer,
    eventName: AuditedAction,
    regionId: string,
    requestParameters: Record<string, string>,
    instanceIds: string[],
    vpcId?: string,
  ): AuditCall {
    const call: AuditCall = {
      eventName,
      actor: { identity: this.identities.forUser(w.user), sourceIp: w.sourceIp, userAgent: w.userAgent },
      regionId,
      requestId: newRequestId(),
      requestParameters,
      instanceIds,
      at: Date.now(),
    };
    if (vpcId !== undefined) call.vpcId = vpcId;
    return call;
  }
}
