/**
 * A minimal signed RPC caller for the simulator's own tests and demo scripts: it builds exactly the
 * request a V1 or V3 client would, and lets a caller tamper with it before it is sent. It is not
 * the production client (no retries, pools or validation) — that is `ecs-client.ts`.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import {
  canonicalQuery,
  formatTimestamp,
  percentEncode,
  sha256Hex,
  signV1,
  signV3,
} from '../aliyun/index.js';
import type { SimulatorKey } from './types.js';

export interface RawCall {
  url: string;
  key: SimulatorKey;
  action: string;
  /** Default `2014-05-26` (ECS). */
  version?: string;
  params?: Record<string, string>;
  /** Default `v3`. */
  scheme?: 'v1' | 'v3';
  /** Default `POST`. */
  method?: 'GET' | 'POST';
  /** Request path, default `/` (e.g. `/cn-hangzhou` for a region-scoped ActionTrail endpoint). */
  path?: string;
  /** Sent as `User-Agent` (ActionTrail records it). */
  userAgent?: string;
  /** V1 only: send the parameters as a form body (pop-core's POST) instead of the query. */
  form?: boolean;
  timestamp?: Date;
  nonce?: string;
  /** Changes the signed request before it is sent (path+query, headers, body). */
  tamper?: (req: WireRequest) => void;
}

export interface WireRequest {
  /** Path and query, e.g. `/?Action=…`. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Builds the signed request without sending it. */
export function buildRequest(c: RawCall): WireRequest {
  const method = c.method ?? 'POST';
  const version = c.version ?? '2014-05-26';
  const timestamp = formatTimestamp(c.timestamp ?? new Date());
  const nonce = c.nonce ?? randomUUID();
  const host = new URL(c.url).host;
  const path = c.path ?? '/';
  const ua: Record<string, string> = c.userAgent === undefined ? {} : { 'user-agent': c.userAgent };
  if ((c.scheme ?? 'v3') === 'v1') {
    const params: Record<string, string> = {
      Action: c.action,
      Version: version,
      Format: 'JSON',
      AccessKeyId: c.key.accessKeyId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: nonce,
      Timestamp: timestamp,
      ...(c.key.securityToken ? { SecurityToken: c.key.securityToken } : {}),
      ...c.params,
    };
    const signed = `${canonicalQuery(params)}&Signature=${percentEncode(signV1(method, params, c.key.accessKeySecret))}`;
    if (c.form) {
      return {
        path,
        headers: { host, 'content-type': 'application/x-www-form-urlencoded', ...ua },
        body: signed,
      };
    }
    return { path: `${path}?${signed}`, headers: { host, ...ua }, body: '' };
  }
  const query = c.params ?? {};
  const headers: Record<string, string> = {
    host,
    'x-acs-action': c.action,
    'x-acs-version': version,
    'x-acs-date': timestamp,
    'x-acs-signature-nonce': nonce,
    'x-acs-content-sha256': sha256Hex(''),
    ...(c.key.securityToken ? { 'x-acs-security-token': c.key.securityToken } : {}),
  };
  const sig = signV3({
    method,
    path,
    query,
    headers,
    body: '',
    accessKeyId: c.key.accessKeyId,
    accessKeySecret: c.key.accessKeySecret,
  });
  const qs = canonicalQuery(query);
  return {
    path: qs ? `${path}?${qs}` : path,
    headers: { ...headers, ...ua, authorization: sig.authorization },
    body: '',
  };
}

/** Sends a built (possibly tampered) request. Rejects on a reset socket. */
export function send(url: string, method: string, wire: WireRequest): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: wire.path,
        headers: { ...wire.headers, 'content-length': String(Buffer.byteLength(wire.body)) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(wire.body);
  });
}

export async function rawCall(c: RawCall): Promise<RawResponse> {
  const wire = buildRequest(c);
  c.tamper?.(wire);
  return send(c.url, c.method ?? 'POST', wire);
}
