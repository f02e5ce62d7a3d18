/**
 * The root pino logger. Redaction removes every secret by path (field names that hold one, and
 * every secret variable of the configuration), so no secret reaches a log line.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import { SECRET_VARIABLES } from './config.js';

export type { Logger } from 'pino';

/** Field paths that may hold a secret anywhere in a logged object. */
const REDACT_PATHS = [
  'accessKeySecret',
  'securityToken',
  'secret',
  'password',
  'token',
  'authorization',
  'headers.authorization',
  'headers["x-acs-security-token"]',
  '*.accessKeySecret',
  '*.securityToken',
  '*.secret',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["x-acs-security-token"]',
  // The configuration, when logged whole: every secret variable, by the one list of them.
  ...[...SECRET_VARIABLES].map((name) => `config.${name}`),
];

/** What a one-shot command whose output is a report logs when LOG_LEVEL is not set. */
export const REPORT_LOG_LEVEL = 'warn';

/**
 * The log level of a command whose output is a report for a person (`sync --once`): the report
 * says what happened, so the logs say only what went wrong — `REPORT_LOG_LEVEL` — unless LOG_LEVEL
 * is set in the environment, which always wins (`configured` is its parsed value).
 */
export function reportLogLevel(
  env: Readonly<Record<string, string | undefined>>,
  configured: string,
): string {
  const set = env.LOG_LEVEL !== undefined && env.LOG_LEVEL.trim() !== '';
  return set ? configured : REPORT_LOG_LEVEL;
}

export interface LoggerOptions {
  level: string;
  /** Pretty, coloured output for a person at a terminal; JSON otherwise. */
  pretty?: boolean;
  /** Where lines go (tests capture them). Default stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'classiclink-sync' },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,service' } },
    });
  }
  return pino(base);
}
