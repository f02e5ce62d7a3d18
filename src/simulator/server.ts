/**
 * `startSimulator`: the HTTP server that puts the dispatcher, the admin API, request recording,
 * latency faults and churn together, and a `close()` that stops all of it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type AdminTarget, handleAdmin } from './admin.js';
import type { Answer } from './answer.js';
import { accountIdFor } from './attributes.js';
import { AuditedWrites } from './audited.js';
import { startChurn } from './churn.js';
import { dispatch } from './dispatcher.js';
import { EventBridgePush } from './eventbridge.js';
import { FaultEngine } from './faults.js';
import { parseFaults } from './faults-schema.js';
import { Identities } from './identity.js';
import { BodyTooLargeError, type IncomingApiRequest, readIncoming } from './incoming.js';
import { NonceCache } from './nonce-cache.js';
import { buildKeys, buildWorld, DEFAULTS } from './options.js';
import { QpsLimiter } from './qps-limiter.js';
import { stream } from './random.js';
import { ActionTrail, DEFAULT_MAX_TRAIL_RECORDS, DEFAULT_TRAIL_DELAY_MS } from './trail.js';
import type { Faults, RecordedRequest, RunningSimulator, SimulatorOptions } from './types.js';

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const seed = opts.seed ?? DEFAULTS.seed;
  const maxClockSkewMs = opts.maxClockSkewMs ?? DEFAULTS.maxClockSkewMs;
  const world = buildWorld(opts);
  const keys = buildKeys(opts);
  const faults = new FaultEngine(seed, parseFaults(opts.faults ?? {}));
  const accountId = opts.accountId ?? accountIdFor(seed);
  if (!/^\d{1,20}$/.test(accountId)) throw new Error(`accountId must be digits, got ${accountId}`);
  const identities = new Identities(accountId, keys);
  const trailDelayMs = () => faults.current.actionTrailDelayMs ?? DEFAULT_TRAIL_DELAY_MS;
  const maxTrail = opts.maxActionTrailRecords ?? DEFAULT_MAX_TRAIL_RECORDS;
  if (!Number.isInteger(maxTrail) || maxTrail < 1) {
    throw new Error(`maxActionTrailRecords must be a positive integer, got ${maxTrail}`);
  }
  const trail = new ActionTrail({ delayMs: trailDelayMs, maxRecords: maxTrail });
  const push = opts.eventBridge ? new EventBridgePush(opts.eventBridge, accountId) : undefined;
  if (push) trail.onRecord((entry) => push.onRecord(entry));
  const writes = new AuditedWrites(world, trail, identities);
  const deps = {
    world,
    keys: new Map(keys.map((k) => [k.accessKeyId, k])),
    identities,
    trail,
    nonces: new NonceCache(maxClockSkewMs),
    faults,
    qps: new QpsLimiter(),
    maxClockSkewMs,
  };
  const requests: RecordedRequest[] = [];
  const maxRecorded = opts.maxRecordedRequests ?? Number.POSITIVE_INFINITY;
  let seq = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  const admin: AdminTarget = {
    getFaults: () => faults.current,
    setFaults: (f) => {
      faults.current = parseFaults(f);
    },
    requests,
    // In place: callers may hold the `requests` array.
    clearRequests: () => {
      requests.length = 0;
    },
    world,
    writes,
    trail,
    identities,
    trailDelayMs,
    push,
  };

  const record = (r: RecordedRequest): void => {
    requests.push(r);
    // Trim in batches (up to 1,024 at once) so a bounded log costs O(1) amortised per request.
    if (requests.length > maxRecorded + Math.min(1024, maxRecorded)) {
      requests.splice(0, requests.length - maxRecorded);
    }
  };

  const serveApi = (incoming: IncomingApiRequest, res: ServerResponse, at: number): void => {
    const { id, answer, delayMs } = dispatch(deps, incoming, at);
    const entry: RecordedRequest = {
      seq: ++seq,
      at,
      action: id.action,
      params: id.params,
      signature: id.scheme,
      status: answer.reset ? 0 : answer.status,
    };
    if (id.params.RegionId !== undefined) entry.regionId = id.params.RegionId;
    if (id.accessKeyId !== undefined) entry.accessKeyId = id.accessKeyId;
    if (id.nonce !== undefined) entry.nonce = id.nonce;
    if (answer.code !== undefined) entry.code = answer.code;
    if (answer.fault !== undefined) entry.fault = answer.fault;
    record(entry);
    if (delayMs <= 0) {
      send(res, answer);
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, answer);
    }, delayMs);
    timers.add(timer);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const at = Date.now();
    readIncoming(req).then(
      (incoming) => {
        try {
          if (incoming.pathname === '/_sim' || incoming.pathname.startsWith('/_sim/')) {
            const a = handleAdmin(incoming, admin);
            sendJson(res, a.status, a.body);
          } else {
            serveApi(incoming, res, at);
          }
        } catch (err) {
          // A simulator bug must show up as a loud 500, not as an unhandled rejection.
          sendJson(res, 500, { error: `simulator bug: ${err instanceof Error ? err.stack : String(err)}` });
        }
      },
      (err: unknown) => {
        const status = err instanceof BodyTooLargeError ? 413 : 400;
        sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
      },
    );
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, onRequest);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const host = opts.host ?? DEFAULTS.host;
  // Churn starts first so a bad churn option fails before anything listens; a failed listen stops it.
  const stopChurn = opts.churn ? startChurn(world, writes, opts.churn, stream(seed, 'churn')) : () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? DEFAULTS.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stopChurn();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      stopChurn();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }).then(() => push?.close());
    return closing;
  };

  return {
    url,
    keys,
    requests,
    clearRequests: admin.clearRequests,
    get faults(): Faults {
      return faults.current;
    },
    setFaults: (f: Faults) => admin.setFaults(f),
    world,
    actionTrail: trail,
    identities: () => identities.list(),
    setIdentity: (accessKeyId, change) => identities.set(accessKeyId, change),
    accountId,
    eventBridge: push,
    close,
  };
}

function send(res: ServerResponse, a: Answer): void {
  if (res.destroyed) return;
  if (a.reset) {
    res.socket?.destroy();
    return;
  }
  const body = Buffer.from(a.text, 'utf8');
  res.writeHead(a.status, {
    'content-type': a.contentType,
    'content-length': body.length,
    'x-acs-request-id': a.requestId,
    ...a.headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'content-length': text.length });
  res.end(text);
}
