/**
 * Remembers `SignatureNonce`s for the clock-skew window so a replayed request is refused with
 * `SignatureNonceUsed`. Bounded: beyond `maxEntries` the oldest nonces are forgotten first (a
 * replay that old would in practice also fail the timestamp check).
 */
export class NonceCache {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 200_000,
  ) {}

  /** Records the nonce; returns false if it was already seen inside the window. */
  remember(key: string, now: number): boolean {
    const expiry = this.expiries.get(key);
    if (expiry !== undefined && expiry > now) return false;
    if (expiry !== undefined) this.expiries.delete(key);
    this.expiries.set(key, now + this.ttlMs);
    this.evict(now);
    return true;
  }

  // A Map iterates in insertion order and every entry has the same TTL, so the oldest entries are
  // the first ones: eviction only ever looks at the head.
  private evict(now: number): void {
    for (const [k, exp] of this.expiries) {
      if (exp > now && this.expiries.size <= this.maxEntries) break;
      this.expiries.delete(k);
    }
  }
}
