/**
 * Where this deployment's keys live in Redis, defined once. Every key of the deployment — BullMQ's
 * queues, the API limiter's lanes, the demo's mark — sits under QUEUE_PREFIX wrapped in a Redis
 * Cluster hash tag (`{classiclink}`), so all of them hash to one slot and BullMQ's multi-key
 * scripts, and a scan of the prefix, stay on one node.
 */
import { createHash } from 'node:crypto';
import type { TargetRef } from '../links.js';

/** `{classiclink}`: the hash-tagged prefix of every key of the deployment. */
export function queuePrefix(prefix: string): string {
  return `{${prefix}}`;
}

/** A key of our own under the prefix (not BullMQ's): `{classiclink}:name`. */
export function prefixKey(prefix: string, name: string): string {
  return `${queuePrefix(prefix)}:${name}`;
}

/** The SCAN / `--pattern` glob of every key under the prefix. */
export function prefixPattern(prefix: string): string {
  return `${queuePrefix(prefix)}*`;
}

/** The deduplication id of a target's sync job: a target never has two sync jobs waiting. */
export function targetKey(t: TargetRef): string {
  return `${t.account}:${t.regionId}:${t.vpcId}`;
}

/** The deduplication id of an account+region's attribute job: at most one waits per region. */
export function attributeKey(r: { account: string; regionId: string }): string {
  return `${r.account}:${r.regionId}`;
}

/**
 * The Postgres schema of the deployment's queues on the Postgres backend: QUEUE_PREFIX made a plain
 * identifier, `classiclink` → `classiclink_queue`. The prefix separates deployments on one
 * database as it does on one Redis.
 */
export function queueSchema(prefix: string): string {
  const plain = `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_queue`.toLowerCase();
  const named = /^[a-z_]/.test(plain) ? plain : `_${plain}`;
  if (named.length <= 63) return named;
  // Postgres keeps 63 bytes of a name: a long prefix keeps its start and a hash of the whole.
  return `${named.slice(0, 50)}_${createHash('sha1').update(prefix).digest('hex').slice(0, 12)}`;
}
