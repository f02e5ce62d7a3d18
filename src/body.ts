/**
 * Reading an answer body with a byte cap: the one reader of the Alibaba API client, the credential
 * providers and the alert channels. Each caller decides what a body past the cap means (refused,
 * or kept cut short); the reader only guarantees that no more than the cap is held or read on.
 */

/** What a capped read got. */
export interface CappedBody {
  /** The body as UTF-8, or its first `maxBytes` bytes when it was longer. */
  text: string;
  /** The body went on past `maxBytes`; reading stopped there. */
  overflowed: boolean;
}

/**
 * Reads `body` to its end, or until it passes `maxBytes`. Leaving the loop early calls the
 * stream's `return()`, which destroys it: an endless answer costs nothing more, and its socket is
 * never reused mid-body.
 */
export async function readCapped(body: AsyncIterable<Buffer>, maxBytes: number): Promise<CappedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflowed = false;
  for await (const chunk of body) {
    const room = maxBytes - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      size = maxBytes;
      overflowed = true;
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  const text =
    chunks.length === 1
      ? (chunks[0] as Buffer).toString('utf8')
      : Buffer.concat(chunks, size).toString('utf8');
  return { text, overflowed };
}
