/**
 * The accounts one deployment watches, as the configuration describes them (`AccountSpec`).
 *
 * Without ACCOUNTS_FILE: one account, from SYNC_ACCOUNT / SYNC_REGIONS / SYNC_TARGETS, with the
 * default credential chain (env first, so the environment AccessKey behaves exactly as before).
 * With it: the accounts the file lists, each with its own credentials, regions, optional targets
 * and QPS cap (accounts-file.ts reads and validates it). What a running account has — its
 * credentials provider, limiter and ECS client — is `AccountRuntime` (service.ts).
 */
import { loadAccounts } from './accounts-file.js';
import type { Config } from './config.js';
import { type CredentialsSpec, describeCredentials } from './credentials/index.js';
import type { ConfiguredTarget } from './links.js';

/** One account as configured. */
export interface AccountSpec {
  /** Stored in every row (`account` column); unique in a deployment. */
  name: string;
  /**
   * The Alibaba Cloud account id (UID) the credentials belong to, when the accounts file says it:
   * an EventBridge push (`aliyunaccountid`) is matched to the account by it. Absent: a push goes
   * to the only account of the deployment (see sync/feed-accounts.ts).
   */
  accountId?: string | undefined;
  /** Regions to sync: the configured regions plus the regions of `targets`, deduplicated. */
  regions: readonly string[];
  /** Explicit targets; absent → every VPC of each region is discovered. */
  targets?: readonly ConfiguredTarget[] | undefined;
  /** API calls per second for this account, per region and API. Absent → API_MAX_QPS. */
  maxQps?: number | undefined;
  /** Plain data; the service builds the provider (`credentialsProviderFor`) once per account. */
  credentials: CredentialsSpec;
}

/** A secret-free summary of an account for the startup log. */
export function describeAccount(account: AccountSpec): {
  name: string;
  regions: readonly string[];
  targets: number | undefined;
  maxQps: number | undefined;
  credentials: string;
} {
  return {
    name: account.name,
    regions: account.regions,
    targets: account.targets?.length,
    maxQps: account.maxQps,
    credentials: describeCredentials(account.credentials),
  };
}

/** The single account of a deployment without ACCOUNTS_FILE. */
export function accountsFromConfig(
  config: Pick<Config, 'SYNC_ACCOUNT' | 'regions' | 'SYNC_TARGETS'>,
): AccountSpec[] {
  return [
    {
      name: config.SYNC_ACCOUNT,
      regions: config.regions,
      targets: config.SYNC_TARGETS,
      credentials: { source: 'chain' },
    },
  ];
}

/** ACCOUNTS_FILE when set, else the single account of the environment. */
export function resolveAccounts(
  config: Pick<Config, 'SYNC_ACCOUNT' | 'regions' | 'SYNC_TARGETS' | 'ACCOUNTS_FILE'>,
  env: Readonly<Record<string, string | undefined>>,
  readFile?: (path: string) => Promise<string>,
): Promise<AccountSpec[]> {
  if (config.ACCOUNTS_FILE === undefined) return Promise.resolve(accountsFromConfig(config));
  return loadAccounts({ file: config.ACCOUNTS_FILE, env, readFile });
}
