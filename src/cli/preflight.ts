/**
 * Before a command starts work: is Redis there, and does it let us in? If not, one line says
 * which, names the host and port of the URL in use, and says what to do (src/reach.ts). The
 * Postgres check is the store's (`checkPostgres`).
 */
import { Redis } from 'ioredis';
import { CONNECT_TIMEOUT_MS, describeUnreachable, hostPort, messageOf, UnreachableError } from '../reach.js';

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
  return describeUnreachable('Redis', 'REDIS_URL', where, err) ?? `cannot reach Redis at ${where} (${why})`;
}

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
