/**
 * The door of src/store/, the one door to Postgres: every SQL statement of the service is behind
 * the verbs of `Store` (create.ts), and only this folder imports pg or drizzle.
 */
export { CAUSE_ACTIONS } from './cause-types.js';
export { connectDatabase, type Database } from './connect.js';
export { createStore } from './create.js';
export { recreateMarkedDatabase } from './demo-db.js';
export { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded.js';
export { type FeedHealth, type FeedState, feedHealth } from './feed-state.js';
export { databaseName, maintenanceUrl, migrateDatabase } from './migrate.js';
export { checkPostgres } from './preflight.js';
export { CAUSE_STATUSES, OUTBOX_STATUSES, RECEIVED_VIA } from './schema.js';
export { targetHealth } from './target-state.js';
export type * from './types.js';
