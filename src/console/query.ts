/**
 * The console's query strings: the filters of each page, which are also its permalink and the
 * parameters of its JSON twin. The CLI's formats (ids.ts); an empty field of a submitted form
 * means "no filter"; unknown parameters are refused. A refused one is a 400 naming it.
 */
import { z } from 'zod';
import {
  accountName,
  INSTANCE_ID,
  instanceId,
  parseTimestamp,
  regionId,
  timestampProblem,
  VPC_ID,
  vpcId,
} from '../ids.js';

/** A 400: the parameter and what is wrong with it. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
  constructor(
    readonly parameter: string,
    readonly problem: string,
  ) {
    super(`${parameter}: ${problem}`);
  }
}

/** A query string as fastify parses it. */
export type Query = Record<string, string | string[] | undefined>;

/** A form's empty field is no filter at all. */
const blankless = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const time = z.string().transform((s, ctx) => {
  const d = parseTimestamp(s);
  if (d === undefined) {
    ctx.addIssue({ code: 'custom', message: timestampProblem(s) });
    return z.NEVER;
  }
  return d;
});

/** The burn-down's windows: days back from today, or all of the history. */
export const WINDOWS = ['7', '30', '90', 'all'] as const;
export type Window = (typeof WINDOWS)[number];
export const DEFAULT_WINDOW: Window = '30';

export const overviewQuery = z.strictObject({
  account: blankless(accountName),
  region: blankless(regionId),
  window: blankless(z.enum(WINDOWS, { message: 'expected 7, 30, 90 or all' })),
});

const PAGE_SIZE = 50;
const LIMIT_EXPECTED = 'expected a whole number from 1 to 500';
export const changesQuery = z.strictObject({
  account: blankless(accountName),
  region: blankless(regionId),
  vpc: blankless(vpcId),
  instance: blankless(instanceId),
  actor: blankless(z.string().max(256, 'at most 256 characters')),
  since: blankless(time),
  until: blankless(time),
  /** An instance id, a VPC id, or a part of a name. */
  q: blankless(z.string().trim().max(256, 'at most 256 characters')),
  /** Where the previous page ended: `<detected_at ms>.<event id>`. */
  before: blankless(z.string().regex(/^\d{1,15}\.\d{1,19}$/, 'not a position this console gave')),
  limit: blankless(
    z
      .string()
      .regex(/^\d+$/, LIMIT_EXPECTED)
      .transform(Number)
      .pipe(z.number().int().min(1, LIMIT_EXPECTED).max(500, LIMIT_EXPECTED)),
  ),
});
export type ChangesQuery = z.output<typeof changesQuery>;
export const CHANGES_PAGE_SIZE = PAGE_SIZE;

export const noQuery = z.strictObject({});

/** The path parameters of the VPC and instance pages. */
export const vpcParams = z.object({ account: accountName, region: regionId, vpcId });
export const instanceParams = z.object({ account: accountName, region: regionId, instanceId });

/** What a search text is: an id (exact) or a part of a name. */
export function searchKind(q: string): 'instance' | 'vpc' | 'name' {
  if (INSTANCE_ID.test(q)) return 'instance';
  if (VPC_ID.test(q)) return 'vpc';
  return 'name';
}

/** The parsed query, or a BadRequest naming the first parameter refused. */
export function parse<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new BadRequest('query', 'invalid');
  if (issue.code === 'unrecognized_keys') throw new BadRequest(issue.keys[0] ?? 'query', 'unknown parameter');
  const parameter = String(issue.path[0] ?? 'query');
  const given = (query as Record<string, unknown> | undefined)?.[parameter];
  throw new BadRequest(parameter, Array.isArray(given) ? 'give it at most once' : issue.message);
}

/** A position in the change log as a page's `before` parameter carries it. */
export function encodePosition(key: { detectedAt: Date; id: string }): string {
  return `${key.detectedAt.getTime()}.${key.id}`;
}

export function decodePosition(text: string | undefined): { detectedAt: Date; id: string } | undefined {
  if (text === undefined) return undefined;
  const [ms, id] = text.split('.');
  return { detectedAt: new Date(Number(ms)), id: id ?? '0' };
}
