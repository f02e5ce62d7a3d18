/**
 * The Redis connections of the process, opened here and nowhere else: the shared connection that
 * queues and limiters use, the blocking ones of workers and finish watches (duplicates of the
 * shared one), the readiness probe's, the start-up check's and the demo's claim of its prefix.
 *
 * Each is one server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`): an ioredis `Redis`
 * or `Cluster`, one type for both (`RedisConnection`). On a cluster every key of the deployment
 * hashes to the one slot of the `{QUEUE_PREFIX}` hash tag (keys.ts), so BullMQ's multi-key scripts
 * and the limiter's transactions run on one node; the client follows that slot when it moves
 * (MOVED, ASK) and when its master fails over to a replica.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import { CONNECT_TIMEOUT_MS, hostPort, messageOf, UnreachableError, unreachable } from '../reach.js';
import { prefixKey, prefixPattern } from './keys.js';

/** A Redis connection: one server, or a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** Where the service's Redis is (the configuration's two variables). */
export interface RedisSettings {
  REDIS_URL: string;
  /** Seed nodes of a Redis Cluster (`redis://` / `rediss://` URLs); when given, REDIS_URL is not used. */
  REDIS_CLUSTER_NODES?: readonly string[] | undefined;
}

/**
 * How long a command rides out a failover, a resharding or a cluster that says CLUSTERDOWN before
 * it fails: `REDIRECTIONS` retries (MOVED, ASK, TRYAGAIN, CLUSTERDOWN and a closed connection
 * all count), `RETRY_DELAY_MS` apart where the client waits. About 30 s — Redis fails a master over
 * `cluster-node-timeout` (15 s by default) plus an election after it stops answering.
 */
const REDIRECTIONS = 150;
const RETRY_DELAY_MS = 200;

/** The seeds' hosts and ports, and the login and TLS they share (config.ts checks they agree). */
function clusterSeeds(urls: readonly string[]): {
  seeds: { host: string; port: number }[];
  redisOptions: NonNullable<ClusterOptions['redisOptions']>;
} {
  const parsed = urls.map((u) => new URL(u));
  const first = parsed[0];
  if (!first) throw new Error('REDIS_CLUSTER_NODES: no seed node');
  const seeds = parsed.map((u) => ({
    // `[::1]` → `::1`
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || 6379),
  }));
  const username = decodeURIComponent(first.username);
  const password = decodeURIComponent(first.password);
  return {
    seeds,
    redisOptions: {
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      // rediss: TLS to every node, verified as Node verifies any host (a private CA through
      // NODE_EXTRA_CA_CERTS); a node's certificate must name the address the cluster announces.
      ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      connectTimeout: CONNECT_TIMEOUT_MS,
    },
  };
}

/** The cluster's side of the shared connection's promise: commands wait across a failover. */
const CLUSTER_WAITS: ClusterOptions = {
  clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  enableOfflineQueue: true,
  maxRedirections: REDIRECTIONS,
  retryDelayOnFailover: RETRY_DELAY_MS,
  retryDelayOnClusterDown: RETRY_DELAY_MS,
  retryDelayOnTryAgain: 100,
  // clusterNodeRetryStrategy stays null (ioredis 6's default): a node whose connection drops is
  // forgotten, so the commands sent to it fail with "Connection is closed" and are retried against
  // the cluster's new map. Reconnecting to it instead would hold them, without a limit, for a
  // master that is dead and replaced.
  slotsRefreshTimeout: 2_000,
};

/** Where a settings object points, for messages: `host:port`, of the first seed on a cluster. */
function where(settings: RedisSettings): string {
  const nodes = settings.REDIS_CLUSTER_NODES;
  return nodes?.[0] !== undefined ? hostPort(nodes[0], 6379) : hostPort(settings.REDIS_URL, 6379);
}

/**
 * The process's shared connection. It never gives up: commands wait across reconnects and, on a
 * cluster, across failovers and slot moves (BullMQ requires that of blocking connections, and a
 * duplicate inherits it), and a lost connection is a warning, not a crash.
 */
export function openRedis(settings: RedisSettings, log: Logger): RedisConnection {
  const nodes = settings.REDIS_CLUSTER_NODES;
  if (nodes !== undefined && nodes.length > 0) {
    const { seeds, redisOptions } = clusterSeeds(nodes);
    const cluster = new Cluster(seeds, {
      ...CLUSTER_WAITS,
      redisOptions: { ...redisOptions, maxRetriesPerRequest: null },
    });
    cluster.on('error', (err) => log.warn({ err: err.message }, 'Redis Cluster error; reconnecting'));
    cluster.on('node error', (err: Error, node: string) =>
      log.warn({ err: err.message, node }, 'Redis Cluster node error'),
    );
    cluster.on('+node', (node: Redis) => {
      log.debug({ node: `${node.options.host}:${node.options.port}` }, 'Redis Cluster node added');
    });
    return cluster;
  }
  const redis = new Redis(settings.REDIS_URL, {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'Redis connection error; reconnecting'));
  return redis;
}

