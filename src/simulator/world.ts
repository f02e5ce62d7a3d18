/**
 * The simulated world: regions, VPCs, classic instances and their links, with the ClassicLink rules
 * (an instance links to one VPC at most; a VPC holds at most 1,000 links). The API handlers and the
 * admin endpoints both change it through `attach` / `detach`, so both obey the same rules.
 */
import { SimApiError } from './api-error.js';
import {
  type AttributeLimits,
  checkAttribute,
  checkTags,
  DEFAULT_ATTRIBUTE_LIMITS,
  defaultInstanceAttrs,
  defaultVpcAttrs,
} from './attributes.js';
import { newInstanceId, newVpcId, REGION_ID_RE } from './ids.js';
import type { Rng } from './random.js';
import { RegionState, type VpcMeta } from './region-state.js';
import type {
  InstanceAttrs,
  InstancePatch,
  SimInstance,
  SimVpc,
  SimWorld,
  VpcPatch,
  WorldJson,
} from './types.js';

export interface WorldOptions {
  /** Feeds the ids of everything created after construction. */
  rng: Rng;
  /** Seeds the default attributes (names, statuses, IPs, tags), apart from the ids. Default 1. */
  seed?: number;
  limits?: AttributeLimits;
}

/** ClassicLink quota: classic instances per VPC. */
export const MAX_LINKS_PER_VPC = 1000;

const CIDRS = ['172.16.0.0/12', '10.0.0.0/8', '192.168.0.0/16'] as const;
const EPOCH_2019 = Date.UTC(2019, 0, 1);

export class World implements SimWorld {
  private readonly byRegion = new Map<string, RegionState>();
  private vpcCounter = 0;
  private readonly rng: Rng;
  readonly seed: number;
  readonly limits: AttributeLimits;

  constructor(o: WorldOptions) {
    this.rng = o.rng;
    this.seed = o.seed ?? 1;
    this.limits = o.limits ?? DEFAULT_ATTRIBUTE_LIMITS;
  }

  static fromJson(json: WorldJson, o: WorldOptions): World {
    const world = new World(o);
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

  /**
   * Metadata for a new VPC; names and creation times count up so they are deterministic, tags
   * come from the seed and the id (never from the id stream).
   */
  vpcMeta(vpcId: string, vpcName?: string, cidrBlock?: string): VpcMeta {
    const n = this.vpcCounter++;
    const attrs = defaultVpcAttrs(this.seed, vpcId);
    return {
      vpcId,
      vpcName: vpcName ?? `sim-vpc-${n + 1}`,
      cidrBlock: cidrBlock ?? CIDRS[n % CIDRS.length] ?? '172.16.0.0/12',
      creationTime: new Date(EPOCH_2019 + n * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      tags: attrs.tags,
      resourceGroupId: attrs.resourceGroupId,
    };
  }

  /** An instance's attributes: the changed ones if an admin call changed them, else the defaults. */
  attrsOf(region: RegionState, instanceId: string): InstanceAttrs {
    return (
      region.instanceAttrs.get(instanceId) ?? defaultInstanceAttrs(this.seed, region.regionId, instanceId)
    );
  }

  instance(regionId: string, instanceId: string): SimInstance | undefined {
    const region = this.requireRegion(regionId);
    const linkedVpcId = region.instanceVpc.get(instanceId);
    if (linkedVpcId === undefined) return undefined;
    const a = this.attrsOf(region, instanceId);
    return { instanceId, regionId, ...a, tags: a.tags.map((t) => ({ ...t })), linkedVpcId };
  }

  /** The region holding an instance (ids are unique across regions in practice), if any. */
  regionOfInstance(instanceId: string): string | undefined {
    for (const [regionId, r] of this.byRegion) if (r.instanceVpc.has(instanceId)) return regionId;
    return undefined;
  }

  updateInstance(regionId: string, instanceId: string, patch: InstancePatch): SimInstance {
    const region = this.requireRegion(regionId);
    if (!region.instanceVpc.has(instanceId)) throw instanceNotFound();
    if (patch.instanceName !== undefined) checkAttribute(this.limits, 'instanceName', patch.instanceName);
    if (patch.resourceGroupId !== undefined)
      checkAttribute(this.limits, 'resourceGroupId', patch.resourceGroupId);
    if (patch.tags !== undefined) checkTags(this.limits, patch.tags);
    const current = this.attrsOf(region, instanceId);
    const next: InstanceAttrs = { ...current };
    if (patch.instanceName !== undefined) next.instanceName = patch.instanceName;
    if (patch.status !== undefined) next.status = patch.status;
    if (patch.resourceGroupId !== undefined) next.resourceGroupId = patch.resourceGroupId;
    if (patch.tags !== undefined) next.tags = patch.tags.map((t) => ({ key: t.key, value: t.value }));
    region.instanceAttrs.set(instanceId, next);
    return this.instance(regionId, instanceId) as SimInstance;
  }

  releaseInstance(regionId: string, instanceId: string): void {
    const region = this.requireRegion(regionId);
    if (!region.instanceVpc.has(instanceId)) throw instanceNotFound();
    region.releaseInstance(instanceId);
  }

  vpc(regionId: string, vpcId: string): SimVpc | undefined {
    const m = this.requireRegion(regionId).vpcMeta.get(vpcId);
    if (!m) return undefined;
    return {
      vpcId,
      regionId,
      vpcName: m.vpcName,
      cidrBlock: m.cidrBlock,
      tags: m.tags.map((t) => ({ ...t })),
      creationTime: m.creationTime,
    };
  }

  updateVpc(regionId: string, vpcId: string, patch: VpcPatch): SimVpc {
    const region = this.requireRegion(regionId);
    this.requireVpc(region, vpcId);
    const m = region.vpcMeta.get(vpcId) as VpcMeta;
    if (patch.vpcName !== undefined) checkAttribute(this.limits, 'vpcName', patch.vpcName);
    if (patch.cidrBlock !== undefined) checkAttribute(this.limits, 'cidrBlock', patch.cidrBlock);
    if (patch.tags !== undefined) checkTags(this.limits, patch.tags);
    if (patch.vpcName !== undefined) m.vpcName = patch.vpcName;
    if (patch.cidrBlock !== undefined) m.cidrBlock = patch.cidrBlock;
    if (patch.tags !== undefined) m.tags = patch.tags.map((t) => ({ key: t.key, value: t.value }));
    return this.vpc(regionId, vpcId) as SimVpc;
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
    if (current === undefined) throw instanceNotFound();
    const status = this.attrsOf(region, instanceId).status;
    // The API links only a running or stopped instance.
    if (status !== 'Running' && status !== 'Stopped') {
      throw new SimApiError(
        'IncorrectInstanceStatus',
        `The current status of the resource does not support this operation (${status}).`,
      );
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

function instanceNotFound(): SimApiError {
  return new SimApiError('InvalidInstanceId.NotFound', 'The specified InstanceId does not exist.');
}
