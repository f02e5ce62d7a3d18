/**
 * The simulated ActionTrail: every Attach/Detach/Delete call, made through the signed API, the
 * admin endpoints or churn, becomes a record in the real record shape (reference/
 * alibaba-actiontrail.md §1.4), failed calls with their `errorCode`. A record becomes visible to
 * LookupEvents `delayMs` after its call (the real lag is unknown, never zero). Drop rules let a
 * test make a change that leaves no record.
 */
import { randomUUID } from 'node:crypto';
import { formatTimestamp } from '../aliyun/index.js';
import { SimApiError } from './api-error.js';
import type { Actor } from './identity.js';
import type { SimActionTrail, TrailEntry, TrailRecord } from './types.js';

export const ECS_API_VERSION = '2014-05-26';

/** Link-changing ECS actions, the only ones the simulator audits. */
export type AuditedAction =
  | 'AttachClassicLinkVpc'
  | 'DetachClassicLinkVpc'
  | 'DeleteInstance'
  | 'DeleteInstances';

/** One call to record. */
export interface AuditCall {
  eventName: AuditedAction;
  actor: Actor;
  /** `acsRegion`: the region the call acted in. */
  regionId: string;
  requestId: string;
  /** The call's operation parameters as sent (`InstanceId.1`… for DeleteInstances). */
  requestParameters: Record<string, string>;
  instanceIds: string[];
  vpcId?: string;
  /** Epoch ms of the call. */
  at: number;
}

export interface TrailOptions {
  /** The delay in force when a record is made, in ms. */
  delayMs: () => number;
  /** Keep at most this many records (the newest). */
  maxRecords: number;
}

export const DEFAULT_TRAIL_DELAY_MS = 1000;
export const DEFAULT_MAX_TRAIL_RECORDS = 100_000;

export class ActionTrail implements SimActionTrail {
  private readonly list: TrailEntry[] = [];
  private seq = 0;
  private dropCount = 0;
  private readonly dropIds = new Set<string>();
  private readonly listeners: ((entry: TrailEntry) => void)[] = [];

  constructor(private readonly o: TrailOptions) {}

  /** Calls `fn` with every record made from now on (the EventBridge push), dropped ones included. */
  onRecord(fn: (entry: TrailEntry) => void): void {
    this.listeners.push(fn);
  }

  /** Runs `op` and records the call: its success, or the `SimApiError` it threw (then rethrown). */
  audit<T>(call: AuditCall, op: () => T): T {
    let result: T;
    try {
      result = op();
    } catch (err) {
      if (err instanceof SimApiError) this.record(call, err);
      throw err;
    }
    this.record(call);
    return result;
  }

  record(call: AuditCall, failure?: SimApiError): TrailEntry {
    const { actor, regionId } = call;
    const host = `ecs.${regionId}.aliyuncs.com`;
    const resources: Record<string, string[]> = { 'ACS::ECS::Instance': [...call.instanceIds] };
    if (call.vpcId !== undefined) resources['ACS::VPC::VPC'] = [call.vpcId];
    const record: TrailRecord = {
      eventId: randomUUID(),
      eventVersion: 1,
      eventName: call.eventName,
      eventType: 'ApiCall',
      eventRW: 'Write',
      eventSource: host,
      eventTime: formatTimestamp(new Date(call.at)),
      acsRegion: regionId,
      serviceName: 'Ecs',
      apiVersion: ECS_API_VERSION,
      requestId: call.requestId,
      requestParameters: {
        ...call.requestParameters,
        AcsHost: host,
        AcsProduct: 'Ecs',
        RequestId: call.requestId,
      },
      referencedResources: resources,
      resourceType: 'ACS::ECS::Instance',
      resourceName: call.instanceIds.join(';'),
      userIdentity: {
        type: 'ram-user',
        principalId: actor.identity.principalId,
        accountId: actor.identity.accountId,
        userName: actor.identity.userName,
        accessKeyId: actor.identity.accessKeyId,
      },
      sourceIpAddress: actor.sourceIp,
      userAgent: actor.userAgent,
      isGlobal: false,
    };
    if (failure) {
      record.errorCode = failure.code;
      record.errorMessage = failure.message;
    } else {
      record.responseElements = { RequestId: call.requestId };
    }
    const entry: TrailEntry = {
      seq: ++this.seq,
      at: call.at,
      visibleAt: call.at + this.o.delayMs(),
      dropped: this.shouldDrop(call.instanceIds),
      instanceIds: [...call.instanceIds],
      record,
    };
    this.list.push(entry);
    for (const fn of this.listeners) fn(entry);
    // Trim in batches so a bounded trail costs O(1) amortised per record.
    const max = this.o.maxRecords;
    if (this.list.length > max + Math.min(1024, max)) this.list.splice(0, this.list.length - max);
    return entry;
  }

  private shouldDrop(instanceIds: readonly string[]): boolean {
    if (instanceIds.some((id) => this.dropIds.has(id))) return true;
    if (this.dropCount > 0) {
      this.dropCount--;
      return true;
    }
    return false;
  }

  /** Records LookupEvents may return at `now`, oldest first: not dropped, past their delay. */
  visible(now: number): TrailEntry[] {
    return this.list.filter((e) => !e.dropped && e.visibleAt <= now);
  }

  entries(): TrailEntry[] {
    return this.list.map((e) => structuredClone(e));
  }

  dropNext(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`dropNext needs a whole number, got ${n}`);
    this.dropCount += n;
  }

  dropInstance(instanceId: string): void {
    this.dropIds.add(instanceId);
  }

  clearDrops(): void {
    this.dropCount = 0;
    this.dropIds.clear();
  }

  /** The drop rules in force. */
  drops(): { next: number; instanceIds: string[] } {
    return { next: this.dropCount, instanceIds: [...this.dropIds] };
  }

  clear(): void {
    this.list.length = 0;
  }
}
