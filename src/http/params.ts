/**
 * Query parameters of the `/v1` API: the CLI's formats (ids and times from ids.ts), one value
 * each, unknown parameters refused. A refused one is a 400 that names it (`BadParameter`, which the
 * server's error handler answers).
 */
import { z } from 'zod';
import { parseTimestamp, timestampProblem } from '../ids.js';

/** Page size when `limit` is not given, and the largest allowed. */
const PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1_000;

/** A 400 answer naming the parameter. */
export class BadParameter extends Error {
  override readonly name = 'BadParameter';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

/** A query string as fastify parses it: a repeated parameter arrives as an array. */
export type Query = Record<string, string | string[] | undefined>;

export const time = z.string().transform((s, ctx) => {
  const d = parseTimestamp(s);
  if (d === undefined) {
    ctx.addIssue({ code: 'custom', message: timestampProblem(s) });
    return z.NEVER;
  }
  return d;
});

const LIMIT_EXPECTED = `expected a whole number from 1 to ${MAX_PAGE_SIZE}`;
export const limit = z
  .string()
  .regex(/^\d+$/, LIMIT_EXPECTED)
  .transform(Number)
  .pipe(z.number().int().min(1, LIMIT_EXPECTED).max(MAX_PAGE_SIZE, LIMIT_EXPECTED))
  .default(PAGE_SIZE);

/** The text of a cursor (cursor.ts reads it). */
export const cursorText = z.string().max(1_024, 'not a cursor this API returned');

/** The parsed query, or a BadParameter naming the first parameter refused. */
export function parseQuery<S extends z.ZodType>(schema: S, query: Query): z.output<S> {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new BadParameter('query', 'invalid');
  if (issue.code === 'unrecognized_keys')
    throw new BadParameter(issue.keys[0] ?? 'query', 'unknown parameter');
  const parameter = String(issue.path[0] ?? 'query');
  const message = Array.isArray(query[parameter]) ? 'give it at most once' : issue.message;
  throw new BadParameter(parameter, message);
}
