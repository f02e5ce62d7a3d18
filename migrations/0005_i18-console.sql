CREATE TABLE "link_event_days" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"day" date NOT NULL,
	"added" integer DEFAULT 0 NOT NULL,
	"removed" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "link_event_days_pkey" PRIMARY KEY("account","region_id","day")
);
--> statement-breakpoint
-- Keeps link_event_days in step with link_events: one statement trigger per INSERT statement (the
-- diff writes a run's events in one statement), folding its new rows into one row per account,
-- region and UTC day, in the same transaction. A run's events share one detected_at, so a
-- transaction takes one day row's lock, always the same way round: no deadlock. Deletes (pruning)
-- do not subtract: the counts are the whole history.
CREATE FUNCTION link_event_days_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO link_event_days AS d (account, region_id, day, added, removed)
  SELECT account, region_id, (detected_at AT TIME ZONE 'UTC')::date,
         count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'removed')
    FROM new_events
   GROUP BY 1, 2, 3
   ORDER BY 1, 2, 3
  ON CONFLICT (account, region_id, day)
  DO UPDATE SET added = d.added + excluded.added, removed = d.removed + excluded.removed;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER link_event_days_add AFTER INSERT ON link_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION link_event_days_add();
--> statement-breakpoint
-- The history so far.
INSERT INTO link_event_days (account, region_id, day, added, removed)
SELECT account, region_id, (detected_at AT TIME ZONE 'UTC')::date,
       count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'removed')
  FROM link_events
 GROUP BY 1, 2, 3;
--> statement-breakpoint
-- Links older than what EVENT_RETENTION left of their history: counted as added on the first day on
-- record, so that every series ends at the links active now.
WITH counted AS (
  SELECT account, region_id, sum(added - removed) AS net, min(day) AS first
    FROM link_event_days GROUP BY 1, 2
), active AS (
  SELECT account, region_id, count(*) AS n FROM classic_links WHERE removed_at IS NULL GROUP BY 1, 2
)
INSERT INTO link_event_days AS d (account, region_id, day, added, removed)
SELECT account, region_id, coalesce(c.first, (now() AT TIME ZONE 'UTC')::date),
       coalesce(a.n, 0) - coalesce(c.net, 0), 0
  FROM active a FULL JOIN counted c USING (account, region_id)
 WHERE coalesce(a.n, 0) <> coalesce(c.net, 0)
ON CONFLICT (account, region_id, day) DO UPDATE SET added = d.added + excluded.added;
