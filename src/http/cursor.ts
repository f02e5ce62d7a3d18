/**
 * Cursors of the `/v1` lists: base64url JSON of the last row's sort key, bound to the list and to
 * the digest of the filters of the query that made it. Not signed: a forged cursor can only skip
 * rows the caller could read anyway. Links and targets are paged here, in memory, over the whole
 * answer of the store; events are paged by the store (`eventsPage`), this file only carries its key.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EventKey } from '../store/index.js';
import { BadParameter } from './params.js';

const cursorSchema = z.object({
  v: z.literal(1),
  /** Which list. */
  k: z.enum(['links', 'events', 'status']),
  /** Digest of the filters. */
  f: z.string(),
  /** The sort key of the last row returned. */
  a: z.array(z.union([z.string(), z.number()])).max(4),
});
type Cursor = z.infer<typeof cursorSchema>;
type CursorKind = Cursor['k'];
type CursorKey = Cursor['a'];

const NOT_OURS = 'not a cursor this API returned';

/** A short digest of a query's filters (undefined ones left out). */
export function filterDigest(filters: Record<string, string | Date | undefined>): string {
  const plain = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]);
  return createHash('sha256').update(JSON.stringify(plain)).digest('base64url').slice(0, 16);
}

export function encodeCursor(kind: CursorKind, digest: string, key: CursorKey): string {
  return Buffer.from(JSON.stringify({ v: 1, k: kind, f: digest, a: key })).toString('base64url');
}

/** The key a cursor of `kind` made under filters `digest` carries; undefined without a cursor. */
export function decodeCursor(
  text: string | undefined,
  kind: CursorKind,
  digest: string,
): CursorKey | undefined {
  if (text === undefined) return undefined;
  let parsed: Cursor;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new BadParameter('cursor', NOT_OURS);
  }
  if (parsed.k !== kind) throw new BadParameter('cursor', `not a cursor of ${kind}`);
  if (parsed.f !== digest)
    throw new BadParameter('cursor', 'made for other filters; repeat the same filters');
  return parsed.a;
}

/** A key of `length` strings (links, targets). */
export function stringKey(key: CursorKey | undefined, length: number): string[] | undefined {
  if (key === undefined) return undefined;
  if (key.length !== length || !key.every((x) => typeof x === 'string')) {
    throw new BadParameter('cursor', NOT_OURS);
  }
  return key as string[];
}

/** An event's key as a cursor carries it: [detected_at in ms, id]. */
export const eventCursorKey = (key: EventKey): CursorKey => [key.detectedAt.getTime(), key.id];

export function eventKey(key: CursorKey | undefined): EventKey | undefined {
  if (key === undefined) return undefined;
  const [t, id] = key;
  if (key.length !== 2 || typeof t !== 'number' || typeof id !== 'string' || !/^\d{1,19}$/.test(id)) {
    throw new BadParameter('cursor', NOT_OURS);
  }
  const detectedAt = new Date(t);
  if (Number.isNaN(detectedAt.getTime())) throw new BadParameter('cursor', NOT_OURS);
  return { detectedAt, id };
}

/** Code-unit order of string tuples (the keyset order, whatever the database's collation). */
function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface PageOptions<T> {
  key: (row: T) => string[];
  /** The key of the last row already returned. */
  after: string[] | undefined;
  limit: number;
}

/** One page of a list held in memory, sorted by `key`, after `after`; `last` when more follow. */
export function pageOf<T>(
  rows: readonly T[],
  opts: PageOptions<T>,
): { page: T[]; last: string[] | undefined } {
  const { key, after, limit } = opts;
  const sorted = [...rows].sort((a, b) => compareKeys(key(a), key(b)));
  const rest = after === undefined ? sorted : sorted.filter((r) => compareKeys(key(r), after) > 0);
  const page = rest.slice(0, limit);
  const lastRow = page[page.length - 1];
  return { page, last: rest.length > limit && lastRow !== undefined ? key(lastRow) : undefined };
}
