/**
 * The door of src/cli/.
 */
export type { Role } from './options.js';
export { type CliActions, type CliIo, runCli } from './program.js';
export { printAlerts, printEvents, printHistory, printLinks, printStatus } from './report.js';
export { createProgress, type Progress, syncOnce, unknownRegions } from './sync-once.js';
/** The demo, loaded on demand: it brings the simulator, which no other command needs. */
export const loadDemo = () => import('./demo.js');
