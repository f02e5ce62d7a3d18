/**
 * The door of src/context/: what a change is and who made it. The `enrich` job (instance and VPC
 * attributes), the `attribute` job (the ActionTrail call behind each change, DESIGN.md rule 7),
 * the hook that schedules both after an applied change, discovery's VPC listing recorded, and the
 * one mapping of API records to stored rows. Context never writes a link or an event.
 */
export { scheduleContext } from './after-applied.js';
export { type AttributeDeps, CLOCK_ALLOWANCE_MS, runAttribute } from './attribute.js';
export { type EnrichDeps, runEnrich } from './enrich.js';
export { cloudEventRecord, instanceRecord, vpcRecord } from './records.js';
export { vpcListingRecorder } from './vpc-listing.js';
