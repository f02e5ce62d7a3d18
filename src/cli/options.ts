/**
 * What each command takes: the typed options main.ts's actions receive, and the parsers that turn
 * a flag's text into a value or refuse it with one line (commander prints it as a usage error).
 */
import { InvalidArgumentError } from 'commander';
import type { CHANNEL_NAMES } from '../alerts/index.js';
import {
  DURATION_EXPECTED,
  INSTANCE_EXPECTED,
  INSTANCE_ID,
  parseDuration,
  parseTimestamp,
  REGION_EXPECTED,
  REGION_ID,
  timestampProblem,
  VPC_EXPECTED,
  VPC_ID,
} from '../ids.js';
import { OUTBOX_STATUSES, type OutboxStatus } from '../store/index.js';

/** The parts of the service `start --role` can run; all of them by default. */
export const ROLES = ['scheduler', 'worker', 'alerts', 'http'] as const;
export type Role = (typeof ROLES)[number];

export interface SyncOnceOptions {
  regions: string[];
  vpcs: string[];
  json: boolean;
  /** How long to keep delivering this run's alerts before exiting. */
  alertWaitMs: number;
}
export interface LinksOptions {
  regions: string[];
  vpcs: string[];
  at: Date | undefined;
  json: boolean;
}
export interface EventsOptions {
  since: Date | undefined;
  until: Date | undefined;
  regions: string[];
  vpcs: string[];
  instances: string[];
  /** Show the newest this many matching events (listed oldest first). */
  limit: number;
  json: boolean;
}
export interface HistoryOptions {
  instance: string | undefined;
  vpc: string | undefined;
  regions: string[];
  json: boolean;
}
/** alert_outbox states, as `alerts --status` takes them (the store's list). */
export const ALERT_STATUSES = OUTBOX_STATUSES;
export interface AlertsOptions {
  status: OutboxStatus | undefined;
  channel: (typeof CHANNEL_NAMES)[number] | undefined;
  ids: string[];
  limit: number;
  /** Move the matching dead-lettered alerts back to pending instead of listing. */
  requeue: boolean;
  json: boolean;
}
export interface SimulateOptions {
  host: string;
  port: number;
  seed: number;
  regions: string[];
  vpcs: number;
  links: number;
  unlinked: number;
  world: string | undefined;
  churn: boolean;
  churnIntervalMs: number;
  latencyMs: number;
  throttleRate: number;
  errorRate: number;
  qpsCap: number | undefined;
  /** How long an ActionTrail record stays invisible to LookupEvents, in ms. */
  actionTrailDelayMs: number;
  /** Push each ActionTrail record to this EventBridge-style HTTP target (CloudEvents envelope). */
  eventbridgeTarget: string | undefined;
  /** The target's token: `Authorization: Bearer`, or the Basic password (`eventbridgeAuth`). */
  eventbridgeToken: string | undefined;
  eventbridgeAuth: 'bearer' | 'basic';
  /** How long after its call a record is pushed; default: once visible (the ActionTrail delay). */
  eventbridgeDelayMs: number | undefined;
}
export interface DemoOptions {
  durationMs: number | undefined;
  intervalMs: number;
  /**
   * Run on an embedded Postgres started for the demo. Default: false; the demo still starts one
   * when DATABASE_URL is not set and nothing answers at 127.0.0.1:5432.
   */
  embedded: boolean;
}

/**
 * A repeatable option's parser. No default array is registered (commander would print it in
 * `--help` as `(default: [])`): the first call gets `undefined`, and the action reads `?? []`.
 */
export const collect =
  (parse: (value: string) => string) =>
  (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), parse(value)];

/** How `--help` shows a duration default: the form the option accepts (`4s`, not `4000`). */
export function durationText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function timeArg(value: string): Date {
  // A date, or a time with its UTC offset, so "yesterday" or "12:00" never guess.
  const d = parseTimestamp(value);
  if (d === undefined) throw new InvalidArgumentError(timestampProblem(value));
  return d;
}

export function wholeNumberArg(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

export function rateArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError('expected a probability from 0 to 1');
  }
  return n;
}

export function httpUrlArg(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return value;
  } catch {
    // refused below
  }
  throw new InvalidArgumentError('expected an http(s) URL, e.g. http://127.0.0.1:8080/v1/hooks/eventbridge');
}

export function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError(DURATION_EXPECTED);
  return ms;
}

const matching =
  (pattern: RegExp, expected: string) =>
  (value: string): string => {
    if (!pattern.test(value)) throw new InvalidArgumentError(expected);
    return value;
  };

export const regionArg = matching(REGION_ID, REGION_EXPECTED);
export const vpcArg = matching(VPC_ID, VPC_EXPECTED);
export const instanceArg = matching(INSTANCE_ID, INSTANCE_EXPECTED);

export function alertIdArg(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
    throw new InvalidArgumentError('expected an alert id (a UUID, as in alert_outbox.id and webhook-id)');
  return value.toLowerCase();
}

export function rolesArg(value: string, previous: Role[] | undefined): Role[] {
  const list = value.split(',').map((r) => r.trim());
  for (const r of list) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw new InvalidArgumentError(`expected one or more of ${ROLES.join(', ')}`);
    }
  }
  return [...new Set([...(previous ?? []), ...(list as Role[])])];
}
