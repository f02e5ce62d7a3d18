/**
 * The change feed: ActionTrail records of link-changing calls, by the LookupEvents poll (a `feed`
 * job per account+region every CHANGE_FEED_INTERVAL) or the EventBridge hook (http/hooks.ts), each
 * stored once in `cloud_events` and, when new, turned into a targeted sync of the VPC it names.
 *
 * DESIGN.md rule 8: the feed only schedules scans. A record never writes a link or an event: the
 * scan it schedules is an ordinary sync job (same completeness rules, same transaction, same
 * superseded logic, same alerts), so a record that lies, arrives late or never arrives cannot
 * make the history wrong — at worst a change waits for the next scheduled full scan.
 *
 * A record stored before schedules nothing — unless no applied scan of its target has seen it yet:
 * the attribute job (src/context/) stores the LookupEvents records it reads too, so a record may be
 * stored before the feed or the hook sees it, with no scan asked for its change. A stored record
 * still schedules its target's sync while that target's last applied scan started before the
 * record was stored and before its `eventTime` plus the clock allowance (CLOCK_ALLOWANCE_MS,
 * ActionTrail's clock against ours, as rule 7 allows it). A scan that started after either has
 * seen the change: the record was stored after the call was made, so a repeat (the overlap read
 * again, an EventBridge resend) after the sync has applied schedules nothing.
 *
 * Order of one batch: store the records, schedule the syncs they ask for, and only then (poll)
 * advance the cursor. A failure in between leaves the cursor where it was (or the hook's answer a
 * 5xx): the retry (next poll, or EventBridge's resend) finds the records stored but not yet seen by
 * a scan, and schedules again — at worst one scan too many (deduplicated while it waits).
 */
import type { CloudEvent, CloudEventPage, CloudEventRefusal, LookupEventsQuery } from '../aliyun/index.js';
import { CLOCK_ALLOWANCE_MS, cloudEventRecord } from '../context/index.js';
import { coerceError } from '../errors.js';
import type { ConfiguredTarget, TargetRef } from '../links.js';
import type { Logger } from '../log.js';
import type { ChangeSync, EnqueuedSync, FeedJobResult } from '../queue/index.js';
import { CAUSE_ACTIONS, type CloudEventRecord, type ReceivedVia, type Store } from '../store/index.js';
import type { CallOptions } from './source.js';

/** The ActionTrail event names the feed asks for and acts on (the calls that change a link). */
export const FEED_EVENT_NAMES: readonly string[] = CAUSE_ACTIONS.map((a) => a.eventName);

/**
 * How far before its cursor each poll reads again: a record that becomes visible in LookupEvents
 * later than its `eventTime` (ActionTrail's lag is unconfirmed: reference/alibaba-actiontrail.md
 * §1.3; its delivery to SLS is documented within a minute) is still found if it is at most this
 * late. Re-reading is harmless (`eventId` dedupe), but every ECS write of the overlap is read again
 * by each poll (one page per 50): twice the documented minute, not more. A record later than this
 * is left to the next full scan.
 */
export const FEED_OVERLAP_MS = 2 * 60_000;

/**
 * How a poll asks. One query for every ECS write call (`EventRW=Write`), link-changing ones picked
 * out here, costs one call per poll in an account where ECS writes are few — a quarter of one query
 * per event name. Where they are many (more pages than there are event names), the next
 * `NAMED_POLLS` polls of that account+region in this process query per event name instead, then
 * write-all is tried again.
 */
const NAMED_POLLS = 20;
const LINK_EVENTS: ReadonlySet<string> = new Set(FEED_EVENT_NAMES);

/** Per account+region, the polls left that query per event name (see `NAMED_POLLS`). Per process. */
export type FeedPollModes = Map<string, number>;

/**
 * The oldest window start a poll asks for: LookupEvents' own default window (7 days). A feed
 * that was down longer resumes from there; what happened before is the full scans' to find.
 */
export const FEED_MAX_LOOKBACK_MS = 7 * 24 * 3_600_000;

/** What the feed needs to know of an account: where it watches. */
export interface FeedAccount {
  name: string;
  /** The Alibaba Cloud account id, when configured: pushed records are matched to it. */
  accountId?: string | undefined;
  regions: readonly string[];
  /** Explicit targets: only these VPCs are ever synced. Absent: any VPC of a watched region. */
  targets?: readonly ConfiguredTarget[] | undefined;
}

