/**
 * The read-only JSON API under `/v1`: links, events and target status, through the store only,
 * always for the service's own account (undefined: every account), with the CLI's filters. Lists
 * are paginated with `limit` and an opaque `cursor` (cursor.ts), so a walk returns every row
 * exactly once even when rows share a timestamp. Links and events carry their context (instance,
 * VPC, cause) in the shape `--json` prints (context-view.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { eventView, linkView } from '../context-view.js';
import { instanceId, regionId, vpcId } from '../ids.js';
import type { LinkRow, Store, TargetStatusRow } from '../store/index.js';
import { feedHealth, targetHealth } from '../store/index.js';
import {
  decodeCursor,
  encodeCursor,
  eventCursorKey,
  eventKey,
  filterDigest,
  pageOf,
  stringKey,
} from './cursor.js';
import { BadParameter, cursorText, limit, parseQuery, type Query, time } from './params.js';

const linksQuery = z.strictObject({
  region: regionId.optional(),
  vpc: vpcId.optional(),
  at: time.optional(),
  limit,
  cursor: cursorText.optional(),
});
const eventsQuery = z.strictObject({
  since: time.optional(),
  until: time.optional(),
  region: regionId.optional(),
  vpc: vpcId.optional(),
  instance: instanceId.optional(),
  limit,
  cursor: cursorText.optional(),
});
const statusQuery = z.strictObject({ limit, cursor: cursorText.optional() });

/** The API's routes as the index at `/` lists them. */
export const API_ENDPOINTS = [
  {
    method: 'GET',
    path: '/v1/links',
    parameters: Object.keys(linksQuery.shape),
    description: 'the links now, or at a time (at)',
  },
  {
    method: 'GET',
    path: '/v1/events',
    parameters: Object.keys(eventsQuery.shape),
    description: 'the change log, oldest first; follow nextCursor for the next page',
  },
  {
    method: 'GET',
    path: '/v1/status',
    parameters: Object.keys(statusQuery.shape),
    description:
      'per target: last success and failure, consecutive failures, stale; per region: context health and the change feed',
  },
];

interface ApiOptions {
  store: Pick<Store, 'listLinks' | 'eventsPage' | 'listTargets' | 'listFeeds' | 'listContextHealth'>;
  /** CHANGE_FEED and CHANGE_FEED_INTERVAL, as `/v1/status` reports them. */
  changeFeed: { mode: 'actiontrail' | 'off'; intervalMs: number };
  /** SYNC_ACCOUNT: answers for this account only; undefined: every account (ACCOUNTS_FILE). */
  account: string | undefined;
  /** ALERT_STALE_AFTER, in ms: `/v1/status` marks a target stale after this long without success. */
  staleAfterMs: number;
  /** Clock for `/v1/status` ages. */
  now: () => Date;
}

/**
 * Names and tags are anyone's text (`<script>` included): JSON escapes what JSON must, and no
 * browser may sniff an answer into HTML.
 */
const jsonOnly = (reply: FastifyReply) => reply.header('x-content-type-options', 'nosniff');

export function registerApi(app: FastifyInstance, opts: ApiOptions): void {
  const { store, account } = opts;

  app.get<{ Querystring: Query }>('/v1/links', async (req, reply) => {
    jsonOnly(reply);
    const q = parseQuery(linksQuery, req.query);
    const f = filterDigest({ region: q.region, vpc: q.vpc, at: q.at });
    const after = stringKey(decodeCursor(q.cursor, 'links', f), 3);
    // The store answers a whole filter at once (a VPC holds at most 1,000 links); pages are cut here.
    const rows = await store.listLinks({ account, regionId: q.region, vpcId: q.vpc, at: q.at });
    const key = (r: LinkRow) => [r.regionId, r.vpcId, r.instanceId];
    const { page, last } = pageOf(rows, { key, after, limit: q.limit });
    return {
      account,
      at: q.at?.toISOString() ?? null,
      links: page.map(linkView),
      nextCursor: last === undefined ? null : encodeCursor('links', f, last),
    };
  });

  app.get<{ Querystring: Query }>('/v1/events', async (req, reply) => {
    jsonOnly(reply);
    const q = parseQuery(eventsQuery, req.query);
    if (q.since && q.until && q.since.getTime() >= q.until.getTime()) {
      throw new BadParameter('until', 'must be after since');
    }
    const f = filterDigest({
      since: q.since,
      until: q.until,
      region: q.region,
      vpc: q.vpc,
      instance: q.instance,
    });
    const { events, next } = await store.eventsPage({
      filter: {
        account,
        since: q.since,
        until: q.until,
        regionId: q.region,
        vpcId: q.vpc,
        instanceId: q.instance,
      },
      after: eventKey(decodeCursor(q.cursor, 'events', f)),
      limit: q.limit,
    });
    return {
      account,
      events: events.map(eventView),
      nextCursor: next === undefined ? null : encodeCursor('events', f, eventCursorKey(next)),
    };
  });

  app.get<{ Querystring: Query }>('/v1/status', async (req, reply) => {
    jsonOnly(reply);
    const q = parseQuery(statusQuery, req.query);
    const f = filterDigest({});
    const after = stringKey(decodeCursor(q.cursor, 'status', f), 2);
    const [targets, context, feeds] = await Promise.all([
      store.listTargets({ account }),
      store.listContextHealth({ account }),
      store.listFeeds({ account }),
    ]);
    const now = opts.now();
    const key = (r: TargetStatusRow) => [r.regionId, r.vpcId];
    const { page, last } = pageOf(targets, { key, after, limit: q.limit });
    return {
      account,
      staleAfterMs: opts.staleAfterMs,
      // The one staleness rule (store/target-state.ts), as `status` in the CLI applies it.
      targets: page.map((row) => ({ ...row, ...targetHealth(row, now, opts.staleAfterMs) })),
      // Per account+region (a few rows, on every page): whether instance attributes and
      // ActionTrail can be read, as `status` shows it.
      context,
      nextCursor: last === undefined ? null : encodeCursor('status', f, last),
      // One row per account+region (few): on every page, whole.
      changeFeed: opts.changeFeed,
      feeds: feeds.map((row) => ({ ...row, ...feedHealth(row, now) })),
    };
  });
}
