/**
 * API rate limiting shared by every process: one token window per (account, region, API) in Redis
 * (rate-limiter-flexible's atomic Lua counter), so a fleet of workers together stays under
 * API_MAX_QPS. If Redis is unreachable the in-memory insurance limiter keeps each process under the
 * same rate rather than stopping work.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { sleep } from './backoff.js';

export interface LimitKey {
  regionId: string;
  action: string;
}

export interface ApiLimiter {
  /** Resolves when one call for `key` may start. */
  acquire(key: LimitKey, signal?: AbortSignal): Promise<void>;
  /** The API said `Throttling*`: spend the rest of this window so the whole fleet backs off. */
  throttled(key: LimitKey): Promise<void>;
}

export interface RedisLimiterOptions {
  redis: Redis;
  account: string;
  /** Calls per second per key (API_MAX_QPS). */
  qps: number;
  /** Redis key prefix; give tests their own. */
  keyPrefix: string;
}

export function createRedisLimiter(opts: RedisLimiterOptions): ApiLimiter {
  const insurance = new RateLimiterMemory({ points: opts.qps, duration: 1 });
  const limiter = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: `${opts.keyPrefix}:qps`,
    points: opts.qps,
    duration: 1,
    insuranceLimiter: insurance,
  });
  const keyOf = (k: LimitKey) => `${opts.account}:${k.regionId}:${k.action}`;
  return {
    async acquire(key, signal) {
      const id = keyOf(key);
      for (;;) {
        signal?.throwIfAborted();
        try {
          await limiter.consume(id, 1);
          return;
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          // Wait for the next window; a little jitter spreads the waiting workers out.
          await sleep(rejection.msBeforeNext + Math.floor(Math.random() * 20), signal);
        }
      }
    },
    async throttled(key) {
      try {
        await limiter.penalty(keyOf(key), opts.qps);
      } catch {
        // Best effort: the client's own backoff still applies.
      }
    },
  };
}

/** No limit at all (tests of other modules, the simulator's own tools). */
export const unlimited: ApiLimiter = {
  async acquire() {},
  async throttled() {},
};
