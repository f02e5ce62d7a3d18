/**
 * The door of src/store/, the one door to Postgres: every SQL statement of the service is behind
 * the verbs of `Store` (create.ts).
 */
export { createStore } from './create.js';
export { databaseName, migrateDatabase, pendingMigrations, quoteIdent } from './migrate.js';
export { startRetention } from './retention-loop.js';
export { targetHealth } from './target-state.js';
export type * from './types.js';
