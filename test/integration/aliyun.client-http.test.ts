/**
 * The ECS client against tiny node:http servers (real HTTP on port 0) that misbehave in exactly
 * one way each: answers the simulator cannot give on demand, and the wire format itself.
 */
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallEvent,
  createEcsClient,
  type EcsClient,
  type EcsClientOptions,
} from '../../src/aliyun/client.js';
import { parseV3Authorization, signV1, signV3 } from '../../src/aliyun/signer.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import {
  closeApiServers,
  type Handler,
  json,
  raw,
  type Seen,
  startServer,
  type TestServer,
} from '../helpers/api-server.js';
import { caught } from '../helpers/errors.js';
import { captureLog } from '../helpers/log.js';

const SECRET = 'test-secret-DO-NOT-LOG';
const REGION = 'cn-hangzhou';
const VPC = 'vpc-aaa';

const clients: EcsClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeApiServers();
});

function links(vpcId: string, from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    InstanceId: `i-${String(from + i).padStart(6, '0')}`,
    VpcId: vpcId,
  }));
}

function page(
  pageNumber: number,
  pageSize: number,
  total: number,
  list = links(VPC, (pageNumber - 1) * pageSize, 0),
) {
  return {
    RequestId: `req-${pageNumber}`,
    TotalCount: total,
    PageNumber: pageNumber,
    PageSize: pageSize,
    Links: { Link: list },
  };
}

/** Echoes the asked page of a VPC with `total` links. */
function vpcListing(total: number): Handler {
  return (req, res) => {
    const n = Number(req.url.searchParams.get('PageNumber'));
    const size = Number(req.url.searchParams.get('PageSize'));
    const start = (n - 1) * size;
    json(res, 200, page(n, size, total, links(VPC, start, Math.max(0, Math.min(size, total - start)))));
  };
}

function client(server: TestServer, over: Partial<EcsClientOptions> = {}) {
  const { lines, log } = captureLog();
  const events: CallEvent[] = [];
  const c = createEcsClient({
    credentials: staticCredentialsProvider({ accessKeyId: 'testid', accessKeySecret: SECRET }),
    signature: 'v3',
    ecsEndpoint: server.url,
    vpcEndpoint: server.url,
    timeoutMs: 2_000,
    retryDeadlineMs: 5_000,
    backoff: { baseMs: 1, capMs: 5 },
    log,
    onCall: (e) => events.push(e),
    ...over,
  });
  clients.push(c);
  return { c, lines, events };
}

describe('wire format', () => {
  it('V3: POST / with an empty body, exactly the signed query, signed over the host undici sends', async () => {
    const server = await startServer(vpcListing(3));
    const { c } = client(server, {
      now: () => new Date('2024-01-02T03:04:05.999Z'),
      nonce: () => 'fixed-nonce',
    });
    const p = await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    expect(p.links).toHaveLength(3);
    const seen = server.seen[0] as Seen;
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('');
    expect(seen.url.search).toBe(`?PageNumber=1&PageSize=100&RegionId=${REGION}&VpcId=${VPC}`);
    expect(seen.headers.host).toBe(new URL(server.url).host);
    expect(seen.headers['x-acs-date']).toBe('2024-01-02T03:04:05Z');
    expect(seen.headers['x-acs-signature-nonce']).toBe('fixed-nonce');
    const auth = parseV3Authorization(String(seen.headers.authorization));
    expect(auth?.signedHeaders).toContain('host');
    const headers: Record<string, string> = {};
    for (const name of auth?.signedHeaders ?? []) headers[name] = String(seen.headers[name]);
    const query = Object.fromEntries(seen.url.searchParams);
    const expected = signV3({
      method: 'POST',
      query,
      headers,
      body: '',
      accessKeyId: 'testid',
      accessKeySecret: SECRET,
    });
    expect(seen.headers.authorization).toBe(expected.authorization);
  });

  it('V1: common parameters in the query, Signature over POST, STS token sent', async () => {
    const server = await startServer(vpcListing(0));
    const { c } = client(server, {
      signature: 'v1',
      credentials: staticCredentialsProvider({
        accessKeyId: 'STS.id',
        accessKeySecret: SECRET,
        securityToken: 'tok',
      }),
    });
    await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    const seen = server.seen[0] as Seen;
    const q = Object.fromEntries(seen.url.searchParams);
    expect(q).toMatchObject({
      Action: 'DescribeClassicLinkInstances',
      Version: '2014-05-26',
      Format: 'JSON',
      AccessKeyId: 'STS.id',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SecurityToken: 'tok',
    });
    const { Signature, ...signed } = q;
    expect(Signature).toBe(signV1('POST', signed, SECRET));
    expect(seen.headers.authorization).toBeUndefined();
  });
});

