/**
 * `cloud_events`: the ActionTrail records the change feed receives, by poll or by hook, each
 * stored once (its `eventId` is the primary key), and the attribute job's (src/context/). Only the
 * records that are new to the table come back: the change feed schedules a sync for those, and for
 * a record seen again only while no applied scan has seen it (sync/feed.ts).
 */
import { query, storable } from './tx.js';
import type { CloudEventRecord, ReceivedVia, StoreDeps } from './types.js';

export async function recordCloudEvents(
  deps: StoreDeps,
  records: readonly CloudEventRecord[],
  receivedVia: ReceivedVia,
): Promise<CloudEventRecord[]> {
  // One row per eventId: the first of a batch that repeats one.
  const seen = new Set<string>();
  const firsts: CloudEventRecord[] = [];
  for (const r of records) {
    if (seen.has(r.eventId)) continue;
    seen.add(r.eventId);
    firsts.push(r);
  }
  if (firsts.length === 0) return [];
  const text = (pick: (r: CloudEventRecord) => string | null) => firsts.map((r) => storable(pick(r)));
  // Each record's instance ids travel as one JSON array (unnest cannot take an array of arrays of
  // different lengths). ON CONFLICT DO NOTHING: a record seen before, or inserted by a concurrent
  // call, is neither rewritten nor returned.
  const res = await query<{ event_id: string }>(
    deps.pool,
    `INSERT INTO cloud_events
            (event_id, account, region_id, event_name, event_time, instance_ids, vpc_id, actor_type, actor_name,
             actor_principal_id, actor_account_id, access_key_id, source_ip, user_agent, api_request_id,
             error_code, received_via)
     SELECT x.event_id, x.account, x.region_id, x.event_name, x.event_time,
            ARRAY(SELECT id FROM jsonb_array_elements_text(x.instance_ids) WITH ORDINALITY AS a(id, n)
                   ORDER BY n), x.vpc_id, x.actor_type, x.actor_name,
            x.actor_principal_id, x.actor_account_id, x.access_key_id, x.source_ip, x.user_agent,
            x.api_request_id, x.error_code, $17
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                   $15::text[], $16::text[])
            AS x(event_id, account, region_id, event_name, event_time, instance_ids, vpc_id, actor_type,
                 actor_name, actor_principal_id, actor_account_id, access_key_id, source_ip, user_agent,
                 api_request_id, error_code)
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id`,
    [
      text((r) => r.eventId),
      text((r) => r.account),
      text((r) => r.regionId),
      text((r) => r.eventName),
      firsts.map((r) => r.eventTime),
      firsts.map((r) => JSON.stringify(r.instanceIds.map((id: string) => storable(id)))),
      text((r) => r.vpcId),
      text((r) => r.actor.type),
      text((r) => r.actor.name),
      text((r) => r.actor.principalId),
      text((r) => r.actor.accountId),
      text((r) => r.accessKeyId),
      text((r) => r.sourceIp),
      text((r) => r.userAgent),
      text((r) => r.apiRequestId),
      text((r) => r.errorCode),
      receivedVia,
    ],
  );
  const inserted = new Set(res.rows.map((r) => r.event_id));
  return firsts.filter((r) => inserted.has(storable(r.eventId)));
}
