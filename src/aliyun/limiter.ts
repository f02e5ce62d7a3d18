/**
 * API rate limiting shared by every process: at most API_MAX_QPS calls per (account, region, API)
 * in ANY one-second window — sliding, not per calendar second — for the whole fleet together.
 *
 * Why not one fixed-window counter (`points: qps, duration: 1`): a fixed window admits `qps` calls
 * at the end of one window and `qps` more at the start of the next, i.e. up to 2× the cap within
 * one second, and Alibaba throttles on a sliding window. Why not spacing every call 1/QPS apart
 * through one shared "next slot" time: every late wake-up (a busy event loop, a slow Redis round
 * trip) then delays every later call, so the achieved rate sinks below 95 % on a loaded host.
 *
 * The design: a sliding-window log of `qps` entries, kept as `qps` *lanes*. Each lane is a
 * rate-limiter-flexible RateLimiterRedis key with `points: 1`: a lane admits one call, then stays
 * closed for one window from that call (the key's TTL), so two calls of one lane are at least a
 * window apart, and any window holds at most one call per lane — at most `qps` calls, from any
 * number of processes. A caller draws a ticket (one shared Redis INCR per key) and waits on lane
 * `ticket % qps`, so callers spread round-robin over the lanes. A late wake-up only delays its
 * own lane's next call, never the others: a loaded fleet still reaches ~95.5 % of the cap.
 *
 * What the API counts is when calls *arrive*, not when we admit them, and on a loaded host the time
 * from admission to sending varies by tens of ms (a wait for an in-flight slot, credentials,
 * signing, a busy event loop): two calls of one lane admitted a window apart could go out less
 * than a second apart (measured: 24 arrivals in one second for a cap of 20 with four processes).
 * So the admission returns `sending()`, which the client calls the moment undici writes the
 * request to its socket (write-hook.ts): it restarts the lane's window from then (one
 * fire-and-forget SET … PX). Two calls of one lane are therefore a window apart as *sent*,
 * whatever happened between admission and the write (up to 117 ms measured with four workers on
 * two loaded cores). The window is 1,035 ms, not 1,000: the 35 ms of margin covers the rest — from
 * our socket to the server's clock, measured at p99 2–4 ms and at most 18 ms in the same bench
 * (`npm run bench -- --only=E --trace-writes`) — at a cost of 3.4 % of the rate (the bench
 * reaches 95.5 % of the cap).
 * rate-limiter-flexible's Redis store expires keys in whole seconds, so the lanes use its
 * `customIncrTtlLuaScript` hook with the same script in milliseconds (PX instead of EX).
 *
 * If Redis is unreachable, rate-limiter-flexible's in-memory insurance lanes keep each process
 * under the same bound rather than stopping work.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { sleep } from '../backoff.js';

export interface LimitKey {
  regionId: string;
  action: string;
}

/** One admitted call. */
export interface Admission {
  /** The request goes out now: its lane's window restarts from this moment (see above). */
  sending(): void;
}

export interface ApiLimiter {
  /** Resolves when one call for `key` may start. */
  acquire(key: LimitKey, signal?: AbortSignal): Promise<Admission>;
  /** The API said `Throttling*`: close every lane for a window, so the whole fleet backs off. */
  throttled(key: LimitKey): Promise<void>;
}

export interface RedisLimiterOptions {
  redis: Redis;
  account: string;
  /** Calls per second per key (API_MAX_QPS). */
  qps: number;
  /** Redis key prefix; give tests their own. */
  keyPrefix: string;
  /** Sliding window, ms. Default 1,035 (one second plus arrival-jitter margin; see above). */
  windowMs?: number;
}

/** Default window: 1 s + 35 ms of margin for the jitter between our send and the API's clock. */
export const LIMITER_WINDOW_MS = 1_035;

/**
 * rate-limiter-flexible's own increment script with a millisecond TTL: ARGV[4] is the limiter's
 * `duration` in (fractional) seconds. Same inputs and outputs as the library's script, so it is
 * a drop-in for every RateLimiterRedis on the connection (ioredis commands are per connection).
 */
const INCR_PTTL_LUA = `local ms = math.floor(tonumber(ARGV[4]) * 1000)
redis.call('set', KEYS[1], 0, 'PX', ms, 'NX')
local consumed = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('pexpire', KEYS[1], ms)
  ttl = ms
end
return {consumed, ttl}`;

export function createRedisLimiter(opts: RedisLimiterOptions): ApiLimiter {
  const windowMs = opts.windowMs ?? LIMITER_WINDOW_MS;
  const lanes = opts.qps;
  const duration = windowMs / 1000;
  const limiter = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: `${opts.keyPrefix}:qps`,
    points: 1,
    duration,
    customIncrTtlLuaScript: INCR_PTTL_LUA,
    insuranceLimiter: new RateLimiterMemory({ points: 1, duration }),
  });
  const ticketPrefix = `${opts.keyPrefix}:qps-ticket`;
  let localTicket = 0;
  const keyOf = (k: LimitKey) => `${opts.account}:${k.regionId}:${k.action}`;

  async function ticket(id: string): Promise<number> {
    try {
      // One round trip; the hour's TTL only keeps an idle key from lingering (any value is fine).
      const k = `${ticketPrefix}:${id}`;
      const res = await opts.redis.multi().incr(k).pexpire(k, 3_600_000).exec();
      const n = res?.[0]?.[1];
      if (typeof n !== 'number') throw new Error('no ticket');
      return n;
    } catch {
      // Redis down: any lane choice is safe (each lane is its own bound), this one spreads.
      return ++localTicket;
    }
  }

  return {
    async acquire(key, signal) {
      const id = keyOf(key);
      const lane = `${id}:${(await ticket(id)) % lanes}`;
      for (;;) {
        signal?.throwIfAborted();
        try {
          await limiter.consume(lane, 1);
          return {
            sending() {
              // The lane stays closed for a whole window from now (not from the admission). If Redis
              // is unreachable, the insurance lane's admission-time window is what remains.
              opts.redis.set(limiter.getKey(lane), 1, 'PX', windowMs).catch(() => undefined);
            },
          };
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          // The lane opens when its key expires; +1 ms because Redis expires on the next millisecond.
          await sleep(rejection.msBeforeNext + 1, signal);
        }
      }
    },
    async throttled(key) {
      const id = keyOf(key);
      // A penalty opens a closed lane for the rest of its window and closes an open one for a
      // whole window: no call of this key starts for a while, in any process.
      await Promise.all(
        Array.from({ length: lanes }, (_, i) => limiter.penalty(`${id}:${i}`, 1).catch(() => undefined)),
      );
    },
  };
}

const admitted: Admission = { sending() {} };

/** No limit at all (tests of other modules, the simulator's own tools). */
export const unlimited: ApiLimiter = {
  async acquire() {
    return admitted;
  },
  async throttled() {},
};
