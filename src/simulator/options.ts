/** Defaults for `SimulatorOptions`, in one place, and the world and keys they produce. */
import { type AttributeLimits, DEFAULT_ATTRIBUTE_LIMITS } from './attributes.js';
import { generateWorld } from './generate.js';
import { newAccessKey } from './ids.js';
import { stream } from './random.js';
import type { SimulatorKey, SimulatorOptions } from './types.js';
import type { World } from './world.js';
import { loadWorldFile } from './world-file.js';

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  seed: 1,
  regions: ['cn-hangzhou', 'cn-beijing'],
  vpcsPerRegion: 3,
  linksPerVpc: 5,
  unlinkedPerRegion: 10,
  maxClockSkewMs: 15 * 60_000,
} as const;

export function buildWorld(opts: SimulatorOptions): World {
  const seed = opts.seed ?? DEFAULTS.seed;
  const limits: AttributeLimits = {
    ...DEFAULT_ATTRIBUTE_LIMITS,
    ...(opts.maxAttributeBytes !== undefined ? { maxBytes: opts.maxAttributeBytes } : {}),
  };
  if (!Number.isInteger(limits.maxBytes) || limits.maxBytes < 1) {
    throw new Error(`maxAttributeBytes must be a positive integer, got ${opts.maxAttributeBytes}`);
  }
  if (opts.worldFile !== undefined) {
    return loadWorldFile(opts.worldFile, { rng: stream(seed, 'world-later'), seed, limits });
  }
  return generateWorld({
    seed,
    limits,
    regions: opts.regions ?? [...DEFAULTS.regions],
    vpcsPerRegion: opts.vpcsPerRegion ?? DEFAULTS.vpcsPerRegion,
    linksPerVpc: opts.linksPerVpc ?? DEFAULTS.linksPerVpc,
    unlinkedPerRegion: opts.unlinkedPerRegion ?? DEFAULTS.unlinkedPerRegion,
  });
}

/** The given keys (validated), or one key pair derived from the seed. */
export function buildKeys(opts: SimulatorOptions): SimulatorKey[] {
  const keys = opts.keys ?? [newAccessKey(stream(opts.seed ?? DEFAULTS.seed, 'keys'))];
  if (keys.length === 0) throw new Error('keys must hold at least one key pair');
  const ids = new Set<string>();
  for (const k of keys) {
    if (!k.accessKeyId || !k.accessKeySecret)
      throw new Error('every key needs accessKeyId and accessKeySecret');
    if (ids.has(k.accessKeyId)) throw new Error(`duplicate accessKeyId ${k.accessKeyId}`);
    ids.add(k.accessKeyId);
  }
  return keys.map((k) => ({ ...k }));
}
