/**
 * Credentials described as data (an accounts file entry) and turned into a provider. The spec is
 * what `loadAccounts` validates; `credentialsProviderFor` builds the provider when the service
 * builds the account's ECS client; `describeCredentials` gives a secret-free line for logs.
 */
import { FatalError } from '../errors.js';
import { type ChainOptions, defaultCredentialsChain } from './chain.js';
import { cliConfigPath, resolveCliProfile } from './cli-profile.js';
import { ecsRamRoleFromEnv } from './ecs-metadata.js';
import { defaultIniPath, resolveIniProfile } from './ini-profile.js';
import { resolveOnce } from './session.js';
import { envCredentialsProvider, staticCredentialsProvider } from './static.js';
import { assumeRoleProvider, oidcRoleProvider, stsEndpoint } from './sts.js';
import type { Credentials, CredentialsProvider, EnvContext } from './types.js';

export interface StsSpecFields {
  roleSessionName?: string | undefined;
  /** Default 3600, at least 900. */
  durationSeconds?: number | undefined;
  policy?: string | undefined;
  /** STS endpoint URL or host for this account. Default: ALIBABA_CLOUD_STS_ENDPOINT / _STS_REGION / sts.aliyuncs.com. */
  stsEndpoint?: string | undefined;
  /** `sts.<region>.aliyuncs.com`. */
  stsRegion?: string | undefined;
}

/** Sources that need no other credentials to start from. */
export type BaseCredentialsSpec =
  | {
      /** An AccessKey from environment variables; the names default to the standard ALIBABA_CLOUD_* ones. */
      source: 'env';
      accessKeyIdVar?: string | undefined;
      accessKeySecretVar?: string | undefined;
      securityTokenVar?: string | undefined;
    }
  | { source: 'static'; accessKeyId: string; accessKeySecret: string; securityToken?: string | undefined }
  | {
      /** A named profile: the CLI config's profile of that name, else the credentials file's section. */
      source: 'profile';
      profile: string;
    }
  | { source: 'ecs_ram_role'; roleName?: string | undefined }
  | ({ source: 'oidc'; roleArn: string; oidcProviderArn: string; oidcTokenFile: string } & StsSpecFields)
  | { source: 'chain' };

export type CredentialsSpec =
  | BaseCredentialsSpec
  | ({
      /** STS AssumeRole into `roleArn`, signed by `base` (default: the default chain). */
      source: 'ram_role_arn';
      roleArn: string;
      externalId?: string | undefined;
      base?: BaseCredentialsSpec | undefined;
    } & StsSpecFields);

/** Resolves once, on first use (concurrent first calls share it); a failure is retried next time. */
function lazyProvider(name: string, resolve: () => Promise<CredentialsProvider>): CredentialsProvider {
  const resolved = resolveOnce(resolve);
  return {
    get name() {
      return resolved.value ? resolved.value.name : name;
    },
    async get(signal?: AbortSignal): Promise<Credentials> {
      return (await resolved.get(signal)).get(signal);
    },
  };
}

/** Builds the provider of a spec. Configuration mistakes that need no I/O throw here (FatalError). */
export function credentialsProviderFor(spec: CredentialsSpec, opts: ChainOptions): CredentialsProvider {
  const ctx: EnvContext = { ...opts };
  switch (spec.source) {
    case 'env':
      return envCredentialsProvider(opts.env, {
        accessKeyId: spec.accessKeyIdVar,
        accessKeySecret: spec.accessKeySecretVar,
        securityToken: spec.securityTokenVar,
      });
    case 'static':
      return staticCredentialsProvider({
        accessKeyId: spec.accessKeyId,
        accessKeySecret: spec.accessKeySecret,
        securityToken: spec.securityToken,
      });
    case 'profile':
      return lazyProvider(`profile(${spec.profile})`, async () => {
        const cli = await resolveCliProfile(ctx, spec.profile);
        if ('provider' in cli) return cli.provider;
        const ini = await resolveIniProfile(ctx, spec.profile);
        if ('provider' in ini) return ini.provider;
        throw new FatalError(
          `profile "${spec.profile}" is neither in ${cliConfigPath(opts.homeDir)} nor in ${
            opts.env.ALIBABA_CLOUD_CREDENTIALS_FILE?.trim() || defaultIniPath(opts.homeDir)
          }`,
          { code: 'MissingCredentials' },
        );
      });
    case 'ecs_ram_role':
      return ecsRamRoleFromEnv(ctx, spec.roleName);
    case 'oidc':
      return oidcRoleProvider({
        ...ctx,
        roleArn: spec.roleArn,
        oidcProviderArn: spec.oidcProviderArn,
        oidcTokenFile: spec.oidcTokenFile,
        roleSessionName: spec.roleSessionName,
        durationSeconds: spec.durationSeconds,
        policy: spec.policy,
        endpoint: stsEndpoint(opts.env, { endpoint: spec.stsEndpoint, region: spec.stsRegion }),
      });
    case 'chain':
      return defaultCredentialsChain(opts);
    case 'ram_role_arn':
      return assumeRoleProvider({
        ...ctx,
        source: credentialsProviderFor(spec.base ?? { source: 'chain' }, opts),
        roleArn: spec.roleArn,
        roleSessionName: spec.roleSessionName,
        durationSeconds: spec.durationSeconds,
        policy: spec.policy,
        externalId: spec.externalId,
        endpoint: stsEndpoint(opts.env, { endpoint: spec.stsEndpoint, region: spec.stsRegion }),
      });
    default: {
      const never: never = spec;
      throw new Error(`unknown credentials source ${JSON.stringify(never)}`);
    }
  }
}

/** A secret-free one-line description of a spec, for logs and `status` output. */
export function describeCredentials(spec: CredentialsSpec): string {
  switch (spec.source) {
    case 'env':
      return `env(${spec.accessKeyIdVar ?? 'ALIBABA_CLOUD_ACCESS_KEY_ID'})`;
    case 'static':
      return 'static';
    case 'profile':
      return `profile(${spec.profile})`;
    case 'ecs_ram_role':
      return spec.roleName ? `ecs_ram_role(${spec.roleName})` : 'ecs_ram_role';
    case 'oidc':
      return `oidc(${spec.roleArn})`;
    case 'chain':
      return 'chain';
    case 'ram_role_arn':
      return `ram_role_arn(${spec.roleArn}) via ${describeCredentials(spec.base ?? { source: 'chain' })}`;
    default: {
      const never: never = spec;
      return String(never);
    }
  }
}
