/**
 * The default credential chain, in the order of `@alicloud/credentials` (reference §7):
 *
 *   1. env           ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN
 *   2. oidc_role_arn ALIBABA_CLOUD_ROLE_ARN + _OIDC_PROVIDER_ARN + _OIDC_TOKEN_FILE → STS AssumeRoleWithOIDC
 *   3. cli_profile   ~/.aliyun/config.json (ALIBABA_CLOUD_PROFILE or `current`)
 *   4. profile       ~/.alibabacloud/credentials or ALIBABA_CLOUD_CREDENTIALS_FILE
 *   5. ecs_ram_role  the instance's RAM role from the metadata service (unless
 *                    ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)
 *
 * (The SDK's sixth source, ALIBABA_CLOUD_CREDENTIALS_URI, is not implemented.)
 *
 * How a source is chosen — and where this deliberately differs from the SDK, which falls through
 * to the next source on ANY error: a source that is not configured (variables unset, file or
 * profile absent) is skipped; a source that IS configured is chosen, and its errors are reported
 * as they are (naming the source) instead of being hidden behind a later source. So a typo in a
 * profile never silently runs the service as the instance's RAM role. The metadata service is the
 * exception that proves the rule: it is "configured" by default, so when no role is named
 * (ALIBABA_CLOUD_ECS_METADATA unset) and nothing answers at 100.100.100.200, or no role is
 * attached, it is skipped like an unset variable.
 *
 * The choice is made on the first `get()` (concurrent first calls share it) and kept; a failed
 * choice is not kept, so the next `get()` tries again. Nothing applicable → FatalError
 * `MissingCredentials` with one line saying what was tried and why each was skipped.
 */
import { FatalError, RetryableError, type SyncError } from '../errors.js';
import { resolveCliProfile } from './cli-profile.js';
import { ecsRamRoleFromEnv } from './ecs-metadata.js';
import { noAnswer } from './http.js';
import { resolveIniProfile } from './ini-profile.js';
import { resolveOnce } from './session.js';
import {
  ENV_ACCESS_KEY_ID,
  ENV_ACCESS_KEY_SECRET,
  envCredentialsProvider,
  envFlag,
  nonEmpty,
} from './static.js';
import { oidcRoleProvider, stsEndpoint } from './sts.js';
import type {
  Credentials,
  CredentialsHttpOptions,
  CredentialsLog,
  CredentialsProvider,
  EnvContext,
  ReadTextFile,
  Resolution,
} from './types.js';

export interface ChainOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** Home directory for `~/.aliyun/config.json` and `~/.alibabacloud/credentials` (`os.homedir()`). */
  homeDir: string;
  log: CredentialsLog;
  http?: CredentialsHttpOptions | undefined;
  /** Clock for session refresh (tests). Default `new Date()`. */
  now?: (() => Date) | undefined;
  /** File reader (tests). Default `fs.promises.readFile`. */
  readFile?: ReadTextFile | undefined;
}

interface Step {
  name: string;
  resolve(ctx: EnvContext): Promise<Resolution>;
}

const OIDC_VARS = [
  'ALIBABA_CLOUD_ROLE_ARN',
  'ALIBABA_CLOUD_OIDC_PROVIDER_ARN',
  'ALIBABA_CLOUD_OIDC_TOKEN_FILE',
];

