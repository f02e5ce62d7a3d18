/**
 * The Alibaba Cloud CLI's profiles, `~/.aliyun/config.json` (what `aliyun configure` writes): the
 * profile `ALIBABA_CLOUD_PROFILE` names, else the file's `current`. Modes AK, StsToken, RamRoleArn
 * and EcsRamRole; the others the CLI knows (OIDC, ChainableRamRoleArn, CloudSSO, OAuth, External)
 * are refused with a clear error rather than skipped, so a chosen profile is never silently
 * replaced by a later source. `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true` turns the source off.
 *
 * Absent file or absent profile: the source does not apply (the chain goes on, as the SDK does —
 * `ALIBABA_CLOUD_PROFILE` also names the section of the credentials file, the next source).
 * A file that is not JSON, or a profile missing a field its mode needs: FatalError naming the
 * file, the profile and the field, never a value.
 */
import path from 'node:path';
import { z } from 'zod';
import { FatalError } from '../errors.js';
import { ecsRamRoleFromEnv } from './ecs-metadata.js';
import { readOptionalFile } from './files.js';
import { envFlag, fixedProvider, nonEmpty } from './static.js';
import { assumeRoleProvider, stsEndpoint } from './sts.js';
import type { EnvContext, Resolution } from './types.js';

const SUPPORTED_CLI_MODES = ['AK', 'StsToken', 'RamRoleArn', 'EcsRamRole'] as const;

const profileSchema = z.looseObject({
  name: z.string(),
  mode: z.string().optional(),
  access_key_id: z.string().optional(),
  access_key_secret: z.string().optional(),
  sts_token: z.string().optional(),
  ram_role_name: z.string().optional(),
  ram_role_arn: z.string().optional(),
  ram_session_name: z.string().optional(),
  expired_seconds: z.number().optional(),
  sts_region: z.string().optional(),
  sts_endpoint: z.string().optional(),
});
const configSchema = z.looseObject({
  current: z.string().optional(),
  profiles: z.array(profileSchema).optional(),
});

export function cliConfigPath(homeDir: string): string {
  return path.join(homeDir, '.aliyun', 'config.json');
}

/**
 * Resolves the CLI profile source. `profileName` overrides `ALIBABA_CLOUD_PROFILE` / `current`
 * (an accounts file naming a profile).
 */
export async function resolveCliProfile(
  ctx: EnvContext,
  profileName?: string | undefined,
): Promise<Resolution> {
  if (profileName === undefined && envFlag(ctx.env.ALIBABA_CLOUD_CLI_PROFILE_DISABLED)) {
    return { skipped: 'disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED' };
  }
  const file = cliConfigPath(ctx.homeDir);
  const label = 'Alibaba Cloud CLI config';
  const text = await readOptionalFile(ctx, file, label);
  if (text === undefined) return { skipped: `${file} not found` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FatalError(`${label} ${file}: not valid JSON`, { code: 'InvalidProfile' });
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.map(String).join('.') : '';
    throw new FatalError(`${label} ${file}: ${where ? `${where}: ` : ''}unexpected shape`, {
      code: 'InvalidProfile',
    });
  }
  const name =
    nonEmpty(profileName) ?? nonEmpty(ctx.env.ALIBABA_CLOUD_PROFILE) ?? nonEmpty(parsed.data.current);
  if (name === undefined) return { skipped: `${file} names no current profile` };
  const p = parsed.data.profiles?.find((x) => x.name === name);
  if (p === undefined) return { skipped: `${file} has no profile "${name}"` };

  const where = `${label} ${file}: profile "${name}"`;
  const need = (fields: Record<string, string | undefined>): Record<string, string> => {
    const missing = Object.entries(fields)
      .filter(([, v]) => nonEmpty(v) === undefined)
      .map(([k]) => k);
    if (missing.length > 0) {
      throw new FatalError(`${where} (mode ${p.mode}): ${missing.join(' and ')} required`, {
        code: 'InvalidProfile',
      });
    }
    return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, (v ?? '').trim()]));
  };
  switch (p.mode) {
    case 'AK': {
      const f = need({ access_key_id: p.access_key_id, access_key_secret: p.access_key_secret });
      return {
        provider: fixedProvider('cli_profile/static_ak', {
          accessKeyId: f.access_key_id ?? '',
          accessKeySecret: f.access_key_secret ?? '',
        }),
      };
    }
    case 'StsToken': {
      const f = need({
        access_key_id: p.access_key_id,
        access_key_secret: p.access_key_secret,
        sts_token: p.sts_token,
      });
      return {
        provider: fixedProvider('cli_profile/static_sts', {
          accessKeyId: f.access_key_id ?? '',
          accessKeySecret: f.access_key_secret ?? '',
          securityToken: f.sts_token,
        }),
      };
    }
    case 'RamRoleArn': {
      const f = need({
        access_key_id: p.access_key_id,
        access_key_secret: p.access_key_secret,
        ram_role_arn: p.ram_role_arn,
      });
      const source = fixedProvider('cli_profile/static_ak', {
        accessKeyId: f.access_key_id ?? '',
        accessKeySecret: f.access_key_secret ?? '',
      });
      return {
        provider: assumeRoleProvider({
          ...ctx,
          name: 'cli_profile/ram_role_arn',
          source,
          roleArn: f.ram_role_arn ?? '',
          roleSessionName: p.ram_session_name,
          // The CLI writes 0 for "not set".
          durationSeconds: p.expired_seconds ? p.expired_seconds : undefined,
          endpoint: stsEndpoint(ctx.env, { endpoint: p.sts_endpoint, region: p.sts_region }),
        }),
      };
    }
    case 'EcsRamRole':
      return { provider: ecsRamRoleFromEnv(ctx, p.ram_role_name, 'cli_profile/ecs_ram_role') };
    default:
      throw new FatalError(
        `${where}: mode ${p.mode ?? '(none)'} is not supported (supported: ${SUPPORTED_CLI_MODES.join(', ')})`,
        { code: 'InvalidProfile' },
      );
  }
}
