/**
 * The `sync` job: a complete scan of one target, removal confirmation, then one diff transaction.
 *
 * Correctness rules (DESIGN.md) enforced here:
 * 1. A scan applies only if complete: every page fetched and validated, TotalCount stable across
 *    pages, unique links counted equal to TotalCount. Otherwise it is rescanned (bounded), then the
 *    run fails and nothing changes. A link about to be recorded as removed is first looked up by
 *    InstanceId; one the lookup still shows is not removed.
 * 3. A target the API does not know fails the run with the API's code (recorded by failRun), unless
 *    the job is the retirement scan of a VPC discovery saw disappear (`SyncRequest.gone`).
 * 2 and 4 live in `store.applyScan` (one transaction under the target's advisory lock; superseded and
 *    already-finished runs apply nothing).
 */
import type { ChannelName } from '../alerts/index.js';
import { coerceError, ErrorCode, FatalError, RetryableError } from '../errors.js';
import { type Link, linkKey, type TargetRef } from '../links.js';
import type { Logger } from '../log.js';
import type { SyncJobResult } from '../queue/index.js';
import type { Store } from '../store/index.js';
import { pagesInOrder } from './paging.js';
import type { CallOptions, LinkPage, LinkSource, PageOptions } from './source.js';

/** A VPC holds at most 1,000 classic links: 10 pages of 100. */
const PAGE_SIZE = 100;
const LOOKUP_BATCH = 100;
/** Pages of one target fetched at once after the first. */
export const PAGE_PARALLEL = 4;
/** Pages read at most: twice what the API's 1,000-link maximum needs. */
const MAX_PAGES = 20;

/** What an applied scan changed: handed to `SyncDeps.afterApplied` when it changed something. */
export interface AppliedChanges {
  target: TargetRef;
  runId: string;
  baseline: boolean;
  added: readonly Link[];
  removed: readonly Link[];
}

interface SyncDeps {
  /** The link source of an account (its own credentials and limits). */
  sourceFor(account: string): LinkSource;
  store: Pick<Store, 'startRun' | 'activeLinks' | 'applyScan' | 'failRun'>;
  /** Configured alert channels (one outbox row each per run that changed something). */
  channels: readonly ChannelName[];
  alertOnBaseline: boolean;
  /**
   * Called after a scan that added or removed links was applied (committed): the context of the
   * change is looked for from here (attributes, causes). Its failure is logged, never the run's.
   */
  afterApplied?: ((changes: AppliedChanges) => Promise<void>) | undefined;
  /** Scans of one job attempt before the run fails as incomplete. Default 3. */
  maxScans?: number;
  now?: () => Date;
}

interface SyncRequest {
  target: TargetRef;
  /**
   * The retirement scan: discovery no longer lists this target and it still has active links
   * (plan.ts). Only then does "this VPC does not exist" read as an empty listing.
   */
  gone?: boolean | undefined;
  jobId: string;
  attempt: number;
  signal?: AbortSignal | undefined;
  log: Logger;
}

type ScanResult =
  | {
      complete: true;
      links: Link[];
      pages: number;
      totalCount: number;
      duplicates: number;
      requestId: string;
    }
  | { complete: false; reason: string; pages: number; requestId: string | undefined };

/**
 * Pages through a target once and judges completeness. Never loops forever: it reads the pages
 * TotalCount calls for (at most 20, twice the API's 1,000-link maximum), then judges.
 *
 * Page 1 tells TotalCount; the other pages go out PAGE_PARALLEL at a time (the process's in-flight
 * cap still bounds the API), so a VPC of 1,000 links costs about three API latencies instead of
 * ten. They are judged in page order, exactly as if read one by one: TotalCount must hold on
 * every page, an empty page ends the listing, and the unique links must add up to TotalCount.
 */