/** What became of a batch of records. */
export interface IngestResult {
  /** Records new to `cloud_events` (stored now). */
  fresh: number;
  /** Records stored before (by either path). */
  duplicates: number;
  /** Of those, the ones no applied scan of their target has seen yet: their syncs are asked again. */
  unscanned: number;
  /** Targeted syncs and region plans asked for. */
  scheduled: number;
  /** Asked syncs, by what became of each (see `ChangeSync.how`). */
  syncs: ChangeSync[];
  /**
   * Syncs asked again for records stored before (`unscanned`): added, or merged with the target's
   * job that has not finished — one running is not followed by another, it started after the
   * record was stored or the next read of the record asks again.
   */
  again: EnqueuedSync[];
  /** Regions whose plan was asked for (a change whose VPC could not be told). */
  plans: string[];
}

export interface FeedDeps {
  store: Pick<Store, 'knownCloudEvents' | 'recordCloudEvents' | 'linkedVpcs' | 'lastAppliedScans'>;
  enqueueChangeSync(targets: readonly TargetRef[]): Promise<ChangeSync[]>;
  /** A sync per target, deduplicated with the target's job until that one finishes (queues.ts). */
  enqueueSync(targets: readonly TargetRef[]): Promise<EnqueuedSync[]>;
  enqueueChangePlan(data: { account: string; regionId: string }): Promise<ChangeSync['how']>;
}

/** A target a batch's records ask a scan of, with those records. */
interface ScanFor {
  target: TargetRef;
  records: CloudEventRecord[];
}

/** Calls that remove a link and name its VPC (a detach), and those that name none (a delete). */
const REMOVING: ReadonlySet<string> = new Set(
  CAUSE_ACTIONS.filter((a) => a.change === 'removed' && a.namesVpc).map((a) => a.eventName),
);
const DELETING: ReadonlySet<string> = new Set(
  CAUSE_ACTIONS.filter((a) => !a.namesVpc).map((a) => a.eventName),
);

/**
 * The scans a batch of new records asks for. A record of a failed call (`errorCode`) changed
 * nothing; one of a region the account does not watch, or naming a VPC outside its explicit
 * targets, is not ours to scan. Otherwise:
 * - it names a VPC (`requestParameters.VpcId`): a sync of that VPC;
 * - a detach or delete naming only instances: a sync of each VPC our links (or a stored attach
 *   record) give for them;
 * - a detach, or an attach, whose VPC cannot be told that way: a plan of its region;
 * - a delete of instances no link or attach record names: nothing. No link of ours can have gone
 *   with them — a link made since its VPC's last scan has an attach record of its own, which
 *   scheduled that VPC — and ECS deletes are frequent and mostly of VPC instances: a region plan
 *   for each would cost more than the scans the feed saves. Were that attach record lost, the next
 *   full scan finds the link and its removal.
 */
async function scansFor(
  deps: Pick<FeedDeps, 'store'>,
  account: FeedAccount,
  records: readonly CloudEventRecord[],
): Promise<{ targets: ScanFor[]; plans: string[] }> {
  const watched = new Set(account.regions);
  const explicit = account.targets
    ? new Set(account.targets.map((t) => `${t.regionId}/${t.vpcId}`))
    : undefined;
  const ours = (regionId: string, vpcId: string) =>
    explicit === undefined || explicit.has(`${regionId}/${vpcId}`);
  const targets = new Map<string, ScanFor>();
  const plans = new Set<string>();
  const addTarget = (r: CloudEventRecord, regionId: string, vpcId: string) => {
    if (!ours(regionId, vpcId)) return;
    const key = `${regionId}/${vpcId}`;
    const hit = targets.get(key);
    if (hit) hit.records.push(r);
    else targets.set(key, { target: { account: account.name, regionId, vpcId }, records: [r] });
  };
  for (const r of records) {
    if (r.errorCode !== null || !FEED_EVENT_NAMES.includes(r.eventName) || !watched.has(r.regionId)) continue;
    if (r.vpcId !== null) {
      addTarget(r, r.regionId, r.vpcId);
      continue;
    }
    if ((REMOVING.has(r.eventName) || DELETING.has(r.eventName)) && r.instanceIds.length > 0) {
      const linked = await deps.store.linkedVpcs({
        account: account.name,
        regionId: r.regionId,
        instanceIds: r.instanceIds,
      });
      for (const l of linked) addTarget(r, r.regionId, l.vpcId);
      if (linked.length > 0 || DELETING.has(r.eventName)) continue;
    }
    // A plan lists the region's VPCs: with explicit targets, only those.
    plans.add(r.regionId);
  }
  return { targets: [...targets.values()], plans: [...plans] };
}