describe('errors and retries', () => {
  it('retries Throttling (HTTP 400) honouring x-acs-retry-after, with a fresh nonce each attempt', async () => {
    const server = await startServer((req, res, i) => {
      if (i < 2) {
        json(
          res,
          400,
          {
            Code: 'Throttling.User',
            Message: 'Request was denied due to user flow control.',
            RequestId: `t${i}`,
          },
          {
            'x-acs-retry-after': '1',
          },
        );
      } else vpcListing(1)(req, res, i);
    });
    const { c, events, lines } = client(server, { backoff: { baseMs: 60_000, capMs: 60_000 } });
    // A 60 s computed backoff would blow the 5 s deadline: succeeding proves the 1 ms hint was used.
    const p = await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    expect(p.links).toHaveLength(1);
    expect(server.seen).toHaveLength(3);
    const nonces = new Set(server.seen.map((s) => s.headers['x-acs-signature-nonce']));
    expect(nonces.size).toBe(3);
    expect(events.map((e) => [e.attempt, e.code, e.httpStatus])).toEqual([
      [0, 'Throttling.User', 400],
      [1, 'Throttling.User', 400],
      [2, 'OK', 200],
    ]);
    expect(events[0]?.requestId).toBe('t0');
    const retryLines = lines.filter((l) => l.includes('retrying'));
    expect(retryLines).toHaveLength(2);
    expect(retryLines[0]).toContain('"code":"Throttling.User"');
    expect(retryLines[0]).toContain('"action":"DescribeClassicLinkInstances"');
    expect(lines.join('')).not.toContain(SECRET);
  });

  it('gives up on a persistent 5xx HTML page at the deadline with a RetryableError', async () => {
    const server = await startServer((_req, res) =>
      raw(res, 503, '<html><body>Service Unavailable</body></html>', 'text/html'),
    );
    const { c } = client(server, { retryDeadlineMs: 300, backoff: { baseMs: 20, capMs: 40 } });
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('HTTP_503');
    expect(err.httpStatus).toBe(503);
    expect(err.message).toContain('Service Unavailable');
    expect(server.seen.length).toBeGreaterThan(1);
  });

  it('classifies an API error answer and keeps Code, Message, RequestId; fatal ones are sent once', async () => {
    const server = await startServer((_req, res) =>
      json(res, 400, {
        RequestId: 'rid-1',
        HostId: 'ecs.cn-hangzhou.aliyuncs.com',
        Code: 'Forbidden.RAM',
        Message: 'User not authorized to operate on the specified resource.',
      }),
    );
    const { c } = client(server);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(FatalError);
    expect(err).toMatchObject({ code: 'Forbidden.RAM', requestId: 'rid-1', httpStatus: 400 });
    expect(err.message).toBe('User not authorized to operate on the specified resource.');
    expect(server.seen).toHaveLength(1);
  });

  it('treats Forbidden.RAM as a fatal permission error, never as "no links"', async () => {
    const server = await startServer((_req, res) =>
      json(res, 403, { Code: 'Forbidden.RAM', Message: 'no', RequestId: 'r' }),
    );
    const { c } = client(server);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('Forbidden.RAM');
  });

  it('retries a connection reset and succeeds', async () => {
    const server = await startServer((req, res, i) => {
      if (i === 0) res.socket?.destroy();
      else vpcListing(2)(req, res, i);
    });
    const { c, events } = client(server);
    const p = await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    expect(p.links).toHaveLength(2);
    expect(server.seen).toHaveLength(2);
    expect(events[0]?.code).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
  });

  it('times out a request whose headers never come, then retries', async () => {
    const held: http.ServerResponse[] = [];
    const server = await startServer((req, res, i) => {
      if (i === 0)
        held.push(res); // never answered; the test server's close() destroys it
      else vpcListing(1)(req, res, i);
    });
    const { c, events } = client(server, { timeoutMs: 150 });
    const p = await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    expect(p.links).toHaveLength(1);
    expect(events[0]?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(held).toHaveLength(1);
  });

  it('stops waiting as soon as the caller aborts', async () => {
    const server = await startServer((_req, res) =>
      json(res, 503, { Code: 'ServiceUnavailable', Message: 'x' }),
    );
    const { c } = client(server, {
      retryDeadlineMs: 60_000,
      backoff: { baseMs: 30_000, capMs: 30_000 },
      random: () => 1,
    });
    const ac = new AbortController();
    const p = caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }, { signal: ac.signal }));
    await expect.poll(() => server.seen.length).toBe(1);
    ac.abort();
    const err = await p;
    expect(err.retryable).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it('asks the limiter before every attempt, and says when each request goes out', async () => {
    const order: string[] = [];
    const server = await startServer((req, res, i) => {
      order.push('server');
      if (i === 0) json(res, 500, { Code: 'InternalError', Message: 'x' });
      else vpcListing(0)(req, res, i);
    });
    const { c } = client(server, {
      limiter: {
        acquire: async (k) => {
          order.push(`acquire ${k.regionId}/${k.action}`);
          return { sending: () => order.push('sending') };
        },
      },
    });
    await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    const admitted = `acquire ${REGION}/DescribeClassicLinkInstances`;
    // sending() comes after signing and before the server sees the request, once per attempt.
    expect(order).toEqual([admitted, 'sending', 'server', admitted, 'sending', 'server']);
  });

  it('says a request goes out when it is written, not while it waits for a connection', async () => {
    const order: string[] = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await startServer((req, res, i) => {
      order.push(`server ${i}`);
      if (i === 0) void held.then(() => vpcListing(0)(req, res, i));
      else vpcListing(0)(req, res, i);
    });
    let acquired = 0;
    const { c } = client(server, {
      connectionsPerOrigin: 1,
      limiter: {
        acquire: async () => {
          acquired++;
          return { sending: () => order.push('sending') };
        },
      },
    });
    const first = c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    const second = c.describeClassicLinkInstances({ regionId: REGION, vpcId: 'vpc-bbb' });
    await expect.poll(() => server.seen.length).toBe(1);
    await expect.poll(() => acquired).toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    // The second call is admitted and signed, but the pool's one connection is busy: not sent yet.
    expect(order).toEqual(['sending', 'server 0']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['sending', 'server 0', 'sending', 'server 1']);
  });
});

