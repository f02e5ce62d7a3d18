/**
 * The Redis connections of the process, opened here and nowhere else: the shared connection that
 * queues and limiters use, the readiness probe's, the start-up check's and the demo's claim of its
 * prefix. Workers and finish watches duplicate the shared one (they block on Redis commands).
 */
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { CONNECT_TIMEOUT_MS, hostPort, messageOf, UnreachableError, unreachable } from '../reach.js';
import { prefixKey, prefixPattern } from './keys.js';

export type { Redis };

/**
 * The process's shared connection. It never gives up: commands wait across reconnects (BullMQ
 * requires that of blocking connections), and a lost connection is a warning, not a crash.
 */
export function openRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'Redis connection error; reconnecting'));
  return redis;
}

/** Closes a connection: QUIT when Redis answers, else drops the socket. */
export async function closeRedis(redis: Redis): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

/** Asks whether Redis answers now, for /readyz. */
interface RedisProbe {
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A probe on a connection of its own that fails fast: the shared one queues commands until Redis
 * returns, so a probe over it would hang instead of saying "not ready".
 */
export function openRedisProbe(shared: Redis, log: Logger): RedisProbe {
  const probe = shared.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  probe.on('error', (err) => log.debug({ err: err.message }, 'readiness Redis connection error'));
  return {
    async ping() {
      // Opened at the first ask: wait for its connection (it queues nothing), or for why not.
      if (probe.status !== 'ready') {
        await new Promise<void>((resolve, reject) => {
          const ready = () => {
            probe.off('error', failed);
            resolve();
          };
          const failed = (err: Error) => {
            probe.off('ready', ready);
            reject(err);
          };
          probe.once('ready', ready);
          probe.once('error', failed);
        });
      }
      await probe.ping();
    },
    close: () => closeRedis(probe),
  };
}

/** One line for a failed Redis connect: WRONGPASS / NOAUTH are a login refused, not an outage. */
function describeRedisError(url: string, err: unknown): string {
  const where = hostPort(url, 6379);
  const why = messageOf(err);
  if (/^NOAUTH/.test(why)) {
    return `Redis at ${where} needs a password (${why}): put it in REDIS_URL, e.g. redis://:PASSWORD@${where}`;
  }
  if (/^WRONGPASS/.test(why) || /invalid password|invalid username-password/i.test(why)) {
    return `Redis at ${where} refused the login (${why}): check the user and password in REDIS_URL`;
  }
  return unreachable('Redis', 'REDIS_URL', where, err) ?? `cannot reach Redis at ${where} (${why})`;
}

/** Before a command starts work: Redis answers and lets us in; else one line says why. */
export async function checkRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The connection's own error says why (a refused certificate, say); the rejection of connect()
  // after it only says "Connection is closed."
  let cause: unknown;
  client.on('error', (err) => {
    cause ??= err;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new UnreachableError(describeRedisError(url, cause ?? err));
  } finally {
    client.disconnect();
  }
}

interface PrefixClaim {
  url: string;
  prefix: string;
  /** The key under the prefix that holds the owner's mark. */
  markKey: string;
  /** The owner's mark: the value of `markKey`. */
  mark: string;
}

/**
 * Takes a prefix for an owner that clears it at will (the demo): true if it carries the owner's
 * mark, or is empty (it is marked then); false if keys under it lack the mark — someone else's.
 */
export async function claimPrefix(claim: PrefixClaim): Promise<boolean> {
  const markKey = prefixKey(claim.prefix, claim.markKey);
  const redis = new Redis(claim.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    if ((await redis.get(markKey)) === claim.mark) return true;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', prefixPattern(claim.prefix), 'COUNT', 1000);
      if (keys.length > 0) return false;
      cursor = next;
    } while (cursor !== '0');
    await redis.set(markKey, claim.mark);
    return true;
  } finally {
    redis.disconnect();
  }
}