/**
 * Of the targets stored records ask for, those no applied scan has seen the change of yet: the
 * target's last applied scan (if any) started before one of its records was stored and before
 * that record's `eventTime` plus CLOCK_ALLOWANCE_MS. Region plans are not asked again: a record
 * whose VPC cannot be told is left, once stored, to the full scans.
 */
async function unscannedTargets(
  deps: Pick<FeedDeps, 'store'>,
  account: FeedAccount,
  scans: readonly ScanFor[],
  storedAt: ReadonlyMap<string, Date>,
): Promise<TargetRef[]> {
  if (scans.length === 0) return [];
  const applied = await deps.store.lastAppliedScans({
    account: account.name,
    targets: scans.map((s) => s.target),
  });
  const startedAt = new Map(applied.map((a) => [`${a.regionId}/${a.vpcId}`, a.startedAt.getTime()]));
  return scans
    .filter((s) => {
      const started = startedAt.get(`${s.target.regionId}/${s.target.vpcId}`);
      if (started === undefined) return true;
      return s.records.some((r) => {
        // A record this very batch saw stored by another path (no time read): as if stored now.
        const stored = storedAt.get(r.eventId)?.getTime() ?? Date.now();
        return started < Math.min(stored, r.eventTime.getTime() + CLOCK_ALLOWANCE_MS);
      });
    })
    .map((s) => s.target);
}

/**
 * Stores a batch of one account's records (`receivedVia`: the path they came by) and schedules
 * the scans they ask for: every scan a new record asks for, and those of a record stored before
 * that no applied scan has seen yet (`unscannedTargets`).
 */
export async function ingestRecords(
  deps: FeedDeps,
  account: FeedAccount,
  records: readonly CloudEventRecord[],
  receivedVia: ReceivedVia,
): Promise<IngestResult> {
  if (records.length === 0)
    return { fresh: 0, duplicates: 0, unscanned: 0, scheduled: 0, syncs: [], again: [], plans: [] };
  const stored = await deps.store.recordCloudEvents(records, receivedVia);
  const storedNow = new Set(stored.map((r) => r.eventId));
  const seen = new Set<string>(storedNow);
  const repeats = records.filter((r) => {
    if (seen.has(r.eventId)) return false;
    seen.add(r.eventId);
    return true;
  });
  const fresh = await scansFor(deps, account, stored);
  const repeatScans = await scansFor(deps, account, repeats);
  const storedAt = await deps.store.knownCloudEvents(repeats.map((r) => r.eventId));
  const unscanned = await unscannedTargets(deps, account, repeatScans.targets, storedAt);
  const targets = fresh.targets.map((s) => s.target);
  const named = new Set(targets.map((t) => `${t.regionId}/${t.vpcId}`));
  const repeated = unscanned.filter((t) => !named.has(`${t.regionId}/${t.vpcId}`));
  const syncs = targets.length > 0 ? await deps.enqueueChangeSync(targets) : [];
  // A record seen again: its change may be seen already by a scan running now (one started after
  // the record was stored, say the sync its first arrival asked for), so no follow-up of a running
  // job — were that scan older, the record's next read (the poll's overlap) asks again.
  const again = repeated.length > 0 ? await deps.enqueueSync(repeated) : [];
  for (const regionId of fresh.plans) await deps.enqueueChangePlan({ account: account.name, regionId });
  return {
    fresh: stored.length,
    duplicates: records.length - stored.length,
    unscanned: unscanned.length,
    scheduled: syncs.length + again.length + fresh.plans.length,
    syncs,
    again,
    plans: fresh.plans,
  };
}

