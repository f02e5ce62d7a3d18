/** Loads and validates a `worldFile` (the same JSON `snapshot()` and `GET /_sim/world` produce). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WorldJson } from './types.js';
import { World, type WorldOptions } from './world.js';

const WorldJsonSchema = z.object({
  version: z.literal(1),
  regions: z.array(
    z.object({
      regionId: z.string().min(1),
      vpcs: z.array(
        z.object({
          vpcId: z.string().min(1),
          vpcName: z.string().optional(),
          cidrBlock: z.string().optional(),
        }),
      ),
      instances: z.array(z.string().min(1)).default([]),
      links: z.array(z.object({ instanceId: z.string().min(1), vpcId: z.string().min(1) })).default([]),
    }),
  ),
});

export function parseWorldJson(value: unknown): WorldJson {
  const parsed = WorldJsonSchema.safeParse(value);
  if (!parsed.success) throw new Error(`invalid world JSON: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Reads the file; throws a message naming the file on any problem (bad JSON, bad shape, broken rule). */
export function loadWorldFile(path: string, o: WorldOptions): World {
  try {
    return World.fromJson(parseWorldJson(JSON.parse(readFileSync(path, 'utf8'))), o);
  } catch (err) {
    throw new Error(`worldFile ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
