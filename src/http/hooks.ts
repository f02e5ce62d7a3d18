/**
 * `POST /v1/hooks/eventbridge`: the push side of the change feed. An EventBridge rule with an HTTP
 * target (`Body` = `ORIGINAL`) posts each ActionTrail event in the CloudEvents 1.0 envelope, its
 * `data` the ActionTrail record (reference/alibaba-actiontrail.md §2); a JSON array is a batch.
 * Enabled by HOOK_TOKEN, which the request carries as `Authorization: Bearer <token>` or as the
 * password of Basic auth (EventBridge's API-key / Basic connections), compared in constant time.
 *
 * Answers: 202 once the batch's records are stored (their syncs run after); 200 when every event
 * is valid but none is a link-changing call of an account and region watched here (ignored); 400
 * naming the field of the first malformed event (nothing of the batch is stored); 401 without the
 * right token; 413 over 1 MiB. Stored or not, a record that arrives twice schedules nothing new.
 * Storing and scheduling are the change feed's (sync/feed.ts `ingestPushed`): this file only reads
 * the envelope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type CloudEvent, parseCloudEvent } from '../aliyun/index.js';
import { CAUSE_ACTIONS } from '../store/index.js';
import { constantTimeCheck, presentedToken } from './auth.js';

export const HOOK_PATH = '/v1/hooks/eventbridge';
/** The largest body the hook reads: an EventBridge event is a few KB; a batch, a few hundred. */
export const HOOK_BODY_LIMIT = 1024 * 1024;
/** The most events one request may carry. */
const MAX_BATCH = 1_000;
const REALM = 'classiclink-sync hook';
/** The CloudEvents `type` suffixes of ActionTrail records of API calls and console operations. */
const ACTIONTRAIL_TYPES = [':ActionTrail:ApiCall', ':ActionTrail:ConsoleOperation'];
const LINK_EVENT_NAMES: ReadonlySet<string> = new Set(CAUSE_ACTIONS.map((a) => a.eventName));

/** One pushed record the hook accepted, and the account id its envelope names. */
export interface HookRecord {
  event: CloudEvent;
  ownerAccountId: string | undefined;
}

/** What the feed made of the records (sync/feed.ts `PushResult`, the part the answer shows). */
export interface HookReceipt {
  fresh: number;
  duplicates: number;
  ignored: number;
  scheduled: number;
}

export interface HookOptions {
  /** HOOK_TOKEN. */
  token: string;
  /** Stores the records and schedules their scans (the change feed). */
  receive(records: readonly HookRecord[]): Promise<HookReceipt>;
  /** Each answer's status (metrics) and how many events were ignored before `receive`. */
  onAnswer?: ((e: { status: number; ignored: number }) => void) | undefined;
}

/** A 400 that names the field (`[2].data.eventTime` in a batch). */
class BadEvent extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Parsed = { kind: 'record'; record: HookRecord } | { kind: 'ignored'; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function idText(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

function requiredText(envelope: Record<string, unknown>, name: string, at: string): string {
  const v = envelope[name];
  if (typeof v !== 'string' || v.trim() === '')
    throw new BadEvent(`${at}${name}`, 'expected a non-empty string');
  return v;
}

/** One CloudEvents envelope: an ActionTrail record of a link-changing call, or ignored, or a BadEvent. */
function parseEnvelope(value: unknown, at: string): Parsed {
  if (!isObject(value))
    throw new BadEvent(at === '' ? '(body)' : at.replace(/\.$/, ''), 'expected a CloudEvents object');
  const specversion = value.specversion;
  if (specversion !== '1.0') throw new BadEvent(`${at}specversion`, 'expected "1.0" (CloudEvents 1.0)');
  requiredText(value, 'id', at);
  requiredText(value, 'source', at);
  const type = requiredText(value, 'type', at);
  if (!ACTIONTRAIL_TYPES.some((suffix) => type.endsWith(suffix))) {
    return {
      kind: 'ignored',
      reason: `type ${type.slice(0, 200)} is not an ActionTrail API call or console operation`,
    };
  }
  let data = value.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      throw new BadEvent(`${at}data`, 'expected the ActionTrail record as a JSON object');
    }
  }
  if (!isObject(data)) throw new BadEvent(`${at}data`, 'expected the ActionTrail record as a JSON object');
  const eventName = data.eventName;
  if (typeof eventName === 'string' && eventName !== '' && !LINK_EVENT_NAMES.has(eventName)) {
    return { kind: 'ignored', reason: `${eventName.slice(0, 200)} does not change a link` };
  }
  const parsed = parseCloudEvent(data);
  if (!parsed.ok) throw new BadEvent(`${at}data.${parsed.refusal.field}`, parsed.refusal.message);
  const owner =
    idText(value.aliyunaccountid) ??
    idText(data.recipientAccountId) ??
    parsed.event.actor.accountId ??
    undefined;
  return { kind: 'record', record: { event: parsed.event, ownerAccountId: owner } };
}

