/**
 * Discovery's DescribeVpcs listing carries every VPC's name, CIDR and tags: recording them costs
 * no call of its own (aliyun/link-source.ts `onVpcListing`). A complete listing is also the proof
 * that a VPC it no longer gives is gone (`deleted_at`).
 *
 * The hook is called inside discovery and must not throw or hold it up: the write runs on its own,
 * and a failure is one log line (the next plan records it again).
 */
import type { VpcListingHook } from '../aliyun/index.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { vpcRecord } from './records.js';

export interface VpcListingDeps {
  store: Pick<Store, 'upsertVpcs' | 'markUnlistedVpcsDeleted'>;
  log: Logger;
  now?: () => Date;
}

/** The `onVpcListing` hook of an account's link source. */
export function vpcListingRecorder(deps: VpcListingDeps): (account: string) => VpcListingHook {
  const now = deps.now ?? (() => new Date());
  return (account) => (regionId, vpcs) => {
    const seenAt = now();
    const log = deps.log.child({ component: 'enrich', account, regionId });
    for (const v of vpcs) {
      if (v.refused) {
        log.warn(
          { vpcId: v.vpcId, field: v.refused.field, problem: v.refused.message },
          `DescribeVpcs attributes refused at ${v.refused.field}: ${v.refused.message}`,
        );
      }
    }
    const attributes = vpcs.flatMap((v) => (v.attributes ? [vpcRecord(v.attributes)] : []));
    void (async () => {
      const written = await deps.store.upsertVpcs({ account, regionId, vpcs: attributes, seenAt });
      const deleted = await deps.store.markUnlistedVpcsDeleted({
        account,
        regionId,
        listed: vpcs.map((v) => v.vpcId),
        at: seenAt,
      });
      if (written + deleted > 0) log.info({ written, deleted }, 'VPC attributes recorded');
    })().catch((err: unknown) => log.warn({ err: String(err) }, 'VPC attributes not recorded'));
  };
}
