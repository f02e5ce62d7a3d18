CREATE INDEX "cloud_events_actor_idx" ON "cloud_events" USING btree ("actor_name");--> statement-breakpoint
-- The console's search by name: a case-insensitive prefix of an instance's or a VPC's name
-- (`lower(name) LIKE 'web-%'`), served by these expression indexes (drizzle-kit cannot declare the
-- operator class of an expression, so they are written here by hand).
CREATE INDEX "instances_name_prefix_idx" ON "instances" USING btree (lower("instance_name") text_pattern_ops);--> statement-breakpoint
CREATE INDEX "vpcs_name_prefix_idx" ON "vpcs" USING btree (lower("vpc_name") text_pattern_ops);