/** The chain's steps, in order. */
const CHAIN_STEPS: readonly Step[] = [
  {
    name: 'env',
    resolve: async ({ env }) => {
      if (
        nonEmpty(env[ENV_ACCESS_KEY_ID]) === undefined &&
        nonEmpty(env[ENV_ACCESS_KEY_SECRET]) === undefined
      ) {
        return { skipped: `${ENV_ACCESS_KEY_ID} not set` };
      }
      // One of the pair set without the other is a mistake, not "not configured": it throws.
      return { provider: envCredentialsProvider(env) };
    },
  },
  {
    name: 'oidc_role_arn',
    resolve: async (ctx) => {
      const [roleArn, providerArn, tokenFile] = OIDC_VARS.map((v) => nonEmpty(ctx.env[v]));
      if (roleArn === undefined || providerArn === undefined || tokenFile === undefined) {
        const missing = OIDC_VARS.filter((v) => nonEmpty(ctx.env[v]) === undefined);
        return { skipped: `${missing.join(', ')} not set` };
      }
      return {
        provider: oidcRoleProvider({
          ...ctx,
          roleArn,
          oidcProviderArn: providerArn,
          oidcTokenFile: tokenFile,
          roleSessionName: ctx.env.ALIBABA_CLOUD_ROLE_SESSION_NAME,
          endpoint: stsEndpoint(ctx.env),
        }),
      };
    },
  },
  { name: 'cli_profile', resolve: (ctx) => resolveCliProfile(ctx) },
  { name: 'profile', resolve: (ctx) => resolveIniProfile(ctx) },
  {
    name: 'ecs_ram_role',
    resolve: async (ctx) => {
      if (envFlag(ctx.env.ALIBABA_CLOUD_ECS_METADATA_DISABLED)) {
        return { skipped: 'disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED' };
      }
      return { provider: ecsRamRoleFromEnv(ctx) };
    },
  },
];

/** The error again, with `prefix` in front of its message; same class, code and request id. */
function prefixed(err: unknown, prefix: string): unknown {
  if (!(err instanceof FatalError) && !(err instanceof RetryableError)) return err;
  const e: SyncError = err;
  const Ctor = e.retryable ? RetryableError : FatalError;
  return new Ctor(`${prefix}: ${e.message}`, {
    code: e.code,
    requestId: e.requestId,
    httpStatus: e.httpStatus,
    retryAfterMs: e.retryAfterMs,
    cause: err,
  });
}

export interface ChainProvider extends CredentialsProvider {
  /** The chosen source (`env`, `ecs_ram_role`, `cli_profile/ram_role_arn`…), once chosen. */
  readonly source: string | undefined;
}

/** The default credential chain. `name` is `chain` until a source is chosen, then `chain/<source>`. */
export function defaultCredentialsChain(opts: ChainOptions): ChainProvider {
  const ctx: EnvContext = {
    env: opts.env,
    homeDir: opts.homeDir,
    log: opts.log,
    http: opts.http,
    now: opts.now,
    readFile: opts.readFile,
  };
  const implicitEcsRole = nonEmpty(opts.env.ALIBABA_CLOUD_ECS_METADATA) === undefined;

  async function select(): Promise<CredentialsProvider> {
    const tried: string[] = [];
    for (const step of CHAIN_STEPS) {
      let provider: CredentialsProvider;
      try {
        const r = await step.resolve(ctx);
        if ('skipped' in r) {
          tried.push(`${step.name} (${r.skipped})`);
          continue;
        }
        provider = r.provider;
        // Fetch once now: a configured source that cannot deliver is reported here, by name.
        await provider.get();
      } catch (err) {
        if (step.name === 'ecs_ram_role' && implicitEcsRole) {
          if (noAnswer(err)) {
            tried.push('ecs_ram_role (metadata service not reachable)');
            continue;
          }
          if (err instanceof FatalError && err.code === 'EcsRamRoleNotFound') {
            tried.push('ecs_ram_role (no RAM role attached)');
            continue;
          }
        }
        throw prefixed(err, `credentials source ${step.name}`);
      }
      opts.log.info({ source: provider.name, skipped: tried }, 'Alibaba Cloud credentials source chosen');
      return provider;
    }
    throw new FatalError(`no Alibaba Cloud credentials found; tried: ${tried.join(', ')}`, {
      code: 'MissingCredentials',
    });
  }

  const chosen = resolveOnce(select);
  return {
    get name() {
      return chosen.value ? `chain/${chosen.value.name}` : 'chain';
    },
    get source() {
      return chosen.value?.name;
    },
    async get(signal?: AbortSignal): Promise<Credentials> {
      const current = await chosen.get(signal);
      try {
        return await current.get(signal);
      } catch (err) {
        throw prefixed(err, `credentials source ${current.name}`);
      }
    },
  };
}
