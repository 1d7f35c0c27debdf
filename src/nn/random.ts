// Small seeded PRNG helpers. Splits, batch order and initialisation must be reproducible from one
// seed without touching Math.random, so everything here is a pure function of its seed.

/** Folds any number of integers into one 32-bit seed (FNV-1a style mix, then a murmur finaliser). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    if (!Number.isFinite(p)) throw new Error(`mixSeed: seed part ${p} is not a finite number`);
    // Non-integers are allowed; their low and high 32 bits are both mixed in.
    const lo = Math.trunc(p) >>> 0;
    const hi = Math.trunc(p / 4294967296) >>> 0;
    const frac = Math.round((p - Math.trunc(p)) * 4294967296) >>> 0;
    for (const w of [lo, hi, frac]) {
      h = Math.imul(h ^ w, 0x01000193) >>> 0;
      h ^= h >>> 15;
    }
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mulberry32: returns a generator of floats in [0, 1). Same seed, same sequence. */
export function rng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`rng: seed ${seed} is not a finite number`);
  // Integer seeds in uint32 range are used as they are, so rng(42) is stable and easy to reason about.
  let a = Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff ? seed >>> 0 : mixSeed(seed);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle; returns a new array and leaves `xs` untouched. */
export function shuffle<T>(xs: readonly T[], rand: () => number): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = out[i];
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
