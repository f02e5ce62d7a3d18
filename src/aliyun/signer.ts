/**
 * Pure request signing for Alibaba Cloud RPC APIs: signature V3 (ACS3-HMAC-SHA256, the default of
 * the current official SDKs) and the older RPC HMAC-SHA1 scheme (SignatureVersion=1.0).
 * No clock and no randomness here: callers pass the timestamp and nonce, so every vector in
 * reference/alibaba-ecs-api.md can be checked byte for byte.
 */
import { createHash, createHmac } from 'node:crypto';

/** RFC 3986 percent-encoding as Alibaba wants it: `encodeURIComponent` plus `! ' ( ) *`. */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Parameters sorted by name (byte order), each `enc(name)=enc(value)`, joined by `&`. */
export function canonicalQuery(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** `Timestamp` / `x-acs-date` form: UTC, seconds precision, no milliseconds. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RPC HMAC-SHA1 signature over every parameter except `Signature`. */
export function signV1(method: string, params: Readonly<Record<string, string>>, secret: string): string {
  const stringToSign = `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
  return createHmac('sha1', `${secret}&`).update(stringToSign, 'utf8').digest('base64');
}

/** The key that signs a request (an STS key carries its token, which is signed too). */
export interface SigningKey {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string | undefined;
}

export interface V1Call {
  method: string;
  action: string;
  /** The API's `Version`. */
  version: string;
  /** Parameters sent in the query. */
  query: Readonly<Record<string, string>>;
  /** Parameters sent as a form body (STS); signed together with the query. */
  form?: Readonly<Record<string, string>> | undefined;
  key: SigningKey;
  nonce: string;
  now: Date;
}

/**
 * The query string of an RPC call signed with the HMAC-SHA1 scheme: `query`, the scheme's common
 * parameters, and `Signature` last. The ECS / VPC client and STS both send this.
 */
export function signedV1Query(call: V1Call): string {
  const params: Record<string, string> = {
    ...call.query,
    Action: call.action,
    Format: 'JSON',
    Version: call.version,
    AccessKeyId: call.key.accessKeyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: call.nonce,
    Timestamp: formatTimestamp(call.now),
  };
  if (call.key.securityToken) params.SecurityToken = call.key.securityToken;
  const signature = signV1(call.method, { ...params, ...call.form }, call.key.accessKeySecret);
  return `${canonicalQuery(params)}&Signature=${percentEncode(signature)}`;
}

export interface V3Input {
  method: string;
  /** Canonical URI; `/` for RPC-style APIs. */
  path?: string;
  query: Readonly<Record<string, string>>;
  /** All headers; only `host`, `content-type` and `x-acs-*` are signed. */
  headers: Readonly<Record<string, string>>;
  body: string;
  accessKeyId: string;
  accessKeySecret: string;
}

export interface V3Signature {
  authorization: string;
  signedHeaders: string;
  canonicalRequest: string;
  signature: string;
}

/** ACS3-HMAC-SHA256 signature and the `Authorization` header value. */
export function signV3(input: V3Input): V3Signature {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) {
    const n = k.toLowerCase();
    if (n.startsWith('x-acs-') || n === 'host' || n === 'content-type') {
      h[n] = h[n] === undefined ? v.trim() : `${h[n]},${v.trim()}`;
    }
  }
  const names = Object.keys(h).sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.path ?? '/',
    canonicalQuery(input.query),
    names.map((n) => `${n}:${h[n]}\n`).join(''),
    signedHeaders,
    h['x-acs-content-sha256'] ?? sha256Hex(input.body),
  ].join('\n');
  const signature = createHmac('sha256', input.accessKeySecret)
    .update(`ACS3-HMAC-SHA256\n${sha256Hex(canonicalRequest)}`, 'utf8')
    .digest('hex');
  return {
    authorization: `ACS3-HMAC-SHA256 Credential=${input.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`,
    signedHeaders,
    canonicalRequest,
    signature,
  };
}

/** Parses an `Authorization: ACS3-HMAC-SHA256 …` header (used by the simulator to verify). */
export function parseV3Authorization(
  value: string,
): { accessKeyId: string; signedHeaders: string[]; signature: string } | undefined {
  const m =
    /^ACS3-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$/.exec(
      value.trim(),
    );
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  return { accessKeyId: m[1], signedHeaders: m[2].split(';'), signature: m[3] };
}
