/**
 * STS (Security Token Service, API version 2015-04-01): `AssumeRole`, signed with the RPC
 * HMAC-SHA1 scheme (signer.ts `signV1`) by the credentials of another provider, and
 * `AssumeRoleWithOIDC` (RRSA), which is anonymous — the OIDC token is the proof.
 *
 * Requests mirror `@alicloud/credentials`: POST, the common parameters (and the signature) in the
 * query, the operation parameters as an `application/x-www-form-urlencoded` body, the signature
 * computed over both. Errors are classified by the JSON `Code` with the project's table
 * (errors.ts): `InvalidAccessKeyId.*`, `SignatureDoesNotMatch`, `NoPermission`, `InvalidParameter*`
 * are fatal; throttling, 5xx and network failures retry.
 *
 * Why messages are rewritten: STS echoes its string-to-sign in `SignatureDoesNotMatch`, which
 * holds the caller's SecurityToken, and may echo an OIDC token. So a server Message is cut at any
 * "string to sign", stripped of every secret we sent, and truncated before it goes into an error.
 */
import { randomUUID } from 'node:crypto';
import { canonicalQuery, formatTimestamp, signedV1Query } from '../aliyun/index.js';
import { classifyApiError, FatalError, RetryableError } from '../errors.js';
import { REGION_EXPECTED, REGION_ID } from '../ids.js';
import { errno, textFileReader } from './files.js';
import { endpointUrl, httpCall, jsonObject } from './http.js';
import { type SessionCredentials, sessionCredentialsFrom, sessionProvider } from './session.js';
import { envFlag, nonEmpty } from './static.js';
import type { CredentialsProvider, ProviderContext } from './types.js';

const STS_VERSION = '2015-04-01';
const DEFAULT_STS_ENDPOINT = 'https://sts.aliyuncs.com';
/** The SDK's default session length. */
const DEFAULT_DURATION_SECONDS = 3600;
/** STS refuses shorter sessions. */
const MIN_DURATION_SECONDS = 900;
const DEFAULT_STS_TIMEOUT_MS = 10_000;

/**
 * Where STS calls go: an explicit endpoint (a profile's `sts_endpoint`, an account's
 * `stsEndpoint`), else `ALIBABA_CLOUD_STS_ENDPOINT`, else `sts.<ALIBABA_CLOUD_STS_REGION>` (or
 * `sts-vpc.<region>` with `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`), else `https://sts.aliyuncs.com`.
 * A bare host name means https. Bad values are a FatalError naming the variable, not its value.
 */
export function stsEndpoint(
  env: Readonly<Record<string, string | undefined>>,
  explicit?: { endpoint?: string | undefined; region?: string | undefined },
): URL {
  const endpoint = nonEmpty(explicit?.endpoint) ?? nonEmpty(env.ALIBABA_CLOUD_STS_ENDPOINT);
  if (endpoint !== undefined) {
    const label = nonEmpty(explicit?.endpoint) !== undefined ? 'STS endpoint' : 'ALIBABA_CLOUD_STS_ENDPOINT';
    return endpointUrl(endpoint, label, 'https');
  }
  const region = nonEmpty(explicit?.region) ?? nonEmpty(env.ALIBABA_CLOUD_STS_REGION);
  if (region !== undefined) {
    if (!REGION_ID.test(region)) {
      throw new FatalError(`ALIBABA_CLOUD_STS_REGION: ${REGION_EXPECTED}`, {
        code: 'InvalidConfiguration',
      });
    }
    const vpc = envFlag(env.ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED);
    return new URL(`https://${vpc ? 'sts-vpc' : 'sts'}.${region}.aliyuncs.com/`);
  }
  return new URL(`${DEFAULT_STS_ENDPOINT}/`);
}

function checkDuration(seconds: number | undefined, what: string): number {
  const d = seconds ?? DEFAULT_DURATION_SECONDS;
  if (!Number.isInteger(d) || d < MIN_DURATION_SECONDS) {
    throw new FatalError(
      `${what}: durationSeconds must be a whole number of at least ${MIN_DURATION_SECONDS}`,
      {
        code: 'InvalidConfiguration',
      },
    );
  }
  return d;
}

