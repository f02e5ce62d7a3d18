/**
 * Default attributes of instances and VPCs: names, statuses, inner IPs, zones, resource groups,
 * tags. Each is a pure function of the seed and the resource's id, drawn from a generator of its
 * own, so adding attributes never moves the world's id stream (tests pin ids and links per seed),
 * and a million-instance world stores nothing until an attribute is changed.
 */
import { SimApiError } from './api-error.js';
import { mulberry32, type Rng, randomId, randomInt } from './random.js';
import type { InstanceAttrs, InstanceStatus, SimTag } from './types.js';

export interface VpcAttrs {
  tags: SimTag[];
  resourceGroupId: string;
}

/** Instance types of the classic generation, with their vCPUs and memory (MiB). */
export const INSTANCE_TYPES: Readonly<Record<string, { cpu: number; memory: number }>> = {
  'ecs.n1.small': { cpu: 1, memory: 2048 },
  'ecs.n1.medium': { cpu: 2, memory: 4096 },
  'ecs.sn1.medium': { cpu: 2, memory: 4096 },
  'ecs.sn2.medium': { cpu: 2, memory: 8192 },
  'ecs.s2.large': { cpu: 2, memory: 4096 },
};
const TYPE_NAMES = Object.keys(INSTANCE_TYPES);

const ROLES = ['web', 'api', 'db', 'cache', 'batch', 'erp', 'mq', 'search', 'report', 'legacy-app'];
const ENVS = ['prod', 'prod', 'prod', 'staging', 'dev'];
const TEAMS = ['payments', 'search', 'platform', 'data', 'ops'];
const EPOCH_2019 = Date.UTC(2019, 0, 1);
const FIVE_YEARS_MIN = 5 * 365 * 24 * 60;

/** FNV-1a over the seed and a text: the per-resource generator's seed. */
export function hash32(seed: number, text: string): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[randomInt(rng, list.length)] as T;
}

/** `cn-hangzhou` → `cn-hangzhou-b`; `ap-southeast-1` → `ap-southeast-1a` (the real naming). */
function zoneOf(regionId: string, letter: string): string {
  return /\d$/.test(regionId) ? `${regionId}${letter}` : `${regionId}-${letter}`;
}

const groupsBySeed = new Map<number, readonly string[]>();

/** The account's resource groups: the default one first (most resources sit in it). */
export function resourceGroups(seed: number): readonly string[] {
  let groups = groupsBySeed.get(seed);
  if (!groups) {
    const rng = mulberry32(hash32(seed, 'resource-groups'));
    groups = [0, 1, 2].map(() => randomId(rng, 'rg-acfm', 11));
    groupsBySeed.set(seed, groups);
  }
  return groups;
}

export function defaultInstanceAttrs(seed: number, regionId: string, instanceId: string): InstanceAttrs {
  const rng = mulberry32(hash32(seed, instanceId));
  const env = pick(rng, ENVS);
  const role = pick(rng, ROLES);
  const n = 1 + randomInt(rng, 99);
  const status: InstanceStatus = rng() < 0.85 ? 'Running' : 'Stopped';
  const ip = `10.${randomInt(rng, 256)}.${randomInt(rng, 256)}.${1 + randomInt(rng, 254)}`;
  const zoneId = zoneOf(regionId, pick(rng, ['b', 'c', 'd']));
  const groups = resourceGroups(seed);
  const resourceGroupId = rng() < 0.6 ? (groups[0] as string) : pick(rng, groups);
  const tags: SimTag[] = [];
  // About one instance in six is untagged (the real API then leaves `Tags` out).
  const tagged = rng() >= 0.15;
  if (tagged) tags.push({ key: 'env', value: env });
  if (tagged && rng() < 0.7) tags.push({ key: 'team', value: pick(rng, TEAMS) });
  if (tagged && rng() < 0.3) tags.push({ key: 'migration-wave', value: `wave-${1 + randomInt(rng, 3)}` });
  const minutes = randomInt(rng, FIVE_YEARS_MIN);
  return {
    instanceName: `${env}-${role}-${String(n).padStart(2, '0')}`,
    status,
    innerIp: ip,
    zoneId,
    resourceGroupId,
    tags,
    creationTime: minuteTime(EPOCH_2019 + minutes * 60_000),
    instanceType: pick(rng, TYPE_NAMES),
  };
}

export function defaultVpcAttrs(seed: number, vpcId: string): VpcAttrs {
  const rng = mulberry32(hash32(seed, vpcId));
  const tags: SimTag[] = [{ key: 'env', value: pick(rng, ENVS) }];
  if (rng() < 0.6) tags.push({ key: 'owner', value: pick(rng, TEAMS) });
  return { tags, resourceGroupId: resourceGroups(seed)[0] as string };
}

/** `yyyy-MM-ddTHH:mmZ`: the minute precision of DescribeInstances' samples. */
export function minuteTime(ms: number): string {
  return new Date(ms).toISOString().replace(/:\d{2}\.\d{3}Z$/, 'Z');
}

/**
 * A stable 16-digit account id from the seed (`userIdentity.accountId`, `OwnerId`). It starts with
 * 1, as real ones do, which also keeps it below 2^53 for `OwnerId`, a JSON number.
 */
export function accountIdFor(seed: number): string {
  const rng = mulberry32(hash32(seed, 'account'));
  let out = '1';
  while (out.length < 16) out += String(randomInt(rng, 10));
  return out;
}

/** A RAM user's id: 16 digits derived from the account and the name (one name, one principal). */
export function principalIdFor(accountId: string, userName: string): string {
  const rng = mulberry32(hash32(0, `${accountId}\n${userName}`));
  let out = '2';
  while (out.length < 16) out += String(randomInt(rng, 10));
  return out;
}

/**
 * Size limits of stored attribute values. The real API refuses names over 128 characters; the
 * simulator stores what tests throw at it (hostile, 4 KB, emoji) up to `maxBytes` of UTF-8.
 */
export interface AttributeLimits {
  maxBytes: number;
  /** Tags per resource (the real limit is 20). */
  maxTags: number;
}

export const DEFAULT_ATTRIBUTE_LIMITS: AttributeLimits = { maxBytes: 65_536, maxTags: 20 };

/** Throws `InvalidParameter` naming the field when a value breaks a limit. */
export function checkAttribute(limits: AttributeLimits, field: string, value: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > limits.maxBytes) {
    throw new SimApiError(
      'InvalidParameter',
      `${field} is ${bytes} bytes, over the limit of ${limits.maxBytes} (maxAttributeBytes)`,
    );
  }
}

export function checkTags(limits: AttributeLimits, tags: readonly SimTag[]): void {
  if (tags.length > limits.maxTags) {
    throw new SimApiError('InvalidParameter', `at most ${limits.maxTags} tags, got ${tags.length}`);
  }
  const keys = new Set<string>();
  for (const t of tags) {
    if (t.key === '') throw new SimApiError('InvalidParameter', 'a tag key may not be empty');
    if (keys.has(t.key)) {
      throw new SimApiError('InvalidParameter', `duplicate tag key ${JSON.stringify(t.key.slice(0, 64))}`);
    }
    keys.add(t.key);
    checkAttribute(limits, 'tag key', t.key);
    checkAttribute(limits, 'tag value', t.value);
  }
}
