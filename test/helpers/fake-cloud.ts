/**
 * Local fakes of the two services the credential providers call, on node:http port 0:
 *
 * - `startFakeMetadata`: the ECS metadata service's RAM-role part — IMDSv2 tokens
 *   (`PUT /latest/api/token`), role discovery and role credentials, with IMDSv2 required,
 *   optional or unsupported, and expirations from a clock the test controls.
 * - `startFakeSts`: STS 2015-04-01 `AssumeRole` (verifies the RPC HMAC-SHA1 signature with
 *   `signV1`, the AccessKey, the SecurityToken of STS callers, the nonce, the role) and
 *   `AssumeRoleWithOIDC` (checks provider ARN and token), answering the real success shape
 *   `{RequestId, Credentials:{…}, AssumedRoleUser}` and the real error shape `{RequestId, HostId,
 *   Code, Message, Recommend}` — including the server's string-to-sign in `SignatureDoesNotMatch`,
 *   which holds the caller's SecurityToken (the client must never echo it).
 *
 * Both record every request and can be told to fail the next N requests. Credentials they issue
 * are also accepted by the fake STS as callers, so chained AssumeRole works.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { canonicalQuery, formatTimestamp, percentEncode, signV1 } from '../../src/aliyun/signer.js';
import { createLogger, type Logger } from '../../src/log.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  form: Record<string, string>;
  headers: http.IncomingHttpHeaders;
}

export interface IssuedCredentials {
  AccessKeyId: string;
  AccessKeySecret: string;
  SecurityToken: string;
  Expiration: string;
}

interface Fault {
  status: number;
  code?: string | undefined;
  count: number;
}

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

type Handler = (req: RecordedRequest, res: http.ServerResponse) => void;

async function startServer(handler: Handler): Promise<FakeServer & { server: http.Server }> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = Buffer.concat(chunks).toString('utf8');
      const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        form: isForm ? Object.fromEntries(new URLSearchParams(body)) : {},
        headers: req.headers,
      };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    server,
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        server.close();
        await once(server, 'close');
      })();
      return closing;
    },
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json;charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function takeFault(faults: Fault[]): Fault | undefined {
  const f = faults[0];
  if (f === undefined) return undefined;
  f.count--;
  if (f.count <= 0) faults.shift();
  return f;
}

const secretPart = () => randomBytes(9).toString('base64url');

// ---------------------------------------------------------------------------------------------
// ECS metadata

export interface FakeMetadataOptions {
  /** Role attached to the instance; undefined → none attached (404s). */
  role?: string | undefined;
  /** `required`: GETs without a token get 403; `optional`: both work; `unsupported`: token PUT → 404. Default `optional`. */
  imdsV2?: 'required' | 'optional' | 'unsupported' | undefined;
  /** Clock for `Expiration`. Default real time. */
  now?: (() => Date) | undefined;
  /** Lifetime of issued credentials, ms. Default 6 h. */
  lifetimeMs?: number | undefined;
}

export interface FakeMetadata extends FakeServer {
  issued: IssuedCredentials[];
  tokens: Set<string>;
  /** The next `count` requests (any path) answer `status`. */
  failNext(status: number, count?: number): void;
  /** Requests for role credentials (not tokens, not discovery). */
  credentialRequests(): RecordedRequest[];
}

const ROLE_PATH = '/latest/meta-data/ram/security-credentials/';

