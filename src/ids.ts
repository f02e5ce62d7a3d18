/**
 * Every id and time pattern, defined once: region, VPC and instance ids as people type them (CLI
 * flags, SYNC_TARGETS, the accounts file, API query parameters), the looser forms the Alibaba API
 * answers with, account names and `region:vpc-id` targets, and zod atoms over them. Below: the
 * times and durations people type.
 */
import { z } from 'zod';

/** A region id as configured or typed: `cn-hangzhou`, `ap-southeast-1`. */
export const REGION_ID = /^[a-z]{2,}(-[a-z0-9]+)+$/;
/** A VPC id as configured or typed: `vpc-bp1abc…`. */
export const VPC_ID = /^vpc-[a-z0-9]+$/;
/** An instance id as typed: `i-bp1abc…`. */
export const INSTANCE_ID = /^i-[a-z0-9]+$/;
/**
 * Ids as the API answers them. Looser than what we accept from people: an answer is checked for
 * its shape (a VPC id, not a number or an empty string), never refused for a character the API
 * may start using.
 */
export const API_VPC_ID = /^vpc-[A-Za-z0-9_-]+$/;
export const API_INSTANCE_ID = /^i-[A-Za-z0-9_-]+$/;

/** An account name (SYNC_ACCOUNT, an accounts file's `name`): stored in every row. */
export const ACCOUNT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const REGION_EXPECTED = 'expected a region id like cn-hangzhou';
export const VPC_EXPECTED = 'expected a VPC id like vpc-bp1abc';
export const INSTANCE_EXPECTED = 'expected an instance id like i-bp1abc';
const ACCOUNT_NAME_EXPECTED = 'expected 1-64 letters, digits, _ . or -';

/** zod atoms over the patterns above. */
export const regionId = z.string().regex(REGION_ID, REGION_EXPECTED);
export const vpcId = z.string().regex(VPC_ID, VPC_EXPECTED);
export const instanceId = z.string().regex(INSTANCE_ID, INSTANCE_EXPECTED);
export const apiVpcId = z.string().regex(API_VPC_ID, 'expected a VPC id (vpc-…)');
export const apiInstanceId = z.string().regex(API_INSTANCE_ID, 'expected an instance id (i-…)');
export const accountName = z.string().regex(ACCOUNT_NAME, ACCOUNT_NAME_EXPECTED);

/**
 * A target as configured (SYNC_TARGETS, an accounts file's `targets`): `region:vpc-id`, e.g.
 * `cn-hangzhou:vpc-bp1abc`. Its parts, or `undefined` when the text is not one.
 */
export function parseTarget(text: string): { regionId: string; vpcId: string } | undefined {
  const [regionId = '', vpcId = '', extra] = text.split(':');
  if (extra !== undefined || !REGION_ID.test(regionId) || !VPC_ID.test(vpcId)) return undefined;
  return { regionId, vpcId };
}

/** Parses a duration as people type it (`500ms`, `10s`, `5m`, `1h`, `2d`) into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Math.round(Number(m[1]) * unit);
}

/** The one-line explanation of a refused duration (configuration and flags say the same). */
export const DURATION_EXPECTED = 'expected a duration like 500ms, 10s, 5m or 1h';

/*
 * Times people type into `--since`, `--until`, `--at` and the API's `since` / `until` / `at`:
 * ISO-8601 (`2026-01-31T12:00:00Z`, `+08:00`), psql's timestamptz output pasted as is
 * (`2026-12-06 23:28:20.123456+00`), or a bare date (midnight UTC). A time without a UTC offset
 * is refused rather than guessed in the machine's zone.
 */

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:(Z|z)|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** The one-line explanation of a refused time (the CLI and the API say the same). */
export const TIMESTAMP_EXPECTED =
  'expected an ISO-8601 time with its UTC offset like 2026-01-31T12:00:00Z or 2026-12-06 23:28:20+00, or a date like 2026-01-31';

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** Parses one of the forms above; `undefined` when the text is not one (or not a real date). */
export function parseTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (h === undefined) return new Date(Date.UTC(year, month - 1, day));
  // A time needs its offset: "12:00" in which zone?
  if (z === undefined && sign === undefined) return undefined;
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? 0);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const offsetMin = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om ?? 0));
  if (Math.abs(offsetMin) > 18 * 60 || Number(om ?? 0) > 59) return undefined;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000);
}

/** Why `text` is refused: names the missing offset when that is the only problem. */
export function timestampProblem(text: string): string {
  const withUtc = parseTimestamp(`${text.trim()}Z`);
  if (withUtc !== undefined && /[T ]\d{2}:\d{2}/.test(text)) {
    return `a time needs its UTC offset, e.g. ${text.trim()}+00 (UTC) or ${text.trim()}+08:00`;
  }
  return TIMESTAMP_EXPECTED;
}
