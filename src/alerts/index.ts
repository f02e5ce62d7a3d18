/**
 * The door of src/alerts/.
 */

export { createChannels } from './channel-set.js';
export { CHANNEL_NAMES } from './channels/types.js';
export { createAlertDispatcher } from './dispatcher.js';
export { startStalenessMonitor } from './staleness.js';