/** The body as events: one envelope, or a JSON array of them. */
function parseBody(body: Buffer | undefined): Parsed[] {
  if (body === undefined || body.length === 0)
    throw new BadEvent('(body)', 'expected a CloudEvents JSON body');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadEvent('(body)', 'expected JSON: one CloudEvents object or an array of them');
  }
  if (!Array.isArray(value)) return [parseEnvelope(value, '')];
  if (value.length === 0) throw new BadEvent('(body)', 'expected at least one event in the batch');
  if (value.length > MAX_BATCH)
    throw new BadEvent('(body)', `expected at most ${MAX_BATCH} events in a batch`);
  return value.map((v, i) => parseEnvelope(v, `[${i}].`));
}

export function registerHook(app: FastifyInstance, opts: HookOptions): void {
  const check = constantTimeCheck(opts.token);
  // A scope of its own: its body parser (any content type, read raw up to the limit: EventBridge
  // may say application/json or application/cloudevents+json) and its auth touch no other route.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (_req, body, done) =>
      done(null, body),
    );
    // Before the body is read: a request without the token is answered 401, not 413 or 400.
    scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const presented = presentedToken(req.headers.authorization);
      if (check(presented)) return;
      reply.header('www-authenticate', [`Bearer realm="${REALM}"`, `Basic realm="${REALM}"`]);
      return reply.code(401).send({
        error: 'unauthorized',
        message:
          presented === undefined
            ? 'HOOK_TOKEN is required (Bearer, or as the Basic password)'
            : 'the token is not valid',
      });
    });
    scope.addHook('onResponse', async (_req, reply) => {
      // Rejections before the handler (401, 413) are counted here; the handler's own answers too.
      if (reply.statusCode !== 200 && reply.statusCode !== 202)
        opts.onAnswer?.({ status: reply.statusCode, ignored: 0 });
    });
    scope.setErrorHandler((err, _req, reply) => {
      const status = (err as { statusCode?: unknown }).statusCode;
      if (status === 413) {
        return reply
          .code(413)
          .send({ error: 'payload_too_large', message: `the body is over ${HOOK_BODY_LIMIT} bytes (1 MiB)` });
      }
      throw err;
    });
    scope.post(HOOK_PATH, { bodyLimit: HOOK_BODY_LIMIT }, async (req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      let parsed: Parsed[];
      try {
        parsed = parseBody(req.body as Buffer | undefined);
      } catch (err) {
        if (!(err instanceof BadEvent)) throw err;
        return reply
          .code(400)
          .send({ error: 'bad_request', field: err.field, message: `${err.field}: ${err.message}` });
      }
      const records = parsed.flatMap((p) => (p.kind === 'record' ? [p.record] : []));
      const ignoredHere = parsed.length - records.length;
      const receipt =
        records.length === 0
          ? { fresh: 0, duplicates: 0, ignored: 0, scheduled: 0 }
          : await opts.receive(records);
      const ignored = ignoredHere + receipt.ignored;
      const stored = receipt.fresh + receipt.duplicates;
      const status = stored > 0 ? 202 : 200;
      opts.onAnswer?.({ status, ignored });
      return reply.code(status).send({
        events: parsed.length,
        stored: receipt.fresh,
        duplicates: receipt.duplicates,
        ignored,
        scheduled: receipt.scheduled,
        ...(stored === 0
          ? {
              reasons: [
                ...new Set(
                  parsed
                    .flatMap((p) => (p.kind === 'ignored' ? [p.reason] : []))
                    .concat(receipt.ignored > 0 ? ['of no account or region watched here'] : []),
                ),
              ].slice(0, 10),
            }
          : {}),
      });
    });
  });
}