describe('an endpoint nothing answers at', () => {
  /** A server that listened and closed: its port refuses connections. */
  async function refusing(): Promise<TestServer> {
    const s = await startServer(() => undefined);
    await s.close();
    return s;
  }

  it('by default, a refused connection is retried until the deadline (the service rides it out)', async () => {
    const { c, events } = client(await refusing(), { retryDeadlineMs: 300 });
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(events.length).toBeGreaterThan(3);
  });

  it('with unreachableAttempts, fails for good after that many, naming the endpoint and its variable', async () => {
    const down = await refusing();
    const { c, events } = client(down, { retryDeadlineMs: 5_000, unreachableAttempts: 3 });
    const ecs = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(ecs).toBeInstanceOf(FatalError);
    expect(ecs.code).toBe('EndpointUnreachable');
    expect(ecs.message).toBe(`cannot reach ${down.url} (ECONNREFUSED): check ECS_ENDPOINT`);
    expect(events.map((e) => e.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    const vpc = await caught(c.describeVpcs(REGION));
    expect(vpc.message).toBe(`cannot reach ${down.url} (ECONNREFUSED): check VPC_ENDPOINT`);
  });
});

describe('malformed answers', () => {
  const cases: [string, (res: http.ServerResponse) => void, RegExp][] = [
    ['non-JSON', (res) => raw(res, 200, 'hello'), /not JSON.*"hello"/],
    ['empty', (res) => raw(res, 200, ''), /empty body/],
    [
      'truncated',
      (res) => raw(res, 200, '{"RequestId":"x","TotalCount":3,"Pa', 'application/json'),
      /truncated JSON.*TotalCount/,
    ],
    [
      'HTML',
      (res) => raw(res, 200, '<html>oops</html>', 'text/html'),
      /not JSON \(content-type text\/html\).*<html>/,
    ],
    ['JSON array', (res) => raw(res, 200, '[1,2]', 'application/json'), /not JSON/],
    [
      'wrong types',
      (res) => json(res, 200, { ...page(1, 100, 1), TotalCount: '1' }),
      /TotalCount: Invalid input: expected number, received string/,
    ],
    [
      'missing fields',
      (res) => json(res, 200, { RequestId: 'r', Links: { Link: [] } }),
      /TotalCount: .*expected number/,
    ],
    ['negative total', (res) => json(res, 200, page(1, 100, -1)), /TotalCount: Too small/],
    ['absurd total', (res) => json(res, 200, page(1, 100, 10_000_000)), /TotalCount: Too big/],
    [
      'bad link id',
      (res) => json(res, 200, page(1, 100, 1, [{ InstanceId: 'x-1', VpcId: VPC }])),
      /Links\.Link\.0\.InstanceId: expected an instance id/,
    ],
    ['page echo', (res) => json(res, 200, page(2, 100, 1)), /is page 2, but page 1 was asked/],
    [
      'foreign VPC',
      (res) => json(res, 200, page(1, 100, 1, links('vpc-other', 0, 1))),
      /foreign VPC at Links\.Link\.0: i-000000 → vpc-other/,
    ],
    [
      'duplicates',
      (res) => json(res, 200, page(1, 100, 2, [...links(VPC, 0, 1), ...links(VPC, 0, 1)])),
      /lists instance i-000000 twice/,
    ],
  ];
  it.each(cases)('%s → FatalError MalformedResponse, not retried', async (_name, answer, message) => {
    const server = await startServer((_req, res) => answer(res));
    const { c } = client(server);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('MalformedResponse');
    expect(err.message).toMatch(message);
    expect(server.seen).toHaveLength(1);
  });

  it('reads a missing Links or Link as an empty page', async () => {
    const server = await startServer((_req, res, i) => {
      const { Links: _l, ...rest } = page(1, 100, 0);
      json(res, 200, i === 0 ? rest : { ...rest, Links: {} });
    });
    const { c } = client(server);
    expect((await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC })).links).toEqual([]);
    expect((await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC })).links).toEqual([]);
  });

  it('rejects a link for an instance that was not asked about', async () => {
    const server = await startServer((_req, res) => json(res, 200, page(1, 100, 1, links(VPC, 5, 1))));
    const { c } = client(server);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, instanceIds: ['i-000001'] }));
    expect(err.code).toBe('MalformedResponse');
    expect(err.message).toContain('i-000005');
    expect(server.seen[0]?.url.searchParams.get('InstanceId')).toBe('i-000001');
  });
});

