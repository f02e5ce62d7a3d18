/**
 * ActionTrail LookupEvents through the signed client, against local HTTP servers: the query
 * (version, attributes, window, page size), the endpoint (default host, override with `{region}`
 * and a path), both signatures, NextToken paging one page at a time, lenient records beside
 * refused ones, and the same limiter, retry and error rules as ECS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudEventPage, LookupEventsQuery } from '../../src/aliyun/actiontrail.js';
import {
  type CallEvent,
  createEcsClient,
  type EcsClient,
  type EcsClientOptions,
} from '../../src/aliyun/client.js';
import type { LimitKey } from '../../src/aliyun/limiter.js';
import { parseV3Authorization, signV1, signV3 } from '../../src/aliyun/signer.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { FatalError, isPermissionDenied, RetryableError } from '../../src/errors.js';
import { closeApiServers, type Handler, json, type Seen, startServer } from '../helpers/api-server.js';
import { caught } from '../helpers/errors.js';
import { silentLog } from '../helpers/log.js';

const SECRET = 'trail-secret';
const REGION = 'cn-hangzhou';
const clients: EcsClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeApiServers();
});

const QUERY: LookupEventsQuery = {
  eventName: 'AttachClassicLinkVpc',
  startTime: new Date('2026-01-01T00:00:00.250Z'),
  endTime: new Date('2026-01-08T00:00:00Z'),
};

function client(actiontrailEndpoint: string, over: Partial<EcsClientOptions> = {}) {
  const events: CallEvent[] = [];
  const c = createEcsClient({
    credentials: staticCredentialsProvider({ accessKeyId: 'trailid', accessKeySecret: SECRET }),
    signature: 'v3',
    // ECS and VPC point nowhere useful: ActionTrail must not go there.
    ecsEndpoint: 'http://127.0.0.1:9',
    vpcEndpoint: 'http://127.0.0.1:9',
    actiontrailEndpoint,
    timeoutMs: 2_000,
    retryDeadlineMs: 2_000,
    backoff: { baseMs: 1, capMs: 5 },
    log: silentLog,
    onCall: (e) => events.push(e),
    ...over,
  });
  clients.push(c);
  return { c, events };
}

function record(n: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: `ev-${n}`,
    eventVersion: n % 2 === 0 ? 1 : '1',
    eventName: 'AttachClassicLinkVpc',
    eventTime: '2026-01-02T06:11:36Z',
    acsRegion: REGION,
    requestParameters: { InstanceId: `i-${n}`, VpcId: 'vpc-a' },
    userIdentity: { type: 'ram-user', userName: `user-${n}`, principalId: '2741', accountId: '1547' },
    sourceIpAddress: '1.2.3.4',
    errorCode: '',
    ...over,
  };
}

/** `pages` pages of `perPage` records each, chained by NextToken `t<n>`. */
function trail(pages: number, perPage = 2): Handler {
  return (req, res) => {
    const token = req.url.searchParams.get('NextToken');
    const n = token === null ? 1 : Number(token.slice(1));
    json(res, 200, {
      RequestId: `rid-${n}`,
      StartTime: '2026-01-01T00:00:00Z',
      EndTime: '2026-01-08T00:00:00Z',
      NextToken: n < pages ? `t${n + 1}` : '',
      Events: Array.from({ length: perPage }, (_, i) => record(n * 100 + i)),
    });
  };
}

async function all(pages: AsyncIterable<CloudEventPage>): Promise<CloudEventPage[]> {
  const out: CloudEventPage[] = [];
  for await (const p of pages) out.push(p);
  return out;
}

function params(seen: Seen): Record<string, string> {
  return Object.fromEntries(seen.url.searchParams);
}

