/** Redis readers: what a test finds under a queue prefix of the shared server. */
import type { Redis } from 'ioredis';

/** Every key matching `pattern` (SCAN, so a busy shared server is never blocked), sorted. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}
