CREATE TABLE "alert_outbox" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"sync_run_id" bigint,
	"kind" text NOT NULL,
	"channel" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"claimed_until" timestamp with time zone,
	CONSTRAINT "alert_outbox_run_channel_key" UNIQUE("sync_run_id","channel"),
	CONSTRAINT "alert_outbox_kind_check" CHECK (kind in ('changes', 'stale', 'recovered')),
	CONSTRAINT "alert_outbox_status_check" CHECK (status in ('pending', 'delivering', 'delivered', 'dead'))
);
--> statement-breakpoint
CREATE TABLE "classic_links" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"vpc_id" text NOT NULL,
	"instance_id" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"removed_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "classic_links_pkey" PRIMARY KEY("account","region_id","vpc_id","instance_id")
);
--> statement-breakpoint
CREATE TABLE "link_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"vpc_id" text NOT NULL,
	"instance_id" text NOT NULL,
	"change" text NOT NULL,
	"detected_at" timestamp with time zone NOT NULL,
	"sync_run_id" bigint NOT NULL,
	"baseline" boolean DEFAULT false NOT NULL,
	CONSTRAINT "link_events_run_link_key" UNIQUE("sync_run_id","vpc_id","instance_id"),
	CONSTRAINT "link_events_change_check" CHECK (change in ('added', 'removed'))
);
--> statement-breakpoint
CREATE TABLE "sync_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"vpc_id" text NOT NULL,
	"job_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"pages" integer,
	"links_seen" integer,
	"added" integer,
	"removed" integer,
	"error_code" text,
	"error_message" text,
	"request_id" text,
	"baseline" boolean DEFAULT false NOT NULL,
	"scan_started_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sync_runs_status_check" CHECK (status in ('running', 'succeeded', 'failed', 'superseded'))
);
--> statement-breakpoint
CREATE TABLE "sync_targets" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"vpc_id" text NOT NULL,
	"last_success_at" timestamp with time zone,
	"last_failure_at" timestamp with time zone,
	"last_error_code" text,
	"last_error_message" text,
	"last_request_id" text,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"last_applied_scan_started_at" timestamp with time zone,
	"last_run_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"stale_alerted_at" timestamp with time zone,
	"retired_at" timestamp with time zone,
	CONSTRAINT "sync_targets_pkey" PRIMARY KEY("account","region_id","vpc_id")
);
--> statement-breakpoint
ALTER TABLE "alert_outbox" ADD CONSTRAINT "alert_outbox_sync_run_id_sync_runs_id_fk" FOREIGN KEY ("sync_run_id") REFERENCES "public"."sync_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "link_events" ADD CONSTRAINT "link_events_sync_run_id_sync_runs_id_fk" FOREIGN KEY ("sync_run_id") REFERENCES "public"."sync_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_target_fkey" FOREIGN KEY ("account","region_id","vpc_id") REFERENCES "public"."sync_targets"("account","region_id","vpc_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alert_outbox_due_idx" ON "alert_outbox" USING btree ("status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "classic_links_active_target_idx" ON "classic_links" USING btree ("account","region_id","vpc_id") WHERE removed_at is null;--> statement-breakpoint
CREATE INDEX "classic_links_instance_idx" ON "classic_links" USING btree ("instance_id");--> statement-breakpoint
CREATE INDEX "link_events_detected_idx" ON "link_events" USING btree ("detected_at");--> statement-breakpoint
CREATE INDEX "link_events_link_idx" ON "link_events" USING btree ("account","region_id","vpc_id","instance_id","detected_at");--> statement-breakpoint
CREATE INDEX "link_events_instance_idx" ON "link_events" USING btree ("instance_id","detected_at");--> statement-breakpoint
CREATE INDEX "sync_runs_target_started_idx" ON "sync_runs" USING btree ("account","region_id","vpc_id","started_at");--> statement-breakpoint
CREATE INDEX "sync_runs_running_idx" ON "sync_runs" USING btree ("started_at") WHERE status = 'running';