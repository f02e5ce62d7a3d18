/**
 * What each console page shows, gathered once: the page renders it as HTML and its JSON twin in
 * `/v1` answers it as is, so both carry the same numbers. Links and events are in the shape of
 * `--json` and the rest of `/v1` (context-view.ts); targets carry the one staleness rule
 * (`targetHealth`).
 */
import { type EventView, eventView, type LinkView, linkView } from '../context-view.js';
import {
  type ActiveCount,
  type ChangeFeedRow,
  type FeedHealth,
  feedHealth,
  type InstanceRecord,
  type NameMatch,
  type RunRow,
  type Store,
  type TargetStatusRow,
  targetHealth,
  type VpcRecord,
} from '../store/index.js';
import {
  BadRequest,
  CHANGES_PAGE_SIZE,
  type ChangesQuery,
  DEFAULT_WINDOW,
  decodePosition,
  encodePosition,
  searchKind,
  type Window,
} from './query.js';

export type ConsoleStoreView = Pick<
  Store,
  | 'burnDown'
  | 'activeByRegion'
  | 'changeCounts'
  | 'changeFeed'
  | 'changesPage'
  | 'findByName'
  | 'locate'
  | 'vpcRecord'
  | 'instanceRecord'
  | 'recentRuns'
  | 'targetsInTrouble'
  | 'targetStatus'
  | 'listLinks'
  | 'outboxCounts'
>;

export interface DataDeps {
  store: ConsoleStoreView;
  /** SYNC_ACCOUNT: only this account; undefined: every account (ACCOUNTS_FILE). */
  account: string | undefined;
  /** ALERT_STALE_AFTER in ms. */
  staleAfterMs: number;
  now: () => Date;
}

const DAY_MS = 86_400_000;
const utcDay = (d: Date) => d.toISOString().slice(0, 10);

/** The account a page may show: the service's own, or the one asked for when it serves every account. */
function scopeAccount(deps: DataDeps, asked: string | undefined): string | undefined {
  if (deps.account === undefined) return asked;
  if (asked !== undefined && asked !== deps.account) {
    throw new BadRequest('account', `this service shows account ${deps.account} only`);
  }
  return deps.account;
}

/**
 * The id of the newest change the service shows, whatever a page's filters: what the pages' live
 * check compares with the newest change of `/v1/changes?limit=1` (the same scope).
 */
async function newestChange(deps: DataDeps): Promise<string | null> {
  const page = await deps.store.changesPage({ filter: { account: deps.account }, limit: 1 });
  return page.events[0]?.id ?? null;
}

export type TargetView = TargetStatusRow & ReturnType<typeof targetHealth>;

export interface BurnDownSeries {
  account: string;
  regionId: string;
  /** Active links at the end of each UTC day, `days[i]` ↔ `active[i]`. */
  active: number[];
}

export interface BurnDownView {
  window: Window;
  /**
   * First and last UTC day shown (`YYYY-MM-DD`): the window, or from the first day on record when
   * the history is shorter; `from` is null when nothing was ever recorded.
   */
  from: string | null;
  to: string;
  days: string[];
  series: BurnDownSeries[];
}

export interface OverviewData {
  account: string | null;
  generatedAt: Date;
  filters: { account: string | null; region: string | null; window: Window };
  /** Every region with links on record (the region filter's choices). */
  regions: string[];
  /** Links active now per account and region, and their sum. */
  active: ActiveCount[];
  activeTotal: number;
  burnDown: BurnDownView;
  changes24h: { since: Date; added: number; removed: number; latest: EventView[] };
  targets: { watched: number; failing: number; stale: number; problems: TargetView[] };
  alerts: { dead: number };
  /** Each feed with its state and lag, as `status` says them (store/feed-state.ts). */
  changeFeed: { running: boolean; feeds: (ChangeFeedRow & FeedHealth)[] };
  /** The newest event's id (the console's live check compares it); null when there is none. */
  newestEventId: string | null;
}

