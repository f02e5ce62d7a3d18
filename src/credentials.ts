/**
 * Alibaba Cloud credentials behind one small interface.
 *
 * Callers (the ECS client) ask a `CredentialsProvider` for credentials before EVERY request
 * attempt, so a provider that refreshes (STS, ECS RAM role, OIDC — a later issue) slots in
 * without changing them: caching and refresh are the provider's business, not the caller's.
 *
 * No secret ever reaches an error message or a log line: errors name variables, never values.
 */
import { FatalError } from './errors.js';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** Present for STS credentials; sent as `x-acs-security-token` (V3) or `SecurityToken` (V1). */
  securityToken?: string | undefined;
  /** When these credentials stop working (STS); providers refresh ahead of it. */
  expiresAt?: Date | undefined;
}

export interface CredentialsProvider {
  /** Names the source for logs and errors, e.g. `env` or `static` (never a secret). */
  readonly name: string;
  /** Current credentials. Cheap when cached; may do I/O when a refresh is due. */
  get(signal?: AbortSignal): Promise<Credentials>;
}

export const ENV_ACCESS_KEY_ID = 'ALIBABA_CLOUD_ACCESS_KEY_ID';
export const ENV_ACCESS_KEY_SECRET = 'ALIBABA_CLOUD_ACCESS_KEY_SECRET';
export const ENV_SECURITY_TOKEN = 'ALIBABA_CLOUD_SECURITY_TOKEN';

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/**
 * Reads the env trio once, at construction (the environment is part of the process's fixed
 * configuration). Absent or blank key id / secret → FatalError `MissingCredentials` naming the
 * variables that are missing.
 */
export function envCredentialsProvider(env: Record<string, string | undefined>): CredentialsProvider {
  const accessKeyId = nonEmpty(env[ENV_ACCESS_KEY_ID]);
  const accessKeySecret = nonEmpty(env[ENV_ACCESS_KEY_SECRET]);
  const securityToken = nonEmpty(env[ENV_SECURITY_TOKEN]);
  if (accessKeyId === undefined || accessKeySecret === undefined) {
    const missing = [
      accessKeyId === undefined ? ENV_ACCESS_KEY_ID : undefined,
      accessKeySecret === undefined ? ENV_ACCESS_KEY_SECRET : undefined,
    ].filter((x): x is string => x !== undefined);
    throw new FatalError(
      `no Alibaba Cloud credentials: set ${missing.join(' and ')} (and ${ENV_SECURITY_TOKEN} for STS credentials)`,
      { code: 'MissingCredentials' },
    );
  }
  return staticProvider('env', { accessKeyId, accessKeySecret, securityToken });
}

/** Fixed credentials (tests, the simulator, an accounts file). */
export function staticCredentialsProvider(c: Credentials): CredentialsProvider {
  if (!c.accessKeyId || !c.accessKeySecret) {
    throw new FatalError('static credentials need an accessKeyId and an accessKeySecret', {
      code: 'MissingCredentials',
    });
  }
  return staticProvider('static', c);
}

function staticProvider(name: string, c: Credentials): CredentialsProvider {
  // Frozen copy: a caller mutating its object later cannot change what we sign with, and one
  // resolved promise is reused so the per-attempt `get()` costs no allocation.
  const frozen: Credentials = Object.freeze({ ...c });
  const ready = Promise.resolve(frozen);
  return {
    name,
    get(signal?: AbortSignal): Promise<Credentials> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return ready;
    },
  };
}
