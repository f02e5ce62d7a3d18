/**
 * The read commands' output: `links`, `events`, `history`, `status`, `alerts` as text tables for
 * people or JSON for programs. Everything goes through the store; the one write is
 * `alerts --requeue` (dead-lettered alerts back to pending).
 */

import type { Config } from '../config.js';
import { type ContextView, causeText, eventView, linkView, tagsText } from '../context-view.js';
import type {
  ContextCheck,
  ContextHealthRow,
  EventRow,
  FeedStatusRow,
  LinkRow,
  Store,
} from '../store/index.js';
import { feedHealth, targetHealth } from '../store/index.js';
import { age, type Cell, clip, escapeText, table } from './format.js';
import type { AlertsOptions, EventsOptions, HistoryOptions, LinksOptions } from './options.js';
import type { CliIo } from './program.js';

type Out = CliIo['stdout'];

const json = (out: Out, value: unknown) => out.write(`${JSON.stringify(value, null, 2)}\n`);

/** Oldest first; events detected at the same instant in insertion order. */
const byDetection = (a: EventRow, b: EventRow) =>
  a.detectedAt.getTime() - b.detectedAt.getTime() || Number(a.id) - Number(b.id);

/**
 * Widest a name, the tags or an ActionTrail identity may print: a 4 KB name would otherwise widen
 * every row of its column. `--json` carries them whole.
 */
const FIELD_WIDTH = 40;

/** Text from the cloud, escaped and then cut, so the cut never splits an escape's count. */
export const shorten = (text: string) => clip(escapeText(text), FIELD_WIDTH);

/** The context columns, after the columns each table had before them (scripts read those by position). */
const CONTEXT_HEADERS = ['INSTANCE NAME', 'TAGS', 'VPC NAME', 'CAUSE'] as const;

/**
 * `-` for what is not known (never described); `(none)` for an instance described without tags;
 * the cause in words (empty for a baseline, which is never attributed).
 */
function contextCells(view: ContextView, changedAt: Date): Cell[] {
  const { instance, vpc, cause } = view;
  const name =
    instance?.name == null
      ? null
      : `${shorten(instance.name)}${instance.releasedAt === null ? '' : ' (released)'}`;
  const tags = instance ? tagsText(instance.tags) : null;
  return [
    name,
    tags === null ? null : tags === '' ? '(none)' : shorten(tags),
    vpc?.name == null ? null : shorten(vpc.name),
    causeText(cause, { detectedAt: changedAt, field: shorten }),
  ];
}

function eventTable(rows: readonly EventRow[]): string {
  return table(
    ['DETECTED', 'CHANGE', 'REGION', 'VPC', 'INSTANCE', 'RUN', ...CONTEXT_HEADERS],
    rows.map((r) => [
      r.detectedAt,
      r.baseline ? `${r.change} (baseline)` : r.change,
      r.regionId,
      r.vpcId,
      r.instanceId,
      r.syncRunId,
      ...contextCells(eventView(r), r.detectedAt),
    ]),
  );
}

/** Runs one read per (region, vpc) combination asked for (none asked: one unfiltered read). */
async function fanOut<T>(
  regions: readonly string[],
  vpcs: readonly string[],
  read: (regionId: string | undefined, vpcId: string | undefined) => Promise<T[]>,
): Promise<T[]> {
  const rs = regions.length > 0 ? regions : [undefined];
  const vs = vpcs.length > 0 ? vpcs : [undefined];
  const parts = await Promise.all(rs.flatMap((r) => vs.map((v) => read(r, v))));
  return parts.flat();
}

export async function printLinks(
  store: Pick<Store, 'listLinks'>,
  account: string | undefined,
  opts: LinksOptions,
  io: CliIo,
): Promise<number> {
  const rows: LinkRow[] = await fanOut(opts.regions, opts.vpcs, (regionId, vpcId) =>
    store.listLinks({ account, regionId, vpcId, at: opts.at }),
  );
  if (opts.json) {
    json(io.stdout, {
      account: account ?? null,
      at: opts.at?.toISOString() ?? null,
      count: rows.length,
      links: rows.map(linkView),
    });
    return 0;
  }
  io.stdout.write(
    table(
      ['REGION', 'VPC', 'INSTANCE', 'LINKED SINCE', ...CONTEXT_HEADERS],
      rows.map((r) => [
        r.regionId,
        r.vpcId,
        r.instanceId,
        r.linkedSince,
        ...contextCells(linkView(r), r.linkedSince),
      ]),
    ),
  );
  io.stdout.write(`${rows.length} link(s)${opts.at ? ` at ${opts.at.toISOString()}` : ' now'}\n`);
  return 0;
}

