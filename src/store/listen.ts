/**
 * LISTEN sessions: the alert dispatcher wakes on new outbox rows (outbox.ts `watchOutbox`), the
 * demo prints each applied scan (`watchChanges`).
 */
import type pg from 'pg';
import { checkout, coerceDbError } from './tx.js';
import type { ChangesNotification, OutboxWatch, StoreDeps } from './types.js';

/**
 * LISTENs on `channels` over a connection of its own (LISTEN lives on one session). The connection
 * is destroyed, not returned to the pool, on close, so no other user of the pool inherits the
 * LISTEN; `lost` resolves when it drops, so the caller can open a new watch.
 */
export async function listen(
  pool: pg.Pool,
  channels: readonly string[],
  onNotify: (payload: string | undefined) => void,
): Promise<OutboxWatch> {
  const client = await checkout(pool);
  let markLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  const onNotification = (n: pg.Notification) => onNotify(n.payload);
  const onError = () => markLost();
  client.on('notification', onNotification);
  client.on('error', onError);
  client.on('end', onError);
  try {
    for (const ch of new Set(channels)) {
      await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
    }
  } catch (err) {
    client.release(true);
    throw coerceDbError(err);
  }
  let closed: Promise<void> | undefined;
  return {
    lost,
    close() {
      closed ??= (async () => {
        client.off('notification', onNotification);
        client.release(true);
        markLost();
      })();
      return closed;
    },
  };
}

/** Calls `onChange` with the NOTIFY of every applied scan that changed something (apply-scan.ts). */
export function watchChanges(
  deps: StoreDeps & { notifyChannel: string },
  onChange: (note: ChangesNotification) => void,
): Promise<OutboxWatch> {
  return listen(deps.pool, [deps.notifyChannel], (payload) => {
    if (payload) onChange(JSON.parse(payload) as ChangesNotification);
  });
}
