/**
 * Where to send ECS, VPC and ActionTrail RPC calls for a region.
 *
 * Default: the documented regional public host, `https://<api>.<region>.aliyuncs.com`
 * (reference/alibaba-ecs-api.md §3, reference/alibaba-actiontrail.md §1.1).
 *
 * The official SDK's hard-coded map sends cn-hangzhou to `ecs-cn-hangzhou.aliyuncs.com` and
 * cn-hangzhou's VPC calls to the central `vpc.aliyuncs.com`. We deliberately do NOT copy those:
 * the regional hosts are what the endpoint docs list for every public region, they behave the same,
 * and one rule is easier to reason about (and to override). We DO follow the SDK for the few
 * regions that have no regional host of their own (finance and gov clouds), since there the
 * regional rule would produce a host that does not exist.
 *
 * An override (`ECS_ENDPOINT` / `VPC_ENDPOINT` / `ACTIONTRAIL_ENDPOINT`) wins; `{region}` in it is
 * replaced by the region id, e.g. `https://ecs-vpc.{region}.aliyuncs.com` for VPC-internal access
 * or `http://127.0.0.1:8080` for the simulator. ECS and VPC overrides must be bare origins (RPC
 * calls go to `/`). An ActionTrail override may carry a path (DESIGN.md: "a path in the URL is
 * kept"), for a gateway that routes by path: requests go to that path; the signature still covers
 * `/`, the path the API behind the gateway sees.
 */
import { connect } from 'node:net';
import { FatalError } from '../errors.js';
import { REGION_ID } from '../ids.js';

export type ApiName = 'ecs' | 'vpc' | 'actiontrail';

/** Per API: the variable that overrides its endpoint, and whether that override may carry a path. */
const OVERRIDES: Readonly<Record<ApiName, { variable: string; keepsPath: boolean }>> = {
  ecs: { variable: 'ECS_ENDPOINT', keepsPath: false },
  vpc: { variable: 'VPC_ENDPOINT', keepsPath: false },
  actiontrail: { variable: 'ACTIONTRAIL_ENDPOINT', keepsPath: true },
};

/** The variable that overrides an API's endpoint. */
export function endpointVariable(api: ApiName): string {
  return OVERRIDES[api].variable;
}

/** One line for an endpoint nothing answers at: its URL, why, and the variable to check. */
export function unreachableMessage(api: ApiName, url: URL, code: string): string {
  return `cannot reach ${url.origin} (${code}): check ${endpointVariable(api)}`;
}

/** Regions the SDK routes to a host other than `<api>.<region>.aliyuncs.com`. */
const SPECIAL_HOSTS: Readonly<Record<ApiName, Readonly<Record<string, string>>>> = {
  ecs: {
    'cn-shanghai-finance-1': 'ecs-cn-hangzhou.aliyuncs.com',
    'cn-shenzhen-finance-1': 'ecs-cn-hangzhou.aliyuncs.com',
    'cn-north-2-gov-1': 'ecs.aliyuncs.com',
  },
  vpc: {},
  actiontrail: {},
};

/**
 * The endpoint of `api` in `regionId`: an origin with path `/`, or (an ActionTrail override) the
 * override's path. Refuses an invalid region id or override with a FatalError naming the variable
 * (never the value: an override may hold credentials).
 */
export function resolveEndpoint(api: ApiName, regionId: string, override?: string): URL {
  // The region id goes into a host name, so it is checked strictly: a value like `evil.com/x`
  // must never redirect signed requests elsewhere.
  if (!REGION_ID.test(regionId)) {
    throw new FatalError(`invalid region id ${JSON.stringify(regionId.slice(0, 64))}`, {
      code: 'InvalidParameter',
    });
  }
  if (override === undefined || override.trim() === '') {
    return new URL(`https://${SPECIAL_HOSTS[api][regionId] ?? `${api}.${regionId}.aliyuncs.com`}/`);
  }
  const variable = endpointVariable(api);
  let url: URL;
  try {
    url = new URL(override.trim().replaceAll('{region}', regionId));
  } catch {
    throw new FatalError(`${variable} is not a valid URL`, { code: 'InvalidEndpoint' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FatalError(`${variable} must be an http or https URL`, { code: 'InvalidEndpoint' });
  }
  const { keepsPath } = OVERRIDES[api];
  const hasPath = url.pathname !== '/' && url.pathname !== '';
  if ((hasPath && !keepsPath) || url.search !== '' || url.username || url.password) {
    const form = keepsPath
      ? 'an http(s) URL without query or user info, e.g. https://host:port/path'
      : 'a bare origin (RPC calls go to /), e.g. https://host:port';
    throw new FatalError(`${variable} must be ${form}`, { code: 'InvalidEndpoint' });
  }
  return new URL(keepsPath ? url.pathname : '/', url.origin);
}

/**
 * Whether anything answers at an endpoint: the name resolves and a TCP connection opens (closed at
 * once; no request is sent). Resolves with the error code when not — `ETIMEDOUT` after
 * `timeoutMs` — and undefined when it does. A one-shot asks this before it writes anything, so a
 * wrong endpoint or a machine without network is one line at once, not a run of retries.
 */
export function probeEndpoint(url: URL, timeoutMs: number): Promise<string | undefined> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  // A bracketed IPv6 literal in a URL's hostname is not a host net.connect accepts.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (code: string | undefined) => {
      socket.destroy();
      resolve(code);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done('ETIMEDOUT'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}
