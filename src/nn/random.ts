// A small seedable generator (the 32-bit "mulberry32" mixing function) for reproducible initialisation and
// dropout masks. Not for cryptography.
export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
  /**
   * The state, then the generator advanced past n numbers: a kernel that draws number i + 1 from that state
   * (Backend.dropout) gets exactly what the next n calls of next() would have returned. n < 2^31.
   */
  skip(n: number): number {
    const s = this.s;
    this.s = (this.s + Math.imul(n, 0x6d2b79f5)) >>> 0;
    return s;
  }
  /** Fills `out` with uniform numbers in [lo, hi). */
  uniform(out: Float32Array, lo: number, hi: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
}

/** Standard normal numbers (Box-Muller over Random), for PyTorch's N(0, 1) embedding initialisation. */
export function fillNormal(rng: Random, out: Float32Array, std = 1): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - rng.next(); // (0, 1]
    const r = Math.sqrt(-2 * Math.log(u)) * std, a = 2 * Math.PI * rng.next();
    out[i] = r * Math.cos(a);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
  }
  return out;
}
