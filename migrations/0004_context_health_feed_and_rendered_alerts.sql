CREATE TABLE "change_feed" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"cursor_at" timestamp with time zone NOT NULL,
	"last_poll_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"last_error" text,
	"last_error_at" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"records_seen" bigint DEFAULT 0 NOT NULL,
	"scans_scheduled" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "change_feed_account_region_id_pk" PRIMARY KEY("account","region_id")
);
--> statement-breakpoint
CREATE TABLE "context_health" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"source" text NOT NULL,
	"state" text NOT NULL,
	"detail" text,
	"since" timestamp with time zone NOT NULL,
	"checked_at" timestamp with time zone NOT NULL,
	"last_ok_at" timestamp with time zone,
	CONSTRAINT "context_health_account_region_id_source_pk" PRIMARY KEY("account","region_id","source"),
	CONSTRAINT "context_health_source_check" CHECK (source in ('instances', 'actiontrail')),
	CONSTRAINT "context_health_state_check" CHECK (state in ('ok', 'permission_denied', 'failing'))
);
--> statement-breakpoint
ALTER TABLE "alert_outbox" ADD COLUMN "rendered_body" text;--> statement-breakpoint
ALTER TABLE "alert_outbox" ADD COLUMN "rendered_at" timestamp with time zone;