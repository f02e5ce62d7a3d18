-- Point-in-time queries that drizzle-kit cannot express: the links_at() function and the
-- active_links view. Both are part of the public contract (psql, Grafana, BI query them).

-- "What was linked at time T": for each link (account, region, VPC, instance), take its latest
-- event detected at or before T; the link was linked at T exactly when that event is 'added', and
-- linked_since is that event's detection time (the start of the interval that contains T).
-- Ties on detected_at are broken by the event id (insertion order). LANGUAGE sql + STABLE and a
-- single SELECT let the planner inline the function, so filters such as
--   SELECT * FROM links_at('2025-01-01T00:00:00Z') WHERE account = 'a' AND vpc_id = 'vpc-1'
-- push down into the scan of link_events_link_idx.
CREATE OR REPLACE FUNCTION links_at(ts timestamptz)
RETURNS TABLE (account text, region_id text, vpc_id text, instance_id text, linked_since timestamptz)
LANGUAGE sql STABLE
AS $$
  SELECT latest.account, latest.region_id, latest.vpc_id, latest.instance_id, latest.detected_at
  FROM (
    SELECT DISTINCT ON (le.account, le.region_id, le.vpc_id, le.instance_id)
           le.account, le.region_id, le.vpc_id, le.instance_id, le.change, le.detected_at
    FROM link_events le
    WHERE le.detected_at <= ts
    ORDER BY le.account, le.region_id, le.vpc_id, le.instance_id, le.detected_at DESC, le.id DESC
  ) AS latest
  WHERE latest.change = 'added'
$$;
--> statement-breakpoint
COMMENT ON FUNCTION links_at(timestamptz) IS
  'Links as they were at time ts, from link_events: a link is linked when its latest event at or before ts is ''added''.';
--> statement-breakpoint
-- Links linked now. linked_since is updated_at: an active row is only written when it is added or
-- re-added (steady state writes no link rows), so its updated_at is the start of the current interval.
CREATE OR REPLACE VIEW active_links AS
  SELECT account, region_id, vpc_id, instance_id, first_seen_at, updated_at AS linked_since
  FROM classic_links
  WHERE removed_at IS NULL;
