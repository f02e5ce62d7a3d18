/**
 * Builds a world from the seed, fast enough for the benchmark (10,000 VPCs × 100 links in one
 * region in about a second): ids are drawn, each VPC's links are sorted once and bulk-loaded,
 * and the VPC list is sorted once at the end instead of on every insert.
 */
import type { AttributeLimits } from './attributes.js';
import { newInstanceId, newVpcId } from './ids.js';
import { type Rng, stream } from './random.js';
import { MAX_LINKS_PER_VPC, World } from './world.js';

export interface GenerateOptions {
  seed: number;
  limits?: AttributeLimits;
  regions: string[];
  vpcsPerRegion: number;
  linksPerVpc: number;
  unlinkedPerRegion: number;
}

export function generateWorld(o: GenerateOptions): World {
  if (!Number.isInteger(o.linksPerVpc) || o.linksPerVpc < 0 || o.linksPerVpc > MAX_LINKS_PER_VPC) {
    throw new Error(`linksPerVpc must be an integer 0..${MAX_LINKS_PER_VPC}, got ${o.linksPerVpc}`);
  }
  for (const [name, v] of [
    ['vpcsPerRegion', o.vpcsPerRegion],
    ['unlinkedPerRegion', o.unlinkedPerRegion],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  }
  const rng = stream(o.seed, 'world');
  // Later creations (churn, drift, createVpc) draw from their own stream so that they never depend
  // on how many ids generation consumed.
  const world = new World({
    rng: stream(o.seed, 'world-later'),
    seed: o.seed,
    ...(o.limits ? { limits: o.limits } : {}),
  });
  for (const regionId of o.regions) {
    const region = world.addRegion(regionId);
    const vpcIds: string[] = [];
    for (let v = 0; v < o.vpcsPerRegion; v++) {
      let id = newVpcId(rng, regionId);
      while (region.hasVpc(id)) id = newVpcId(rng, regionId);
      region.addVpc(world.vpcMeta(id), false);
      vpcIds.push(id);
    }
    region.sortVpcs();
    for (const vpcId of vpcIds) {
      const ids = drawInstanceIds(rng, regionId, o.linksPerVpc, (id) => region.instanceVpc.has(id));
      region.loadLinks(vpcId, ids);
    }
    const unlinked = drawInstanceIds(rng, regionId, o.unlinkedPerRegion, (id) => region.instanceVpc.has(id));
    for (const id of unlinked) region.addInstance(id);
  }
  return world;
}

/**
 * `n` new instance ids, sorted. Checked against the region's instances; duplicates within the batch
 * (vanishingly rare with 17 random characters) are found after sorting and redrawn.
 */
function drawInstanceIds(rng: Rng, regionId: string, n: number, taken: (id: string) => boolean): string[] {
  const ids: string[] = [];
  while (ids.length < n) {
    while (ids.length < n) {
      const id = newInstanceId(rng, regionId);
      if (!taken(id)) ids.push(id);
    }
    ids.sort();
    let w = 0;
    for (let r = 0; r < ids.length; r++) if (r === 0 || ids[r] !== ids[r - 1]) ids[w++] = ids[r] as string;
    ids.length = w;
  }
  return ids;
}
