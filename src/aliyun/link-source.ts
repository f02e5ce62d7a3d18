/**
 * ClassicLink as a link source: the engine's `LinkSource` over the ECS client
 * (DescribeVpcs for discovery, DescribeClassicLinkInstances by VpcId for pages, by InstanceId for
 * removal confirmation).
 */

import { coerceError, ErrorCode } from '../errors.js';
import type { Link } from '../links.js';
import type { LinkSource } from '../sync/index.js';
import type { EcsClient } from './client.js';

export function classicLinkSource(ecs: EcsClient): LinkSource {
  return {
    async discover(regionId, opts) {
      const vpcs = await ecs.describeVpcs(regionId, opts);
      return vpcs.map((v) => v.vpcId);
    },
    async page(target, pageNumber, pageSize, opts) {
      try {
        return await ecs.describeClassicLinkInstances(
          { regionId: target.regionId, vpcId: target.vpcId, pageNumber, pageSize },
          opts,
        );
      } catch (caught) {
        // A VPC discovery saw disappear has no links: an empty listing. Never a removal by itself —
        // every link the database still holds for it is looked up by InstanceId before it is
        // recorded removed. Any other VPC the API does not know (a typo in SYNC_TARGETS, a VPC
        // deleted between discovery and this scan) is a failed run with the API's code.
        const err = coerceError(caught);
        if (err.code !== ErrorCode.VpcNotFound || opts?.gone !== true) throw err;
        return { requestId: err.requestId ?? '', totalCount: 0, pageNumber, pageSize, links: [] };
      }
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
