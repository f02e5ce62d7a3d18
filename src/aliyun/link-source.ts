/**
 * ClassicLink as a link source: the engine's `LinkSource` over the ECS client
 * (DescribeVpcs for discovery, DescribeClassicLinkInstances by VpcId for pages, by InstanceId for
 * removal confirmation).
 *
 * Discovery's DescribeVpcs listing also carries every VPC's name, CIDR and tags: `onVpcListing`
 * hands it to enrichment, so attributes cost no call of their own while the engine's
 * `discover` keeps returning ids.
 */

import { coerceError, ErrorCode } from '../errors.js';
import type { Link } from '../links.js';
import type { LinkSource } from '../sync/index.js';
import type { VpcInfo } from './actions.js';
import type { EcsClient } from './client.js';

/**
 * Called with each complete discovery listing of a region (after it passed its checks, before
 * `discover` returns). It must not throw: context never holds back link truth.
 */
export type VpcListingHook = (regionId: string, vpcs: readonly VpcInfo[]) => void;

export function classicLinkSource(ecs: EcsClient, hooks: { onVpcListing?: VpcListingHook } = {}): LinkSource {
  return {
    async discover(regionId, opts) {
      const vpcs = await ecs.describeVpcs(regionId, opts);
      try {
        hooks.onVpcListing?.(regionId, vpcs);
      } catch {
        // Enrichment is context: a fault in it (the hook logs its own) never fails discovery.
      }
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
