/**
 * A real browser for the console's tests and screenshots: Debian's `chromium` driven by
 * playwright-core (which downloads no browser of its own). `.ci/run` installs the package when it
 * is missing; where it cannot be had, the tests skip with one line, except under CI=true, where a
 * missing browser fails them.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Where a browser may be: CHROMIUM_PATH, then Debian's and others' usual names. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given !== undefined && given !== '') return existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export const NO_BROWSER =
  'no chromium found (apt-get install -y chromium, or set CHROMIUM_PATH): browser tests skipped';

/** Whether the browser tests can run; under CI=true a missing browser is an error, not a skip. */
export function browserAvailable(): boolean {
  const found = chromiumPath() !== undefined;
  if (!found && process.env.CI === 'true') {
    throw new Error(`CI=true but ${NO_BROWSER.replace(': browser tests skipped', '')}`);
  }
  if (!found) process.stderr.write(`${NO_BROWSER}\n`);
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error(NO_BROWSER);
  // --no-sandbox: tests and CI run as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'], headless: true });
}

/** What went wrong on a page: console errors, uncaught exceptions, failed or refused requests. */
export interface PageTrouble {
  problems: string[];
}

/** Records every console error, page error, failed request and HTTP error answer of `page`. */
export function watchPage(page: Page): PageTrouble {
  const trouble: PageTrouble = { problems: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning')
      trouble.problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => trouble.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) =>
    trouble.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
  );
  page.on('response', (r) => {
    if (r.status() >= 400) trouble.problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return trouble;
}