export async function overviewData(
  deps: DataDeps,
  q: { account?: string | undefined; region?: string | undefined; window?: Window | undefined },
): Promise<OverviewData> {
  const now = deps.now();
  const account = scopeAccount(deps, q.account);
  const window = q.window ?? DEFAULT_WINDOW;
  const today = utcDay(now);
  const from = window === 'all' ? undefined : utcDay(new Date(now.getTime() - (Number(window) - 1) * DAY_MS));
  const since = new Date(now.getTime() - DAY_MS);
  const [points, active, counts, latest, targets, outbox, feeds] = await Promise.all([
    deps.store.burnDown({ account, regionId: q.region, from, today }),
    deps.store.activeByRegion({ account }),
    deps.store.changeCounts({ account, since }),
    deps.store.changesPage({ filter: { account, since }, limit: 10 }),
    deps.store.targetsInTrouble({
      account,
      regionId: q.region,
      staleBefore: new Date(now.getTime() - deps.staleAfterMs),
    }),
    deps.store.outboxCounts(),
    deps.store.changeFeed({ account }),
  ]);
  const newest = await newestChange(deps);
  const shown = targets.targets.map((t) => ({ ...t, ...targetHealth(t, now, deps.staleAfterMs) }));
  return {
    account: deps.account ?? null,
    generatedAt: now,
    filters: { account: q.account ?? null, region: q.region ?? null, window },
    regions: [...new Set(active.map((a) => a.regionId))].sort(),
    active: active.filter((a) => q.region === undefined || a.regionId === q.region),
    activeTotal: active
      .filter((a) => q.region === undefined || a.regionId === q.region)
      .reduce((n, a) => n + a.active, 0),
    burnDown: burnDownView(points, window, from, today),
    changes24h: { since, added: counts.added, removed: counts.removed, latest: latest.events.map(eventView) },
    targets: {
      watched: targets.watched,
      failing: shown.filter((t) => t.state === 'failing').length,
      stale: shown.filter((t) => t.stale).length,
      problems: shown.filter((t) => t.state === 'failing' || t.state === 'stale'),
    },
    alerts: { dead: outbox.dead },
    changeFeed: { running: feeds.length > 0, feeds: feeds.map((f) => ({ ...f, ...feedHealth(f, now) })) },
    newestEventId: newest,
  };
}

function burnDownView(
  points: { account: string; regionId: string; day: string; active: number }[],
  window: Window,
  from: string | undefined,
  today: string,
): BurnDownView {
  const bySeries = new Map<string, BurnDownSeries & { byDay: Map<string, number> }>();
  let first: string | undefined;
  for (const p of points) {
    const key = `${p.account}\u0000${p.regionId}`;
    let s = bySeries.get(key);
    if (s === undefined) {
      s = { account: p.account, regionId: p.regionId, active: [], byDay: new Map() };
      bySeries.set(key, s);
    }
    s.byDay.set(p.day, p.active);
    if (first === undefined || p.day < first) first = p.day;
  }
  // A window longer than the history starts at its first day: before it nothing was on record.
  const start = from === undefined || (first !== undefined && first > from) ? first : from;
  const days: string[] = [];
  if (start !== undefined) {
    for (let t = Date.parse(`${start}T00:00:00Z`); t <= Date.parse(`${today}T00:00:00Z`); t += DAY_MS) {
      days.push(utcDay(new Date(t)));
    }
  }
  // A series that starts inside the window had no links before its first day.
  const series = [...bySeries.values()].map(({ byDay, ...s }) => ({
    ...s,
    active: days.map((d) => byDay.get(d) ?? 0),
  }));
  return { window, from: start ?? null, to: today, days, series };
}

export interface ChangesData {
  account: string | null;
  generatedAt: Date;
  filters: {
    account: string | null;
    region: string | null;
    vpc: string | null;
    instance: string | null;
    actor: string | null;
    since: Date | null;
    until: Date | null;
    q: string | null;
  };
  /** What the search box found: the places an id is known, or the names that matched. */
  search: { q: string; kind: 'instance' | 'vpc' | 'name'; matches: NameMatch[] } | null;
  /** Newest first. */
  events: EventView[];
  limit: number;
  /** Where this page starts (`before`), and the `before` of the next (older) page. */
  before: string | null;
  next: string | null;
  newestEventId: string | null;
}

const NAME_MATCHES = 50;

