/**
 * ActionTrail `LookupEvents` (2020-07-06) over the simulated trail. Rules from reference/
 * alibaba-actiontrail.md §1.2: `StartTime`/`EndTime` both or neither (default: the last 7 days),
 * `MaxResults` 1–50, `Direction` BACKWARD (newest first, default) or FORWARD, `NextToken` valid
 * only with the same other parameters, and at most two `LookupAttribute`s — exact, case-sensitive,
 * ANDed; the same key twice counts the second; beyond two, the first two. Which pairs the real
 * API refuses is not confirmed, so any two known keys are accepted.
 */
import { formatTimestamp } from '../aliyun/index.js';
import { missing } from './auth.js';
import type { ActionResult, CallContext } from './context.js';
import { indexedParams, intParam, invalid, optionalParam, type Params } from './params.js';
import type { TrailEntry, TrailRecord } from './types.js';

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const DEFAULT_WINDOW_MS = 7 * 86_400_000;
const DEFAULT_MAX_RESULTS = 20;

/** What each `LookupAttribute` key matches in a record (any of the values). */
const ATTRIBUTES: Readonly<Record<string, (r: TrailRecord) => readonly string[]>> = {
  ServiceName: (r) => [r.serviceName],
  EventName: (r) => [r.eventName],
  EventId: (r) => [r.eventId],
  EventRW: (r) => [r.eventRW],
  EventType: (r) => [r.eventType],
  User: (r) => [r.userIdentity.userName],
  PrincipalId: (r) => [r.userIdentity.principalId],
  EventAccessKeyId: (r) => [r.userIdentity.accessKeyId],
  SourceIpAddress: (r) => [r.sourceIpAddress],
  ResourceType: (r) => Object.keys(r.referencedResources),
  ResourceName: (r) => Object.values(r.referencedResources).flat(),
  // Every simulated caller is a RAM user with no role, and no audited action is sensitive.
  RoleName: () => [],
  SensitiveAction: () => ['false'],
};

interface Attribute {
  key: string;
  value: string;
}

/** The NextToken's content, base64 JSON like the real one, plus what pins the query. */
interface Token {
  account: string;
  eventId: string;
  logId: string;
  time: number;
  seq: number;
  start: number;
  end: number;
  query: string;
}

export function lookupEvents(ctx: CallContext, params: Params): ActionResult {
  const startRaw = optionalParam(params, 'StartTime');
  const endRaw = optionalParam(params, 'EndTime');
  if ((startRaw === undefined) !== (endRaw === undefined)) {
    throw invalid(
      startRaw === undefined ? 'EndTime' : 'StartTime',
      ' Specify both StartTime and EndTime, or neither.',
    );
  }
  const maxResults = intParam(params, 'MaxResults', DEFAULT_MAX_RESULTS, 1, 50);
  const direction = optionalParam(params, 'Direction') ?? 'BACKWARD';
  if (direction !== 'BACKWARD' && direction !== 'FORWARD') {
    throw invalid('Direction', ' Valid values: BACKWARD, FORWARD.');
  }
  const attributes = lookupAttributes(params);
  const query = JSON.stringify([
    startRaw ?? '',
    endRaw ?? '',
    direction,
    attributes,
    ctx.endpointRegion ?? '',
  ]);
  const tokenRaw = optionalParam(params, 'NextToken');
  const token = tokenRaw === undefined ? undefined : decodeToken(tokenRaw, query);

  let start: number;
  let end: number;
  if (startRaw !== undefined && endRaw !== undefined) {
    start = parseTime('StartTime', startRaw);
    end = parseTime('EndTime', endRaw);
    if (start > end) throw invalid('StartTime', ' StartTime must not be later than EndTime.');
  } else if (token) {
    // The default window is fixed by the first page, so "now" moving does not shift later pages.
    ({ start, end } = token);
  } else {
    end = ctx.now;
    start = end - DEFAULT_WINDOW_MS;
  }

  const region = ctx.endpointRegion;
  const inQuery = (e: TrailEntry): boolean => {
    const second = Math.floor(e.at / 1000) * 1000;
    if (second < start || second > end) return false;
    if (region !== undefined && e.record.acsRegion !== region) return false;
    return attributes.every((a) => (ATTRIBUTES[a.key]?.(e.record) ?? []).includes(a.value));
  };
  let found = ctx.trail.visible(ctx.now).filter(inQuery);
  if (direction === 'BACKWARD') found.reverse();
  if (token) found = found.filter((e) => (direction === 'BACKWARD' ? e.seq < token.seq : e.seq > token.seq));
  const page = found.slice(0, maxResults);
  const last = page[page.length - 1];
  const account = ctx.actor.identity.accountId;
  const next =
    found.length > maxResults && last
      ? encodeToken({
          account,
          eventId: last.record.eventId,
          logId: `${last.seq}-${account}`,
          time: last.at,
          seq: last.seq,
          start,
          end,
          query,
        })
      : '';
  return {
    body: {
      StartTime: formatTimestamp(new Date(start)),
      EndTime: formatTimestamp(new Date(end)),
      NextToken: next,
      Events: page.map((e) => e.record),
    },
  };
}

function lookupAttributes(params: Params): Attribute[] {
  const used: Attribute[] = [];
  for (const { n, values } of indexedParams(params, 'LookupAttribute', ['Key', 'Value']).slice(0, 2)) {
    const key = values.Key?.trim();
    if (key === undefined || key === '') throw missing(`LookupAttribute.${n}.Key`);
    if (!(key in ATTRIBUTES)) throw invalid(`LookupAttribute.${n}.Key`, ` Unknown key ${key}.`);
    const value = values.Value;
    if (value === undefined || value === '') throw missing(`LookupAttribute.${n}.Value`);
    used.push({ key, value });
  }
  const [a, b] = used;
  return a && b && a.key === b.key ? [b] : used;
}

function parseTime(name: string, raw: string): number {
  const ms = TIME_RE.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(ms)) throw invalid(name, ' Use the format yyyy-MM-ddTHH:mm:ssZ (UTC).');
  return ms;
}

function encodeToken(t: Token): string {
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64');
}

function decodeToken(raw: string, query: string): Token {
  let t: Partial<Token> | undefined;
  try {
    t = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Partial<Token>;
  } catch {
    t = undefined;
  }
  if (
    typeof t !== 'object' ||
    t === null ||
    typeof t.seq !== 'number' ||
    typeof t.start !== 'number' ||
    typeof t.end !== 'number'
  ) {
    throw invalid('NextToken', ' Use the NextToken of the previous answer.');
  }
  if (t.query !== query) {
    throw invalid(
      'NextToken',
      ' The other request parameters must be the same as those of the previous request.',
    );
  }
  return t as Token;
}