describe('response size cap', () => {
  it('refuses a declared content-length over the cap, and the pool keeps working', async () => {
    const server = await startServer((req, res, i) => {
      if (i === 0) raw(res, 200, `{"x":"${'a'.repeat(5_000)}"}`, 'application/json');
      else vpcListing(1)(req, res, i);
    });
    const { c } = client(server, { maxResponseBytes: 1_024 });
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('ResponseTooLarge');
    expect((await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC })).links).toHaveLength(1);
  });

  it('abandons a chunked body as soon as it passes the cap', async () => {
    let aborted!: () => void;
    const serverSawClose = new Promise<void>((r) => {
      aborted = r;
    });
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => aborted());
      // An endless stream: only the client giving up ends it.
      const push = () => {
        if (res.destroyed) return;
        res.write(`{"pad":"${'b'.repeat(4_096)}",`, () => setImmediate(push));
      };
      push();
    });
    const { c } = client(server, { maxResponseBytes: 64 * 1024 });
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err.code).toBe('ResponseTooLarge');
    await serverSawClose;
  });
});

describe('parameter checks (nothing is sent)', () => {
  it.each([
    [{ regionId: REGION }, /exactly one of vpcId/],
    [{ regionId: REGION, vpcId: VPC, instanceIds: ['i-1'] }, /exactly one of vpcId/],
    [{ regionId: REGION, instanceIds: [] }, /exactly one of vpcId/],
    [{ regionId: REGION, instanceIds: Array.from({ length: 101 }, (_, i) => `i-${i}`) }, /at most 100/],
    [{ regionId: REGION, instanceIds: ['i-1,i-2'] }, /invalid instance id/],
    [{ regionId: REGION, vpcId: VPC, pageSize: 0 }, /pageSize/],
    [{ regionId: REGION, vpcId: VPC, pageSize: 101 }, /pageSize/],
    [{ regionId: REGION, vpcId: VPC, pageNumber: 0 }, /pageNumber/],
    [{ regionId: 'evil.com/x', vpcId: VPC }, /regionId/],
  ])('%j', async (req, message) => {
    const server = await startServer(vpcListing(0));
    const { c } = client(server);
    const err = await caught(c.describeClassicLinkInstances(req));
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('InvalidParameter');
    expect(err.message).toMatch(message);
    expect(server.seen).toHaveLength(0);
  });
});

