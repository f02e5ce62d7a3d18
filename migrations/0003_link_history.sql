-- The link_history view, which drizzle-kit cannot express: every link event with what is known of
-- it — its instance's and its VPC's attributes (as last described) and its settled cause (the
-- ActionTrail call behind it). Part of the public contract (psql, Grafana, BI query it), like
-- active_links and links_at().
--
-- Every join is a LEFT JOIN on a unique key, so each event appears exactly once, whatever is known
-- of it, and Postgres drops the joins a query does not read from. The columns are prefixed by what
-- they describe (instance_, vpc_, cause_); instance_updated_at / vpc_updated_at are NULL when the
-- instance / VPC was never described, cause_status is NULL while the cause is pending (and for
-- baseline events, which get none). cause_event_* are set only when cause_status = 'found'.
CREATE OR REPLACE VIEW link_history AS
  SELECT e.id, e.account, e.region_id, e.vpc_id, e.instance_id, e.change, e.detected_at, e.sync_run_id,
         e.baseline,
         i.instance_name, i.status AS instance_status, i.private_ip AS instance_private_ip,
         i.zone_id AS instance_zone_id, i.resource_group_id AS instance_resource_group_id,
         i.tags AS instance_tags, i.released_at AS instance_released_at, i.updated_at AS instance_updated_at,
         v.vpc_name, v.cidr_block AS vpc_cidr_block, v.tags AS vpc_tags, v.deleted_at AS vpc_deleted_at,
         v.updated_at AS vpc_updated_at,
         c.status AS cause_status, c.resolved_at AS cause_resolved_at, c.cloud_event_id AS cause_event_id,
         ce.event_name AS cause_event_name, ce.event_time AS cause_event_time,
         ce.actor_type AS cause_actor_type, ce.actor_name AS cause_actor_name,
         ce.actor_principal_id AS cause_actor_principal_id, ce.actor_account_id AS cause_actor_account_id,
         ce.source_ip AS cause_source_ip
    FROM link_events e
    LEFT JOIN instances i
      ON i.account = e.account AND i.region_id = e.region_id AND i.instance_id = e.instance_id
    LEFT JOIN vpcs v
      ON v.account = e.account AND v.region_id = e.region_id AND v.vpc_id = e.vpc_id
    LEFT JOIN link_event_causes c ON c.link_event_id = e.id
    LEFT JOIN cloud_events ce ON ce.event_id = c.cloud_event_id;
--> statement-breakpoint
COMMENT ON VIEW link_history IS
  'Every link event with its instance''s and VPC''s attributes and its cause (the ActionTrail call behind it) where settled.';
