/**
 * Staleness alerts: silence must never look like "no changes". A watched (not retired) target
 * with no complete scan for ALERT_STALE_AFTER — counted from its creation when it never had one —
 * raises one 'stale' alert per channel; its next complete scan raises one 'recovered' alert.
 * `sync_targets.stale_alerted_at` records the open alert, so checks can run as often as they
 * like, in as many processes as there are: each alert is raised once.
 */
import type { Logger } from '../log.js';
import { startPeriodic } from '../periodic.js';
import type { CheckStalenessResult, OutboxStore } from '../store/index.js';
import type { ChannelName } from './channels/types.js';

interface CheckStalenessOptions {
  store: Pick<OutboxStore, 'checkStaleness'>;
  /** Configured channel names (`configuredChannels(config)`): one outbox row each. */
  channels: readonly ChannelName[];
  /** ALERT_STALE_AFTER in ms. */
  staleAfterMs: number;
  now: Date;
}

/** One check: raises the stale and recovered alerts due at `now` (outbox rows, idempotently). */
export function checkStaleness(opts: CheckStalenessOptions): Promise<CheckStalenessResult> {
  return opts.store.checkStaleness({
    now: opts.now,
    staleAfterMs: opts.staleAfterMs,
    channels: opts.channels,
  });
}

interface StalenessMonitorOptions extends Omit<CheckStalenessOptions, 'now'> {
  /** How often to check. A sensible value: a tenth of `staleAfterMs`, at most a minute. */
  everyMs: number;
  log: Logger;
  now?: (() => Date) | undefined;
}

/**
 * Checks now and every `everyMs` until stopped; `stop()` resolves when a check in progress has
 * finished (idempotent). A failed check is logged and tried next time.
 */
export function startStalenessMonitor(opts: StalenessMonitorOptions): { stop(): Promise<void> } {
  const log = opts.log.child({ component: 'staleness' });
  const now = opts.now ?? (() => new Date());
  return startPeriodic({
    everyMs: opts.everyMs,
    async run() {
      const result = await checkStaleness({ ...opts, now: now() });
      for (const t of result.stale) log.warn({ target: t }, 'target stale: no complete scan recently');
      for (const t of result.recovered) log.info({ target: t }, 'target recovered from staleness');
    },
    onError: (err) => log.warn({ error: err.summary() }, 'staleness check failed; trying again later'),
  });
}
