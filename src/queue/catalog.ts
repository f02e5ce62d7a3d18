/**
 * The job catalog: each queue's name, the zod schema of its payload (parsed at handler entry, see
 * worker.ts), its result type, and the handler's signature. A queue added here without a handler
 * or a result fails typecheck.
 *
 * Job payloads carry identifiers only (account, region, VPC) — never credentials.
 */
import { z } from 'zod';
import type { TargetRef } from '../links.js';
import type { Logger } from '../log.js';

const id = z.string().min(1).max(128);

export const jobSchemas = {
  plan: z.object({
    account: id,
    regionId: id,
    /** Only these VPCs of the region (`sync --once --vpc`); without it, every target. */
    only: z.array(id).max(10_000).optional(),
  }),
  sync: z.object({
    account: id,
    regionId: id,
    vpcId: id,
    /**
     * The retirement scan of a VPC discovery no longer lists (plan.ts): "does not exist" reads as
     * an empty listing. Absent: a VPC the API does not know fails the run.
     */
    gone: z.literal(true).optional(),
  }),
  /** One poll of the ActionTrail change feed of an account+region (sync/feed.ts). */
  feed: z.object({ account: id, regionId: id }),
  /** Refresh instance (and explicit targets' VPC) attributes of an account+region (src/context/). */
  enrich: z.object({
    account: id,
    regionId: id,
    /** Only these instances (right after a change); without it, the periodic refresh of all. */
    instanceIds: z.array(id).min(1).max(10_000).optional(),
  }),
  /** Settle the causes of an account+region's pending link events from ActionTrail (src/context/). */
  attribute: z.object({ account: id, regionId: id }),
} as const;

export type QueueName = keyof typeof jobSchemas;
export type JobData<Q extends QueueName> = z.infer<(typeof jobSchemas)[Q]>;

export interface SyncJobResult {
  runId: string;
  outcome: 'applied' | 'superseded' | 'already-finished';
  baseline: boolean;
  added: number;
  removed: number;
  linksSeen: number;
  pages: number;
}

/** A sync job as enqueued: its target and the id of the job that will sync it. */
export interface EnqueuedSync {
  target: TargetRef;
  jobId: string;
}

/**
 * A job the change feed asked for, and what became of the ask: `added` (a new job, ready now),
 * `merged` (the target's job that had not started yet will do), `promoted` (that job was delayed by
 * its plan's pacing and is ready now), `after-running` (one is running: one more follows it).
 */
export interface ChangeSync extends EnqueuedSync {
  how: 'added' | 'merged' | 'promoted' | 'after-running';
}

export interface PlanJobResult {
  /** The targets the plan enqueued, with the id of the sync job that will sync each. */
  targets: EnqueuedSync[];
}

/** What one poll of the change feed read and scheduled. */
export interface FeedJobResult {
  /** Records LookupEvents answered (every event name, every page), refused ones included. */
  records: number;
  /** Of those, the ones new to `cloud_events`. */
  fresh: number;
  /** Targeted syncs and region plans enqueued for them. */
  scheduled: number;
  /** The cursor after the poll (ISO time): the end of the window read, or unchanged after a failure. */
  cursorAt: string;
  /** The failure that stopped the poll (its records so far are stored; the cursor stayed). */
  error?: string | undefined;
}

export interface EnrichJobResult {
  /** Instances asked of DescribeInstances. */
  described: number;
  /** `instances` rows written (0 when nothing changed). */
  written: number;
  /** Instances newly marked released. */
  released: number;
  /** `vpcs` rows written by the refresh of explicit targets (0 when nothing changed). */
  vpcsWritten: number;
  /** Whether the identity may read instances (a DryRun said no: nothing was marked released). */
  permission: 'ok' | 'denied';
}

export interface AttributeJobResult {
  /** Pending events looked at. */
  pending: number;
  /** LookupEvents calls made (pages, over one query per event name). */
  calls: number;
  /** Records new to `cloud_events`. */
  recorded: number;
  found: number;
  notFound: number;
  /** Settled `unavailable` (the identity may not call LookupEvents). */
  unavailable: number;
  /** Still pending after this job: another is enqueued after a delay. */
  stillPending: number;
}

export interface JobResults {
  plan: PlanJobResult;
  sync: SyncJobResult;
  feed: FeedJobResult;
  enrich: EnrichJobResult;
  attribute: AttributeJobResult;
}

/** Queues whose jobs job schedulers add (one schedule per account+region). */
export type ScheduledQueue = 'plan' | 'enrich' | 'feed';

/** What a handler learns about the job it runs. */
interface JobContext {
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the worker is force-closed. */
  signal: AbortSignal;
  log: Logger;
}

export type Handler<Q extends QueueName> = (data: JobData<Q>, ctx: JobContext) => Promise<JobResults[Q]>;

/**
 * A target to sync. `gone` marks the retirement scan (see the `sync` payload); `delayMs` makes the
 * job ready that long after the enqueue began instead of at once (the plan's pacing).
 */
export type SyncTarget = TargetRef & { gone?: boolean | undefined; delayMs?: number | undefined };
