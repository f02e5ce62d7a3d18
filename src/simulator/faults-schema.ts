/** Validation of `Faults`, shared by `setFaults()` and `PUT /_sim/faults`. */
import { z } from 'zod';
import type { Faults } from './types.js';

const rate = z.number().min(0).max(1).optional();
const ms = z.number().int().min(0).max(600_000).optional();

export const FaultsSchema = z
  .object({
    latencyMs: ms,
    latencySpikeMs: ms,
    latencySpikeRate: rate,
    throttleRate: rate,
    unavailableRate: rate,
    internalErrorRate: rate,
    resetRate: rate,
    malformedRate: rate,
    malformedKind: z
      .enum([
        'non-json',
        'truncated',
        'html',
        'empty',
        'wrong-types',
        'missing-fields',
        'negative-total',
        'page-echo',
        'foreign-vpc',
        'duplicates',
      ])
      .optional(),
    failVpcs: z.record(z.string().min(1), z.string().min(1)).optional(),
    paginationDrift: z.boolean().optional(),
    qpsCap: z.number().int().min(1).optional(),
    retryAfterMs: ms,
    actions: z.array(z.string().min(1)).optional(),
    actionTrailDelayMs: z.number().int().min(0).max(86_400_000).optional(),
  })
  .strict();

/** Parses and validates; throws an Error with a readable message on a bad value. */
export function parseFaults(value: unknown): Faults {
  const parsed = FaultsSchema.safeParse(value);
  if (!parsed.success) throw new Error(`invalid faults: ${z.prettifyError(parsed.error)}`);
  // Drop keys zod filled with `undefined` so the stored object reads like what was given.
  return Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as Faults;
}
