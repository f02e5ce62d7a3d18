/**
 * ActionTrail LookupEvents (2020-07-06): the calls behind link changes, one query per event name
 * (`ServiceName` + `EventName`, the pair the API allows; reference/alibaba-actiontrail.md §1.2),
 * paged by `NextToken` one page at a time so memory stays bounded whatever the window holds.
 */
import { FatalError } from '../errors.js';
import type { CallOptions } from '../sync/index.js';
import type { Call } from './actions.js';
import { validate } from './answer.js';
import { type CloudEvent, type CloudEventRefusal, parseCloudEvent } from './cloud-event.js';
import { checkRegion, invalid } from './request.js';
import { lookupEventsSchema } from './schemas.js';
import { formatTimestamp } from './signer.js';

const ACTION = 'LookupEvents';
/** The most LookupEvents lists per page. */
export const LOOKUP_PAGE_SIZE = 50;

export interface LookupEventsQuery {
  /**
   * The action to look for, e.g. `AttachClassicLinkVpc` (exact, case-sensitive); a record naming
   * another is refused. Either this or `writes`.
   */
  eventName?: string | undefined;
  /**
   * Every write call of the service instead (`EventRW=Write`: one query for several actions), of
   * which only records whose `eventName` is in this set are parsed; the others are counted in
   * `skipped` (never refused: their shapes are not ours to judge).
   */
  writes?: ReadonlySet<string> | undefined;
  /** The service that action belongs to. Default `Ecs`. */
  serviceName?: string | undefined;
  /** The window, both ends included; sent at second precision. */
  startTime: Date;
  endTime: Date;
  /** `BACKWARD` (newest first, the API's default) or `FORWARD`. Default: not sent. */
  direction?: 'BACKWARD' | 'FORWARD' | undefined;
}

/** One page of records: the ones that parsed, and the refusals of the ones that did not. */
export interface CloudEventPage {
  requestId: string;
  events: CloudEvent[];
  /** Records refused by `parseCloudEvent`, or naming another event than the one asked. */
  refused: CloudEventRefusal[];
  /** Records of a `writes` query whose event name is not in its set: not parsed. */
  skipped: number;
}

export interface ActionTrailActions {
  /**
   * Every page of `query` in `regionId`'s ActionTrail (host from ACTIONTRAIL_ENDPOINT), as an
   * async iterator: one request per page, the next sent only when the consumer asks for it.
   * `Forbidden.RAM` / `NoPermission` fail as fatal permission errors (errors.ts
   * `isPermissionDenied`); a server that repeats a `NextToken` fails as `MalformedResponse`.
   */
  lookupEvents(regionId: string, query: LookupEventsQuery, opts?: CallOptions): AsyncIterable<CloudEventPage>;
}

/** The request parameters of one page, after the checks the API would make. */
export function lookupEventsParams(query: LookupEventsQuery, nextToken?: string): Record<string, string> {
  const { eventName, startTime, endTime } = query;
  if ((eventName === undefined) === (query.writes === undefined)) {
    throw invalid('give eventName or writes (one of them)');
  }
  if (eventName !== undefined && eventName.trim() === '') throw invalid('eventName must not be empty');
  if (Number.isNaN(startTime.getTime()) || Number.isNaN(endTime.getTime())) {
    throw invalid('startTime and endTime must be valid times');
  }
  if (startTime.getTime() > endTime.getTime()) throw invalid('startTime must not be after endTime');
  const params: Record<string, string> = {
    StartTime: formatTimestamp(startTime),
    EndTime: formatTimestamp(endTime),
    MaxResults: String(LOOKUP_PAGE_SIZE),
    'LookupAttribute.1.Key': 'ServiceName',
    'LookupAttribute.1.Value': query.serviceName ?? 'Ecs',
    // ServiceName + EventRW is one of the pairs the API allows (reference §1.2).
    'LookupAttribute.2.Key': eventName === undefined ? 'EventRW' : 'EventName',
    'LookupAttribute.2.Value': eventName ?? 'Write',
  };
  if (query.direction !== undefined) params.Direction = query.direction;
  if (nextToken !== undefined) params.NextToken = nextToken;
  return params;
}

export function actionTrailActions(call: Call): ActionTrailActions {
  async function* lookupEvents(
    regionId: string,
    query: LookupEventsQuery,
    callOpts?: CallOptions,
  ): AsyncGenerator<CloudEventPage> {
    checkRegion(regionId);
    lookupEventsParams(query);
    const tokens = new Set<string>();
    let token: string | undefined;
    // Termination: the API ends with an empty or absent NextToken; a token seen before would
    // loop for ever, so it is refused.
    for (;;) {
      const page = await call({
        api: 'actiontrail',
        regionId,
        action: ACTION,
        params: lookupEventsParams(query, token),
        parse: (body, text) => {
          const b = validate(lookupEventsSchema, body, text, ACTION);
          const out: CloudEventPage & { nextToken: string | undefined } = {
            requestId: b.RequestId,
            nextToken: b.NextToken === null || b.NextToken === '' ? undefined : b.NextToken,
            events: [],
            refused: [],
            skipped: 0,
          };
          for (const record of b.Events ?? []) {
            if (query.writes !== undefined) {
              const name =
                typeof record === 'object' && record !== null
                  ? (record as { eventName?: unknown }).eventName
                  : undefined;
              if (typeof name !== 'string' || !query.writes.has(name)) {
                out.skipped++;
                continue;
              }
            }
            const parsed = parseCloudEvent(record);
            if (!parsed.ok) out.refused.push(parsed.refusal);
            else if (query.eventName !== undefined && parsed.event.eventName !== query.eventName) {
              // A record the filter should have kept out: never let it be matched as this event.
              out.refused.push({
                eventId: parsed.event.eventId,
                field: 'eventName',
                message: `${parsed.event.eventName} answered for a lookup of ${query.eventName}`,
              });
            } else out.events.push(parsed.event);
          }
          return out;
        },
        signal: callOpts?.signal,
      });
      const { nextToken, ...rest } = page;
      yield rest;
      if (nextToken === undefined) return;
      if (tokens.has(nextToken)) {
        throw new FatalError(`${ACTION} answered NextToken ${JSON.stringify(nextToken)} a second time`, {
          code: 'MalformedResponse',
          requestId: page.requestId,
          httpStatus: 200,
        });
      }
      tokens.add(nextToken);
      token = nextToken;
    }
  }

  return { lookupEvents };
}
