/**
 * The credentials interface every provider implements, and the small capabilities providers are
 * handed (a logger, a clock, a file reader, HTTP options). Kept apart from `index.ts` (the door)
 * so the providers in this folder never import the door: no import cycles.
 */
import type { Dispatcher } from 'undici';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** Present for STS credentials; sent as `x-acs-security-token` (V3) or `SecurityToken` (V1). */
  securityToken?: string | undefined;
  /** When these credentials stop working (STS); providers refresh ahead of it. */
  expiresAt?: Date | undefined;
}

export interface CredentialsProvider {
  /** Names the source for logs and errors, e.g. `env`, `chain/ecs_ram_role` (never a secret). */
  readonly name: string;
  /** Current credentials. Cheap when cached; may do I/O when a refresh is due. */
  get(signal?: AbortSignal): Promise<Credentials>;
}

/**
 * The part of a pino logger the providers use (a pino `Logger` fits). Providers log sources, codes
 * and expiry times; never a key secret, a security token, an OIDC token or a response body.
 */
export interface CredentialsLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** HTTP settings of the STS and metadata calls. */
export interface CredentialsHttpOptions {
  /** Whole-request timeout of an STS call, ms. Default 10 000 (the SDK's connect 5 s + read 10 s, rounded). */
  stsTimeoutMs?: number | undefined;
  /**
   * Whole-request timeout of one ECS metadata call, ms. Default 1 000, as the SDK: the metadata
   * service answers in milliseconds on ECS, and off ECS the chain must not hang on it.
   */
  metadataTimeoutMs?: number | undefined;
  /** undici dispatcher (proxy, custom TLS). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher | undefined;
}

/** Reads a whole UTF-8 file; rejects with a Node error carrying `code` (ENOENT, EACCES…). */
export type ReadTextFile = (path: string) => Promise<string>;

/** What every provider factory may be handed; all optional except where a factory says. */
export interface ProviderContext {
  log: CredentialsLog;
  /** Clock deciding when session credentials are stale, and dating STS requests. Default `new Date()`. */
  now?: (() => Date) | undefined;
  http?: CredentialsHttpOptions | undefined;
  /** Default `fs.promises.readFile(path, 'utf8')`. */
  readFile?: ReadTextFile | undefined;
}

/** What the file- and environment-driven sources read: the environment and the home directory. */
export interface EnvContext extends ProviderContext {
  env: Readonly<Record<string, string | undefined>>;
  /** Where `~/.aliyun/config.json` and `~/.alibabacloud/credentials` are looked up. */
  homeDir: string;
}

/** A chain step either yields a provider or says, secret-free, why it does not apply. */
export type Resolution = { provider: CredentialsProvider } | { skipped: string };