describe('paging', () => {
  it('stops when PageNumber*PageSize reaches TotalCount', async () => {
    const server = await startServer(vpcListing(250));
    const { c } = client(server);
    const pages = [];
    for await (const p of c.classicLinkPages({ regionId: REGION, vpcId: VPC })) pages.push(p);
    expect(pages.map((p) => [p.pageNumber, p.links.length])).toEqual([
      [1, 100],
      [2, 100],
      [3, 50],
    ]);
  });

  it('stops on a short page even if TotalCount says more', async () => {
    const server = await startServer((req, res) => {
      const n = Number(req.url.searchParams.get('PageNumber'));
      json(res, 200, page(n, 10, 1_000, links(VPC, (n - 1) * 10, n === 2 ? 3 : 10)));
    });
    const { c } = client(server);
    const pages = [];
    for await (const p of c.classicLinkPages({ regionId: REGION, vpcId: VPC, pageSize: 10 })) pages.push(p);
    expect(pages).toHaveLength(2);
  });

  it('stops at the exact boundary without asking for an empty page', async () => {
    const server = await startServer(vpcListing(200));
    const { c } = client(server);
    let n = 0;
    for await (const _ of c.classicLinkPages({ regionId: REGION, vpcId: VPC })) n++;
    expect(n).toBe(2);
    expect(server.seen).toHaveLength(2);
  });
});

