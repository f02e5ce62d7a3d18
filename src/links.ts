/**
 * The link model every room shares: a link, a target, a link's key, and the pure diff between the
 * links a target has now and a complete scan of it. No I/O, no clock: the same inputs always give
 * the same output, in the same order. (In the kernel, not in sync/, because the store, the queue
 * catalog, the alerts and the API client all speak of links and targets.)
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

/**
 * A target as configured (SYNC_TARGETS, an account's `targets`): a region and a VPC, of the
 * account it is listed under.
 */
export type ConfiguredTarget = Omit<TargetRef, 'account'>;

export interface LinkDiff {
  /** In the scan, not linked now. Sorted by (vpcId, instanceId). */
  added: Link[];
  /** Linked now, not in the scan. Sorted by (vpcId, instanceId). */
  removed: Link[];
}

/** The identity of a link inside a target; also the key format of `confirmedRemovals`. */
export function linkKey(link: Link): string {
  return `${link.vpcId}/${link.instanceId}`;
}

/** Orders links by vpcId, then instanceId (code-unit order: locale-independent). */
export function compareLinks(a: Link, b: Link): number {
  if (a.vpcId !== b.vpcId) return a.vpcId < b.vpcId ? -1 : 1;
  if (a.instanceId !== b.instanceId) return a.instanceId < b.instanceId ? -1 : 1;
  return 0;
}

function byKey(links: readonly Link[]): Map<string, Link> {
  const map = new Map<string, Link>();
  for (const l of links) map.set(linkKey(l), { instanceId: l.instanceId, vpcId: l.vpcId });
  return map;
}

/**
 * Links to add and to remove so that `current` becomes `scanned`. Duplicates in either input are
 * treated as one link; the outputs contain fresh objects, sorted, with no duplicates.
 */
export function diffLinks(current: readonly Link[], scanned: readonly Link[]): LinkDiff {
  const now = byKey(current);
  const next = byKey(scanned);
  const added: Link[] = [];
  const removed: Link[] = [];
  for (const [key, link] of next) if (!now.has(key)) added.push(link);
  for (const [key, link] of now) if (!next.has(key)) removed.push(link);
  added.sort(compareLinks);
  removed.sort(compareLinks);
  return { added, removed };
}
