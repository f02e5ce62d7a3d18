/**
 * Building a request: the checks the API would make of our parameters (so a bad one fails here,
 * before anything is sent), and the signed request itself — path, query and headers — for either
 * signature scheme. Pure: the clock and the nonce come in as arguments.
 */
import type { Credentials } from '../credentials/index.js';
import { FatalError } from '../errors.js';
import { REGION_ID } from '../ids.js';
import type { ApiName } from './endpoints.js';
import { canonicalQuery, formatTimestamp, signedV1Query, signV3 } from './signer.js';

/** `Version` / `x-acs-version` of each API. */
const API_VERSIONS: Readonly<Record<ApiName, string>> = {
  ecs: '2014-05-26',
  vpc: '2016-04-28',
  actiontrail: '2020-07-06',
};

/** Hex SHA-256 of the empty body, sent as `x-acs-content-sha256` on every V3 request. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Largest page DescribeClassicLinkInstances accepts; also the most InstanceIds per lookup. */
export const MAX_LINK_PAGE_SIZE = 100;

export interface SignInput {
  signature: 'v3' | 'v1';
  /** The verb that is sent and signed. The client always sends POST. */
  method?: 'POST' | 'GET' | undefined;
  /** Host as undici sends it: the URL's `host` (with the port when not the default one). */
  host: string;
  /**
   * Where the request is sent: `/`, or an ActionTrail override's path (endpoints.ts). Never signed:
   * both schemes sign an RPC call's canonical URI as `/`, which is what the API behind a
   * path-routing gateway receives. Default `/`.
   */
  path?: string | undefined;
  api: ApiName;
  action: string;
  params: Readonly<Record<string, string>>;
  credentials: Credentials;
  now: Date;
  nonce: string;
}

export interface SignedRequest {
  /** `<path>?<query>`, exactly the canonical query that was signed (plus `Signature` for V1). */
  path: string;
  /** Headers to pass to undici (no `host`: undici sends the origin's host, which is what we signed). */
  headers: Record<string, string>;
}

export function buildSignedRequest(input: SignInput): SignedRequest {
  const method = input.method ?? 'POST';
  const base = input.path ?? '/';
  const c = input.credentials;
  if (input.signature === 'v1') {
    const query = signedV1Query({
      method,
      action: input.action,
      version: API_VERSIONS[input.api],
      query: input.params,
      key: c,
      nonce: input.nonce,
      now: input.now,
    });
    return { path: `${base}?${query}`, headers: { accept: 'application/json' } };
  }
  const headers: Record<string, string> = {
    accept: 'application/json',
    'x-acs-action': input.action,
    'x-acs-version': API_VERSIONS[input.api],
    'x-acs-date': formatTimestamp(input.now),
    'x-acs-signature-nonce': input.nonce,
    'x-acs-content-sha256': EMPTY_SHA256,
  };
  if (c.securityToken) headers['x-acs-security-token'] = c.securityToken;
  const signed = signV3({
    method,
    query: input.params,
    headers: { ...headers, host: input.host },
    body: '',
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
  });
  headers.authorization = signed.authorization;
  const query = canonicalQuery(input.params);
  return { path: query === '' ? base : `${base}?${query}`, headers };
}

// ---------------------------------------------------------------------------------------------
// Parameter checks

export interface ClassicLinkQuery {
  regionId: string;
  vpcId?: string | undefined;
  instanceIds?: string[] | undefined;
  pageNumber?: number | undefined;
  pageSize?: number | undefined;
}

/** A parameter the API would refuse, refused before anything is sent. */
export function invalid(message: string): FatalError {
  return new FatalError(message, { code: 'InvalidParameter' });
}

/** Region ids go into a host name (endpoints.ts), so they are checked before anything is built. */
export function checkRegion(regionId: string): void {
  if (!REGION_ID.test(regionId))
    throw invalid(`invalid regionId ${JSON.stringify(String(regionId).slice(0, 64))}`);
}

function checkPageSize(pageSize: number, max: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > max) {
    throw invalid(`pageSize must be an integer in 1..${max} (got ${pageSize})`);
  }
}

/** Request parameters of DescribeClassicLinkInstances, after the checks the API would make. */
export function classicLinkParams(
  req: ClassicLinkQuery & { pageNumber: number; pageSize: number },
): Record<string, string> {
  const { pageNumber, pageSize } = req;
  checkRegion(req.regionId);
  checkPageSize(pageSize, MAX_LINK_PAGE_SIZE);
  if (!Number.isInteger(pageNumber) || pageNumber < 1) {
    throw invalid(`pageNumber must be an integer ≥ 1 (got ${pageNumber})`);
  }
  const ids = req.instanceIds ?? [];
  const byVpc = req.vpcId !== undefined && req.vpcId !== '';
  if (byVpc === ids.length > 0) throw invalid('give exactly one of vpcId or a non-empty instanceIds');
  const params: Record<string, string> = {
    RegionId: req.regionId,
    PageNumber: String(pageNumber),
    PageSize: String(pageSize),
  };
  if (byVpc) {
    params.VpcId = req.vpcId as string;
  } else {
    if (ids.length > MAX_LINK_PAGE_SIZE) {
      throw invalid(`at most ${MAX_LINK_PAGE_SIZE} instanceIds per call (got ${ids.length})`);
    }
    // The API takes a comma-separated list, so an id with a comma (or an empty id) would change
    // which instances are asked about.
    for (const id of ids) {
      if (id === '' || id.includes(','))
        throw invalid(`invalid instance id ${JSON.stringify(id.slice(0, 64))}`);
    }
    params.InstanceId = ids.join(',');
  }
  return params;
}
