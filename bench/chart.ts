/**
 * `npm run bench:chart`: the two charting libraries the console could use, measured the way the
 * console would use them — the file a browser downloads, and the time from loading it to a drawn
 * line chart of 90 days × 20 regions (plus a total), in Debian's chromium (headless, playwright-core),
 * median of 15 fresh pages each. uPlot is a dependency; ECharts is measured when installed
 * (`npm install --no-save echarts`). Loopback only: a node:http server serves the files.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { launchBrowser } from '../test/helpers/browser.js';

const require = createRequire(import.meta.url);
const RUNS = 15;
const DAYS = 90;
const REGIONS = 20;

interface Library {
  name: string;
  files: Record<string, string>;
  /** The page's script: draws `data` into #c and sets window.drawnMs. */
  draw: string;
}

function resolve(id: string): string | undefined {
  try {
    return require.resolve(id);
  } catch {
    return undefined;
  }
}

const DATA = `
  const days = ${DAYS}, regions = ${REGIONS};
  const xs = Array.from({ length: days }, (_, i) => 1735689600 + i * 86400);
  const ys = Array.from({ length: regions }, (_, r) => xs.map((_, i) => Math.round((1000 + r * 50) * (1 - i / (days * 1.5)))));
  const total = xs.map((_, i) => ys.reduce((n, y) => n + y[i], 0));
`;

const libraries: Library[] = [
  {
    name: 'uPlot 1.6.32',
    files: {
      'lib.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
      'lib.css': require.resolve('uplot/dist/uPlot.min.css'),
    },
    draw: `${DATA}
      const series = [{}, { label: 'total', stroke: '#000' }, ...ys.map((_, r) => ({ label: 'r' + r, stroke: 'hsl(' + r * 18 + ',60%,45%)' }))];
      new uPlot({ width: 900, height: 360, series, hooks: { draw: [() => { window.drawnMs = performance.now(); }] } }, [xs, total, ...ys], document.getElementById('c'));`,
  },
];
const echarts = resolve('echarts/dist/echarts.min.js');
if (echarts !== undefined) {
  const version = (
    JSON.parse(readFileSync(require.resolve('echarts/package.json'), 'utf8')) as { version: string }
  ).version;
  libraries.push({
    name: `Apache ECharts ${version}`,
    files: { 'lib.js': echarts },
    draw: `${DATA}
      const chart = echarts.init(document.getElementById('c'), null, { renderer: 'canvas', width: 900, height: 360 });
      chart.on('finished', () => { window.drawnMs ??= performance.now(); });
      chart.setOption({ animation: false, xAxis: { type: 'time' }, yAxis: { type: 'value' }, legend: {}, tooltip: { trigger: 'axis' },
        series: [{ name: 'total', type: 'line', showSymbol: false, data: xs.map((x, i) => [x * 1000, total[i]]) },
          ...ys.map((y, r) => ({ name: 'r' + r, type: 'line', showSymbol: false, data: xs.map((x, i) => [x * 1000, y[i]]) }))] });`,
  });
}

function page(lib: Library): string {
  const css = lib.files['lib.css'] ? '<link rel="stylesheet" href="/lib.css">' : '';
  return `<!doctype html><html><head>${css}<script>window.t0 = performance.now();</script>
    <script src="/lib.js"></script></head><body><div id="c"></div><script>${lib.draw}</script></body></html>`;
}

async function measure(
  lib: Library,
): Promise<{ bytes: number; gzip: number; medianMs: number; maxMs: number }> {
  const bodies = Object.fromEntries(Object.entries(lib.files).map(([k, f]) => [k, readFileSync(f)]));
  const server = http.createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    if (name === '') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(lib));
      return;
    }
    const body = bodies[name];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': name.endsWith('.css') ? 'text/css' : 'text/javascript' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await launchBrowser();
  const times: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext();
      const p = await context.newPage();
      await p.goto(url);
      await p.waitForFunction('window.drawnMs !== undefined');
      times.push(await p.evaluate<number>('window.drawnMs - window.t0'));
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  times.sort((a, b) => a - b);
  const all = Object.values(bodies);
  return {
    bytes: all.reduce((n, b) => n + b.length, 0),
    gzip: all.reduce((n, b) => n + gzipSync(b).length, 0),
    medianMs: Math.round((times[Math.floor(RUNS / 2)] ?? 0) * 10) / 10,
    maxMs: Math.round((times[RUNS - 1] ?? 0) * 10) / 10,
  };
}

for (const lib of libraries) {
  const m = await measure(lib);
  process.stdout.write(
    `${lib.name}: ${(m.bytes / 1024).toFixed(1)} KiB (${(m.gzip / 1024).toFixed(1)} KiB gzipped); ` +
      `load to drawn, ${DAYS} days × ${REGIONS} regions + total: median ${m.medianMs} ms, max ${m.maxMs} ms (${RUNS} pages)\n`,
  );
}
if (echarts === undefined)
  process.stdout.write('Apache ECharts: not installed (npm install --no-save echarts)\n');
process.exit(0);