describe('LookupEvents: the request', () => {
  it('V3: Version 2020-07-06, ServiceName=Ecs + EventName, the window in seconds, 50 per page', async () => {
    const server = await startServer(trail(1));
    const { c } = client(server.url);
    await all(c.lookupEvents(REGION, { ...QUERY, direction: 'FORWARD' }));
    const seen = server.seen[0] as Seen;
    expect(seen.method).toBe('POST');
    expect(seen.url.pathname).toBe('/');
    expect(seen.headers['x-acs-action']).toBe('LookupEvents');
    expect(seen.headers['x-acs-version']).toBe('2020-07-06');
    expect(params(seen)).toEqual({
      StartTime: '2026-01-01T00:00:00Z',
      EndTime: '2026-01-08T00:00:00Z',
      MaxResults: '50',
      Direction: 'FORWARD',
      'LookupAttribute.1.Key': 'ServiceName',
      'LookupAttribute.1.Value': 'Ecs',
      'LookupAttribute.2.Key': 'EventName',
      'LookupAttribute.2.Value': 'AttachClassicLinkVpc',
    });
    // No RegionId: the host is the region.
    const auth = parseV3Authorization(String(seen.headers.authorization));
    const headers: Record<string, string> = {};
    for (const name of auth?.signedHeaders ?? []) headers[name] = String(seen.headers[name]);
    const expected = signV3({
      method: 'POST',
      query: params(seen),
      headers,
      body: '',
      accessKeyId: 'trailid',
      accessKeySecret: SECRET,
    });
    expect(auth?.signature).toBe(expected.signature);
  });

  it('V1: Action and Version in the query, a Signature that verifies; no Direction unless asked', async () => {
    const server = await startServer(trail(1));
    const { c } = client(server.url, { signature: 'v1' });
    await all(c.lookupEvents(REGION, { ...QUERY, eventName: 'DeleteInstances' }));
    const { Signature, ...signed } = params(server.seen[0] as Seen);
    expect(signed).toMatchObject({
      Action: 'LookupEvents',
      Version: '2020-07-06',
      'LookupAttribute.2.Value': 'DeleteInstances',
    });
    expect(signed.Direction).toBeUndefined();
    expect(Signature).toBe(signV1('POST', signed, SECRET));
  });

  it('ACTIONTRAIL_ENDPOINT with {region} and a path: sent to that path, signed over /', async () => {
    const server = await startServer(trail(1));
    const { c } = client(`${server.url}/gw/{region}/trail`);
    await all(c.lookupEvents('cn-beijing', QUERY));
    const seen = server.seen[0] as Seen;
    expect(seen.url.pathname).toBe('/gw/cn-beijing/trail');
    const auth = parseV3Authorization(String(seen.headers.authorization));
    const headers: Record<string, string> = {};
    for (const name of auth?.signedHeaders ?? []) headers[name] = String(seen.headers[name]);
    const asApi = {
      method: 'POST',
      query: params(seen),
      headers,
      body: '',
      accessKeyId: 'x',
      accessKeySecret: SECRET,
    };
    expect(auth?.signature).toBe(signV3(asApi).signature);
    expect(auth?.signature).not.toBe(signV3({ ...asApi, path: '/gw/cn-beijing/trail' }).signature);
  });

  it('an override with a query is refused, naming ACTIONTRAIL_ENDPOINT, before anything is sent', async () => {
    const server = await startServer(trail(1));
    const { c } = client(`${server.url}/trail?x=1`);
    const err = await caught(all(c.lookupEvents(REGION, QUERY)));
    expect(err.code).toBe('InvalidEndpoint');
    expect(err.message).toContain('ACTIONTRAIL_ENDPOINT');
    expect(server.seen).toHaveLength(0);
  });

  it.each([
    ['an empty event name', { ...QUERY, eventName: ' ' }],
    ['a window that ends before it starts', { ...QUERY, startTime: QUERY.endTime, endTime: QUERY.startTime }],
    ['an invalid time', { ...QUERY, startTime: new Date(Number.NaN) }],
  ])('%s is refused before anything is sent', async (_name, query) => {
    const server = await startServer(trail(1));
    const err = await caught(all(client(server.url).c.lookupEvents(REGION, query)));
    expect(err.code).toBe('InvalidParameter');
    expect(server.seen).toHaveLength(0);
  });

  it('shares the limiter (its own key: api actiontrail) and reports each attempt as actiontrail', async () => {
    const server = await startServer(trail(2));
    const keys: LimitKey[] = [];
    const { c, events } = client(server.url, {
      limiter: {
        acquire: async (key) => {
          keys.push(key);
          return { sending: () => undefined };
        },
      },
    });
    await all(c.lookupEvents(REGION, QUERY));
    expect(keys).toEqual([
      { api: 'actiontrail', regionId: REGION, action: 'LookupEvents' },
      { api: 'actiontrail', regionId: REGION, action: 'LookupEvents' },
    ]);
    expect(events.map((e) => [e.api, e.action, e.code])).toEqual([
      ['actiontrail', 'LookupEvents', 'OK'],
      ['actiontrail', 'LookupEvents', 'OK'],
    ]);
  });
});