describe('connections', () => {
  it('50 parallel calls share one keep-alive pool', async () => {
    const server = await startServer(vpcListing(1));
    const { c } = client(server, { connectionsPerOrigin: 4 });
    await Promise.all(
      Array.from({ length: 50 }, () => c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC })),
    );
    // ECS and VPC calls to the same origin share the pool too.
    await Promise.all(
      Array.from({ length: 10 }, () =>
        c.describeClassicLinkInstances({ regionId: 'cn-beijing', vpcId: VPC }),
      ),
    );
    expect(server.seen).toHaveLength(60);
    expect(server.connections).toBeLessThanOrEqual(4);
  });

  it('close() is idempotent, closes every socket, and later calls fail with ClientClosed', async () => {
    const a = await startServer(vpcListing(1));
    const b = await startServer((_req, res) =>
      json(res, 200, {
        RequestId: 'r',
        TotalCount: 1,
        PageNumber: 1,
        PageSize: 50,
        Vpcs: { Vpc: [{ VpcId: VPC, RegionId: REGION, Status: 'Available' }] },
      }),
    );
    const { c } = client(a, { vpcEndpoint: b.url });
    await c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC });
    expect(await c.describeVpcs(REGION)).toEqual([
      {
        vpcId: VPC,
        regionId: REGION,
        status: 'Available',
        attributes: { vpcId: VPC, vpcName: '', cidrBlock: '', tags: {} },
      },
    ]);
    expect(a.openSockets.size + b.openSockets.size).toBeGreaterThan(0);
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    await expect.poll(() => a.openSockets.size + b.openSockets.size).toBe(0);
    const err = await caught(c.describeClassicLinkInstances({ regionId: REGION, vpcId: VPC }));
    expect(err.code).toBe('ClientClosed');
  });
});

describe('DescribeVpcs discovery', () => {
  /** A VPC listing of `total` VPCs whose TotalCount reads `drift(page)` on each page. */
  function vpcPages(total: number, drift: (page: number) => number = () => total): Handler {
    return (req, res) => {
      const n = Number(req.url.searchParams.get('PageNumber'));
      const size = Number(req.url.searchParams.get('PageSize'));
      const start = (n - 1) * size;
      const vpcs = Array.from({ length: Math.max(0, Math.min(size, total - start)) }, (_, i) => ({
        VpcId: `vpc-${String(start + i).padStart(5, '0')}`,
        RegionId: REGION,
        Status: 'Available',
      }));
      json(res, 200, {
        RequestId: `r${n}`,
        TotalCount: drift(n),
        PageNumber: n,
        PageSize: size,
        Vpcs: { Vpc: vpcs },
      });
    };
  }

  it('reads every page (50 at a time, several pages at once) and returns each VPC once', async () => {
    const server = await startServer(vpcPages(260));
    const { c } = client(server, { vpcEndpoint: server.url });
    const vpcs = await c.describeVpcs(REGION);
    expect(vpcs).toHaveLength(260);
    expect(new Set(vpcs.map((v) => v.vpcId)).size).toBe(260);
    expect(server.seen.map((r) => r.url.searchParams.get('PageNumber')).sort()).toEqual(
      ['1', '2', '3', '4', '5', '6'].sort(),
    );
    expect(server.seen.every((r) => r.url.searchParams.get('PageSize') === '50')).toBe(true);
  });

  it('a listing that changes while it is read is refused as retryable, not half-used', async () => {
    const server = await startServer(vpcPages(120, (n) => (n === 3 ? 121 : 120)));
    const { c } = client(server, { vpcEndpoint: server.url, retryDeadlineMs: 0 });
    const err = await caught(c.describeVpcs(REGION));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('InconsistentListing');
  });

  it('pages that do not add up to TotalCount are refused too', async () => {
    // TotalCount says 70, but page 2 is short: a VPC shifted between the pages.
    const server = await startServer((req, res) => {
      const n = Number(req.url.searchParams.get('PageNumber'));
      const count = n === 1 ? 50 : 19;
      const vpcs = Array.from({ length: count }, (_, i) => ({
        VpcId: `vpc-${n}x${i}`,
        RegionId: REGION,
        Status: 'Available',
      }));
      json(res, 200, {
        RequestId: `r${n}`,
        TotalCount: 70,
        PageNumber: n,
        PageSize: 50,
        Vpcs: { Vpc: vpcs },
      });
    });
    const { c } = client(server, { vpcEndpoint: server.url, retryDeadlineMs: 0 });
    expect((await caught(c.describeVpcs(REGION))).code).toBe('InconsistentListing');
  });
});
