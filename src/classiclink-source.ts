/**
 * ClassicLink as a link source: the engine's `LinkSource` over the ECS client
 * (DescribeVpcs for discovery, DescribeClassicLinkInstances by VpcId for pages, by InstanceId for
 * removal confirmation).
 */
import type { EcsClient } from './ecs-client.js';
import type { Link, LinkSource } from './source.js';

export function classicLinkSource(ecs: EcsClient): LinkSource {
  return {
    async discover(regionId, opts) {
      const vpcs = await ecs.describeVpcs(regionId, opts);
      return vpcs.map((v) => v.vpcId);
    },
    page(target, pageNumber, pageSize, opts) {
      return ecs.describeClassicLinkInstances(
        { regionId: target.regionId, vpcId: target.vpcId, pageNumber, pageSize },
        opts,
      );
    },
    async lookup(regionId, instanceIds, opts) {
      const links: Link[] = [];
      for await (const page of ecs.classicLinkPages(
        { regionId, instanceIds: [...instanceIds], pageSize: 100 },
        opts,
      )) {
        links.push(...page.links);
      }
      return links;
    },
  };
}
