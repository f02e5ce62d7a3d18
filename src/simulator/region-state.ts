/**
 * One region of the simulated world. Every lookup the API needs is a map get or a binary search:
 * the benchmark world holds 1,000,000 links in one region and must answer a page in microseconds.
 */

import { insertSorted, removeSorted } from './sorted.js';
import type { InstanceAttrs, SimTag } from './types.js';

export interface VpcMeta {
  vpcId: string;
  vpcName: string;
  cidrBlock: string;
  creationTime: string;
  tags: SimTag[];
  resourceGroupId: string;
}

export class RegionState {
  /** VPC ids, sorted. */
  readonly vpcIds: string[] = [];
  readonly vpcMeta = new Map<string, VpcMeta>();
  /** vpcId → linked instance ids, sorted (the order DescribeClassicLinkInstances pages in). */
  readonly linksByVpc = new Map<string, string[]>();
  /** Every classic instance → the VPC it is linked to, or null. */
  readonly instanceVpc = new Map<string, string | null>();
  /** Every classic instance, in creation order (for random picks by churn). */
  readonly instanceList: string[] = [];
  /**
   * Attributes of the instances an admin call changed; every other instance has its defaults
   * (attributes.ts), computed when asked, so a big world stores nothing for them.
   */
  readonly instanceAttrs = new Map<string, InstanceAttrs>();
  linkCount = 0;
  /** Every instance id, sorted, built on demand for full DescribeInstances listings. */
  private sortedCache: string[] | undefined;

  constructor(readonly regionId: string) {}

  hasVpc(vpcId: string): boolean {
    return this.vpcMeta.has(vpcId);
  }

  /** Adds a VPC; `sorted: false` defers ordering to `sortVpcs()` (bulk generation). */
  addVpc(meta: VpcMeta, sorted = true): void {
    if (this.vpcMeta.has(meta.vpcId)) throw new Error(`duplicate VPC ${meta.vpcId}`);
    this.vpcMeta.set(meta.vpcId, meta);
    this.linksByVpc.set(meta.vpcId, []);
    if (sorted) insertSorted(this.vpcIds, meta.vpcId);
    else this.vpcIds.push(meta.vpcId);
  }

  sortVpcs(): void {
    this.vpcIds.sort();
  }

  addInstance(instanceId: string): void {
    if (this.instanceVpc.has(instanceId)) throw new Error(`duplicate instance ${instanceId}`);
    this.instanceVpc.set(instanceId, null);
    this.instanceList.push(instanceId);
    this.sortedCache = undefined;
  }

  /**
   * Removes an instance and its link (release). The creation-order list is spliced: releases are
   * rare next to reads, and churn must never pick a released instance.
   */
  releaseInstance(instanceId: string): void {
    const vpcId = this.instanceVpc.get(instanceId);
    if (vpcId === undefined) return;
    if (vpcId !== null) this.unlink(instanceId, vpcId);
    this.instanceVpc.delete(instanceId);
    const i = this.instanceList.indexOf(instanceId);
    if (i !== -1) this.instanceList.splice(i, 1);
    this.instanceAttrs.delete(instanceId);
    this.sortedCache = undefined;
  }

  /** Every instance id in code-unit order (cached until the next add or release). */
  sortedInstances(): readonly string[] {
    this.sortedCache ??= [...this.instanceVpc.keys()].sort();
    return this.sortedCache;
  }

  /** Bulk load: `instanceIds` must be new instances, already sorted. */
  loadLinks(vpcId: string, instanceIds: string[]): void {
    const list = this.linksByVpc.get(vpcId);
    if (!list || list.length > 0) throw new Error(`loadLinks needs an empty known VPC: ${vpcId}`);
    for (const id of instanceIds) {
      if (this.instanceVpc.has(id)) throw new Error(`duplicate instance ${id}`);
      this.instanceVpc.set(id, vpcId);
      this.instanceList.push(id);
      list.push(id);
    }
    this.linkCount += instanceIds.length;
    this.sortedCache = undefined;
  }

  link(instanceId: string, vpcId: string): void {
    const list = this.linksByVpc.get(vpcId);
    if (!list) throw new Error(`unknown VPC ${vpcId}`);
    insertSorted(list, instanceId);
    this.instanceVpc.set(instanceId, vpcId);
    this.linkCount++;
  }

  /** Deletes a VPC; its linked instances become unlinked. Returns the instances it had. */
  removeVpc(vpcId: string): string[] {
    const list = this.linksByVpc.get(vpcId) ?? [];
    for (const id of list) this.instanceVpc.set(id, null);
    this.linkCount -= list.length;
    this.linksByVpc.delete(vpcId);
    this.vpcMeta.delete(vpcId);
    removeSorted(this.vpcIds, vpcId);
    return list;
  }

  unlink(instanceId: string, vpcId: string): void {
    const list = this.linksByVpc.get(vpcId);
    if (list && removeSorted(list, instanceId)) {
      this.instanceVpc.set(instanceId, null);
      this.linkCount--;
    }
  }
}