/**
 * A connection of its own to the same server or cluster, with the same options, for a reader
 * that blocks (a worker's BZPOPMIN, a finish watch's XREAD). BullMQ treats a connection it is
 * handed as shared and never closes it: the caller closes it (`closeRedis`).
 */
export function duplicateRedis(redis: RedisConnection): RedisConnection {
  return redis instanceof Cluster ? redis.duplicate() : redis.duplicate({ maxRetriesPerRequest: null });
}

/** Closes a connection: QUIT when Redis answers, else drops the socket(s). */
export async function closeRedis(redis: RedisConnection): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

/**
 * A probe's connection is opened at the first ask and queues nothing: wait until it is up, or for
 * the error that says why not.
 */
async function untilReady(probe: RedisConnection): Promise<void> {
  if (probe.status === 'ready') return;
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

/** Asks whether Redis answers now, for /readyz. */
interface RedisProbe {
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A probe on a connection of its own that fails fast: the shared one queues commands until Redis
 * returns, so a probe over it would hang instead of saying "not ready". On a cluster, ready means
 * a node answers and says `cluster_state:ok` — every slot served (a master that failed is not,
 * until its replica takes over).
 */
export function openRedisProbe(shared: RedisConnection, log: Logger): RedisProbe {
  const onError = (err: Error) => log.debug({ err: err.message }, 'readiness Redis connection error');
  if (shared instanceof Cluster) {
    const probe = shared.duplicate([], {
      enableOfflineQueue: false,
      maxRedirections: 2,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      retryDelayOnTryAgain: 0,
      redisOptions: { maxRetriesPerRequest: 0 },
    });
    probe.on('error', onError);
    probe.on('node error', onError);
    return {
      async ping() {
        await untilReady(probe);
        const info = String(await probe.cluster('INFO'));
        const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
        if (state !== 'ok') throw new Error(`Redis Cluster state is ${state}`);
      },
      close: () => closeRedis(probe),
    };
  }
  const probe = shared.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  probe.on('error', onError);
  return {
    async ping() {
      await untilReady(probe);
      await probe.ping();
    },
    close: () => closeRedis(probe),
  };
}

/**
 * One line for a failed Redis connect: a login refused (WRONGPASS / NOAUTH) is not an outage, and
 * a cluster where one server was configured (or the reverse) says which variable to use.
 */
function describeRedisError(settings: RedisSettings, at: string, err: unknown): string {
  const cluster = settings.REDIS_CLUSTER_NODES !== undefined && settings.REDIS_CLUSTER_NODES.length > 0;
  const variable = cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
  const what = cluster ? 'Redis Cluster' : 'Redis';
  const why = messageOf(err);
  if (/^NOAUTH/.test(why)) {
    return `${what} at ${at} needs a password (${why}): put it in ${variable}, e.g. redis://:PASSWORD@${at}`;
  }
  if (/^WRONGPASS/.test(why) || /invalid password|invalid username-password/i.test(why)) {
    return `${what} at ${at} refused the login (${why}): check the user and password in ${variable}`;
  }
  if (/cluster support disabled/i.test(why)) {
    return `Redis at ${at} is not a Redis Cluster node (${why}): for one server, unset REDIS_CLUSTER_NODES and set REDIS_URL`;
  }
  return unreachable(what, variable, at, err) ?? `cannot reach ${what} at ${at} (${why})`;
}

/**
 * Asks one server whether it answers, lets us in, and is a cluster node (`INFO cluster`) — and if
 * so, what it says of the cluster (`CLUSTER INFO`'s `cluster_state`). A failure throws one line
 * (`describeRedisError`) naming `at`.
 */
async function askServer(
  settings: RedisSettings,
  at: string,
  connect: (opts: RedisOptions) => Redis,
): Promise<{ clusterNode: boolean; clusterState?: string }> {
  const client = connect({
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
    if (!/^cluster_enabled:1/m.test(await client.info('cluster'))) return { clusterNode: false };
    const info = String(await client.cluster('INFO'));
    return { clusterNode: true, clusterState: /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown' };
  } catch (err) {
    throw new UnreachableError(describeRedisError(settings, at, cause ?? err));
  } finally {
    client.disconnect();
  }
}

/** Before a command starts work: Redis answers and lets us in; else one line says why. */
export async function checkRedis(settings: RedisSettings): Promise<void> {
  const nodes = settings.REDIS_CLUSTER_NODES;
  if (nodes !== undefined && nodes.length > 0) return checkCluster(settings, nodes);
  const at = where(settings);
  const { clusterNode } = await askServer(settings, at, (o) => new Redis(settings.REDIS_URL, o));
  if (clusterNode) {
    // One client on one node of a cluster gets MOVED for every key of another node's slots, and
    // never follows a failover.
    throw new UnreachableError(
      `Redis at ${at} is a node of a Redis Cluster: set REDIS_CLUSTER_NODES=redis://…@${at} (and more seed nodes) instead of REDIS_URL`,
    );
  }
}

/** `promise`, or a rejection saying `what` took longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A cluster is ready when a seed answers as a cluster node whose cluster serves every slot (each
 * seed is asked on its own, for a precise line: refused, a login, TLS, not a cluster; one
 * answering is enough), and every master the cluster names for its slots answers us too: the
 * nodes announce their own addresses, which may not be reachable from here (NAT, a container's
 * private address).
 */
async function checkCluster(settings: RedisSettings, nodes: readonly string[]): Promise<void> {
  const { seeds, redisOptions } = clusterSeeds(nodes);
  let failure: unknown;
  let answered: { at: string; state: string } | undefined;
  for (const seed of seeds) {
    const at = `${seed.host}:${seed.port}`;
    try {
      const { clusterNode, clusterState } = await askServer(
        settings,
        at,
        (o) => new Redis({ ...redisOptions, ...seed, ...o }),
      );
      if (!clusterNode) {
        throw new UnreachableError(
          `Redis at ${at} is not a Redis Cluster node (cluster support disabled): for one server, unset REDIS_CLUSTER_NODES and set REDIS_URL`,
        );
      }
      answered = { at, state: clusterState ?? 'unknown' };
      break;
    } catch (err) {
      failure ??= err;
    }
  }
  if (answered === undefined) throw failure;
  const check = `check it with redis-cli --cluster check ${answered.at}`;
  if (answered.state !== 'ok') {
    throw new UnreachableError(
      `Redis Cluster at ${answered.at} says cluster_state:${answered.state}, so not every slot is served: ${check}`,
    );
  }
  const client = new Cluster(seeds, {
    lazyConnect: true,
    enableOfflineQueue: false,
    // Its own check: ioredis' waits while the cluster is not ok, and it was ok a moment ago.
    enableReadyCheck: false,
    clusterRetryStrategy: () => null,
    maxRedirections: 2,
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    redisOptions: { ...redisOptions, maxRetriesPerRequest: 0 },
  });
  client.on('error', () => {});
  const causes = new Map<string, unknown>();
  client.on('node error', (err: unknown, node: string) => {
    if (!causes.has(node)) causes.set(node, err);
  });
  try {
    await within(client.connect(), CONNECT_TIMEOUT_MS, 'the map of slots');
    for (const node of client.nodes('master')) {
      const at = `${node.options.host}:${node.options.port}`;
      try {
        await within(node.ping(), CONNECT_TIMEOUT_MS, at);
      } catch (err) {
        const why = messageOf(causes.get(at) ?? err);
        throw new UnreachableError(
          `Redis Cluster at ${answered.at} names ${at} as a master, and ${at} does not answer from here (${why}): the nodes must announce addresses this host can reach (cluster-announce-ip); ${check}`,
        );
      }
    }
  } catch (err) {
    if (err instanceof UnreachableError) throw err;
    throw new UnreachableError(
      `Redis Cluster at ${answered.at} answers, but its map of slots could not be read (${messageOf(err)}): ${check}`,
    );
  } finally {
    client.disconnect();
  }
}

interface PrefixClaim {
  server: RedisSettings;
  prefix: string;
  /** The key under the prefix that holds the owner's mark. */
  markKey: string;
  /** The owner's mark: the value of `markKey`. */
  mark: string;
}

/** True if any key matches `pattern` on this one server (SCAN, never KEYS). */
async function anyKey(redis: Redis, pattern: string): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) return true;
    cursor = next;
  } while (cursor !== '0');
  return false;
}

/**
 * Takes a prefix for an owner that clears it at will (the demo): true if it carries the owner's
 * mark, or is empty (it is marked then); false if keys under it lack the mark — someone else's.
 * On a cluster every master is scanned (a scan covers one node; a slot being moved has keys on two).
 */
export async function claimPrefix(claim: PrefixClaim): Promise<boolean> {
  const markKey = prefixKey(claim.prefix, claim.markKey);
  const nodes = claim.server.REDIS_CLUSTER_NODES;
  const cluster = nodes !== undefined && nodes.length > 0;
  const redis: RedisConnection = cluster
    ? new Cluster(clusterSeeds(nodes).seeds, {
        lazyConnect: true,
        redisOptions: { ...clusterSeeds(nodes).redisOptions, maxRetriesPerRequest: 1 },
      })
    : new Redis(claim.server.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    if ((await redis.get(markKey)) === claim.mark) return true;
    const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
    for (const server of servers) {
      if (await anyKey(server, prefixPattern(claim.prefix))) return false;
    }
    await redis.set(markKey, claim.mark);
    return true;
  } finally {
    redis.disconnect();
  }
}
