/**
 * EVENT_RETENTION: prunes history older than the retention, now and then every hour, in batches
 * (store.pruneHistory). Runs in scheduler processes; two at once are harmless (each batch is one
 * statement, and a row deleted by one is simply not found by the other).
 */
import { coerceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from './index.js';

export interface RetentionOptions {
  store: Pick<Store, 'pruneHistory'>;
  /** EVENT_RETENTION in ms. */
  retainMs: number;
  log: Logger;
  /** How often to prune. Default 1 h. */
  everyMs?: number;
  now?: () => Date;
}

export function startRetention(opts: RetentionOptions): { stop(): Promise<void> } {
  const now = opts.now ?? (() => new Date());
  const log = opts.log.child({ component: 'retention' });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      try {
        const olderThan = new Date(now().getTime() - opts.retainMs);
        const pruned = await opts.store.pruneHistory({ olderThan, signal: abort.signal });
        if (pruned.events + pruned.outbox + pruned.runs > 0)
          log.info({ olderThan, ...pruned }, 'pruned history');
      } catch (caught) {
        if (!abort.signal.aborted)
          log.warn({ error: coerceError(caught).summary() }, 'pruning failed; will retry');
      }
      if (!abort.signal.aborted) timer = setTimeout(tick, opts.everyMs ?? 3_600_000);
    })();
  };
  tick();
  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