export async function startFakeMetadata(opts: FakeMetadataOptions = {}): Promise<FakeMetadata> {
  const mode = opts.imdsV2 ?? 'optional';
  const now = opts.now ?? (() => new Date());
  const lifetimeMs = opts.lifetimeMs ?? 6 * 3600_000;
  const issued: IssuedCredentials[] = [];
  const tokens = new Set<string>();
  const faults: Fault[] = [];
  const srv = await startServer((req, res) => {
    const fault = takeFault(faults);
    if (fault) {
      res.writeHead(fault.status).end('fault');
      return;
    }
    if (req.path === '/latest/api/token') {
      if (req.method !== 'PUT' || mode === 'unsupported') {
        res.writeHead(404).end('not found');
        return;
      }
      const ttl = Number(req.headers['x-aliyun-ecs-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
        res.writeHead(400).end('missing or invalid x-aliyun-ecs-metadata-token-ttl-seconds');
        return;
      }
      const token = `imds-${secretPart()}`;
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      return;
    }
    if (req.method !== 'GET' || !req.path.startsWith(ROLE_PATH)) {
      res.writeHead(404).end('not found');
      return;
    }
    const token = req.headers['x-aliyun-ecs-metadata-token'];
    if (typeof token === 'string' && !tokens.has(token)) {
      res.writeHead(401).end('invalid token');
      return;
    }
    if (token === undefined && mode === 'required') {
      res.writeHead(403).end('IMDSv2 token required');
      return;
    }
    const rest = decodeURIComponent(req.path.slice(ROLE_PATH.length));
    if (rest === '') {
      if (opts.role === undefined) res.writeHead(404).end('not found');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(opts.role);
      return;
    }
    if (rest !== opts.role) {
      res.writeHead(404).end('not found');
      return;
    }
    const n = issued.length + 1;
    const creds: IssuedCredentials = {
      AccessKeyId: `STS.ecs${n}`,
      AccessKeySecret: `ecs-secret-${n}-${secretPart()}`,
      SecurityToken: `ecs-token-${n}-${secretPart()}`,
      Expiration: formatTimestamp(new Date(now().getTime() + lifetimeMs)),
    };
    issued.push(creds);
    sendJson(res, 200, { ...creds, Code: 'Success', LastUpdated: formatTimestamp(now()) });
  });
  return {
    url: srv.url,
    requests: srv.requests,
    close: srv.close,
    issued,
    tokens,
    failNext(status, count = 1) {
      faults.push({ status, count });
    },
    credentialRequests: () =>
      srv.requests.filter((r) => r.path.startsWith(ROLE_PATH) && r.path.length > ROLE_PATH.length),
  };
}

// ---------------------------------------------------------------------------------------------
// STS

export interface FakeStsOptions {
  /** AccessKeys that may call AssumeRole: id → secret (and the SecurityToken an STS key must send). */
  keys?: Record<string, { secret: string; securityToken?: string | undefined }> | undefined;
  /** Role ARNs that may be assumed. */
  roles?: readonly string[] | undefined;
  /** AssumeRoleWithOIDC: the provider ARN and the one token it accepts. */
  oidc?: { providerArn: string; token: string } | undefined;
  /** Clock for `Expiration`. Default real time. */
  now?: (() => Date) | undefined;
  /** Largest DurationSeconds (the role's max session duration). Default 3600. */
  maxDurationSeconds?: number | undefined;
}

export interface StsIssued extends IssuedCredentials {
  action: 'AssumeRole' | 'AssumeRoleWithOIDC';
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  /** The AccessKeyId that signed AssumeRole. */
  callerKeyId?: string | undefined;
}

export interface FakeSts extends FakeServer {
  issued: StsIssued[];
  /** The next `count` STS requests answer `status` with `code` (e.g. 500 InternalError). */
  failNext(status: number, code: string, count?: number): void;
  /** Accepted requests (signature verified) by action. */
  accepted(action?: string): RecordedRequest[];
}

const STS_HOST = 'sts.aliyuncs.com';

function stsError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const requestId = randomUUID().toUpperCase();
  sendJson(res, status, {
    RequestId: requestId,
    HostId: STS_HOST,
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${code}&product=Sts&requestId=${requestId}`,
  });
}

const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;

export async function startFakeSts(opts: FakeStsOptions = {}): Promise<FakeSts> {
  const keys = new Map(Object.entries(opts.keys ?? {}));
  const roles = new Set(opts.roles ?? []);
  const now = opts.now ?? (() => new Date());
  const maxDuration = opts.maxDurationSeconds ?? 3600;
  const issued: StsIssued[] = [];
  const accepted: RecordedRequest[] = [];
  const nonces = new Set<string>();
  const faults: Fault[] = [];

  const issue = (
    action: StsIssued['action'],
    p: Record<string, string>,
    duration: number,
    callerKeyId?: string,
  ) => {
    const n = issued.length + 1;
    const creds: IssuedCredentials = {
      AccessKeyId: `STS.sts${n}`,
      AccessKeySecret: `sts-secret-${n}-${secretPart()}`,
      SecurityToken: `sts-token-${n}-${secretPart()}`,
      Expiration: formatTimestamp(new Date(now().getTime() + duration * 1000)),
    };
    const roleArn = p.RoleArn ?? '';
    const roleSessionName = p.RoleSessionName ?? '';
    issued.push({ ...creds, action, roleArn, roleSessionName, durationSeconds: duration, callerKeyId });
    // Issued credentials may sign further AssumeRole calls (role chaining).
    keys.set(creds.AccessKeyId, { secret: creds.AccessKeySecret, securityToken: creds.SecurityToken });
    return {
      creds,
      assumed: {
        Arn: `${roleArn.replace(':role/', ':assumed-role/')}/${roleSessionName}`,
        AssumedRoleId: `3${n.toString().padStart(17, '0')}:${roleSessionName}`,
      },
    };
  };

  /** Shared checks of RoleArn, RoleSessionName and DurationSeconds; answers and returns undefined on error. */
  /** The role parameters of an AssumeRole* call: the session duration, or undefined once an error is sent. */
  const checkRole = (p: Record<string, string>, res: http.ServerResponse): number | undefined => {
    if (!p.RoleArn) return void stsError(res, 400, 'MissingRoleArn', 'RoleArn is mandatory for this action.');
    if (!p.RoleSessionName || !SESSION_NAME.test(p.RoleSessionName)) {
      return void stsError(
        res,
        400,
        'InvalidParameter.RoleSessionName',
        'The parameter RoleSessionName is wrongly formed.',
      );
    }
    const duration = p.DurationSeconds === undefined ? 3600 : Number(p.DurationSeconds);
    if (!Number.isInteger(duration) || duration < 900 || duration > maxDuration) {
      return void stsError(
        res,
        400,
        'InvalidParameter.DurationSeconds',
        `The Min/Max value of DurationSeconds is 900/${maxDuration} seconds, while yours is ${p.DurationSeconds}.`,
      );
    }
    if (!roles.has(p.RoleArn)) {
      return void stsError(
        res,
        403,
        'NoPermission',
        'You are not authorized to do this action. You should be authorized by RAM.',
      );
    }
    return duration;
  };

  const srv = await startServer((req, res) => {
    const fault = takeFault(faults);
    if (fault) {
      stsError(
        res,
        fault.status,
        fault.code ?? 'InternalError',
        'The request processing has failed due to some unknown error.',
      );
      return;
    }
    const p: Record<string, string> = { ...req.query, ...req.form };
    if (req.path !== '/' || (req.method !== 'POST' && req.method !== 'GET')) {
      stsError(
        res,
        404,
        'InvalidAction.NotFound',
        'Specified api is not found, please check your url and method.',
      );
      return;
    }
    if (p.Version !== '2015-04-01' || p.Format?.toUpperCase() !== 'JSON' || !p.Timestamp) {
      stsError(res, 400, 'MissingParameter', 'Version, Format=JSON and Timestamp are required.');
      return;
    }
    if (p.Action === 'AssumeRoleWithOIDC') {
      if (!opts.oidc || p.OIDCProviderArn !== opts.oidc.providerArn) {
        stsError(res, 404, 'EntityNotExist.OIDCProvider', 'The specified OIDC provider does not exist.');
        return;
      }
      if (p.OIDCToken !== opts.oidc.token) {
        // The real service may quote the token it rejects: the client must not repeat it.
        stsError(
          res,
          400,
          'AuthenticationFail.OIDCToken.Invalid',
          `The OIDC token ${p.OIDCToken ?? ''} is invalid.`,
        );
        return;
      }
      const duration = checkRole(p, res);
      if (duration === undefined) return;
      accepted.push(req);
      const { creds, assumed } = issue('AssumeRoleWithOIDC', p, duration);
      sendJson(res, 200, {
        RequestId: randomUUID().toUpperCase(),
        Credentials: creds,
        AssumedRoleUser: assumed,
        OIDCTokenInfo: {
          Subject: 'system:serviceaccount:ns:sa',
          Issuer: 'https://oidc.example',
          ClientIds: 'sts.aliyuncs.com',
        },
      });
      return;
    }
    if (p.Action !== 'AssumeRole') {
      stsError(
        res,
        400,
        'InvalidAction.NotFound',
        'Specified api is not found, please check your url and method.',
      );
      return;
    }
    const { Signature: signature, ...unsigned } = p;
    if (
      !signature ||
      p.SignatureMethod !== 'HMAC-SHA1' ||
      p.SignatureVersion !== '1.0' ||
      !p.SignatureNonce
    ) {
      stsError(
        res,
        400,
        'IncompleteSignature',
        'The request signature does not conform to Aliyun standards.',
      );
      return;
    }
    const key = keys.get(p.AccessKeyId ?? '');
    if (key === undefined) {
      stsError(res, 404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
      return;
    }
    const expected = signV1(req.method, unsigned, key.secret);
    if (expected !== signature) {
      const stringToSign = `${req.method}&${percentEncode('/')}&${percentEncode(canonicalQuery(unsigned))}`;
      stsError(
        res,
        400,
        'SignatureDoesNotMatch',
        `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`,
      );
      return;
    }
    if (key.securityToken !== undefined && p.SecurityToken !== key.securityToken) {
      stsError(
        res,
        400,
        'InvalidSecurityToken.MismatchWithAccessKey',
        'The security token does not match the access key.',
      );
      return;
    }
    if (nonces.has(p.SignatureNonce)) {
      stsError(res, 400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
      return;
    }
    nonces.add(p.SignatureNonce);
    const duration = checkRole(p, res);
    if (duration === undefined) return;
    accepted.push(req);
    const { creds, assumed } = issue('AssumeRole', p, duration, p.AccessKeyId);
    sendJson(res, 200, {
      RequestId: randomUUID().toUpperCase(),
      Credentials: creds,
      AssumedRoleUser: assumed,
    });
  });

  return {
    url: srv.url,
    requests: srv.requests,
    close: srv.close,
    issued,
    failNext(status, code, count = 1) {
      faults.push({ status, code, count });
    },
    accepted: (action) =>
      action === undefined ? accepted : accepted.filter((r) => r.query.Action === action),
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers for credential tests

/** A URL on which nothing listens (connections are refused at once). */
export async function refusedUrl(): Promise<string> {
  const srv = await startServer((_req, res) => res.end());
  await srv.close();
  return srv.url;
}

/** A debug-level pino logger whose lines are collected, to assert on them (and on no secrets). */
export function captureLog(): { log: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), lines, text: () => lines.join('') };
}

/** A clock the test moves by hand. */
export function fakeClock(start = new Date('2025-01-01T00:00:00Z')): {
  now: () => Date;
  advance(ms: number): void;
  set(d: Date): void;
} {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(ms) {
      t += ms;
    },
    set(d) {
      t = d.getTime();
    },
  };
}
