/**
 * Alibaba Cloud credentials behind one small interface.
 *
 * Callers (the ECS client) ask a `CredentialsProvider` for credentials before EVERY request
 * attempt, so providers that refresh (STS AssumeRole, OIDC/RRSA, the ECS RAM role) slot in without
 * changing them: caching and refresh are the provider's business, not the caller's.
 *
 * This file is the public door; the providers live beside it:
 * - `static.ts`       env trio and fixed keys
 * - `session.ts`      refresh 15 min before expiry, one shared refresh, keep valid creds on failure
 * - `sts.ts`          STS AssumeRole (signed V1) and AssumeRoleWithOIDC
 * - `ecs-metadata.ts` the ECS RAM role over IMDSv2 (v1 fallback)
 * - `cli-profile.ts`  ~/.aliyun/config.json; `ini-profile.ts` ~/.alibabacloud/credentials
 * - `chain.ts`        the default chain; `spec.ts` credentials described as data (accounts file)
 * - `http.ts`         the one HTTP call of STS and the metadata service; `files.ts` file reading
 *
 * No secret ever reaches an error message or a log line: errors name variables, files, profiles
 * and role ARNs, never values, tokens or response bodies.
 */
export { type ChainOptions, defaultCredentialsChain } from './chain.js';
export { resolveCliProfile } from './cli-profile.js';
export { ecsRamRoleFromEnv, ecsRamRoleProvider, metadataEndpoint } from './ecs-metadata.js';
export { parseIni, resolveIniProfile } from './ini-profile.js';
export { type SessionCredentials, STALE_MS, sessionProvider } from './session.js';
export { type CredentialsSpec, credentialsProviderFor, describeCredentials } from './spec.js';
export {
  ENV_ACCESS_KEY_ID,
  ENV_ACCESS_KEY_SECRET,
  envCredentialsProvider,
  staticCredentialsProvider,
} from './static.js';
export { assumeRoleProvider, oidcRoleProvider, stsEndpoint } from './sts.js';
export type { Credentials, CredentialsProvider } from './types.js';
