/**
 * Store fixtures: drive the store the way a sync job does (startRun, then applyScan of what a
 * scan saw), with times chosen by the test, for one target of its own per test.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { expect } from 'vitest';
import type { ChannelName } from '../../src/alerts/index.js';
import type { Link, TargetRef } from '../../src/links.js';
import { diffLinks, linkKey } from '../../src/links.js';
import type { ApplyScanResult, CloudEventRecord, InstanceAttributes, Store } from '../../src/store/index.js';
import { at } from './clock.js';

/** A target of its own per test (a fresh account), so tests sharing a database never meet. */
export function uniqueTarget(vpcId = 'vpc-1'): TargetRef {
  return { account: `acct-${randomUUID().slice(0, 8)}`, regionId: 'cn-hangzhou', vpcId };
}

interface ScanOptions {
  /** Scan start; default `at(minute)`. */
  minute: number;
  /** Removal keys to confirm; default: every removal the diff against activeLinks() finds. */
  confirm?: Iterable<string>;
  channels?: readonly ChannelName[];
  alertOnBaseline?: boolean;
  runId?: string;
}

/**
 * startRun + applyScan of a scan that saw `instances` in the target's VPC, starting at
 * `at(minute)` and detected 30 seconds later.
 */
export async function scan(
  store: Store,
  target: TargetRef,
  instances: readonly string[],
  opts: ScanOptions,
): Promise<{ runId: string; result: ApplyScanResult }> {
  const startedAt = at(opts.minute);
  const links: Link[] = instances.map((instanceId) => ({ vpcId: target.vpcId, instanceId }));
  const runId =
    opts.runId ?? (await store.startRun({ target, jobId: `job-${randomUUID()}`, attempt: 1, startedAt }));
  const confirm = opts.confirm ?? diffLinks(await store.activeLinks(target), links).removed.map(linkKey);
  const result = await store.applyScan({
    runId,
    target,
    scanStartedAt: startedAt,
    links,
    pages: Math.max(1, Math.ceil(links.length / 100)),
    requestId: `req-${opts.minute}`,
    confirmedRemovals: new Set(confirm),
    channels: opts.channels ?? [],
    alertOnBaseline: opts.alertOnBaseline ?? false,
    detectedAt: new Date(startedAt.getTime() + 30_000),
  });
  return { runId, result };
}

/**
 * A target with a baseline of `before` (no alert) and then a run that sees `after`: one outbox
 * row per channel for the second run. Returns the target and the changing run's id.
 */
export async function changedRun(
  store: Store,
  channels: readonly ChannelName[],
  opts: { before?: string[]; after?: string[]; target?: TargetRef; minute?: number } = {},
): Promise<{ target: TargetRef; runId: string }> {
  const target = opts.target ?? uniqueTarget();
  const minute = opts.minute ?? 0;
  await scan(store, target, opts.before ?? ['i-old'], { minute, channels });
  const { runId } = await scan(store, target, opts.after ?? ['i-new1', 'i-new2'], {
    minute: minute + 1,
    channels,
  });
  return { target, runId };
}

/** An instance as DescribeInstances would describe it; `overrides` change what a test needs. */
export function instanceAttrs(
  instanceId: string,
  overrides: Partial<InstanceAttributes> = {},
): InstanceAttributes {
  return {
    instanceId,
    name: `name-${instanceId}`,
    status: 'Running',
    privateIp: '10.0.0.1',
    zoneId: 'cn-hangzhou-h',
    resourceGroupId: 'rg-1',
    tags: { env: 'prod' },
    ...overrides,
  };
}

/**
 * An ActionTrail record of `target`'s account and region, of a successful call by the RAM user
 * `alice` from 192.0.2.1 (a fresh eventId each time); `overrides` change what a test needs.
 */
export function cloudEvent(
  target: TargetRef,
  overrides: Partial<CloudEventRecord> & Pick<CloudEventRecord, 'eventName' | 'eventTime' | 'instanceIds'>,
): CloudEventRecord {
  return {
    eventId: randomUUID(),
    account: target.account,
    regionId: target.regionId,
    vpcId: overrides.eventName.startsWith('Delete') ? null : target.vpcId,
    actor: { type: 'ram-user', name: 'alice', principalId: '2741806465482', accountId: '1547353256850' },
    accessKeyId: 'LTAI-alice',
    sourceIp: '192.0.2.1',
    userAgent: 'aliyun-cli/3.0',
    apiRequestId: `req-${randomUUID()}`,
    errorCode: null,
    ...overrides,
  };
}

/**
 * Two applies of `t` (adding i-2 to its i-1) race while a transaction on `pool` holds the target's
 * advisory lock; resolves with both results once `observer` has seen both wait for the lock and the
 * holder committed. The target must hold i-1 already.
 */
export async function appliesRacingOnTheLock(
  store: Store,
  t: TargetRef,
  pool: pg.Pool,
  observer: pg.Pool,
): Promise<Awaited<ReturnType<typeof scan>>[]> {
  const blocker = await pool.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `${t.account}/${t.regionId}/${t.vpcId}`,
    ]);
    const a = scan(store, t, ['i-1', 'i-2'], { minute: 5, channels: ['webhook'] });
    const b = scan(store, t, ['i-1', 'i-2'], { minute: 6, channels: ['webhook'] });
    await expect
      .poll(
        async () =>
          (
            await observer.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database =
                 (SELECT oid FROM pg_database WHERE datname = current_database())`,
            )
          ).rows[0]?.n,
        { timeout: 30_000 },
      )
      .toBe(2);
    await blocker.query('COMMIT');
    return await Promise.all([a, b]);
  } finally {
    blocker.release();
  }
}
