/**
 * Where the package's own files are: `src/` (under vitest and tsx) and `dist/` (after tsc) both sit
 * one level below the package root, so this file finds it the same way from either.
 */
export const PACKAGE_ROOT = new URL('../', import.meta.url);
