/**
 * Corrupts a successful answer the way broken proxies and buggy backends do, so the client's body
 * validation and completeness rules can be tested. Returns undefined when a kind does not apply to
 * this answer (e.g. `duplicates` on an empty page), in which case the answer goes out intact.
 */
import type { MalformedKind } from './types.js';

export interface RawAnswer {
  text: string;
  contentType: string;
}

type Json = Record<string, unknown>;

const JSON_TYPE = 'application/json;charset=utf-8';

const HTML_PAGE =
  '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>' +
  '</center><hr><center>Tengine</center></body></html>';

/** The list of a list answer (`Links.Link`, `Vpcs.Vpc`, `Instances.Instance`…), if there is one. */
function listOf(body: Json): { container: string; item: string; items: Json[] } | undefined {
  for (const [container, item] of [
    ['Links', 'Link'],
    ['Vpcs', 'Vpc'],
    ['Instances', 'Instance'],
    ['Regions', 'Region'],
  ] as const) {
    const box = body[container];
    if (typeof box === 'object' && box !== null) {
      const items = (box as Json)[item];
      if (Array.isArray(items)) return { container, item, items: items as Json[] };
    }
  }
  return undefined;
}

/**
 * `body` is the full answer (with RequestId); `firstPage` is the body of page 1 of the same listing
 * (used by `page-echo`); `otherVpcId` is a VPC id other than the one listed (for `foreign-vpc`).
 */
export function corrupt(
  kind: MalformedKind,
  body: Json,
  firstPage: () => Json | undefined,
  otherVpcId: string,
): RawAnswer | undefined {
  const json = (b: Json): RawAnswer => ({ text: JSON.stringify(b), contentType: JSON_TYPE });
  switch (kind) {
    case 'non-json':
      return { text: 'upstream answered: OK (not JSON)', contentType: JSON_TYPE };
    case 'truncated': {
      const text = JSON.stringify(body);
      return { text: text.slice(0, Math.max(1, Math.floor(text.length / 2))), contentType: JSON_TYPE };
    }
    case 'html':
      return { text: HTML_PAGE, contentType: 'text/html' };
    case 'empty':
      return { text: '', contentType: JSON_TYPE };
    case 'wrong-types': {
      const out: Json = structuredClone(body);
      for (const k of ['TotalCount', 'PageNumber', 'PageSize'])
        if (typeof out[k] === 'number') out[k] = String(out[k]);
      const list = listOf(out);
      const first = list?.items[0];
      if (first) for (const k of ['InstanceId', 'VpcId', 'RegionId']) if (k in first) first[k] = 12345;
      return json(out);
    }
    case 'missing-fields': {
      const out: Json = structuredClone(body);
      const list = listOf(out);
      delete out.TotalCount;
      if (list) delete out[list.container];
      else delete out.RequestId;
      return json(out);
    }
    case 'negative-total': {
      if (typeof body.TotalCount !== 'number') return undefined;
      return json({ ...body, TotalCount: -1 });
    }
    case 'page-echo': {
      // Page 1's content under the requested PageNumber: a backend that ignores PageNumber.
      if (typeof body.PageNumber !== 'number' || body.PageNumber <= 1) return undefined;
      const page1 = firstPage();
      if (!page1) return undefined;
      return json({ ...page1, RequestId: body.RequestId, PageNumber: body.PageNumber });
    }
    case 'foreign-vpc': {
      const out: Json = structuredClone(body);
      const list = listOf(out);
      if (list?.container !== 'Links') return undefined;
      const first = list.items[0];
      if (first) first.VpcId = otherVpcId;
      else list.items.push({ InstanceId: 'i-foreign0000000000000', VpcId: otherVpcId });
      return json(out);
    }
    case 'duplicates': {
      const out: Json = structuredClone(body);
      const list = listOf(out);
      const first = list?.items[0];
      if (!list || !first) return undefined;
      if (list.items.length >= 2) list.items[list.items.length - 1] = { ...first };
      else list.items.push({ ...first });
      return json(out);
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown malformed kind ${String(never)}`);
    }
  }
}
