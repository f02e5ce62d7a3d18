/**
 * World churn for the demo: every `intervalMs`, `detach` random links go away and `attach` new ones
 * appear, through the same rules as the API, each recorded in ActionTrail as made by one of a few
 * named RAM users. Randomness comes from the seed's `churn` stream.
 */
import { SimApiError } from './api-error.js';
import { type AuditedWrites, churnWriter } from './audited.js';
import { type Rng, randomInt } from './random.js';
import type { RegionState } from './region-state.js';
import { MAX_LINKS_PER_VPC, type World } from './world.js';

export interface ChurnOptions {
  intervalMs: number;
  attach: number;
  detach: number;
}

/** Starts the timer (unref'd, so it never keeps a process alive); returns the function that stops it. */
export function startChurn(world: World, writes: AuditedWrites, o: ChurnOptions, rng: Rng): () => void {
  if (!Number.isInteger(o.intervalMs) || o.intervalMs < 1) throw new Error('churn.intervalMs must be ≥ 1');
  if (!(o.attach >= 0 && o.detach >= 0)) throw new Error('churn.attach and churn.detach must be ≥ 0');
  const timer = setInterval(() => churnOnce(world, writes, o, rng), o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export function churnOnce(
  world: World,
  writes: AuditedWrites,
  o: { attach: number; detach: number },
  rng: Rng,
): void {
  const regions = world.regions();
  if (regions.length === 0) return;
  const pickRegion = (): RegionState | undefined =>
    world.region(regions[randomInt(rng, regions.length)] ?? '');
  for (let i = 0; i < o.detach; i++) {
    const r = pickRegion();
    const vpcId = r && pickVpc(r, rng, (n) => n > 0);
    const list = vpcId === undefined ? undefined : r?.linksByVpc.get(vpcId);
    const instanceId = list?.[randomInt(rng, list.length)];
    if (r && vpcId && instanceId) writes.detach(churnWriter(instanceId), r.regionId, instanceId, vpcId);
  }
  for (let i = 0; i < o.attach; i++) {
    const r = pickRegion();
    const vpcId = r && pickVpc(r, rng, (n) => n < MAX_LINKS_PER_VPC);
    if (!r || !vpcId) continue;
    const instanceId = pickUnlinked(world, r, rng);
    try {
      writes.attach(churnWriter(instanceId), r.regionId, instanceId, vpcId);
    } catch (err) {
      if (!(err instanceof SimApiError)) throw err;
    }
  }
}

/** A random VPC whose link count passes `ok`; a few tries, then give up (the world may be full). */
function pickVpc(r: RegionState, rng: Rng, ok: (links: number) => boolean): string | undefined {
  for (let i = 0; i < 16 && r.vpcIds.length > 0; i++) {
    const vpcId = r.vpcIds[randomInt(rng, r.vpcIds.length)];
    if (vpcId !== undefined && ok(r.linksByVpc.get(vpcId)?.length ?? 0)) return vpcId;
  }
  return undefined;
}

/** An existing unlinked instance if a few random tries find one, else a new instance. */
function pickUnlinked(world: World, r: RegionState, rng: Rng): string {
  for (let i = 0; i < 16 && r.instanceList.length > 0; i++) {
    const id = r.instanceList[randomInt(rng, r.instanceList.length)];
    if (id !== undefined && r.instanceVpc.get(id) === null) return id;
  }
  return world.createInstance(r.regionId);
}