describe('LookupEvents: every write call at once', () => {
  it('asks ServiceName=Ecs + EventRW=Write; parses the named records, skips the rest unjudged', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'rid-w',
        NextToken: '',
        Events: [
          record(1),
          // Another write call, in a shape that would not parse: not ours to judge.
          { eventId: 'ev-run', eventName: 'RunInstances', eventTime: 'yesterday' },
          record(2, { eventName: 'DeleteInstance', requestParameters: { InstanceId: 'i-2' } }),
          record(3, { eventName: 'StartInstance' }),
          'not a record',
        ],
      }),
    );
    const { c } = client(server.url);
    const writes = new Set(['AttachClassicLinkVpc', 'DeleteInstance']);
    const [page] = await all(
      c.lookupEvents(REGION, { writes, startTime: QUERY.startTime, endTime: QUERY.endTime }),
    );
    expect(params(server.seen[0] as Seen)).toMatchObject({
      'LookupAttribute.1.Key': 'ServiceName',
      'LookupAttribute.1.Value': 'Ecs',
      'LookupAttribute.2.Key': 'EventRW',
      'LookupAttribute.2.Value': 'Write',
    });
    expect(page?.events.map((e) => [e.eventId, e.eventName])).toEqual([
      ['ev-1', 'AttachClassicLinkVpc'],
      ['ev-2', 'DeleteInstance'],
    ]);
    expect(page?.refused).toEqual([]);
    expect(page?.skipped).toBe(3);
  });

  it('refuses a query with both eventName and writes, or neither, before sending', async () => {
    const server = await startServer(trail(1));
    const { c } = client(server.url);
    const both = { ...QUERY, writes: new Set(['AttachClassicLinkVpc']) };
    expect((await caught(all(c.lookupEvents(REGION, both)))).message).toMatch(/eventName or writes/);
    const neither = { startTime: QUERY.startTime, endTime: QUERY.endTime };
    expect((await caught(all(c.lookupEvents(REGION, neither)))).message).toMatch(/eventName or writes/);
    expect(server.seen).toHaveLength(0);
  });
});

describe('LookupEvents: paging', () => {
  it('follows NextToken with the other parameters unchanged, until it is empty', async () => {
    const server = await startServer(trail(3));
    const { c } = client(server.url);
    const pages = await all(c.lookupEvents(REGION, QUERY));
    expect(pages.map((p) => [p.requestId, p.events.map((e) => e.eventId)])).toEqual([
      ['rid-1', ['ev-100', 'ev-101']],
      ['rid-2', ['ev-200', 'ev-201']],
      ['rid-3', ['ev-300', 'ev-301']],
    ]);
    const [first, ...later] = server.seen.map(params);
    expect(first?.NextToken).toBeUndefined();
    expect(later.map((p) => p.NextToken)).toEqual(['t2', 't3']);
    for (const p of later) {
      const { NextToken: _token, ...rest } = p;
      expect(rest).toEqual(first);
    }
  });

  it('asks for the next page only when the consumer does (memory bounded to a page)', async () => {
    const server = await startServer(trail(100));
    const { c } = client(server.url);
    const it = c.lookupEvents(REGION, QUERY)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(server.seen).toHaveLength(1);
    await it.next();
    expect(server.seen).toHaveLength(2);
    await it.return?.(undefined);
    expect(server.seen).toHaveLength(2);
  });

  it('an absent NextToken ends too; no Events is an empty page', async () => {
    const server = await startServer((_req, res) => json(res, 200, { RequestId: 'r' }));
    const pages = await all(client(server.url).c.lookupEvents(REGION, QUERY));
    expect(pages).toEqual([{ requestId: 'r', events: [], refused: [], skipped: 0 }]);
  });

  it('a NextToken that comes back again is refused as MalformedResponse, not followed for ever', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, { RequestId: 'r', NextToken: 'same', Events: [record(1)] }),
    );
    const err = await caught(all(client(server.url).c.lookupEvents(REGION, QUERY)));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('MalformedResponse');
    expect(server.seen).toHaveLength(2);
  });
});

