/**
 * Reads an HTTP request into what the RPC dispatcher needs: query and form parameters (decoded),
 * headers, and the raw body (the V3 signature covers its SHA-256).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export interface IncomingApiRequest {
  method: string;
  pathname: string;
  query: Record<string, string>;
  /** Parameters of an `application/x-www-form-urlencoded` body (pop-core's POST form). */
  form: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The caller's address (`127.0.0.1`, not `::ffff:127.0.0.1`): ActionTrail's `sourceIpAddress`. */
  remoteAddress: string;
}

/** Bodies bigger than this are refused: RPC calls carry a few hundred bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

export async function readIncoming(req: IncomingMessage): Promise<IncomingApiRequest> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  const query = toRecord(new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
  const contentType = req.headers['content-type'] ?? '';
  const form =
    body.length > 0 && contentType.startsWith('application/x-www-form-urlencoded')
      ? toRecord(new URLSearchParams(body.toString('utf8')))
      : {};
  const remoteAddress = (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  return { method: req.method ?? 'GET', pathname, query, form, headers: req.headers, body, remoteAddress };
}

function toRecord(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) out[k] = v;
  return out;
}

/** A header as one string: repeated headers joined with `,` (as the V3 canonical form wants). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}
