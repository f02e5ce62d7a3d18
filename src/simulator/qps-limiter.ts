/**
 * Per-key requests-per-second cap over a sliding one-second window. Each key keeps a ring of the
 * last `cap` admission times: a request is admitted only if the oldest of those is more than a
 * second old, so at most `cap` requests are admitted in any one-second window. O(1) per request.
 */
export class QpsLimiter {
  private readonly rings = new Map<string, { times: number[]; next: number }>();
  private cap = 0;

  /** Returns true if the request is admitted (and counts it). */
  admit(key: string, cap: number, now: number): boolean {
    if (cap !== this.cap) {
      this.rings.clear();
      this.cap = cap;
    }
    let ring = this.rings.get(key);
    if (!ring) {
      ring = { times: new Array<number>(cap).fill(Number.NEGATIVE_INFINITY), next: 0 };
      this.rings.set(key, ring);
    }
    const oldest = ring.times[ring.next] ?? Number.NEGATIVE_INFINITY;
    if (now - oldest < 1000) return false;
    ring.times[ring.next] = now;
    ring.next = (ring.next + 1) % cap;
    return true;
  }
}