export async function printEvents(
  store: Pick<Store, 'listEvents' | 'countEvents'>,
  account: string | undefined,
  opts: EventsOptions,
  io: CliIo,
): Promise<number> {
  // One read per (instance, region, VPC) asked for; none asked: one unfiltered read.
  const each = <T>(xs: readonly T[]): (T | undefined)[] => (xs.length > 0 ? [...new Set(xs)] : [undefined]);
  const filters = each(opts.instances).flatMap((instanceId) =>
    each(opts.regions).flatMap((regionId) =>
      each(opts.vpcs).map((vpcId) => ({
        account,
        since: opts.since,
        until: opts.until,
        regionId,
        vpcId,
        instanceId,
      })),
    ),
  );
  // The newest `limit` of each (disjoint) filter, then the newest `limit` of them all: a long
  // history shows its latest changes, and the footer says how many more there are.
  const [parts, counts] = await Promise.all([
    Promise.all(filters.map((f) => store.listEvents({ ...f, limit: opts.limit, newest: true }))),
    Promise.all(filters.map((f) => store.countEvents(f))),
  ]);
  const rows: EventRow[] = parts.flat().sort(byDetection).slice(-opts.limit);
  const total = counts.reduce((a, b) => a + b, 0);
  if (opts.json) {
    json(io.stdout, { account: account ?? null, count: rows.length, total, events: rows.map(eventView) });
    return 0;
  }
  io.stdout.write(eventTable(rows));
  const n = (x: number) => x.toLocaleString('en-US');
  io.stdout.write(
    rows.length < total
      ? `showing the newest ${n(rows.length)} of ${n(total)} event(s); narrow with --since / --until, or raise --limit\n`
      : `${rows.length} event(s)\n`,
  );
  return 0;
}

/** The STATE column: stale in capitals, as the condition that alerts. */
const STATE_TEXT = { retired: 'retired', failing: 'failing', stale: 'STALE', ok: 'ok' } as const;

/**
 * The LAST ERROR cell: the code and request id of the last failure (its time is the LAST FAILURE
 * column). An error a later success left behind stays on show, marked as old, so a target that
 * flaps is visible; it never makes the target look failing.
 */
function lastError(t: {
  lastErrorCode: string | null;
  lastRequestId: string | null;
  lastErrorBeforeLastSuccess: boolean;
}): string | null {
  if (t.lastErrorCode === null) return null;
  const text = `${t.lastErrorCode}${t.lastRequestId ? ` (${t.lastRequestId})` : ''}`;
  return t.lastErrorBeforeLastSuccess ? `${text}, before the last success` : text;
}

/** The change feed's part of `status`: per account+region, its last success, lag and last error. */
function feedSection(
  feeds: readonly FeedStatusRow[],
  config: Pick<Config, 'CHANGE_FEED' | 'CHANGE_FEED_INTERVAL'>,
  several: boolean,
  now: Date,
): string {
  if (config.CHANGE_FEED === 'off') {
    return `change feed: off (CHANGE_FEED=off)${feeds.length > 0 ? `; ${feeds.length} feed(s) on record from before` : ''}\n`;
  }
  const head = `change feed: ActionTrail, every ${age(config.CHANGE_FEED_INTERVAL)} per account and region`;
  if (feeds.length === 0) return `${head}; no poll yet\n`;
  const rows = feeds.map((f) => {
    const h = feedHealth(f, now);
    const error =
      f.lastError === null
        ? null
        : `${f.lastError}${h.lastErrorBeforeLastSuccess ? ', before the last success' : ''}`;
    return [
      ...(several ? [f.account] : []),
      f.regionId,
      f.lastSuccessAt,
      age(h.lagSeconds * 1000),
      f.consecutiveFailures,
      f.scansScheduled,
      error === null ? null : clip(escapeText(error), 120),
      h.state,
    ];
  });
  return `${head}:\n${table(
    [
      ...(several ? ['ACCOUNT'] : []),
      'REGION',
      'LAST SUCCESS',
      'LAG',
      'FAILURES',
      'SCANS',
      'LAST ERROR',
      'STATE',
    ],
    rows,
  )}`;
}

