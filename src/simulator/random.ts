/**
 * Deterministic randomness. The simulator never calls `Math.random`: the world, the keys and every
 * fault decision come from seeded streams, so a seed reproduces a run.
 */

export type Rng = () => number;

/** mulberry32: a tiny, fast 32-bit PRNG with a good enough spread for test data. Returns [0, 1). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Independent streams from one seed: the world generator, churn and faults each get their own, so
 * turning a fault on does not change which ids the world gets.
 */
export function stream(seed: number, name: string): Rng {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return mulberry32(h >>> 0);
}

const LOWER_ALNUM = '0123456789abcdefghijklmnopqrstuvwxyz';
const MIXED_ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LOWER_CODES = [...LOWER_ALNUM].map((c) => c.charCodeAt(0));
const MIXED_CODES = [...MIXED_ALNUM].map((c) => c.charCodeAt(0));

/** `prefix` + `length` random lowercase alphanumerics, as one flat string (see `randomFrom`). */
export function randomId(rng: Rng, prefix: string, length: number): string {
  const codes = new Array<number>(prefix.length + length);
  for (let i = 0; i < prefix.length; i++) codes[i] = prefix.charCodeAt(i);
  for (let i = prefix.length; i < codes.length; i++) {
    codes[i] = LOWER_CODES[Math.floor(rng() * LOWER_CODES.length)] ?? 48;
  }
  return String.fromCharCode(...codes);
}

export function randomMixedAlnum(rng: Rng, length: number): string {
  return randomFrom(rng, MIXED_CODES, length);
}

// Built from char codes in one call, the string is flat: a char-by-char `+=` makes a rope that V8
// must flatten on every hash and compare, which made generating a million ids several times slower.
function randomFrom(rng: Rng, alphabet: readonly number[], length: number): string {
  const codes = new Array<number>(length);
  for (let i = 0; i < length; i++) codes[i] = alphabet[Math.floor(rng() * alphabet.length)] ?? 48;
  return String.fromCharCode(...codes);
}

export function randomInt(rng: Rng, maxExclusive: number): number {
  return Math.floor(rng() * maxExclusive);
}
