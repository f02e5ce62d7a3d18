/**
 * `npm run screenshots`: the README's pictures of the console, taken from the demo world. Runs
 * `classiclink-sync demo` (its own database and queue prefix, the local Postgres and Redis),
 * reads the console's URL from its banner, waits for a few changes, then photographs the
 * overview, the VPC and the instance of the newest change (and the overview on a phone in dark
 * mode) with Debian's chromium into docs/. Stops the demo when done.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../test/helpers/browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = `${ROOT}docs/`;
/** Changes (after the baselines) to wait for before the pictures. */
const CHANGES = 8;
const DEADLINE_MS = 120_000;

function log(msg: string): void {
  process.stdout.write(`[screenshots] ${msg}\n`);
}

const demo = spawn(process.execPath, [`${ROOT}bin/classiclink-sync.js`, 'demo', '--interval', '2s'], {
  cwd: ROOT,
  env: { ...process.env, LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
demo.stdout.on('data', (b: Buffer) => {
  out += b.toString('utf8');
});
const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline)
      throw new Error(`no ${what} within ${DEADLINE_MS / 1000}s; demo output:\n${out}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface Change {
  account: string;
  regionId: string;
  vpcId: string;
  instanceId: string;
  baseline: boolean;
}

try {
  const url = await until('console URL in the demo banner', async () => {
    return /^ +console +(http:\/\/127\.0\.0\.1:\d+\/) /m.exec(out)?.[1];
  });
  log(`demo console at ${url}; waiting for ${CHANGES} changes`);
  const newest = await until('changes', async () => {
    const res = await fetch(`${url}v1/changes?limit=100`).catch(() => undefined);
    if (res?.status !== 200) return undefined;
    const { events } = (await res.json()) as { events: Change[] };
    const changes = events.filter((e) => !e.baseline);
    return changes.length >= CHANGES ? changes.find((e) => e.instanceId) : undefined;
  });
  if (newest === undefined) throw new Error('no change');
  mkdirSync(DOCS, { recursive: true });
  const browser = await launchBrowser();
  try {
    const shots: [string, string, Parameters<typeof browser.newContext>[0]][] = [
      ['console-overview.png', '/', { viewport: { width: 1280, height: 900 } }],
      [
        'console-vpc.png',
        `/vpcs/${newest.account}/${newest.regionId}/${newest.vpcId}`,
        { viewport: { width: 1280, height: 900 } },
      ],
      [
        'console-instance.png',
        `/instances/${newest.account}/${newest.regionId}/${newest.instanceId}`,
        { viewport: { width: 1280, height: 720 } },
      ],
      [
        'console-phone-dark.png',
        '/',
        { viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2, colorScheme: 'dark' },
      ],
    ];
    for (const [file, path, options] of shots) {
      const context = await browser.newContext(options);
      const page = await context.newPage();
      await page.goto(`${url}${path.slice(1)}`, { waitUntil: 'networkidle' });
      if (path === '/') await page.locator('#burndown[data-drawn="true"]').waitFor();
      await page.screenshot({ path: `${DOCS}${file}`, fullPage: !file.includes('phone') });
      await context.close();
      log(`docs/${file}: ${path}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  demo.kill('SIGINT');
  const code = await exited;
  log(`demo stopped (exit ${code})`);
}
process.exit(0);