/** Removes every secret we sent from a server message, cuts echoed strings-to-sign, truncates. */
export function safeServerMessage(message: unknown, secrets: readonly (string | undefined)[]): string {
  if (typeof message !== 'string') return '';
  let m = message.replace(/\s*(server )?string ?to ?sign.*$/is, '');
  for (const s of secrets) if (s && s.length >= 4) m = m.split(s).join('[redacted]');
  m = m.replace(/\s+/g, ' ').trim();
  return m.length > 200 ? `${m.slice(0, 200)}…` : m;
}

interface StsRequest {
  action: 'AssumeRole' | 'AssumeRoleWithOIDC';
  /** Operation parameters (form body). */
  params: Record<string, string>;
  /** Signs the request (AssumeRole); absent for the anonymous AssumeRoleWithOIDC. */
  signWith?: { accessKeyId: string; accessKeySecret: string; securityToken?: string | undefined } | undefined;
  endpoint: URL;
  /** Secret-free description for messages. */
  what: string;
  /** Values that must never appear in an error (secret, tokens). */
  secrets: readonly (string | undefined)[];
  ctx: ProviderContext;
  nonce?: (() => string) | undefined;
  signal?: AbortSignal | undefined;
}

/** One STS call → session credentials, or a classified, secret-free error. */
async function callSts(req: StsRequest): Promise<SessionCredentials> {
  const now = req.ctx.now ? req.ctx.now() : new Date();
  const url = new URL(req.endpoint);
  url.search = req.signWith
    ? signedV1Query({
        method: 'POST',
        action: req.action,
        version: STS_VERSION,
        query: {},
        form: req.params,
        key: req.signWith,
        nonce: (req.nonce ?? randomUUID)(),
        now,
      })
    : canonicalQuery({
        Action: req.action,
        Version: STS_VERSION,
        Format: 'JSON',
        Timestamp: formatTimestamp(now),
      });
  const answer = await httpCall({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: canonicalQuery(req.params),
    timeoutMs: req.ctx.http?.stsTimeoutMs ?? DEFAULT_STS_TIMEOUT_MS,
    what: req.what,
    signal: req.signal,
    http: req.ctx.http,
  });
  const body = jsonObject(answer.body);
  const requestId = typeof body?.RequestId === 'string' ? body.RequestId : undefined;
  if (answer.status !== 200 || body === undefined || typeof body.Code === 'string') {
    const code = typeof body?.Code === 'string' ? body.Code : undefined;
    const kind = classifyApiError(code, answer.status);
    const detail =
      code === 'SignatureDoesNotMatch'
        ? 'the request signature does not match (is the AccessKeySecret right?)'
        : safeServerMessage(body?.Message, req.secrets);
    const message = `${req.what}: ${code ?? `HTTP ${answer.status}`}${detail ? `: ${detail}` : ''}`;
    const details = { code: code ?? `HTTP_${answer.status}`, requestId, httpStatus: answer.status };
    if (answer.status === 200 && body === undefined) {
      throw new FatalError(`${req.what}: the answer is not JSON`, { ...details, code: 'MalformedResponse' });
    }
    throw kind === 'retryable' ? new RetryableError(message, details) : new FatalError(message, details);
  }
  const creds = sessionCredentialsFrom(body.Credentials);
  if (!creds) {
    throw new FatalError(
      `${req.what}: the answer lacks Credentials.AccessKeyId, AccessKeySecret, SecurityToken or a valid Expiration`,
      { code: 'MalformedResponse', requestId, httpStatus: answer.status },
    );
  }
  return creds;
}

function defaultSessionName(ctx: ProviderContext): string {
  return `classiclink-sync-${(ctx.now ? ctx.now() : new Date()).getTime()}`;
}

