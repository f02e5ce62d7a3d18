/**
 * Authentication as Alibaba's RPC gateway does it: find the scheme (V3 `Authorization` header or V1
 * `Signature` parameter), then check the key, the clock, the signature, the STS token and the
 * nonce, in that order. Signatures are recomputed with the project's own pure signer, so the
 * simulator and the client can only agree if both follow the reference algorithms.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalQuery, parseV3Authorization, percentEncode, signV1, signV3 } from '../aliyun/index.js';
import { SimApiError } from './api-error.js';
import { headerValue, type IncomingApiRequest } from './incoming.js';
import type { NonceCache } from './nonce-cache.js';
import type { SimulatorKey } from './types.js';

/** V1 parameters that are about signing or framing, not about the operation. */
const V1_COMMON = new Set([
  'AccessKeyId',
  'Action',
  'Format',
  'SecurityToken',
  'Signature',
  'SignatureMethod',
  'SignatureNonce',
  'SignatureVersion',
  'SignatureType',
  'Timestamp',
  'Version',
]);

/** Headers a V3 request must sign: without them a signature could be replayed with other values. */
const V3_REQUIRED_SIGNED = [
  'host',
  'x-acs-action',
  'x-acs-version',
  'x-acs-date',
  'x-acs-signature-nonce',
  'x-acs-content-sha256',
];

const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** What a request claims to be, known before (and recorded even when) authentication fails. */
export interface Identified {
  scheme: 'v1' | 'v3' | 'none';
  action: string;
  version: string;
  accessKeyId?: string;
  nonce?: string;
  /** Operation parameters (RegionId, VpcId, …). */
  params: Record<string, string>;
}

export interface AuthContext {
  keys: ReadonlyMap<string, SimulatorKey>;
  nonces: NonceCache;
  maxClockSkewMs: number;
  now: number;
  /**
   * The request's routing prefix, when its path is one (an ActionTrail region path, `/cn-hangzhou`):
   * a V3 signature is then accepted over `/` — what the service behind a path-routing gateway
   * receives, and what the project's client signs — as well as over the path as sent.
   */
  routed?: boolean | undefined;
}

export function identify(req: IncomingApiRequest): Identified {
  const authorization = headerValue(req.headers, 'authorization');
  if (authorization !== undefined) {
    const parsed = parseV3Authorization(authorization);
    const id: Identified = {
      scheme: 'v3',
      action: headerValue(req.headers, 'x-acs-action') ?? '',
      version: headerValue(req.headers, 'x-acs-version') ?? '',
      params: { ...req.form, ...req.query },
    };
    if (parsed) id.accessKeyId = parsed.accessKeyId;
    const nonce = headerValue(req.headers, 'x-acs-signature-nonce');
    if (nonce !== undefined) id.nonce = nonce;
    return id;
  }
  const all = { ...req.query, ...req.form };
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) if (!V1_COMMON.has(k)) params[k] = v;
  const id: Identified = {
    scheme: all.Signature !== undefined || all.AccessKeyId !== undefined ? 'v1' : 'none',
    action: all.Action ?? '',
    version: all.Version ?? '',
    params,
  };
  if (all.AccessKeyId !== undefined) id.accessKeyId = all.AccessKeyId;
  if (all.SignatureNonce !== undefined) id.nonce = all.SignatureNonce;
  return id;
}

/** Throws a `SimApiError` unless the request is properly signed by a known key. */
export function authenticate(req: IncomingApiRequest, id: Identified, ctx: AuthContext): void {
  if (id.scheme === 'v3') verifyV3(req, ctx);
  else if (id.scheme === 'v1') verifyV1(req, ctx);
  else throw missing('AccessKeyId');
}

