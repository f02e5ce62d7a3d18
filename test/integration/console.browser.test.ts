/**
 * The console in a real browser (Debian's chromium, driven by playwright-core) against the real
 * HTTP server and a database seeded through the store's verbs: every page loads with no console
 * error and no failed request, the burn-down is drawn with one point per day, the change log's
 * filter narrows it, hostile names and tags are text that runs nothing, the pages work without
 * JavaScript, on a phone and in dark mode, and beyond loopback the Basic login is asked for.
 */
import type { Browser, BrowserContextOptions } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServerOptions } from '../../src/http/server.js';
import type { TargetRef } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createStore, type Store } from '../../src/store/index.js';
import { browserAvailable, launchBrowser, watchPage } from '../helpers/browser.js';
import { useCleanup } from '../helpers/cleanup.js';
import { CONSOLE_NOW, consoleWorld, HTML_NAME, HTML_TAG_KEY } from '../helpers/console-world.js';
import { useTestDb } from '../helpers/db.js';

const TOKEN = 'console-token-0123456789abcdef';

const db = useTestDb();
const defer = useCleanup();
const enabled = browserAvailable();
let browser: Browser;

beforeAll(async () => {
  if (enabled) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

interface World {
  url: string;
  store: Store;
  target: TargetRef;
  history: TargetRef;
}

async function world(overrides: Partial<HttpServerOptions> = {}): Promise<World> {
  const { pool } = await db();
  const log = createLogger({ level: 'silent' });
  const store = createStore({ pool, log });
  const { target, history } = await consoleWorld(store);
  const server = createHttpServer({
    host: '127.0.0.1',
    port: 0,
    log,
    metrics: createMetrics({ log, processMetrics: false }),
    ready: { postgres: async () => {}, queue: async () => {}, queueBackend: 'redis' },
    store,
    account: target.account,
    staleAfterMs: 3_600_000,
    now: () => CONSOLE_NOW,
    ...overrides,
  });
  defer(() => server.close());
  const { url } = await server.listen();
  return { url: url.replace('0.0.0.0', '127.0.0.1'), store, target, history };
}

async function open(path: string, w: World, options: BrowserContextOptions = {}) {
  const context = await browser.newContext(options);
  defer(() => context.close());
  const page = await context.newPage();
  const trouble = watchPage(page);
  const response = await page.goto(`${w.url}${path}`, { waitUntil: 'load' });
  return { page, trouble, response };
}

const pages = (w: World) => {
  const { account, regionId } = w.target;
  return [
    '/',
    '/?window=all',
    '/changes',
    `/vpcs/${account}/${regionId}/vpc-ctx`,
    `/instances/${account}/${regionId}/i-found`,
    `/instances/${account}/${regionId}/i-html`,
  ];
};

describe.skipIf(!enabled)('the console in a browser', () => {
  it('loads every page with no console error, no failed request, and its security headers', async () => {
    const w = await world();
    for (const path of pages(w)) {
      const { page, trouble, response } = await open(path, w);
      // Let the chart draw and the deferred scripts run before judging the page.
      await page.waitForLoadState('networkidle');
      expect(trouble.problems, path).toEqual([]);
      expect(response?.status(), path).toBe(200);
      const headers = response?.headers() ?? {};
      expect(headers['content-security-policy'], path).toContain("script-src 'self'");
      expect(headers['content-security-policy'], path).toContain("frame-ancestors 'none'");
      expect(headers['x-content-type-options'], path).toBe('nosniff');
      expect(headers['x-frame-options'], path).toBe('DENY');
      expect(await page.locator('main h1').count(), path).toBe(1);
    }
  });

  it('draws the burn-down with one point per day of the window, on a painted canvas', async () => {
    const w = await world();
    for (const [window, days] of [
      ['7', 7],
      ['all', 9],
    ] as const) {
      const { page, trouble } = await open(`/?window=${window}`, w);
      const chart = page.locator('#burndown[data-drawn="true"]');
      await chart.waitFor();
      expect(await chart.getAttribute('data-points'), window).toBe(String(days));
      // Two regions, so a total line and one per region.
      expect(await chart.getAttribute('data-series'), window).toBe('3');
      // Pixels the chart painted (in the page: the DOM is the browser's, not Node's).
      const painted = await page.evaluate<number>(`(() => {
        const canvas = document.querySelector('#burndown canvas');
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
      })()`);
      expect(painted, window).toBeGreaterThan(500);
      expect(trouble.problems, window).toEqual([]);
    }
    // The figures under the chart: cn-beijing went from 4 links to 1 over the week.
    const { page } = await open('/?window=all&region=cn-beijing', w);
    const row = page.locator('table.burndown tbody tr');
    await expect(row.count()).resolves.toBe(1);
    const cells = (await row.locator('td').allTextContents()).map((c) => c.trim());
    expect(cells.slice(1)).toEqual(['cn-beijing', '4', '1', '-3']);
  });

  it('narrows the change log with a filter submitted through the form', async () => {
    const w = await world();
    const { page } = await open('/changes', w);
    const rows = page.locator('table.events tbody tr');
    const all = await rows.count();
    expect(all).toBeGreaterThan(5);
    await page.locator('form.filters input[name=region]').fill('cn-beijing');
    await Promise.all([page.waitForURL(/region=cn-beijing/), page.locator('form.filters button').click()]);
    const narrowed = await rows.count();
    expect(narrowed).toBe(7);
    for (const text of await rows.allInnerTexts()) expect(text).toContain('cn-beijing');
    // The permalink carries the filter: opened afresh, it shows the same rows.
    const again = await open(new URL(page.url()).pathname + new URL(page.url()).search, w);
    expect(await again.page.locator('table.events tbody tr').count()).toBe(narrowed);

    await page.locator('form.filters input[name=region]').fill('');
    await page.locator('form.filters input[name=actor]').fill('ops-admin');
    await Promise.all([page.waitForURL(/actor=ops-admin/), page.locator('form.filters button').click()]);
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('i-found');
  });

  it('finds an instance by name from the search box, and links to its pages', async () => {
    const w = await world();
    const { page } = await open('/', w);
    await page.locator('form.search input[name=q]').fill('web-01');
    await Promise.all([page.waitForURL(/q=web-01/), page.locator('form.search button').click()]);
    await page.locator('ul.matches a', { hasText: 'i-found' }).click();
    await page.waitForURL(/\/instances\/.*\/i-found$/);
    expect(await page.locator('#instance-name').textContent()).toBe('web-01');
    expect(await page.locator('table.events').textContent()).toContain('ops-admin (ram-user)');
    expect(await page.locator('table.events').textContent()).toContain('1.2.3.4');
  });

  it('shows hostile names and tags as text, and runs none of them', async () => {
    const w = await world();
    const { account, regionId } = w.target;
    for (const path of [
      `/instances/${account}/${regionId}/i-html`,
      `/vpcs/${account}/${regionId}/vpc-html`,
      '/changes',
    ]) {
      const { page, trouble } = await open(path, w);
      await page.waitForLoadState('networkidle');
      expect(await page.evaluate<unknown>('window.__pwned'), path).toBeUndefined();
      expect(await page.locator('main img, main script, main b#bold').count(), path).toBe(0);
      const text = await page.locator('main').textContent();
      expect(text, path).toContain('<img src=x onerror="window.__pwned=1">"\'</script><script>');
      expect(text, path).toContain(`${HTML_TAG_KEY}="'<b id=bold>bold</b>`);
      expect(trouble.problems, path).toEqual([]);
    }
    const { page } = await open(`/instances/${account}/${regionId}/i-html`, w);
    expect(await page.locator('#instance-name').textContent()).toBe(HTML_NAME);
  });

  it('works without JavaScript (but for the chart), on a phone, in dark mode', async () => {
    const w = await world();
    const noJs = await open('/changes', w, { javaScriptEnabled: false });
    await noJs.page.locator('form.filters input[name=instance]').fill('i-found');
    await Promise.all([
      noJs.page.waitForURL(/instance=i-found/),
      noJs.page.locator('form.filters button').click(),
    ]);
    expect(await noJs.page.locator('table.events tbody tr').count()).toBe(1);
    const overview = await open('/', w, { javaScriptEnabled: false });
    expect(await overview.page.locator('#active-total').textContent()).toBe('9');

    const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
    const { account, regionId } = w.target;
    for (const path of ['/', `/instances/${account}/${regionId}/i-html`, '/changes']) {
      const { page } = await open(path, w, phone);
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth');
      expect(overflow, path).toBeLessThanOrEqual(390);
    }

    const dark = await open('/', w, { colorScheme: 'dark' });
    const background = await dark.page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(15, 18, 22)');
  });

  it('beyond loopback asks for the login (401, Basic) and serves every page and file with it', async () => {
    const w = await world({ host: '0.0.0.0', token: TOKEN });
    const refused = await fetch(`${w.url}/`, { headers: { accept: 'text/html' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('Basic realm="classiclink-sync"');
    await refused.body?.cancel();
    for (const path of ['/console/console.js', '/v1/overview']) {
      const res = await fetch(`${w.url}${path}`);
      expect(res.status, path).toBe(401);
      await res.body?.cancel();
    }

    const { page, trouble, response } = await open('/', w, {
      httpCredentials: { username: 'admin', password: TOKEN },
    });
    await page.locator('#burndown[data-drawn="true"]').waitFor();
    expect(response?.status()).toBe(200);
    expect(trouble.problems).toEqual([]);
  });
});
