/**
 * Credentials that never change: the environment trio and fixed keys (tests, the simulator, a
 * profile in AK / StsToken mode, an accounts file). One frozen object and one resolved promise,
 * so the per-attempt `get()` of the ECS client costs nothing.
 */
import { FatalError } from '../errors.js';
import type { Credentials, CredentialsProvider } from './types.js';

export const ENV_ACCESS_KEY_ID = 'ALIBABA_CLOUD_ACCESS_KEY_ID';
export const ENV_ACCESS_KEY_SECRET = 'ALIBABA_CLOUD_ACCESS_KEY_SECRET';
const ENV_SECURITY_TOKEN = 'ALIBABA_CLOUD_SECURITY_TOKEN';

export function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/** `true` (any case) → true; anything else → false. */
export function envFlag(v: string | undefined): boolean {
  return v?.trim().toLowerCase() === 'true';
}

/** Variable names of an env-style key pair; the defaults are the standard Alibaba Cloud names. */
export interface EnvVariableNames {
  accessKeyId?: string | undefined;
  accessKeySecret?: string | undefined;
  securityToken?: string | undefined;
}

/**
 * Reads the env trio once, at construction (the environment is part of the process's fixed
 * configuration). Absent or blank key id / secret → FatalError `MissingCredentials` naming the
 * variables that are missing. `names` lets an accounts file point one account at other variables.
 */
export function envCredentialsProvider(
  env: Readonly<Record<string, string | undefined>>,
  names: EnvVariableNames = {},
): CredentialsProvider {
  const idVar = names.accessKeyId ?? ENV_ACCESS_KEY_ID;
  const secretVar = names.accessKeySecret ?? ENV_ACCESS_KEY_SECRET;
  const tokenVar = names.securityToken ?? ENV_SECURITY_TOKEN;
  const accessKeyId = nonEmpty(env[idVar]);
  const accessKeySecret = nonEmpty(env[secretVar]);
  const securityToken = nonEmpty(env[tokenVar]);
  if (accessKeyId === undefined || accessKeySecret === undefined) {
    const missing = [
      accessKeyId === undefined ? idVar : undefined,
      accessKeySecret === undefined ? secretVar : undefined,
    ].filter((x): x is string => x !== undefined);
    throw new FatalError(
      `no Alibaba Cloud credentials: set ${missing.join(' and ')} (and ${tokenVar} for STS credentials)`,
      { code: 'MissingCredentials' },
    );
  }
  // Named after its variables when an accounts file chose others, so an error can say which to check.
  const standard = idVar === ENV_ACCESS_KEY_ID && secretVar === ENV_ACCESS_KEY_SECRET;
  return fixedProvider(standard ? 'env' : `env(${idVar},${secretVar})`, {
    accessKeyId,
    accessKeySecret,
    securityToken,
  });
}

/** Fixed credentials (tests, the simulator, an accounts file). */
export function staticCredentialsProvider(c: Credentials): CredentialsProvider {
  if (!c.accessKeyId || !c.accessKeySecret) {
    throw new FatalError('static credentials need an accessKeyId and an accessKeySecret', {
      code: 'MissingCredentials',
    });
  }
  return fixedProvider('static', c);
}

/** A provider that always answers `c`, under `name`. */
export function fixedProvider(name: string, c: Credentials): CredentialsProvider {
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
