/** Reading the credential files: absent is an answer (`undefined`), any other failure is fatal. */
import { readFile as fsReadFile } from 'node:fs/promises';
import { FatalError } from '../errors.js';
import type { ProviderContext, ReadTextFile } from './types.js';

/** A failed read's Node error code (ENOENT, EACCES…); `EIO` when it carries none. */
export function errno(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'EIO';
}

/** The reader a provider was handed, else `fs.promises.readFile` as UTF-8. */
export function textFileReader(ctx: ProviderContext): ReadTextFile {
  return ctx.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
}

/**
 * The file's text, or undefined when it does not exist. Other errors (EACCES, EISDIR…) are a
 * FatalError naming `label` and the path — never the content.
 */
export async function readOptionalFile(
  ctx: ProviderContext,
  path: string,
  label: string,
): Promise<string | undefined> {
  const read = textFileReader(ctx);
  try {
    return await read(path);
  } catch (err) {
    const code = errno(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new FatalError(`${label} ${path}: cannot read (${code})`, { code: 'CredentialsFileUnreadable' });
  }
}
