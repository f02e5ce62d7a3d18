/**
 * The shared credentials file, `~/.alibabacloud/credentials` (INI; `ALIBABA_CLOUD_CREDENTIALS_FILE`
 * overrides the path), section `ALIBABA_CLOUD_PROFILE` or `default`. Types `access_key`
 * (`access_key_id`, `access_key_secret`), `ecs_ram_role` (`role_name`, optional) and `ram_role_arn`
 * (`access_key_id`, `access_key_secret`, `role_arn`, `role_session_name`, `policy`) — the types
 * `@alicloud/credentials` reads from this file.
 *
 * The default path absent, or the section absent: the source does not apply. A path set in
 * ALIBABA_CLOUD_CREDENTIALS_FILE that does not exist is an error (someone meant it), as is an
 * unknown `type` or a missing field; errors name the file, section and field, never a value.
 */
import path from 'node:path';
import { FatalError } from '../errors.js';
import { ecsRamRoleFromEnv } from './ecs-metadata.js';
import { readOptionalFile } from './files.js';
import { fixedProvider, nonEmpty } from './static.js';
import { assumeRoleProvider, stsEndpoint } from './sts.js';
import type { EnvContext, Resolution } from './types.js';

const SUPPORTED_INI_TYPES = ['access_key', 'ecs_ram_role', 'ram_role_arn'] as const;

/** Minimal INI: `[section]`, `key = value`, `#` / `;` comment lines, optional quotes around values. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (section?.[1] !== undefined) {
      current = sections.get(section[1]) ?? new Map<string, string>();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || current === undefined) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    current.set(line.slice(0, eq).trim(), value);
  }
  return sections;
}

export function defaultIniPath(homeDir: string): string {
  return path.join(homeDir, '.alibabacloud', 'credentials');
}

/** Resolves the credentials-file source. `sectionName` overrides `ALIBABA_CLOUD_PROFILE` / `default`. */
export async function resolveIniProfile(
  ctx: EnvContext,
  sectionName?: string | undefined,
): Promise<Resolution> {
  const explicit = nonEmpty(ctx.env.ALIBABA_CLOUD_CREDENTIALS_FILE);
  const file = explicit ?? defaultIniPath(ctx.homeDir);
  const label = explicit !== undefined ? 'ALIBABA_CLOUD_CREDENTIALS_FILE' : 'credentials file';
  const text = await readOptionalFile(ctx, file, label);
  if (text === undefined) {
    if (explicit !== undefined) {
      throw new FatalError(`ALIBABA_CLOUD_CREDENTIALS_FILE ${file}: not found`, {
        code: 'CredentialsFileUnreadable',
      });
    }
    return { skipped: `${file} not found` };
  }
  const name = nonEmpty(sectionName) ?? nonEmpty(ctx.env.ALIBABA_CLOUD_PROFILE) ?? 'default';
  const section = parseIni(text).get(name);
  if (section === undefined) return { skipped: `${file} has no section [${name}]` };

  const where = `${label} ${file}: [${name}]`;
  const type = nonEmpty(section.get('type'));
  const need = (...keys: string[]): string[] => {
    const missing = keys.filter((k) => nonEmpty(section.get(k)) === undefined);
    if (missing.length > 0) {
      throw new FatalError(`${where} (type ${type}): ${missing.join(' and ')} required`, {
        code: 'InvalidProfile',
      });
    }
    return keys.map((k) => (section.get(k) ?? '').trim());
  };
  switch (type) {
    case 'access_key': {
      const [accessKeyId = '', accessKeySecret = ''] = need('access_key_id', 'access_key_secret');
      return { provider: fixedProvider('profile/static_ak', { accessKeyId, accessKeySecret }) };
    }
    case 'ecs_ram_role':
      return { provider: ecsRamRoleFromEnv(ctx, section.get('role_name'), 'profile/ecs_ram_role') };
    case 'ram_role_arn': {
      const [accessKeyId = '', accessKeySecret = '', roleArn = ''] = need(
        'access_key_id',
        'access_key_secret',
        'role_arn',
      );
      return {
        provider: assumeRoleProvider({
          ...ctx,
          name: 'profile/ram_role_arn',
          source: fixedProvider('profile/static_ak', { accessKeyId, accessKeySecret }),
          roleArn,
          roleSessionName: section.get('role_session_name'),
          policy: nonEmpty(section.get('policy')),
          endpoint: stsEndpoint(ctx.env),
        }),
      };
    }
    default:
      throw new FatalError(
        `${where}: type ${type ?? '(none)'} is not supported (supported: ${SUPPORTED_INI_TYPES.join(', ')})`,
        { code: 'InvalidProfile' },
      );
  }
}