/** Widest a context check's detail prints (the API's message may be long); `--json` has it whole. */
const DETAIL_WIDTH = 100;

/**
 * The context section of `status`: per account+region and source, whether instance attributes
 * (`instances`) and ActionTrail (`actiontrail`) can be read, since when, and the last time they
 * could. `attribution` is ATTRIBUTION: when off, no cause is looked for, and the section says so.
 */
function contextSection(
  rows: readonly ContextHealthRow[],
  showAccount: boolean,
  attribution: string,
): string {
  const checks = rows.flatMap((r) =>
    (['instances', 'actiontrail'] as const).flatMap((source) => {
      const c: ContextCheck | null = r[source];
      return c === null ? [] : [{ ...r, source, check: c }];
    }),
  );
  const off = attribution === 'off' ? ' (ATTRIBUTION=off: no cause is looked for)' : '';
  if (checks.length === 0) {
    return `context: not checked yet (the worker role checks it as it describes instances and looks for causes)${off}
`;
  }
  const headers = ['REGION', 'SOURCE', 'STATE', 'SINCE', 'LAST CHECK', 'LAST OK', 'DETAIL'];
  const text = table(
    showAccount ? ['ACCOUNT', ...headers] : headers,
    checks.map((c) => {
      const cells: Cell[] = [
        c.regionId,
        c.source,
        c.check.state,
        c.check.since,
        c.check.checkedAt,
        c.check.lastOkAt,
        c.check.detail === null ? null : clip(escapeText(c.check.detail), DETAIL_WIDTH),
      ];
      return showAccount ? [c.account, ...cells] : cells;
    }),
  );
  const missing = checks.filter((c) => c.check.state === 'permission_denied').length;
  const failing = checks.filter((c) => c.check.state === 'failing').length;
  return `context (instance attributes, and who made each change)${off}:\n${text}${checks.length} check(s), ${missing} permission(s) missing, ${failing} failing\n`;
}

export async function printStatus(
  store: Pick<Store, 'listTargets' | 'outboxCounts' | 'listContextHealth' | 'listFeeds'>,
  config: Config,
  account: string | undefined,
  opts: { json: boolean },
  io: CliIo,
  now: Date = new Date(),
): Promise<number> {
  const [targets, outbox, context, feeds] = await Promise.all([
    store.listTargets({ account }),
    store.outboxCounts(),
    store.listContextHealth({ account }),
    store.listFeeds({ account }),
  ]);
  const rows = targets.map((t) => ({ ...t, ...targetHealth(t, now, config.ALERT_STALE_AFTER) }));
  if (opts.json) {
    json(io.stdout, {
      account: account ?? null,
      staleAfterMs: config.ALERT_STALE_AFTER,
      targets: rows,
      alerts: outbox,
      attribution: config.ATTRIBUTION,
      context,
      changeFeed: { mode: config.CHANGE_FEED, intervalMs: config.CHANGE_FEED_INTERVAL },
      feeds: feeds.map((f) => ({ ...f, ...feedHealth(f, now) })),
    });
    return 0;
  }
  io.stdout.write(
    table(
      ['REGION', 'VPC', 'LINKS', 'LAST SUCCESS', 'AGE', 'FAILURES', 'LAST FAILURE', 'LAST ERROR', 'STATE'],
      rows.map((t) => [
        t.regionId,
        t.vpcId,
        t.activeLinks,
        t.lastSuccessAt,
        t.secondsSinceSuccess === null ? null : age(t.secondsSinceSuccess * 1000),
        t.consecutiveFailures,
        t.lastFailureAt,
        lastError(t),
        STATE_TEXT[t.state] + (t.state === 'failing' && t.stale ? ', STALE' : ''),
      ]),
    ),
  );
  const failing = rows.filter((r) => r.state === 'failing').length;
  const stale = rows.filter((r) => r.stale).length;
  io.stdout.write(
    `${rows.length} target(s), ${failing} failing, ${stale} stale (no complete scan for ${age(config.ALERT_STALE_AFTER)})\n`,
  );
  const waiting = outbox.pending + outbox.delivering;
  io.stdout.write(
    `alerts: ${outbox.delivered} delivered, ${waiting} waiting` +
      (outbox.oldestUndeliveredAt ? ` (oldest since ${outbox.oldestUndeliveredAt.toISOString()})` : '') +
      `, ${outbox.dead} dead-lettered` +
      (outbox.dead > 0
        ? ' — `classiclink-sync alerts --status dead` shows why, `alerts --requeue` delivers them again'
        : '') +
      '\n',
  );
  io.stdout.write(contextSection(context, account === undefined, config.ATTRIBUTION));
  io.stdout.write(feedSection(feeds, config, account === undefined, now));
  return 0;
}

