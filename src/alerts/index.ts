/**
 * The door of src/alerts/: the dispatcher (delivery of the outbox), the configured channel set,
 * the channel names, and the staleness monitor.
 */

export { createChannels } from './channel-set.js';
export { CHANNEL_NAMES, type ChannelName } from './channels/types.js';
export { createAlertDispatcher } from './dispatcher.js';
export { startStalenessMonitor } from './staleness.js';
