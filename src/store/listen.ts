/**
 * LISTEN sessions: the alert dispatcher wakes on new outbox rows (outbox.ts `watchOutbox`), the
 * demo prints each applied scan (`watchChanges`).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ErrorCode, FatalError } from '../errors.js';
import { checkout, coerceDbError } from './tx.js';
import type { ChangesNotification, OutboxWatch, StoreDeps } from './types.js';

/** How long a new LISTEN connection waits for its probe NOTIFY, by default. */
const LISTEN_PROBE_MS = 5_000;

export type ListenDeps = Pick<StoreDeps, 'pool' | 'listenPool' | 'listenVia' | 'listenProbeMs'>;

/** The one line said when a LISTEN connection hears nothing, naming the variable to fix. */
function unheard(via: NonNullable<StoreDeps['listenVia']>): FatalError {
  const message =
    via === 'DATABASE_URL'
      ? 'LISTEN on DATABASE_URL hears no NOTIFY: it goes through a transaction pooler (PgBouncer pool_mode=transaction keeps no session); set DATABASE_DIRECT_URL to a direct connection to the same database'
      : 'LISTEN on DATABASE_DIRECT_URL hears no NOTIFY sent through DATABASE_URL: point DATABASE_DIRECT_URL at the same database, directly (not through a transaction pooler)';
  return new FatalError(message, { code: ErrorCode.ListenUnheard });
}

/**
 * LISTENs on `channels` over a connection of its own (LISTEN lives on one session). The connection
 * is destroyed, not returned to the pool, on close, so no other user of the pool inherits the
 * LISTEN; `lost` resolves when it drops, so the caller can open a new watch.
 *
 * Why the probe: behind a transaction-pooling PgBouncer a LISTEN succeeds and then hears nothing.
 * The server connection that ran it goes back to PgBouncer's pool after the statement, and a
 * notification that reaches it later is never forwarded to us (we are linked to a server only
 * while a statement of ours runs); nothing in the protocol tells a client it is pooled. So every
 * new watch proves itself: it LISTENs on a channel of its own, a NOTIFY on that channel is sent
 * through `pool` — the way applyScan's NOTIFY travels, so a LISTEN URL on another database fails
 * too — and the connection must hear it within `listenProbeMs` after that NOTIFY committed. A
 * session hears its NOTIFY within milliseconds of the commit (the server signals idle listeners at
 * once); a pooled one never does, however long we wait. A deaf connection is closed and the watch
 * fails with `ListenUnheard`: the caller polls instead (alerts/dispatcher.ts).
 */
export async function listen(
  deps: ListenDeps,
  channels: readonly string[],
  onNotify: (payload: string | undefined) => void,
): Promise<OutboxWatch> {
  const client = await checkout(deps.listenPool ?? deps.pool);
  let markLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  const probeChannel = `classiclink_probe_${randomUUID().replace(/-/g, '')}`;
  let heard: () => void = () => {};
  const probeHeard = new Promise<void>((resolve) => {
    heard = resolve;
  });
  const onNotification = (n: pg.Notification) => {
    if (n.channel === probeChannel) heard();
    else onNotify(n.payload);
  };
  const onError = () => markLost();
  client.on('notification', onNotification);
  client.on('error', onError);
  client.on('end', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    for (const ch of new Set(channels)) {
      await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
    }
    await client.query(`LISTEN ${client.escapeIdentifier(probeChannel)}`);
    await deps.pool.query("SELECT pg_notify($1, '')", [probeChannel]);
    const ok = await Promise.race([
      probeHeard.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), deps.listenProbeMs ?? LISTEN_PROBE_MS);
      }),
    ]);
    if (!ok) throw unheard(deps.listenVia ?? 'DATABASE_URL');
    await client.query(`UNLISTEN ${client.escapeIdentifier(probeChannel)}`);
  } catch (err) {
    client.off('notification', onNotification);
    client.release(true);
    throw coerceDbError(err);
  } finally {
    clearTimeout(timer);
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
  deps: ListenDeps & { notifyChannel: string },
  onChange: (note: ChangesNotification) => void,
): Promise<OutboxWatch> {
  return listen(deps, [deps.notifyChannel], (payload) => {
    if (payload) onChange(JSON.parse(payload) as ChangesNotification);
  });
}