/** LookupEvents, as the account's API client offers it (aliyun `lookupEvents`). */
export type LookupEvents = (
  regionId: string,
  query: LookupEventsQuery,
  opts?: CallOptions,
) => AsyncIterable<CloudEventPage>;

export interface FeedPollDeps extends FeedDeps {
  store: FeedDeps['store'] & Pick<Store, 'feedCursor' | 'feedPolled' | 'feedFailed'>;
  /** The account the job names, or undefined when this process does not know it. */
  accountFor(name: string): (FeedAccount & { lookupEvents: LookupEvents }) | undefined;
  now?: () => Date;
  /** Each poll's outcome (metrics). */
  onPoll?: ((e: { ok: boolean; code?: string | undefined }) => void) | undefined;
  /** Each batch stored (metrics). */
  onIngest?: ((e: { via: ReceivedVia; result: IngestResult; refused: number }) => void) | undefined;
  /** How each account+region is queried (write-all or per name); shared by this process's polls. */
  modes?: FeedPollModes | undefined;
}

/** One line for a refused record: never a value from it beyond its id. */
function refusalText(r: CloudEventRefusal): string {
  return `record ${r.eventId ?? '(no eventId)'} refused: ${r.field}: ${r.message}`;
}

/**
 * One poll of an account+region: from its cursor less the overlap to now, every page of
 * LookupEvents for each link-changing event name; each page's records stored and their scans
 * scheduled as they come; then the cursor moves to the end of the window. A failed call
 * (permission, throttling past the retry deadline, an unreachable endpoint, a malformed answer)
 * ends the poll: its error is recorded in `change_feed` and shown by `status`, the cursor stays,
 * and the next scheduled poll is the retry. Scheduled full scans never depend on it.
 */
export async function runFeedPoll(
  deps: FeedPollDeps,
  req: { account: string; regionId: string; log: Logger } & CallOptions,
): Promise<FeedJobResult> {
  const { log, regionId } = req;
  const account = deps.accountFor(req.account);
  const now = deps.now ?? (() => new Date());
  const polledAt = now();
  const state = await deps.store.feedCursor({ account: req.account, regionId, initial: polledAt });
  if (!account) {
    // A schedule left by a configuration this process does not share: the scheduler removes it.
    const error = `UnknownAccount: no credentials configured for account ${req.account}`;
    await deps.store.feedFailed({
      account: req.account,
      regionId,
      polledAt,
      error,
      recordsSeen: 0,
      scansScheduled: 0,
    });
    deps.onPoll?.({ ok: false, code: 'UnknownAccount' });
    return { records: 0, fresh: 0, scheduled: 0, cursorAt: state.cursorAt.toISOString(), error };
  }
  const startTime = new Date(
    Math.max(state.cursorAt.getTime() - FEED_OVERLAP_MS, polledAt.getTime() - FEED_MAX_LOOKBACK_MS),
  );
  // A cursor ahead of this clock (another process's clock, or a step back of ours) still reads.
  const endTime = new Date(Math.max(polledAt.getTime(), startTime.getTime()));
  let records = 0;
  let fresh = 0;
  let scheduled = 0;
  const refusals: string[] = [];
  const modeKey = `${req.account}/${regionId}`;
  const namedLeft = deps.modes?.get(modeKey) ?? 0;
  const queries: LookupEventsQuery[] =
    namedLeft > 0
      ? FEED_EVENT_NAMES.map((eventName) => ({ eventName, startTime, endTime }))
      : [{ writes: LINK_EVENTS, startTime, endTime }];
  if (namedLeft > 0) deps.modes?.set(modeKey, namedLeft - 1);
  try {
    for (const query of queries) {
      let pages = 0;
      for await (const page of account.lookupEvents(regionId, query, { signal: req.signal })) {
        pages++;
        records += page.events.length + page.refused.length;
        for (const r of page.refused) {
          refusals.push(refusalText(r));
          log.warn(
            { regionId, requestId: page.requestId, refusal: refusalText(r) },
            'ActionTrail record refused',
          );
        }
        const batch = page.events.map((e) => cloudEventRecord(req.account, e));
        const result = await ingestRecords(deps, account, batch, 'poll');
        fresh += result.fresh;
        scheduled += result.scheduled;
        deps.onIngest?.({ via: 'poll', result, refused: page.refused.length });
        if (result.scheduled > 0) {
          log.info(
            {
              regionId,
              fresh: result.fresh,
              syncs: [
                ...result.syncs.map((s) => `${s.target.vpcId}:${s.how}`),
                ...result.again.map((s) => `${s.target.vpcId}:again`),
              ],
              plans: result.plans,
            },
            'change feed scheduled scans',
          );
        }
      }
      if (query.writes !== undefined && pages > FEED_EVENT_NAMES.length) {
        deps.modes?.set(modeKey, NAMED_POLLS);
        log.info({ regionId, pages }, 'many ECS writes: the next polls query per event name');
      }
    }
  } catch (caught) {
    const err = coerceError(caught);
    // Shutting down: the poll is not a failure of the feed; the next one reads the same window.
    if (req.signal?.aborted) throw err;
    const error = err.summary();
    log.warn(
      { regionId, code: err.code, error, records, scheduled },
      'change feed poll failed; the next poll retries',
    );
    await deps.store.feedFailed({
      account: req.account,
      regionId,
      polledAt,
      error,
      recordsSeen: records,
      scansScheduled: scheduled,
    });
    deps.onPoll?.({ ok: false, code: err.code });
    return { records, fresh, scheduled, cursorAt: state.cursorAt.toISOString(), error };
  }
  await deps.store.feedPolled({
    account: req.account,
    regionId,
    polledAt,
    cursorAt: endTime,
    recordsSeen: records,
    scansScheduled: scheduled,
    warning:
      refusals.length === 0 ? undefined : `${refusals.length} record(s) refused; first: ${refusals[0]}`,
  });
  deps.onPoll?.({ ok: true });
  return { records, fresh, scheduled, cursorAt: endTime.toISOString() };
}