describe('LookupEvents: records', () => {
  it('parses leniently, refuses a malformed record with its field beside the good ones', async () => {
    const server = await startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'r',
        Events: [
          record(1),
          record(2, {
            requestParameters: { 'InstanceId.1': 'i-x', 'InstanceId.2': 'i-y' },
            eventVersion: '1',
          }),
          record(3, {
            requestParameters: { InstanceIds: '["i-p","i-q"]' },
            errorCode: 'IncorrectInstanceStatus',
          }),
          record(4, { requestParameters: undefined, sourceIpAddress: undefined, userAgent: undefined }),
          record(5, { eventTime: 'not a time' }),
          record(6, { eventName: 'DetachClassicLinkVpc' }),
          'garbage',
        ],
      }),
    );
    const [page] = await all(client(server.url).c.lookupEvents(REGION, QUERY));
    expect(page?.events.map((e) => [e.eventId, e.instanceIds, e.vpcId, e.errorCode])).toEqual([
      ['ev-1', ['i-1'], 'vpc-a', undefined],
      ['ev-2', ['i-x', 'i-y'], undefined, undefined],
      ['ev-3', ['i-p', 'i-q'], undefined, 'IncorrectInstanceStatus'],
      ['ev-4', [], undefined, undefined],
    ]);
    expect(page?.events[0]?.actor).toEqual({
      type: 'ram-user',
      name: 'user-1',
      principalId: '2741',
      accountId: '1547',
    });
    expect(page?.events[0]?.eventTime).toEqual(new Date('2026-01-02T06:11:36Z'));
    expect(page?.refused.map((r) => [r.eventId, r.field])).toEqual([
      ['ev-5', 'eventTime'],
      ['ev-6', 'eventName'],
      [undefined, '(record)'],
    ]);
  });

  it('a page whose Events is not a list fails the call', async () => {
    const server = await startServer((_req, res) => json(res, 200, { RequestId: 'r', Events: { a: 1 } }));
    const err = await caught(all(client(server.url).c.lookupEvents(REGION, QUERY)));
    expect(err.code).toBe('MalformedResponse');
  });
});

describe('LookupEvents: errors, as every call', () => {
  it.each(['Forbidden.RAM', 'NoPermission'])('%s is a fatal permission error, sent once', async (code) => {
    const server = await startServer((_req, res) =>
      json(res, 403, { Code: code, Message: 'You are not authorized to do this action.', RequestId: 'rid' }),
    );
    const err = await caught(all(client(server.url).c.lookupEvents(REGION, QUERY)));
    expect(err).toBeInstanceOf(FatalError);
    expect(err).toMatchObject({ code, requestId: 'rid', httpStatus: 403 });
    expect(isPermissionDenied(err)).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it('throttling is retried inside the deadline, then the page arrives', async () => {
    const server = await startServer((req, res, i) => {
      if (i === 0) json(res, 400, { Code: 'Throttling.User', Message: 'slow down', RequestId: 't' });
      else trail(1)(req, res, i);
    });
    const { c, events } = client(server.url);
    const pages = await all(c.lookupEvents(REGION, QUERY));
    expect(pages).toHaveLength(1);
    expect(events.map((e) => e.code)).toEqual(['Throttling.User', 'OK']);
  });

  it('a persistent 5xx ends as a RetryableError at the deadline', async () => {
    const server = await startServer((_req, res) =>
      json(res, 503, { Code: 'ServiceUnavailable', Message: 'busy', RequestId: 'u' }),
    );
    const { c } = client(server.url, { retryDeadlineMs: 50 });
    const err = await caught(all(c.lookupEvents(REGION, QUERY)));
    expect(err).toBeInstanceOf(RetryableError);
    expect(server.seen.length).toBeGreaterThan(1);
  });
});
