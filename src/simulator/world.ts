/**
 * The simulated world: regions, VPCs, classic instances and their links, with the ClassicLink rules
 * (an instance links to one VPC at most; a VPC holds at most 1,000 links). The API handlers and the
 * admin endpoints both change it through `attach` / `detach`, so both obey the same rules.
 */
import { SimApiError } from './api-error.js';
import { newInstanceId, newVpcId, REGION_ID_RE } from './ids.js';
import type { Rng } from './random.js';
import { RegionState, type VpcMeta } from './region-state.js';
import type { SimWorld, WorldJson } from './types.js';

/** ClassicLink quota: classic instances per VPC. */
export const MAX_LINKS_PER_VPC = 1000;

const CIDRS = ['172.16.0.0/12', '10.0.0.0/8', '192.168.0.0/16'] as const;
const EPOCH_2019 = Date.UTC(2019, 0, 1);

export class World implements SimWorld {
  private readonly byRegion = new Map<string, RegionState>();
  private vpcCounter = 0;

  /** `rng` feeds the ids of everything created after construction. */
  constructor(private readonly rng: Rng) {}

  static fromJson(json: WorldJson, rng: Rng): World {
    const world = new World(rng);
    for (const r of json.regions) {
      const region = world.addRegion(r.regionId);
      for (const v of r.vpcs) region.addVpc(world.vpcMeta(v.vpcId, v.vpcName, v.cidrBlock), false);
      region.sortVpcs();
      for (const id of r.instances) if (!region.instanceVpc.has(id)) region.addInstance(id);
      for (const l of r.links) {
        if (!region.instanceVpc.has(l.instanceId)) region.addInstance(l.instanceId);
        world.attach(r.regionId, l.instanceId, l.vpcId);
      }
    }
    return world;
  }

  addRegion(regionId: string): RegionState {
    if (!REGION_ID_RE.test(regionId)) throw new Error(`not a region id: ${regionId}`);
    if (this.byRegion.has(regionId)) throw new Error(`duplicate region ${regionId}`);
    const region = new RegionState(regionId);
    this.byRegion.set(regionId, region);
    return region;
  }

  region(regionId: string): RegionState | undefined {
    return this.byRegion.get(regionId);
  }

  requireRegion(regionId: string): RegionState {
    const region = this.byRegion.get(regionId);
    if (!region) throw new SimApiError('InvalidRegionId.NotFound', 'The specified RegionId does not exist.');
    return region;
  }

  requireVpc(region: RegionState, vpcId: string): void {
    if (!region.hasVpc(vpcId))
      throw new SimApiError('InvalidVpcId.NotFound', 'The specified VpcId does not exist.');
  }

  /** Metadata for a new VPC; names and creation times count up so they are deterministic. */
  vpcMeta(vpcId: string, vpcName?: string, cidrBlock?: string): VpcMeta {
    const n = this.vpcCounter++;
    return {
      vpcId,
      vpcName: vpcName ?? `sim-vpc-${n + 1}`,
      cidrBlock: cidrBlock ?? CIDRS[n % CIDRS.length] ?? '172.16.0.0/12',
      creationTime: new Date(EPOCH_2019 + n * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  }

  regions(): string[] {
    return [...this.byRegion.keys()];
  }

  vpcs(regionId: string): string[] {
    return [...this.requireRegion(regionId).vpcIds];
  }

  links(regionId: string, vpcId?: string): { instanceId: string; vpcId: string }[] {
    const region = this.requireRegion(regionId);
    const vpcIds = vpcId === undefined ? region.vpcIds : [vpcId];
    if (vpcId !== undefined) this.requireVpc(region, vpcId);
    const out: { instanceId: string; vpcId: string }[] = [];
    for (const v of vpcIds)
      for (const i of region.linksByVpc.get(v) ?? []) out.push({ instanceId: i, vpcId: v });
    return out;
  }

  attach(regionId: string, instanceId: string, vpcId: string): void {
    const region = this.requireRegion(regionId);
    this.requireVpc(region, vpcId);
    const current = region.instanceVpc.get(instanceId);
    if (current === undefined) {
      throw new SimApiError('InvalidInstanceId.NotFound', 'The specified InstanceId does not exist.');
    }
    if (current !== null) {
      throw new SimApiError(
        'InvalidInstanceId.MalFormed',
        `The specified instance is already linked to another VPC (${current}).`,
      );
    }
    if ((region.linksByVpc.get(vpcId)?.length ?? 0) >= MAX_LINKS_PER_VPC) {
      throw new SimApiError(
        'QuotaExceed.ClassicLink',
        `The VPC already has the maximum of ${MAX_LINKS_PER_VPC} ClassicLink instances.`,
      );
    }
    region.link(instanceId, vpcId);
  }

  detach(regionId: string, instanceId: string, vpcId: string): void {
    const region = this.requireRegion(regionId);
    this.requireVpc(region, vpcId);
    if (region.instanceVpc.get(instanceId) !== vpcId) {
      throw new SimApiError(
        'InvalidInstanceId.NotFound',
        'The specified instance does not exist or is not linked to the specified VPC.',
      );
    }
    region.unlink(instanceId, vpcId);
  }

  createInstance(regionId: string): string {
    const region = this.requireRegion(regionId);
    let id = newInstanceId(this.rng, regionId);
    while (region.instanceVpc.has(id)) id = newInstanceId(this.rng, regionId);
    region.addInstance(id);
    return id;
  }

  /**
   * A new instance whose id sorts before `bound` (pagination drift wants the new link to land in
   * pages already served). Random ids are tried first; a forced low prefix is the fallback.
   */
  createInstanceBefore(regionId: string, bound: string): string {
    const region = this.requireRegion(regionId);
    for (let i = 0; i < 64; i++) {
      const id = newInstanceId(this.rng, regionId);
      if (id < bound && !region.instanceVpc.has(id)) {
        region.addInstance(id);
        return id;
      }
    }
    const prefix = bound.slice(0, -1);
    const fallback = `${prefix}${'0'.repeat(Math.max(0, 22 - prefix.length))}`;
    if (fallback < bound && !region.instanceVpc.has(fallback)) {
      region.addInstance(fallback);
      return fallback;
    }
    return this.createInstance(regionId);
  }

  createVpc(regionId: string): string {
    const region = this.requireRegion(regionId);
    let id = newVpcId(this.rng, regionId);
    while (region.hasVpc(id)) id = newVpcId(this.rng, regionId);
    region.addVpc(this.vpcMeta(id));
    return id;
  }

  /**
   * Deletes a VPC with whatever is still linked to it (the instances stay, unlinked): the VPC
   * then answers InvalidVpcId.NotFound and leaves DescribeVpcs. Returns the instances it had.
   */
  deleteVpc(regionId: string, vpcId: string): string[] {
    const region = this.requireRegion(regionId);
    this.requireVpc(region, vpcId);
    return region.removeVpc(vpcId);
  }

  snapshot(): WorldJson {
    return {
      version: 1,
      regions: [...this.byRegion.values()].map((r) => ({
        regionId: r.regionId,
        vpcs: r.vpcIds.map((id) => {
          const m = r.vpcMeta.get(id);
          return { vpcId: id, vpcName: m?.vpcName ?? id, cidrBlock: m?.cidrBlock ?? CIDRS[0] };
        }),
        instances: [...r.instanceList],
        links: this.links(r.regionId),
      })),
    };
  }
}