export async function printHistory(
  store: Pick<Store, 'listEvents' | 'listLinks'>,
  account: string | undefined,
  opts: HistoryOptions,
  io: CliIo,
): Promise<number> {
  const events = (
    await fanOut(opts.regions, opts.vpc ? [opts.vpc] : [], (regionId, vpcId) =>
      store.listEvents({ account, regionId, vpcId, instanceId: opts.instance }),
    )
  ).sort(byDetection);
  const now = (
    await fanOut(opts.regions, opts.vpc ? [opts.vpc] : [], (regionId, vpcId) =>
      store.listLinks({ account, regionId, vpcId }),
    )
  ).filter((l) => opts.instance === undefined || l.instanceId === opts.instance);
  const subject = opts.instance ? `instance ${opts.instance}` : `VPC ${opts.vpc}`;
  if (opts.json) {
    json(io.stdout, {
      account: account ?? null,
      subject: opts.instance ?? opts.vpc,
      events: events.map(eventView),
      linkedNow: now.map(linkView),
    });
    return 0;
  }
  if (events.length === 0) {
    io.stdout.write(`no recorded change for ${subject}\n`);
    return 0;
  }
  io.stdout.write(eventTable(events));
  if (opts.instance) {
    const link = now[0];
    io.stdout.write(
      link
        ? `now: linked to ${link.vpcId} (${link.regionId}) since ${link.linkedSince.toISOString()}\n`
        : 'now: not linked\n',
    );
  } else {
    io.stdout.write(`now: ${now.length} link(s) in ${opts.vpc}\n`);
  }
  return 0;
}

/** A last_error cut to one table cell. */
function shortError(e: string | null): string {
  if (e === null) return '';
  return e.length > 60 ? `${e.slice(0, 59)}…` : e;
}

export async function printAlerts(
  store: Pick<Store, 'listOutbox' | 'requeueDeadOutbox'>,
  opts: AlertsOptions,
  io: CliIo,
): Promise<number> {
  const ids = opts.ids.length > 0 ? opts.ids : undefined;
  if (opts.requeue) {
    const requeued = await store.requeueDeadOutbox({ ids, channel: opts.channel });
    if (opts.json) {
      json(io.stdout, { requeued });
      return 0;
    }
    io.stdout.write(
      requeued > 0
        ? `${requeued} dead-lettered alert(s) back to pending: the alerts role (\`start\`) delivers them again, under the same ids\n`
        : 'no dead-lettered alert matched: nothing to requeue\n',
    );
    return 0;
  }
  const rows = await store.listOutbox({ status: opts.status, channel: opts.channel, ids, limit: opts.limit });
  if (opts.json) {
    json(io.stdout, { count: rows.length, alerts: rows });
    return 0;
  }
  io.stdout.write(
    table(
      ['ID', 'KIND', 'CHANNEL', 'RUN', 'STATUS', 'ATTEMPTS', 'CREATED', 'DELIVERED / NEXT TRY', 'LAST ERROR'],
      rows.map((r) => [
        r.id,
        r.kind,
        r.channel,
        r.syncRunId,
        r.status,
        r.attempts,
        r.createdAt,
        r.status === 'delivered' ? r.deliveredAt : r.status === 'dead' ? null : r.nextAttemptAt,
        shortError(r.lastError),
      ]),
    ),
  );
  const dead = rows.filter((r) => r.status === 'dead').length;
  io.stdout.write(
    `${rows.length} alert(s)${dead > 0 ? `, ${dead} dead-lettered: \`alerts --requeue\` delivers them again` : ''}\n`,
  );
  return 0;
}
