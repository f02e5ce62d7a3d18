/**
 * ACCOUNTS_FILE: a JSON or YAML file (by extension; `.json` is JSON, anything else YAML, which
 * also reads JSON) listing accounts, each with its own credentials, regions, optional targets and
 * QPS cap:
 *
 * ```yaml
 * accounts:
 *   - name: prod
 *     accountId: "1234567890123456"   # optional: maps EventBridge pushes to this account
 *     credentials: { source: ram_role_arn, roleArn: "acs:ram::1234567890123456:role/classiclink-sync" }
 *     regions: [cn-hangzhou, cn-beijing]
 *   - name: legacy
 *     credentials: { source: env, accessKeyIdVar: LEGACY_AK_ID, accessKeySecretVar: LEGACY_AK_SECRET }
 *     targets: ["cn-shanghai:vpc-uf6abc"]
 *     maxQps: 2
 * ```
 *
 * Validation has the quality of `loadConfig`: one line per problem, naming the file, the account
 * (index and name) and the field — `ACCOUNTS_FILE accounts.yaml: accounts[1] (prod).regions[0]:
 * expected a region id like cn-hangzhou`. Unknown fields and duplicate names are refused. No value
 * is ever echoed (a static accessKeySecret must not end up in a log), and parse errors give a
 * position, never the offending text.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { type core, z } from 'zod';
import type { AccountSpec } from './accounts.js';
import { ConfigError } from './config.js';
import { ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET } from './credentials/index.js';
import { ACCOUNT_NAME, accountName, parseTarget, regionId } from './ids.js';

const ROLE_ARN = /^acs:ram::\d+:role\/[A-Za-z0-9._\-/]+$/;
const OIDC_PROVIDER_ARN = /^acs:ram::\d+:oidc-provider\/[A-Za-z0-9._-]+$/;
const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const text = z.string().trim().min(1, 'must not be empty');
const roleArn = z
  .string()
  .regex(ROLE_ARN, 'expected a RAM role ARN like acs:ram::1234567890123456:role/name');
const envName = z.string().regex(ENV_NAME, 'expected an environment variable name like PROD_AK_ID');
const endpoint = z.string().refine((s) => {
  try {
    const u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `https://${s}`);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}, 'expected an http(s) URL or a host name like sts.cn-hangzhou.aliyuncs.com');

const stsFields = {
  roleSessionName: z.string().regex(SESSION_NAME, 'expected 2-64 letters, digits, . @ _ or -').optional(),
  durationSeconds: z
    .number()
    .int('expected a whole number of seconds')
    .min(900, 'must be at least 900')
    .max(43200, 'must be at most 43200')
    .optional(),
  policy: text.optional(),
  stsEndpoint: endpoint.optional(),
  stsRegion: regionId.optional(),
};

const baseSources = [
  z.strictObject({
    source: z.literal('env'),
    accessKeyIdVar: envName.optional(),
    accessKeySecretVar: envName.optional(),
    securityTokenVar: envName.optional(),
  }),
  z.strictObject({
    source: z.literal('static'),
    accessKeyId: text,
    accessKeySecret: text,
    securityToken: text.optional(),
  }),
  z.strictObject({ source: z.literal('profile'), profile: text }),
  z.strictObject({ source: z.literal('ecs_ram_role'), roleName: text.optional() }),
  z.strictObject({
    source: z.literal('oidc'),
    roleArn,
    oidcProviderArn: z
      .string()
      .regex(
        OIDC_PROVIDER_ARN,
        'expected an OIDC provider ARN like acs:ram::1234567890123456:oidc-provider/name',
      ),
    oidcTokenFile: text,
    ...stsFields,
  }),
  z.strictObject({ source: z.literal('chain') }),
] as const;

const BASE_NAMES = ['env', 'static', 'profile', 'ecs_ram_role', 'oidc', 'chain'];
const ALL_NAMES = [...BASE_NAMES.slice(0, 4), 'ram_role_arn', ...BASE_NAMES.slice(4)];

const baseCredentials = z.discriminatedUnion('source', [...baseSources], {
  error: `expected source to be one of ${BASE_NAMES.join(', ')}`,
});

const credentials = z.discriminatedUnion(
  'source',
  [
    ...baseSources,
    z.strictObject({
      source: z.literal('ram_role_arn'),
      roleArn,
      externalId: text.optional(),
      base: baseCredentials.optional(),
      ...stsFields,
    }),
  ],
  { error: `expected source to be one of ${ALL_NAMES.join(', ')}` },
);

const account = z.strictObject({
  name: accountName,
  /** The Alibaba Cloud account id (UID): which account an EventBridge push belongs to. */
  accountId: z
    .preprocess(
      // YAML reads an unquoted id as a number: kept when exact.
      (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : v),
      z.string().regex(/^\d{1,20}$/, 'expected the Alibaba Cloud account id (digits)'),
    )
    .optional(),
  credentials,
  regions: z.array(regionId).optional(),
  targets: z
    .array(
      z
        .string()
        .refine((t) => parseTarget(t) !== undefined, 'expected region:vpc-id, e.g. cn-hangzhou:vpc-bp1abc'),
    )
    .optional(),
  maxQps: z
    .number()
    .int('expected a whole number')
    .min(1, 'must be at least 1')
    .max(10_000, 'must be at most 10000')
    .optional(),
});

const accountsFileSchema = z.strictObject({
  accounts: z.array(account).min(1, 'list at least one account'),
});

type ParsedAccount = z.infer<typeof account>;

// ---------------------------------------------------------------------------------------------
// Loading

/** A bad ACCOUNTS_FILE: `problems` are the lines; the message is them joined by newlines. */
export class AccountsFileError extends ConfigError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

