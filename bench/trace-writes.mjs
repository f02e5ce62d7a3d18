/**
 * Loaded into a bench worker with `--import` when `npm run bench -- --trace-writes`: records, per
 * API request, when our code handed it to undici (`c`) and when undici wrote it to the socket
 * (`w`), keyed by the request's signature nonce, which the simulator records with its arrival time.
 * Lines `c|w <nonce> <epoch ms>` go to `$BENCH_TRACE_DIR/writes.<pid>` (flushed every 500 ms and
 * at exit). Plain JavaScript: the workers run the compiled CLI, without tsx.
 */
import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

const file = join(process.env.BENCH_TRACE_DIR ?? '.', `writes.${process.pid}`);
const lines = [];

/** The nonce of a signed request: the v3 header, or the v1 query parameter. */
function nonceOf(request) {
  const h = request.headers;
  if (typeof h === 'string') {
    const m = /x-acs-signature-nonce: ([^\r\n]+)/i.exec(h);
    if (m) return m[1];
  } else if (Array.isArray(h)) {
    for (let i = 0; i < h.length; i += 2) {
      if (String(h[i]).toLowerCase() === 'x-acs-signature-nonce') return String(h[i + 1]);
    }
  }
  const m = /[?&]SignatureNonce=([^&]+)/.exec(request.path ?? '');
  return m ? decodeURIComponent(m[1]) : undefined;
}

const record = (kind) => (message) => {
  const nonce = nonceOf(message.request);
  if (nonce) lines.push(`${kind} ${nonce} ${Date.now()}`);
};
subscribe('undici:request:create', record('c'));
subscribe('undici:client:sendHeaders', record('w'));

const flush = () => {
  if (lines.length > 0) appendFileSync(file, `${lines.splice(0).join('\n')}\n`);
};
setInterval(flush, 500).unref();
process.on('exit', flush);
