CREATE TABLE "cloud_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"event_name" text NOT NULL,
	"event_time" timestamp with time zone NOT NULL,
	"instance_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"vpc_id" text,
	"actor_type" text,
	"actor_name" text,
	"actor_principal_id" text,
	"actor_account_id" text,
	"access_key_id" text,
	"source_ip" text,
	"user_agent" text,
	"api_request_id" text,
	"error_code" text,
	"received_via" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cloud_events_received_via_check" CHECK (received_via in ('poll', 'hook'))
);
--> statement-breakpoint
CREATE TABLE "instances" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"instance_id" text NOT NULL,
	"instance_name" text,
	"status" text,
	"private_ip" text,
	"zone_id" text,
	"resource_group_id" text,
	"tags" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"released_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "instances_pkey" PRIMARY KEY("account","region_id","instance_id"),
	CONSTRAINT "instances_tags_check" CHECK (jsonb_typeof(tags) = 'object')
);
--> statement-breakpoint
CREATE TABLE "link_event_causes" (
	"link_event_id" bigint PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"cloud_event_id" text,
	"resolved_at" timestamp with time zone NOT NULL,
	CONSTRAINT "link_event_causes_status_check" CHECK (status in ('found', 'not_found', 'unavailable')),
	CONSTRAINT "link_event_causes_found_check" CHECK ((status = 'found') = (cloud_event_id is not null))
);
--> statement-breakpoint
CREATE TABLE "vpcs" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"vpc_id" text NOT NULL,
	"vpc_name" text,
	"cidr_block" text,
	"tags" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"deleted_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "vpcs_pkey" PRIMARY KEY("account","region_id","vpc_id"),
	CONSTRAINT "vpcs_tags_check" CHECK (jsonb_typeof(tags) = 'object')
);
--> statement-breakpoint
ALTER TABLE "link_event_causes" ADD CONSTRAINT "link_event_causes_link_event_id_link_events_id_fk" FOREIGN KEY ("link_event_id") REFERENCES "public"."link_events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "link_event_causes" ADD CONSTRAINT "link_event_causes_cloud_event_id_cloud_events_event_id_fk" FOREIGN KEY ("cloud_event_id") REFERENCES "public"."cloud_events"("event_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cloud_events_lookup_idx" ON "cloud_events" USING btree ("account","region_id","event_name","event_time");--> statement-breakpoint
CREATE INDEX "cloud_events_instance_ids_idx" ON "cloud_events" USING gin ("instance_ids") WITH (fastupdate=off);--> statement-breakpoint
CREATE INDEX "link_event_causes_cloud_event_idx" ON "link_event_causes" USING btree ("cloud_event_id");--> statement-breakpoint
CREATE INDEX "link_events_attribution_idx" ON "link_events" USING btree ("account","region_id","detected_at") WHERE not baseline;--> statement-breakpoint
CREATE INDEX "sync_runs_applied_idx" ON "sync_runs" USING btree ("account","region_id","vpc_id","scan_started_at") WHERE status = 'succeeded';