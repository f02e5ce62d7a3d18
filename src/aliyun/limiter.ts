/**
 * API rate limiting shared by every process: at most API_MAX_QPS calls per (account, region, API)
 * in ANY one-second window — sliding, as Alibaba throttles — for the whole fleet together. An "API"
 * is one action of one product (`ecs` DescribeInstances, `actiontrail` LookupEvents), the unit
 * Alibaba throttles: the product is in the key, so equal action names of two products never share.
 *
 * Why not one fixed-window counter: it admits `qps` calls at the end of one window and `qps` more
 * at the start of the next. Why not one shared "next slot" time spacing calls 1/QPS apart: every
 * late wake-up (a busy event loop, a slow Redis round trip) then delays every later call.
 *
 * The design: a sliding-window log of `qps` entries, kept as `qps` *lanes*, each a
 * rate-limiter-flexible RateLimiterRedis key with `points: 1` that stays closed for one window
 * after its call. Any window holds at most one call per lane — at most `qps` calls, from any number
 * of processes. A caller draws a ticket (one shared Redis INCR per key) and waits on lane
 * `ticket % qps`, so a late wake-up only delays its own lane.
 *
 * The API counts calls when they *arrive*, and on a loaded host the time from admission to sending
 * varies (a wait for an in-flight slot, credentials, signing). So the admission returns
 * `sending()`, which the client calls as undici writes the request to its socket (write-hook.ts):
 * it restarts the lane's window from then. The window's margin over one second covers the rest,
 * from our socket to the server's clock (README, Performance). The lanes use
 * `customIncrTtlLuaScript` with the library's script in milliseconds (its store expires keys in
 * whole seconds). If Redis is unreachable, in-memory insurance lanes keep each process under the
 * same bound rather than stopping work.
 *
 * Its keys: a lane `<keyPrefix>:qps:<account>:<region>:<api>:<action>:<n>` (rate-limiter-flexible
 * joins its `keyPrefix` and the key with `:`; its script and `penalty` touch that one key) and a
 * ticket counter `<keyPrefix>:qps-ticket:…`. The service's `keyPrefix` is the deployment's hash
 * tag `{QUEUE_PREFIX}`, so on a Redis Cluster every one of them lives in the queues' slot.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { sleep } from '../backoff.js';
import type { RedisConnection } from '../queue/index.js';
import type { ApiName } from './endpoints.js';

/** What one budget covers: an API (`ecs`, `vpc`, `actiontrail`) action in a region (the account is the limiter's). */
export interface LimitKey {
  api: ApiName;
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
  /** The process's shared connection: one server or a Redis Cluster. */
  redis: RedisConnection;
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
  const keyOf = (k: LimitKey) => `${opts.account}:${k.regionId}:${k.api}:${k.action}`;

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