function verifyV1(req: IncomingApiRequest, ctx: AuthContext): void {
  const all = { ...req.query, ...req.form };
  const { Signature: signature, ...signed } = all;
  const key = findKey(ctx, required(all, 'AccessKeyId'));
  if (signature === undefined) throw missing('Signature');
  if (all.SignatureMethod !== 'HMAC-SHA1' || all.SignatureVersion !== '1.0') {
    throw incomplete('SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.');
  }
  checkClock(required(all, 'Timestamp'), ctx);
  const nonce = required(all, 'SignatureNonce');
  const expected = signV1(req.method, signed, key.accessKeySecret);
  if (!sameString(expected, signature)) {
    const stringToSign = `${req.method}&${percentEncode('/')}&${percentEncode(canonicalQuery(signed))}`;
    throw new SimApiError(
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`,
    );
  }
  checkToken(key, all.SecurityToken);
  checkNonce(ctx, key, nonce);
}

function verifyV3(req: IncomingApiRequest, ctx: AuthContext): void {
  const auth = parseV3Authorization(headerValue(req.headers, 'authorization') ?? '');
  if (!auth) throw incomplete('The Authorization header is not a valid ACS3-HMAC-SHA256 authorization.');
  const key = findKey(ctx, auth.accessKeyId);
  for (const name of V3_REQUIRED_SIGNED) {
    if (name !== 'host' && headerValue(req.headers, name) === undefined) throw missing(name);
    if (!auth.signedHeaders.includes(name)) throw incomplete(`The header ${name} must be signed.`);
  }
  const token = headerValue(req.headers, 'x-acs-security-token');
  if (token !== undefined && !auth.signedHeaders.includes('x-acs-security-token')) {
    throw incomplete('The header x-acs-security-token must be signed.');
  }
  checkClock(headerValue(req.headers, 'x-acs-date') ?? '', ctx);
  const contentSha = headerValue(req.headers, 'x-acs-content-sha256') ?? '';
  const bodySha = createHash('sha256').update(req.body).digest('hex');
  if (contentSha !== bodySha) {
    throw new SimApiError(
      'SignatureDoesNotMatch',
      `x-acs-content-sha256 (${contentSha}) does not match the SHA-256 of the request body (${bodySha}).`,
    );
  }
  // Verify over the headers the client says it signed, with their values as received (host included).
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) headers[name] = headerValue(req.headers, name) ?? '';
  const over = (path: string) =>
    signV3({
      method: req.method,
      path,
      query: req.query,
      headers,
      body: '',
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
    });
  const matches = (e: ReturnType<typeof over>) =>
    e.signedHeaders === auth.signedHeaders.join(';') && sameString(e.signature, auth.signature);
  const expected = over(req.pathname);
  if (!matches(expected) && !(ctx.routed === true && matches(over('/')))) {
    const hashed = createHash('sha256').update(expected.canonicalRequest, 'utf8').digest('hex');
    throw new SimApiError(
      'SignatureDoesNotMatch',
      'The request signature does not conform to Aliyun standards. server string to sign is:' +
        `ACS3-HMAC-SHA256\n${hashed} (canonical request: ${JSON.stringify(expected.canonicalRequest)})`,
    );
  }
  checkToken(key, token);
  checkNonce(ctx, key, headerValue(req.headers, 'x-acs-signature-nonce') ?? '');
}

function findKey(ctx: AuthContext, accessKeyId: string): SimulatorKey {
  const key = ctx.keys.get(accessKeyId);
  if (!key) throw new SimApiError('InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
  return key;
}

function checkClock(timestamp: string, ctx: AuthContext): void {
  if (!TIMESTAMP_RE.test(timestamp)) {
    throw new SimApiError(
      'InvalidTimeStamp.Format',
      'Specified time stamp or date value is not well formatted.',
    );
  }
  if (Math.abs(Date.parse(timestamp) - ctx.now) > ctx.maxClockSkewMs) {
    throw new SimApiError('InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
  }
}

/**
 * STS: a key issued with a token needs that exact token; a long-term key must not carry one.
 * Codes: `MissingSecurityToken` (absent), `InvalidSecurityToken.MismatchWithAccessKey` (wrong),
 * `InvalidSecurityToken.Malformed` (sent with a non-STS key); all HTTP 400.
 */
function checkToken(key: SimulatorKey, token: string | undefined): void {
  if (key.securityToken === undefined) {
    if (token !== undefined && token !== '') {
      throw new SimApiError(
        'InvalidSecurityToken.Malformed',
        'A security token was sent with a long-term key.',
      );
    }
    return;
  }
  if (token === undefined || token === '') {
    throw new SimApiError('MissingSecurityToken', 'The security token of this STS access key is missing.');
  }
  if (!sameString(token, key.securityToken)) {
    throw new SimApiError(
      'InvalidSecurityToken.MismatchWithAccessKey',
      'The security token does not match the access key.',
    );
  }
}

function checkNonce(ctx: AuthContext, key: SimulatorKey, nonce: string): void {
  if (!ctx.nonces.remember(`${key.accessKeyId}\n${nonce}`, ctx.now)) {
    throw new SimApiError('SignatureNonceUsed', 'Specified signature nonce was used already.');
  }
}

function required(params: Record<string, string>, name: string): string {
  const v = params[name];
  if (v === undefined || v === '') throw missing(name);
  return v;
}

export function missing(name: string): SimApiError {
  return new SimApiError(
    'MissingParameter',
    `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
  );
}

function incomplete(detail: string): SimApiError {
  return new SimApiError(
    'IncompleteSignature',
    `The request signature does not conform to Aliyun standards. ${detail}`,
  );
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
