/**
 * Alibaba Cloud credentials behind one small interface.
 *
 * Callers (the ECS client) ask a `CredentialsProvider` for credentials before EVERY request
 * attempt, so providers that refresh (STS AssumeRole, OIDC/RRSA, the ECS RAM role) slot in without
 * changing them: caching and refresh are the provider's business, not the caller's.
 *
 * This file is the public door; the providers live in `credentials/`:
 * - `static.ts`       env trio and fixed keys
 * - `session.ts`      refresh 15 min before expiry, one shared refresh, keep valid creds on failure
 * - `sts.ts`          STS AssumeRole (signed V1) and AssumeRoleWithOIDC
 * - `ecs-metadata.ts` the ECS RAM role over IMDSv2 (v1 fallback)
 * - `cli-profile.ts`  ~/.aliyun/config.json; `ini-profile.ts` ~/.alibabacloud/credentials
 * - `chain.ts`        the default chain; `spec.ts` credentials described as data (accounts file)
 *
 * No secret ever reaches an error message or a log line: errors name variables, files, profiles
 * and role ARNs, never values, tokens or response bodies.
 */
export {
  CHAIN_STEPS,
  type ChainOptions,
  type ChainProvider,
  defaultCredentialsChain,
} from './chain.js';
export { cliConfigPath, resolveCliProfile, SUPPORTED_CLI_MODES } from './cli-profile.js';
export {
  DEFAULT_ECS_METADATA_ENDPOINT,
  type EcsRamRoleOptions,
  ecsRamRoleFromEnv,
  ecsRamRoleProvider,
  metadataEndpoint,
} from './ecs-metadata.js';
export {
  defaultIniPath,
  parseIni,
  resolveIniProfile,
  SUPPORTED_INI_TYPES,
} from './ini-profile.js';
export {
  REFRESH_FAILURE_BACKOFF_MS,
  type SessionCredentials,
  type SessionProviderOptions,
  STALE_MS,
  sessionProvider,
} from './session.js';
export {
  type BaseCredentialsSpec,
  type CredentialsSpec,
  credentialsProviderFor,
  describeCredentials,
  type StsSpecFields,
} from './spec.js';
export {
  ENV_ACCESS_KEY_ID,
  ENV_ACCESS_KEY_SECRET,
  ENV_SECURITY_TOKEN,
  type EnvVariableNames,
  envCredentialsProvider,
  staticCredentialsProvider,
} from './static.js';
export {
  type AssumeRoleOptions,
  assumeRoleProvider,
  DEFAULT_STS_ENDPOINT,
  type OidcRoleOptions,
  oidcRoleProvider,
  stsEndpoint,
} from './sts.js';
export type {
  Credentials,
  CredentialsHttpOptions,
  CredentialsLog,
  CredentialsProvider,
  ProviderContext,
  ReadTextFile,
} from './types.js';
