/**
 * The console's routes: four pages (`/`, `/changes`, `/vpcs/{account}/{region}/{vpcId}`,
 * `/instances/{account}/{region}/{instanceId}`), the JSON twin of each under `/v1` (the same data,
 * data.ts), and the browser's files under `/console/`, served from the package itself (no CDN).
 *
 * Every answer carries a strict Content-Security-Policy (scripts and styles from this server's
 * files only, no inline script or style, no framing), `X-Content-Type-Options: nosniff` and
 * `X-Frame-Options: DENY`. `/` is the overview for a browser (Accept: text/html) and the server's
 * JSON index of endpoints for anything else.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  changesData,
  type DataDeps,
  instanceData,
  type OverviewData,
  overviewData,
  vpcData,
} from './data.js';
import {
  BadRequest,
  changesQuery,
  instanceParams,
  noQuery,
  overviewQuery,
  parse,
  type Query,
  vpcParams,
  WINDOWS,
} from './query.js';
import { CONSOLE_ROOT, createRenderer } from './render.js';

export interface ConsoleOptions extends DataDeps {
  /** What `/` answers a client that does not ask for HTML (the server's index of endpoints). */
  index: object;
}

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's JSON twins as the index at `/` lists them. */
export const CONSOLE_ENDPOINTS = [
  {
    method: 'GET',
    path: '/v1/overview',
    parameters: Object.keys(overviewQuery.shape),
    description:
      "the console's overview: active links, burn-down, last 24 h, targets in trouble, alerts, change feed",
  },
  {
    method: 'GET',
    path: '/v1/changes',
    parameters: Object.keys(changesQuery.shape),
    description: "the console's change log, newest first; follow next as before",
  },
  {
    method: 'GET',
    path: '/v1/vpcs/{account}/{region}/{vpcId}',
    description: 'one VPC: attributes, links now, timeline, last runs',
  },
  {
    method: 'GET',
    path: '/v1/instances/{account}/{region}/{instanceId}',
    description: 'one instance: attributes and link history with who and from where',
  },
];

/** The browser's files: ours, and uPlot's from its package. */
function staticFiles(): Map<string, { body: Buffer; type: string }> {
  const require = createRequire(import.meta.url);
  const ours = (name: string) => readFileSync(`${CONSOLE_ROOT}static/${name}`);
  return new Map([
    ['console.js', { body: ours('console.js'), type: 'text/javascript; charset=utf-8' }],
    ['console.css', { body: ours('console.css'), type: 'text/css; charset=utf-8' }],
    ['favicon.svg', { body: ours('favicon.svg'), type: 'image/svg+xml' }],
    [
      'uPlot.iife.min.js',
      {
        body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
        type: 'text/javascript; charset=utf-8',
      },
    ],
    [
      'uPlot.min.css',
      { body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')), type: 'text/css; charset=utf-8' },
    ],
  ]);
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer');
}

const wantsHtml = (req: FastifyRequest) => (req.headers.accept ?? '').includes('text/html');

type Page = 'overview' | 'changes' | 'vpc' | 'instance' | 'error';

export function registerConsole(app: FastifyInstance, opts: ConsoleOptions): void {
  const render = createRenderer();
  const files = staticFiles();

  const html = (reply: FastifyReply, page: Page, data: object, status = 200) =>
    secure(reply)
      .code(status)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(render(page, data));

  const failure = (
    reply: FastifyReply,
    status: 400 | 404,
    message: string,
    twin: boolean,
    parameter?: string,
  ) => {
    if (twin) {
      const error = status === 400 ? 'bad_request' : 'not_found';
      return secure(reply)
        .code(status)
        .send({ error, ...(parameter ? { parameter } : {}), message });
    }
    const title = status === 400 ? 'Bad request' : 'Not found';
    return html(reply, 'error', { status, title, message, twin: null }, status);
  };

  /** Runs a page's handler; a refused parameter is a 400 naming it, in the page's own format. */
  const guarded =
    (
      twin: boolean,
      fn: (req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => Promise<unknown>,
    ) =>
    async (req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
      try {
        return await fn(req, reply);
      } catch (err) {
        if (err instanceof BadRequest) {
          return failure(reply, 400, err.message, twin, err.parameter);
        }
        throw err;
      }
    };

  const overview = (q: Query) => overviewData(opts, parse(overviewQuery, q));

  app.get<{ Querystring: Query }>(
    '/',
    guarded(false, async (req, reply) => {
      if (!wantsHtml(req)) return reply.header('x-content-type-options', 'nosniff').send(opts.index);
      const data: OverviewData = await overview(req.query);
      return html(reply, 'overview', { ...data, windows: WINDOWS, twin: `/v1/overview${req.url.slice(1)}` });
    }),
  );
  app.get<{ Querystring: Query }>(
    '/v1/overview',
    guarded(true, async (req, reply) => secure(reply).send(await overview(req.query))),
  );

  app.get<{ Querystring: Query }>(
    '/changes',
    guarded(false, async (req, reply) => {
      const data = await changesData(opts, parse(changesQuery, req.query));
      return html(reply, 'changes', { ...data, twin: `/v1${req.url}` });
    }),
  );
  app.get<{ Querystring: Query }>(
    '/v1/changes',
    guarded(true, async (req, reply) =>
      secure(reply).send(await changesData(opts, parse(changesQuery, req.query))),
    ),
  );

  const vpcRoute = (twin: boolean) =>
    guarded(twin, async (req, reply) => {
      parse(noQuery, req.query);
      const p = parse(vpcParams, req.params);
      const data = await vpcData(opts, { account: p.account, regionId: p.region, vpcId: p.vpcId });
      if (data === undefined)
        return failure(reply, 404, `no VPC ${p.vpcId} in ${p.account} / ${p.region}`, twin);
      if (twin) return secure(reply).send(data);
      return html(reply, 'vpc', { ...data, twin: `/v1${req.url}` });
    });
  app.get('/vpcs/:account/:region/:vpcId', vpcRoute(false));
  app.get('/v1/vpcs/:account/:region/:vpcId', vpcRoute(true));

  const instanceRoute = (twin: boolean) =>
    guarded(twin, async (req, reply) => {
      parse(noQuery, req.query);
      const p = parse(instanceParams, req.params);
      const data = await instanceData(opts, {
        account: p.account,
        regionId: p.region,
        instanceId: p.instanceId,
      });
      if (data === undefined) {
        return failure(reply, 404, `no instance ${p.instanceId} in ${p.account} / ${p.region}`, twin);
      }
      if (twin) return secure(reply).send(data);
      return html(reply, 'instance', { ...data, twin: `/v1${req.url}` });
    });
  app.get('/instances/:account/:region/:instanceId', instanceRoute(false));
  app.get('/v1/instances/:account/:region/:instanceId', instanceRoute(true));

  app.get<{ Params: { file: string } }>('/console/:file', async (req, reply) => {
    const file = files.get(req.params.file);
    if (file === undefined) return failure(reply, 404, 'no such file', true);
    return secure(reply).header('cache-control', 'public, max-age=300').type(file.type).send(file.body);
  });
}