export async function changesData(deps: DataDeps, q: ChangesQuery): Promise<ChangesData> {
  const account = scopeAccount(deps, q.account);
  if (q.since && q.until && q.since.getTime() >= q.until.getTime()) {
    throw new BadRequest('until', 'must be after since');
  }
  let search: ChangesData['search'] = null;
  let anyOf: { instanceIds: string[]; vpcIds: string[] } | undefined;
  let instance = q.instance;
  let vpc = q.vpc;
  if (q.q !== undefined) {
    const kind = searchKind(q.q);
    if (kind === 'name') {
      const matches = await deps.store.findByName({ account, text: q.q, limit: NAME_MATCHES });
      search = { q: q.q, kind, matches };
      anyOf = {
        instanceIds: matches.filter((m) => m.kind === 'instance').map((m) => m.id),
        vpcIds: matches.filter((m) => m.kind === 'vpc').map((m) => m.id),
      };
    } else {
      search = { q: q.q, kind, matches: await deps.store.locate({ account, id: q.q }) };
      if (kind === 'instance') instance = q.q;
      else vpc = q.q;
    }
  }
  const limit = q.limit ?? CHANGES_PAGE_SIZE;
  const filter = {
    account,
    regionId: q.region,
    vpcId: vpc,
    instanceId: instance,
    since: q.since,
    until: q.until,
    actor: q.actor,
    anyOf,
  };
  const [page, newest] = await Promise.all([
    deps.store.changesPage({ filter, before: decodePosition(q.before), limit }),
    newestChange(deps),
  ]);
  return {
    account: deps.account ?? null,
    generatedAt: deps.now(),
    filters: {
      account: q.account ?? null,
      region: q.region ?? null,
      vpc: q.vpc ?? null,
      instance: q.instance ?? null,
      actor: q.actor ?? null,
      since: q.since ?? null,
      until: q.until ?? null,
      q: q.q ?? null,
    },
    search,
    events: page.events.map(eventView),
    limit,
    before: q.before ?? null,
    next: page.next === undefined ? null : encodePosition(page.next),
    newestEventId: newest,
  };
}

const TIMELINE = 100;
const RUNS = 20;

export interface VpcData {
  account: string;
  regionId: string;
  vpcId: string;
  generatedAt: Date;
  /** As DescribeVpcs last said; null when it never described it. */
  vpc: VpcRecord | null;
  /** Its sync state; null when it is not a target (never watched). */
  target: TargetView | null;
  /** Linked now, each with its instance's name and tags. */
  links: LinkView[];
  /** Its newest changes, newest first (the whole log: `/changes?vpc=`). */
  timeline: EventView[];
  /** Its last runs, newest first. */
  runs: RunRow[];
}

export async function vpcData(
  deps: DataDeps,
  key: { account: string; regionId: string; vpcId: string },
): Promise<VpcData | undefined> {
  scopeAccount(deps, key.account);
  const now = deps.now();
  const filter = { account: key.account, regionId: key.regionId, vpcId: key.vpcId };
  const [vpc, target, links, timeline, runs] = await Promise.all([
    deps.store.vpcRecord(key),
    deps.store.targetStatus(key),
    deps.store.listLinks(filter),
    deps.store.changesPage({ filter, limit: TIMELINE }),
    deps.store.recentRuns({ ...key, limit: RUNS }),
  ]);
  if (vpc === undefined && target === undefined && timeline.events.length === 0) return undefined;
  return {
    ...key,
    generatedAt: now,
    vpc: vpc ?? null,
    target: target === undefined ? null : { ...target, ...targetHealth(target, now, deps.staleAfterMs) },
    links: links.map(linkView),
    timeline: timeline.events.map(eventView),
    runs,
  };
}

export interface InstanceData {
  account: string;
  regionId: string;
  instanceId: string;
  generatedAt: Date;
  /** As DescribeInstances last said; null when it never described it. */
  instance: InstanceRecord | null;
  /** The VPC it is linked to now, or null (an instance links to one VPC at most). */
  linkedTo: string | null;
  /** Every change of its links, newest first, each with who made it and from where, where known. */
  history: EventView[];
}

const HISTORY = 500;

export async function instanceData(
  deps: DataDeps,
  key: { account: string; regionId: string; instanceId: string },
): Promise<InstanceData | undefined> {
  scopeAccount(deps, key.account);
  const [instance, page] = await Promise.all([
    deps.store.instanceRecord(key),
    deps.store.changesPage({
      filter: { account: key.account, regionId: key.regionId, instanceId: key.instanceId },
      limit: HISTORY,
    }),
  ]);
  if (instance === undefined && page.events.length === 0) return undefined;
  // The latest change of each VPC says whether it is linked there now (as classic_links does).
  const latest = new Map<string, string>();
  for (const e of page.events) if (!latest.has(e.vpcId)) latest.set(e.vpcId, e.change);
  const linkedTo = [...latest].find(([, change]) => change === 'added')?.[0] ?? null;
  return {
    ...key,
    generatedAt: deps.now(),
    instance: instance ?? null,
    linkedTo,
    history: page.events.map(eventView),
  };
}