export interface LoadAccountsOptions {
  /** The ACCOUNTS_FILE path, as configured (it is quoted in messages as given). */
  file: string;
  /** For `env` sources: the variables they name must be set. */
  env: Readonly<Record<string, string | undefined>>;
  /** Default `fs.promises.readFile(path, 'utf8')`. */
  readFile?: ((path: string) => Promise<string>) | undefined;
}

export async function loadAccounts(opts: LoadAccountsOptions): Promise<AccountSpec[]> {
  const head = `ACCOUNTS_FILE ${opts.file}`;
  const read = opts.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
  let source: string;
  try {
    source = await read(opts.file);
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'EIO';
    throw new AccountsFileError([`${head}: cannot read the file (${code})`]);
  }
  const raw = parseText(source, opts.file, head);
  const result = accountsFileSchema.safeParse(raw);
  const problems = result.success ? [] : result.error.issues.flatMap((i) => issueLines(i, raw, head));
  if (result.success) problems.push(...semanticProblems(result.data.accounts, opts.env, raw, head));
  if (problems.length > 0 || !result.success) throw new AccountsFileError(problems);
  return result.data.accounts.map(toSpec);
}

function parseText(source: string, file: string, head: string): unknown {
  if (/\.json$/i.test(file)) {
    try {
      return JSON.parse(source);
    } catch (err) {
      // Node's message quotes the text around the error, which may hold a secret: give a position.
      const pos = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
      const where = pos === undefined ? '' : ` at ${lineColumn(source, Number(pos))}`;
      throw new AccountsFileError([`${head}: not valid JSON${where}`]);
    }
  }
  // `prettyErrors` fills `linePos`; its message (a code frame quoting the text) is never used.
  const doc = parseDocument(source, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const where = first.linePos?.[0]
      ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}`
      : '';
    throw new AccountsFileError([`${head}: not valid YAML${where} (${first.code})`]);
  }
  return doc.toJS();
}

function lineColumn(source: string, offset: number): string {
  const before = source.slice(0, offset).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

function at(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** `accounts[1] (prod).regions[0]`: the account by index and (when it is a valid one) name. */
function formatPath(path: readonly PropertyKey[], raw: unknown): string {
  let out = '';
  path.forEach((k, i) => {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out === '' ? String(k) : `.${String(k)}`;
    if (i === 1 && path[0] === 'accounts' && typeof k === 'number') {
      const name = at(raw, ['accounts', k, 'name']);
      if (typeof name === 'string' && ACCOUNT_NAME.test(name)) out += ` (${name})`;
    }
  });
  return out;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  array: 'a list',
  object: 'a mapping (object)',
  boolean: 'true or false',
};

function issueLines(issue: core.$ZodIssue, raw: unknown, head: string): string[] {
  const line = (path: readonly PropertyKey[], message: string) =>
    `${head}: ${path.length > 0 ? `${formatPath(path, raw)}: ` : ''}${message}`;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => line([...issue.path, k], 'unknown field'));
    case 'invalid_type': {
      if (at(raw, issue.path) === undefined) return [line(issue.path, 'required')];
      if (issue.message.startsWith('expected source')) return [line(issue.path, issue.message)];
      return [line(issue.path, `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}`)];
    }
    case 'invalid_union':
      if (at(raw, issue.path) === undefined) return [line(issue.path, `required: ${issue.message}`)];
      return [line(issue.path, issue.message)];
    default:
      return [line(issue.path, issue.message)];
  }
}

/** What the schema cannot see alone: duplicate names, no regions at all, unset variables. */
function semanticProblems(
  accounts: readonly ParsedAccount[],
  env: Readonly<Record<string, string | undefined>>,
  raw: unknown,
  head: string,
): string[] {
  const problems: string[] = [];
  const line = (path: readonly PropertyKey[], message: string) =>
    `${head}: ${formatPath(path, raw)}: ${message}`;
  const seen = new Map<string, number>();
  accounts.forEach((a, i) => {
    const first = seen.get(a.name);
    if (first !== undefined) {
      problems.push(line(['accounts', i, 'name'], `duplicate account name (also accounts[${first}])`));
    } else {
      seen.set(a.name, i);
    }
    if ((a.regions ?? []).length === 0 && (a.targets ?? []).length === 0) {
      problems.push(line(['accounts', i, 'regions'], 'required (or targets): list at least one region'));
    }
    const checkEnv = (c: ParsedAccount['credentials'], path: PropertyKey[]) => {
      if (c.source === 'env') {
        const vars: [string, string | undefined, string][] = [
          ['accessKeyIdVar', c.accessKeyIdVar, ENV_ACCESS_KEY_ID],
          ['accessKeySecretVar', c.accessKeySecretVar, ENV_ACCESS_KEY_SECRET],
        ];
        for (const [field, name, fallback] of vars) {
          if (!env[name ?? fallback]?.trim()) {
            problems.push(
              line(
                name === undefined ? path : [...path, field],
                `environment variable ${name ?? fallback} is not set`,
              ),
            );
          }
        }
      }
      if (c.source === 'ram_role_arn' && c.base !== undefined) checkEnv(c.base, [...path, 'base']);
    };
    checkEnv(a.credentials, ['accounts', i, 'credentials']);
  });
  return problems;
}

function toSpec(a: ParsedAccount): AccountSpec {
  const targets = a.targets ? [...new Set(a.targets)].flatMap((t) => parseTarget(t) ?? []) : undefined;
  const regions = [...new Set([...(a.regions ?? []), ...(targets ?? []).map((t) => t.regionId)])];
  return {
    name: a.name,
    ...(a.accountId !== undefined ? { accountId: a.accountId } : {}),
    regions,
    targets,
    maxQps: a.maxQps,
    credentials: a.credentials,
  };
}
