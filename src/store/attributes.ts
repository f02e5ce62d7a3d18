/**
 * The attribute tables (`instances`, `vpcs`): what DescribeInstances and DescribeVpcs said, written
 * only when something changed. Each write is one set-based statement over unnest() arrays whose
 * ON CONFLICT … WHERE … IS DISTINCT FROM skips every row the answer did not change: a refresh that
 * finds nothing new writes no row (no tuple, no WAL beyond the statement), and `updated_at` is the
 * time of the last real change. Rows go in sorted by id, so two concurrent refreshes of
 * overlapping sets lock in the same order and never deadlock.
 */
import { query, storable, storableTags } from './tx.js';
import type {
  AccountRegion,
  InstanceAttributes,
  MarkInstancesReleasedInput,
  MarkUnlistedVpcsDeletedInput,
  MarkVpcsDeletedInput,
  MissingAttributesInput,
  StoreDeps,
  UpsertInstancesInput,
  UpsertVpcsInput,
  VpcAttributes,
} from './types.js';

const DEFAULT_MISSING_LIMIT = 1_000;

/** The last entry per id, sorted by id: ON CONFLICT DO UPDATE may touch a row once per statement. */
function latestById<T>(items: readonly T[], id: (item: T) => string): T[] {
  const byId = new Map<string, T>();
  for (const item of items) byId.set(id(item), item);
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item);
}

function sortedUnique(ids: readonly string[]): string[] {
  return [...new Set(ids)].sort();
}

export async function upsertInstances(deps: StoreDeps, input: UpsertInstancesInput): Promise<number> {
  const rows = latestById(input.instances, (i: InstanceAttributes) => i.instanceId);
  if (rows.length === 0) return 0;
  // A description older than the row's last change (a slower concurrent refresh, or one that began
  // before a release was recorded) is stale: `i.updated_at <= EXCLUDED.updated_at` drops it.
  // released_at goes back to NULL: the API knows the instance again.
  // Rows that would not change are left out before the insert (NOT EXISTS, a plain read): an
  // ON CONFLICT DO UPDATE whose WHERE is false still locks its row, which writes the row's xmax
  // and WAL — a no-op refresh of 100,000 instances wrote 9.5 MB of WAL that way (bench).
  const res = await query(
    deps.pool,
    `INSERT INTO instances AS i
            (account, region_id, instance_id, instance_name, status, private_ip, zone_id, resource_group_id,
             tags, released_at, updated_at)
     SELECT $1, $2, x.instance_id, x.instance_name, x.status, x.private_ip, x.zone_id, x.resource_group_id,
            x.tags, NULL, $10
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
            AS x(instance_id, instance_name, status, private_ip, zone_id, resource_group_id, tags)
      WHERE NOT EXISTS (
              SELECT 1 FROM instances o
               WHERE o.account = $1 AND o.region_id = $2 AND o.instance_id = x.instance_id
                 AND (o.instance_name, o.status, o.private_ip, o.zone_id, o.resource_group_id, o.tags,
                      o.released_at)
                     IS NOT DISTINCT FROM
                     (x.instance_name, x.status, x.private_ip, x.zone_id, x.resource_group_id, x.tags,
                      NULL::timestamptz))
     ON CONFLICT (account, region_id, instance_id) DO UPDATE
        SET instance_name = EXCLUDED.instance_name, status = EXCLUDED.status,
            private_ip = EXCLUDED.private_ip, zone_id = EXCLUDED.zone_id,
            resource_group_id = EXCLUDED.resource_group_id, tags = EXCLUDED.tags, released_at = NULL,
            updated_at = EXCLUDED.updated_at
      WHERE i.updated_at <= EXCLUDED.updated_at
        AND (i.instance_name, i.status, i.private_ip, i.zone_id, i.resource_group_id, i.tags, i.released_at)
            IS DISTINCT FROM
            (EXCLUDED.instance_name, EXCLUDED.status, EXCLUDED.private_ip, EXCLUDED.zone_id,
             EXCLUDED.resource_group_id, EXCLUDED.tags, NULL::timestamptz)`,
    [
      input.account,
      input.regionId,
      rows.map((r) => r.instanceId),
      rows.map((r) => storable(r.name)),
      rows.map((r) => storable(r.status)),
      rows.map((r) => storable(r.privateIp)),
      rows.map((r) => storable(r.zoneId)),
      rows.map((r) => storable(r.resourceGroupId)),
      rows.map((r) => storableTags(r.tags)),
      input.seenAt,
    ],
  );
  return res.rowCount ?? 0;
}

export async function markInstancesReleased(
  deps: StoreDeps,
  input: MarkInstancesReleasedInput,
): Promise<number> {
  const ids = sortedUnique(input.instanceIds);
  if (ids.length === 0) return 0;
  // An instance never described (released before its first refresh) gets a row of its own, so
  // history still says it is gone. Already released, or changed after `at`: untouched.
  const res = await query(
    deps.pool,
    `INSERT INTO instances AS i (account, region_id, instance_id, released_at, updated_at)
     SELECT $1, $2, id, $4, $4 FROM unnest($3::text[]) AS id
     ON CONFLICT (account, region_id, instance_id) DO UPDATE
        SET released_at = EXCLUDED.released_at, updated_at = EXCLUDED.updated_at
      WHERE i.released_at IS NULL AND i.updated_at <= EXCLUDED.updated_at`,
    [input.account, input.regionId, ids, input.at],
  );
  return res.rowCount ?? 0;
}

