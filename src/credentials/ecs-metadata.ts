/**
 * The ECS RAM role: temporary credentials of the role attached to this instance, from the ECS
 * metadata service (http://100.100.100.200), refreshed 15 min before they expire.
 *
 * IMDSv2 as the SDK does it: `PUT /latest/api/token` with
 * `x-aliyun-ecs-metadata-token-ttl-seconds: 21600`, then
 * `GET /latest/meta-data/ram/security-credentials/<role>` with `x-aliyun-ecs-metadata-token`.
 * When the service answers the token request with an error (IMDSv2 not supported), the GETs go
 * without a token (IMDSv1) unless `disableImdsV1` (`ALIBABA_CLOUD_IMDSV1_DISABLED=true`).
 *
 * One deliberate difference from the SDK: when the token request gets no answer at all (nothing
 * listens, timeout), we do not try v1 as well — the same host would not answer a GET either, and
 * off ECS that would double the wait of the credential chain for nothing.
 */
import { classifyApiError, FatalError, RetryableError } from '../errors.js';
import { endpointUrl, type HttpAnswer, httpCall, jsonObject } from './http.js';
import { sessionCredentialsFrom, sessionProvider } from './session.js';
import { envFlag, nonEmpty } from './static.js';
import type { CredentialsProvider, EnvContext, ProviderContext } from './types.js';

const DEFAULT_ECS_METADATA_ENDPOINT = 'http://100.100.100.200';
/** Lifetime asked for an IMDSv2 token: the SDK's 6 hours. */
const METADATA_TOKEN_TTL_SECONDS = 21600;
const DEFAULT_METADATA_TIMEOUT_MS = 1_000;
const CREDENTIALS_PATH = '/latest/meta-data/ram/security-credentials/';

/** `ALIBABA_CLOUD_ECS_METADATA_ENDPOINT` or the link-local default; a bare host means http. */
export function metadataEndpoint(env: Readonly<Record<string, string | undefined>>): URL {
  const raw = nonEmpty(env.ALIBABA_CLOUD_ECS_METADATA_ENDPOINT) ?? DEFAULT_ECS_METADATA_ENDPOINT;
  return endpointUrl(raw, 'ALIBABA_CLOUD_ECS_METADATA_ENDPOINT', 'http');
}

export interface EcsRamRoleOptions extends ProviderContext {
  /** The role attached to the instance; discovered from the metadata service when absent. */
  roleName?: string | undefined;
  /** From `metadataEndpoint(env)`. Default http://100.100.100.200. */
  endpoint?: URL | undefined;
  /** Refuse IMDSv1 (`ALIBABA_CLOUD_IMDSV1_DISABLED=true`). Default false. */
  disableImdsV1?: boolean | undefined;
  /** Provider name. Default `ecs_ram_role`. */
  name?: string | undefined;
}

export function ecsRamRoleProvider(opts: EcsRamRoleOptions): CredentialsProvider {
  const base = opts.endpoint ?? new URL(DEFAULT_ECS_METADATA_ENDPOINT);
  const timeoutMs = opts.http?.metadataTimeoutMs ?? DEFAULT_METADATA_TIMEOUT_MS;
  let roleName = nonEmpty(opts.roleName);
  const what = (path: string) => `ECS metadata ${new URL(path, base).pathname}`;

  const call = (method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<HttpAnswer> =>
    httpCall({ method, url: new URL(path, base), headers, timeoutMs, what: what(path), http: opts.http });

  /** An IMDSv2 token, or undefined to go on with IMDSv1. */
  async function metadataToken(): Promise<string | undefined> {
    const path = '/latest/api/token';
    const answer = await call('PUT', path, {
      'x-aliyun-ecs-metadata-token-ttl-seconds': String(METADATA_TOKEN_TTL_SECONDS),
    });
    const token = answer.body.trim();
    if (answer.status === 200 && token) return token;
    if (opts.disableImdsV1) {
      const Ctor = answer.status >= 500 ? RetryableError : FatalError;
      throw new Ctor(
        `${what(path)}: HTTP ${answer.status} for an IMDSv2 token, and IMDSv1 is disabled (ALIBABA_CLOUD_IMDSV1_DISABLED)`,
        { code: 'EcsMetadataTokenFailed', httpStatus: answer.status },
      );
    }
    opts.log.debug({ status: answer.status }, 'ECS metadata: no IMDSv2 token; falling back to IMDSv1');
    return undefined;
  }

  function failure(path: string, answer: HttpAnswer, notFound: string): never {
    if (answer.status === 404) {
      throw new FatalError(`${what(path)}: ${notFound}`, { code: 'EcsRamRoleNotFound', httpStatus: 404 });
    }
    const Ctor = classifyApiError(undefined, answer.status) === 'retryable' ? RetryableError : FatalError;
    throw new Ctor(`${what(path)}: HTTP ${answer.status}`, {
      code: `HTTP_${answer.status}`,
      httpStatus: answer.status,
    });
  }

  return sessionProvider({
    name: opts.name ?? 'ecs_ram_role',
    log: opts.log,
    now: opts.now,
    fetch: async () => {
      const token = await metadataToken();
      const headers: Record<string, string> = token ? { 'x-aliyun-ecs-metadata-token': token } : {};
      if (roleName === undefined) {
        const answer = await call('GET', CREDENTIALS_PATH, headers);
        if (answer.status !== 200)
          failure(CREDENTIALS_PATH, answer, 'no RAM role is attached to this instance');
        const first = answer.body.split(/\s+/).find((s) => s.length > 0);
        if (first === undefined) {
          throw new FatalError(`${what(CREDENTIALS_PATH)}: no RAM role is attached to this instance`, {
            code: 'EcsRamRoleNotFound',
            httpStatus: answer.status,
          });
        }
        roleName = first;
      }
      const path = `${CREDENTIALS_PATH}${encodeURIComponent(roleName)}`;
      const answer = await call('GET', path, headers);
      if (answer.status !== 200) {
        failure(path, answer, `RAM role ${roleName} is not attached to this instance`);
      }
      const body = jsonObject(answer.body);
      if (body?.Code !== 'Success') {
        // The service answers a non-Success Code while it is still minting the role's credentials.
        throw new RetryableError(`${what(path)}: Code is not Success`, {
          code: 'EcsMetadataNotReady',
          httpStatus: answer.status,
        });
      }
      const creds = sessionCredentialsFrom(body);
      if (!creds) {
        throw new FatalError(
          `${what(path)}: the answer lacks AccessKeyId, AccessKeySecret, SecurityToken or a valid Expiration`,
          { code: 'MalformedResponse', httpStatus: answer.status },
        );
      }
      return creds;
    },
  });
}

/**
 * The ECS RAM role as the environment configures it: `ALIBABA_CLOUD_ECS_METADATA_ENDPOINT`,
 * `ALIBABA_CLOUD_IMDSV1_DISABLED`, and the role `roleName` ?? `ALIBABA_CLOUD_ECS_METADATA`.
 */
export function ecsRamRoleFromEnv(
  ctx: EnvContext,
  roleName?: string | undefined,
  name?: string | undefined,
): CredentialsProvider {
  return ecsRamRoleProvider({
    ...ctx,
    roleName: nonEmpty(roleName) ?? nonEmpty(ctx.env.ALIBABA_CLOUD_ECS_METADATA),
    endpoint: metadataEndpoint(ctx.env),
    disableImdsV1: envFlag(ctx.env.ALIBABA_CLOUD_IMDSV1_DISABLED),
    name,
  });
}
