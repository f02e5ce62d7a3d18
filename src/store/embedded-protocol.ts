/**
 * What embedded.ts and its keeper process (embedded-keeper.ts) say to each other over the IPC
 * channel, and the facts both use. A module of its own: importing the keeper would run it.
 */

/** What the keeper tells the process that started it. */
export type KeeperMessage =
  | { type: 'progress'; step: 'initdb'; dir: string; version: string; copied: boolean }
  | { type: 'progress'; step: 'start'; port: number }
  | { type: 'log'; line: string }
  | { type: 'ready'; port: number; password: string; version: string; dir: string }
  /** It could not start: one line, with the server's or initdb's last words. */
  | { type: 'failed'; message: string }
  /** The server stopped by itself, before it was asked to. */
  | { type: 'died'; message: string }
  /** Last message: the server is stopped; whether its directory is gone. */
  | { type: 'stopped'; removed: boolean; dir: string | undefined };

/** What the keeper understands. The channel closing (this process gone) means the same. */
export type KeeperCommand = { type: 'stop' };

/** Names of the temporary directories, under the system's temp dir (TMPDIR). */
export const EMBEDDED_DIR_PREFIX = 'classiclink-pg-';

/** The server's superuser (initdb's --username); `postgres` is also the database every cluster has. */
export const EMBEDDED_USER = 'postgres';