export async function scanTarget(
  source: LinkSource,
  target: TargetRef,
  opts: PageOptions & { pageSize?: number } = {},
): Promise<ScanResult> {
  const pageSize = opts.pageSize ?? PAGE_SIZE;
  const seen = new Map<string, Link>();
  let duplicates = 0;
  const first = await source.page(target, 1, pageSize, opts);
  const total = first.totalCount;
  let requestId: string | undefined = first.requestId;
  let pages = 0;
  /** Takes one page in order; says whether the listing goes on, or why it is incomplete. */
  const take = (page: LinkPage, pageNumber: number): 'more' | 'end' | { reason: string } => {
    pages++;
    requestId = page.requestId;
    if (page.totalCount !== total) {
      return { reason: `TotalCount changed from ${total} to ${page.totalCount} on page ${pageNumber}` };
    }
    for (const link of page.links) {
      if (link.vpcId !== target.vpcId) {
        throw new FatalError(
          `page ${pageNumber} lists ${link.instanceId} in ${link.vpcId}, not ${target.vpcId}`,
          {
            code: 'MalformedResponse',
            requestId,
          },
        );
      }
      if (seen.has(link.instanceId)) duplicates++;
      else seen.set(link.instanceId, link);
    }
    return page.links.length === 0 || pageNumber * pageSize >= total ? 'end' : 'more';
  };
  const incomplete = (reason: string): ScanResult => ({ complete: false, reason, pages, requestId });

  let state = take(first, 1);
  const lastPage = Math.min(Math.max(1, Math.ceil(total / pageSize)), MAX_PAGES);
  if (state === 'more') {
    const rest = pagesInOrder(2, lastPage, PAGE_PARALLEL, (n) => source.page(target, n, pageSize, opts));
    for await (const [pageNumber, page] of rest) {
      state = take(page, pageNumber);
      if (state !== 'more') break;
    }
  }
  if (typeof state === 'object') return incomplete(state.reason);
  if (state === 'more') return incomplete(`no end after ${pages} pages for TotalCount ${total}`);
  if (seen.size !== total) {
    return incomplete(
      `counted ${seen.size} unique links (${duplicates} duplicates dropped), TotalCount says ${total}`,
    );
  }
  const links = [...seen.values()];
  return { complete: true, links, pages, totalCount: total, duplicates, requestId: requestId ?? '' };
}

interface Confirmation {
  /** Links the scan did not list but a direct lookup still shows in this VPC: not removed. */
  stillLinked: Link[];
  /** `${vpcId}/${instanceId}` of links confirmed gone. */
  confirmedRemovals: Set<string>;
}

/** Looks up every removal candidate by InstanceId (batches of 100). */
export async function confirmRemovals(
  source: LinkSource,
  target: TargetRef,
  candidates: readonly Link[],
  opts: CallOptions = {},
): Promise<Confirmation> {
  const stillLinked: Link[] = [];
  const confirmedRemovals = new Set<string>();
  for (let i = 0; i < candidates.length; i += LOOKUP_BATCH) {
    const batch = candidates.slice(i, i + LOOKUP_BATCH);
    const found = await source.lookup(
      target.regionId,
      batch.map((l) => l.instanceId),
      opts,
    );
    const linkedHere = new Set(found.filter((l) => l.vpcId === target.vpcId).map((l) => l.instanceId));
    for (const c of batch) {
      if (linkedHere.has(c.instanceId)) stillLinked.push(c);
      else confirmedRemovals.add(linkKey(c));
    }
  }
  return { stillLinked, confirmedRemovals };
}