/** A record pushed to the EventBridge hook, with the account id its envelope or itself names. */
export interface PushedRecord {
  event: CloudEvent;
  /** `aliyunaccountid` of the envelope, else the record's `recipientAccountId` or caller's account. */
  ownerAccountId: string | undefined;
}

/**
 * The account a pushed record belongs to: the configured account whose `accountId` is the
 * record's owner; else, when the deployment has one account and it names no `accountId`, that
 * account (a single-account deployment needs no id). Otherwise none: the record is not ours.
 */
export function accountForPush<A extends FeedAccount>(
  ownerAccountId: string | undefined,
  accounts: readonly A[],
): A | undefined {
  if (ownerAccountId !== undefined) {
    const byId = accounts.find((a) => a.accountId === ownerAccountId);
    if (byId) return byId;
  }
  const only = accounts.length === 1 ? accounts[0] : undefined;
  return only !== undefined && only.accountId === undefined ? only : undefined;
}

/** What became of a pushed batch. */
export interface PushResult {
  fresh: number;
  duplicates: number;
  /** Records of no configured account, or of a region their account does not watch: not stored. */
  ignored: number;
  scheduled: number;
  /** One result per account the batch touched. */
  results: IngestResult[];
}

/** Stores pushed records (`received_via = 'hook'`) under their accounts and schedules their scans. */
export async function ingestPushed(
  deps: FeedDeps,
  accounts: readonly FeedAccount[],
  items: readonly PushedRecord[],
): Promise<PushResult> {
  const byAccount = new Map<FeedAccount, CloudEventRecord[]>();
  let ignored = 0;
  for (const item of items) {
    const account = accountForPush(item.ownerAccountId, accounts);
    if (account?.regions.includes(item.event.acsRegion) !== true) {
      ignored++;
      continue;
    }
    const list = byAccount.get(account) ?? [];
    list.push(cloudEventRecord(account.name, item.event));
    byAccount.set(account, list);
  }
  const out: PushResult = { fresh: 0, duplicates: 0, ignored, scheduled: 0, results: [] };
  for (const [account, records] of byAccount) {
    const r = await ingestRecords(deps, account, records, 'hook');
    out.fresh += r.fresh;
    out.duplicates += r.duplicates;
    out.scheduled += r.scheduled;
    out.results.push(r);
  }
  return out;
}