export async function upsertVpcs(deps: StoreDeps, input: UpsertVpcsInput): Promise<number> {
  const rows = latestById(input.vpcs, (v: VpcAttributes) => v.vpcId);
  if (rows.length === 0) return 0;
  const res = await query(
    deps.pool,
    `INSERT INTO vpcs AS v (account, region_id, vpc_id, vpc_name, cidr_block, tags, deleted_at, updated_at)
     SELECT $1, $2, x.vpc_id, x.vpc_name, x.cidr_block, x.tags, NULL, $7
       FROM unnest($3::text[], $4::text[], $5::text[], $6::jsonb[]) AS x(vpc_id, vpc_name, cidr_block, tags)
      WHERE NOT EXISTS (
              SELECT 1 FROM vpcs o
               WHERE o.account = $1 AND o.region_id = $2 AND o.vpc_id = x.vpc_id
                 AND (o.vpc_name, o.cidr_block, o.tags, o.deleted_at)
                     IS NOT DISTINCT FROM (x.vpc_name, x.cidr_block, x.tags, NULL::timestamptz))
     ON CONFLICT (account, region_id, vpc_id) DO UPDATE
        SET vpc_name = EXCLUDED.vpc_name, cidr_block = EXCLUDED.cidr_block, tags = EXCLUDED.tags,
            deleted_at = NULL, updated_at = EXCLUDED.updated_at
      WHERE v.updated_at <= EXCLUDED.updated_at
        AND (v.vpc_name, v.cidr_block, v.tags, v.deleted_at)
            IS DISTINCT FROM (EXCLUDED.vpc_name, EXCLUDED.cidr_block, EXCLUDED.tags, NULL::timestamptz)`,
    [
      input.account,
      input.regionId,
      rows.map((r) => r.vpcId),
      rows.map((r) => storable(r.name)),
      rows.map((r) => storable(r.cidrBlock)),
      rows.map((r) => storableTags(r.tags)),
      input.seenAt,
    ],
  );
  return res.rowCount ?? 0;
}

export async function markVpcsDeleted(deps: StoreDeps, input: MarkVpcsDeletedInput): Promise<number> {
  const ids = sortedUnique(input.vpcIds);
  if (ids.length === 0) return 0;
  const res = await query(
    deps.pool,
    `INSERT INTO vpcs AS v (account, region_id, vpc_id, deleted_at, updated_at)
     SELECT $1, $2, id, $4, $4 FROM unnest($3::text[]) AS id
     ON CONFLICT (account, region_id, vpc_id) DO UPDATE
        SET deleted_at = EXCLUDED.deleted_at, updated_at = EXCLUDED.updated_at
      WHERE v.deleted_at IS NULL AND v.updated_at <= EXCLUDED.updated_at`,
    [input.account, input.regionId, ids, input.at],
  );
  return res.rowCount ?? 0;
}

export async function markUnlistedVpcsDeleted(
  deps: StoreDeps,
  input: MarkUnlistedVpcsDeletedInput,
): Promise<number> {
  // Row by row in id order (the subquery's ORDER BY … FOR UPDATE), like the upserts: no deadlock
  // with a concurrent refresh of the same region.
  const res = await query(
    deps.pool,
    `UPDATE vpcs AS v SET deleted_at = $4, updated_at = $4
       FROM (SELECT vpc_id FROM vpcs
              WHERE account = $1 AND region_id = $2 AND deleted_at IS NULL AND updated_at <= $4
                AND NOT (vpc_id = ANY($3::text[]))
              ORDER BY vpc_id FOR UPDATE) AS gone
      WHERE v.account = $1 AND v.region_id = $2 AND v.vpc_id = gone.vpc_id`,
    [input.account, input.regionId, sortedUnique(input.listed), input.at],
  );
  return res.rowCount ?? 0;
}

export async function instancesToRefresh(deps: StoreDeps, input: AccountRegion): Promise<string[]> {
  // Served by the partial index on active links (account, region_id, vpc_id).
  const res = await query<{ instance_id: string }>(
    deps.pool,
    `SELECT DISTINCT instance_id FROM classic_links
      WHERE account = $1 AND region_id = $2 AND removed_at IS NULL
      ORDER BY instance_id`,
    [input.account, input.regionId],
  );
  return res.rows.map((r) => r.instance_id);
}

export async function instancesMissingAttributes(
  deps: StoreDeps,
  input: MissingAttributesInput,
): Promise<string[]> {
  // Every instance ever in a link gets a row (DESIGN.md "Data"); linked ones come first, since a
  // new link's alert waits for them.
  const res = await query<{ instance_id: string }>(
    deps.pool,
    `SELECT c.instance_id FROM classic_links c
      WHERE c.account = $1 AND c.region_id = $2
        AND NOT EXISTS (SELECT 1 FROM instances i
                         WHERE i.account = c.account AND i.region_id = c.region_id
                           AND i.instance_id = c.instance_id)
      GROUP BY c.instance_id
      ORDER BY bool_or(c.removed_at IS NULL) DESC, c.instance_id
      LIMIT $3`,
    [input.account, input.regionId, input.limit ?? DEFAULT_MISSING_LIMIT],
  );
  return res.rows.map((r) => r.instance_id);
}