/** Runs one sync job attempt. Records the run; throws (after recording the failure) on error. */
export async function runSync(deps: SyncDeps, req: SyncRequest): Promise<SyncJobResult> {
  const now = deps.now ?? (() => new Date());
  const { target, log } = req;
  const opts: CallOptions = { signal: req.signal };
  const pageOpts: PageOptions = { ...opts, gone: req.gone === true };
  const source = deps.sourceFor(target.account);
  let scanStartedAt = now();
  // The run row, the first scan and the removal candidates do not depend on each other: they go
  // out together, so a job costs its API calls plus one transaction, not three database round
  // trips on top (the scan's API latency hides the other two). The candidates are only a hint —
  // applyScan re-reads the active links under the target's lock and refuses unconfirmed removals.
  const firstScan = scanTarget(source, target, pageOpts);
  const firstActive = deps.store.activeLinks(target);
  // Whatever happens to the run row, neither side promise may end up as an unhandled rejection.
  firstScan.catch(() => undefined);
  firstActive.catch(() => undefined);
  const runId = await deps.store.startRun({
    target,
    jobId: req.jobId,
    attempt: req.attempt,
    startedAt: scanStartedAt,
  });
  const runLog = log.child({ runId, ...target });
  let lastRequestId: string | undefined;
  try {
    const maxScans = deps.maxScans ?? 3;
    let lastReason = '';
    for (let scanNo = 1; scanNo <= maxScans; scanNo++) {
      if (scanNo > 1) scanStartedAt = now();
      const scan = scanNo === 1 ? await firstScan : await scanTarget(source, target, pageOpts);
      lastRequestId = scan.requestId;
      if (!scan.complete) {
        lastReason = scan.reason;
        runLog.warn({ scanNo, reason: scan.reason }, 'incomplete scan; rescanning');
        continue;
      }
      const scanned = new Set(scan.links.map((l) => l.instanceId));
      const active = scanNo === 1 ? await firstActive : await deps.store.activeLinks(target);
      const candidates = active.filter((l) => !scanned.has(l.instanceId));
      const confirmation = await confirmRemovals(source, target, candidates, opts);
      if (confirmation.stillLinked.length > 0) {
        runLog.warn(
          { count: confirmation.stillLinked.length },
          'links missing from the scan are still shown by a direct lookup; not removing them',
        );
      }
      try {
        const result = await deps.store.applyScan({
          runId,
          target,
          scanStartedAt,
          links: [...scan.links, ...confirmation.stillLinked],
          pages: scan.pages,
          requestId: scan.requestId,
          confirmedRemovals: confirmation.confirmedRemovals,
          channels: deps.channels,
          alertOnBaseline: deps.alertOnBaseline,
          detectedAt: now(),
        });
        const linksSeen = scan.links.length + confirmation.stillLinked.length;
        if (result.outcome === 'applied') {
          // The one line of an applied scan (the store logs none): with the job's context.
          runLog.info(
            {
              added: result.added.length,
              removed: result.removed.length,
              baseline: result.baseline,
              linksSeen,
            },
            'scan applied',
          );
          if (deps.afterApplied && result.added.length + result.removed.length > 0) {
            const changes = {
              target,
              runId,
              baseline: result.baseline,
              added: result.added,
              removed: result.removed,
            };
            // Context never holds back or fails link truth: the run is already committed.
            await deps
              .afterApplied(changes)
              .catch((caught: unknown) =>
                runLog.warn(
                  { error: coerceError(caught).summary() },
                  'the context of the changes was not scheduled (attributes and causes come with the next refresh)',
                ),
              );
          }
          return {
            runId,
            outcome: 'applied',
            baseline: result.baseline,
            added: result.added.length,
            removed: result.removed.length,
            linksSeen,
            pages: scan.pages,
          };
        }
        runLog.info({ outcome: result.outcome }, 'scan not applied');
        return {
          runId,
          outcome: result.outcome,
          baseline: false,
          added: 0,
          removed: 0,
          linksSeen,
          pages: scan.pages,
        };
      } catch (caught) {
        const err = coerceError(caught);
        // Another scan changed the target between our read and our transaction: scan again.
        if (err.code !== ErrorCode.RemovalNotConfirmed) throw err;
        lastReason = err.message;
        runLog.warn({ scanNo }, 'removal not confirmed inside the transaction; rescanning');
      }
    }
    throw new RetryableError(`scan incomplete after ${maxScans} attempts: ${lastReason}`, {
      code: 'IncompleteScan',
      requestId: lastRequestId,
    });
  } catch (caught) {
    // An aborted job (shutdown past its drain deadline) is not the target's fault: say so.
    const err = req.signal?.aborted
      ? new RetryableError(
          'the worker stopped before the scan finished (shutdown); the job goes back to the queue',
          {
            code: ErrorCode.Aborted,
            cause: caught,
          },
        )
      : coerceError(caught);
    await deps.store.failRun({
      runId,
      target,
      code: err.code,
      message: err.message,
      requestId: err.requestId ?? lastRequestId,
      finishedAt: now(),
    });
    runLog.warn(
      { code: err.code, retryable: err.retryable, requestId: err.requestId },
      `sync failed: ${err.message}`,
    );
    throw err;
  }
}
