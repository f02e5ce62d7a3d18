/**
 * A local fake of the ECS metadata service's RAM-role part, on node:http port 0: IMDSv2 tokens
 * (`PUT /latest/api/token`), role discovery and role credentials, with IMDSv2 required, optional
 * or unsupported, and expirations from a clock the test controls. It records every request and
 * can be told to fail the next N requests.
 */
import { formatTimestamp } from '../../../src/aliyun/signer.js';
import {
  type FakeServer,
  type Fault,
  type IssuedCredentials,
  type RecordedRequest,
  secretPart,
  sendJson,
  startServer,
  takeFault,
} from './server.js';

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