export interface AssumeRoleOptions extends ProviderContext {
  /** Credentials that call STS (a RAM user's AccessKey, or any other provider). */
  source: CredentialsProvider;
  roleArn: string;
  /** Default `classiclink-sync-<ms since epoch>`. */
  roleSessionName?: string | undefined;
  /** Default 3600; at least 900; at most the role's maximum session duration. */
  durationSeconds?: number | undefined;
  /** Inline policy (JSON) narrowing the role's permissions. */
  policy?: string | undefined;
  externalId?: string | undefined;
  /** From `stsEndpoint(env, …)`. */
  endpoint: URL;
  /** Provider name. Default `ram_role_arn`. */
  name?: string | undefined;
  nonce?: (() => string) | undefined;
}

/** STS AssumeRole for a RAM role ARN, refreshed 15 min before expiry. */
export function assumeRoleProvider(opts: AssumeRoleOptions): CredentialsProvider {
  const what = `STS AssumeRole (${opts.roleArn}, signed by ${opts.source.name})`;
  const durationSeconds = checkDuration(opts.durationSeconds, what);
  const roleSessionName = nonEmpty(opts.roleSessionName) ?? defaultSessionName(opts);
  return sessionProvider({
    name: opts.name ?? 'ram_role_arn',
    log: opts.log,
    now: opts.now,
    fetch: async () => {
      const base = await opts.source.get();
      const params: Record<string, string> = {
        RoleArn: opts.roleArn,
        RoleSessionName: roleSessionName,
        DurationSeconds: String(durationSeconds),
      };
      if (opts.policy) params.Policy = opts.policy;
      if (opts.externalId) params.ExternalId = opts.externalId;
      return callSts({
        action: 'AssumeRole',
        params,
        signWith: base,
        endpoint: opts.endpoint,
        what,
        secrets: [base.accessKeySecret, base.securityToken],
        ctx: opts,
        nonce: opts.nonce,
      });
    },
  });
}

export interface OidcRoleOptions extends ProviderContext {
  roleArn: string;
  oidcProviderArn: string;
  /** Read at every refresh: the token is rotated in place (Kubernetes projected volume). */
  oidcTokenFile: string;
  roleSessionName?: string | undefined;
  durationSeconds?: number | undefined;
  policy?: string | undefined;
  endpoint: URL;
  /** Provider name. Default `oidc_role_arn`. */
  name?: string | undefined;
}

/** STS AssumeRoleWithOIDC (RRSA), refreshed 15 min before expiry. */
export function oidcRoleProvider(opts: OidcRoleOptions): CredentialsProvider {
  const what = `STS AssumeRoleWithOIDC (${opts.roleArn})`;
  const durationSeconds = checkDuration(opts.durationSeconds, what);
  const roleSessionName = nonEmpty(opts.roleSessionName) ?? defaultSessionName(opts);
  const readFile = textFileReader(opts);
  return sessionProvider({
    name: opts.name ?? 'oidc_role_arn',
    log: opts.log,
    now: opts.now,
    fetch: async () => {
      let token: string;
      try {
        token = (await readFile(opts.oidcTokenFile)).trim();
      } catch (err) {
        const message = `${what}: cannot read the OIDC token file ${opts.oidcTokenFile} (${errno(err)})`;
        throw new FatalError(message, { code: 'OidcTokenFileUnreadable' });
      }
      if (!token) {
        throw new FatalError(`${what}: the OIDC token file ${opts.oidcTokenFile} is empty`, {
          code: 'OidcTokenFileUnreadable',
        });
      }
      const params: Record<string, string> = {
        OIDCProviderArn: opts.oidcProviderArn,
        OIDCToken: token,
        RoleArn: opts.roleArn,
        RoleSessionName: roleSessionName,
        DurationSeconds: String(durationSeconds),
      };
      if (opts.policy) params.Policy = opts.policy;
      return callSts({
        action: 'AssumeRoleWithOIDC',
        params,
        endpoint: opts.endpoint,
        what,
        secrets: [token],
        ctx: opts,
      });
    },
  });
}
