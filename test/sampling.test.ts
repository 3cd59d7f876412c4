// How a language model picks its next tokens (LanguageModelStream.top, generate): the candidates by descending
// probability, ties by index, now handed out by a heap instead of a comparator sort of the whole vocabulary. The
// order and the draws must be what the sort gave.
import { describe, expect, it } from 'vitest';
import { descendingOrder, sampleIndex } from '../src/models/language-model.js';
import { Random } from '../src/nn/random.js';

/** The definitions before the heap: a stable sort of the indices, then the filters, the sum, the walk. */
const sortedOrder = (p: Float32Array, excluded?: Set<number>) =>
  Array.from(p.keys()).filter((i) => !excluded?.has(i)).sort((a, b) => p[b]! - p[a]!);
function sampleBySort(p: Float32Array, rng: Random, topK?: number, topP?: number, excluded?: Set<number>): number {
  let order = sortedOrder(p, excluded);
  if (topK !== undefined && topK > 0) order = order.slice(0, topK);
  if (topP !== undefined && topP > 0 && topP < 1) {
    let acc = 0, n = 0;
    for (const i of order) { acc += p[i]!; n++; if (acc >= topP) break; }
    order = order.slice(0, n);
  }
  let total = 0;
  for (const i of order) total += p[i]!;
  let u = rng.next() * total;
  for (const i of order) { u -= p[i]!; if (u <= 0) return i; }
  return order[order.length - 1] ?? 0;
}

/** Distributions with ties, zeros, a float32 denormal and a few large entries; some with exclusions. */
function cases(count: number) {
  const rng = new Random(7);
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(rng.next() * 400);
    const raw = Float32Array.from({ length: n }, () => {
      const r = rng.next();
      return r < 0.2 ? 0 : r < 0.35 ? 0.125 : r < 0.38 ? 1e-45 : rng.next() ** 6;
    });
    const sum = raw.reduce((a, b) => a + b, 0) || 1;
    const p = raw.map((x) => x / sum);
    const excluded = rng.next() < 0.4 ? new Set(Array.from({ length: 4 }, () => Math.floor(rng.next() * n))) : undefined;
    return { p, excluded };
  });
}

describe('next-token candidates', () => {
  it('descendingOrder is the stable sort\'s order, whole or its first k, with exclusions', () => {
    for (const { p, excluded } of cases(600)) {
      const want = sortedOrder(p, excluded);
      for (const k of [1, 2.5, 5, 17, p.length]) expect(descendingOrder(p, k, excluded)).toEqual(want.slice(0, k));
    }
  });

  it('a NaN sorts last instead of scrambling the order', () => {
    const p = Float32Array.from([0.1, NaN, 0.5, 0.1, 0]);
    expect(descendingOrder(p)).toEqual([2, 0, 3, 4, 1]);
  });

  it('sampleIndex draws what the sort-based definition drew, with and without top-k / top-p', () => {
    let draws = 0;
    for (const [c, { p, excluded }] of cases(300).entries()) {
      for (const [topK, topP] of [[undefined, undefined], [3, undefined], [undefined, 0.6], [10, 0.9], [0, 1], [2.5, undefined], [0.5, undefined]] as const) {
        const a = new Random(c), b = new Random(c);
        for (let d = 0; d < 8; d++) {
          expect(sampleIndex(p, a, topK, topP, excluded), `case ${c} topK ${topK} topP ${topP} draw ${d}`)
            .toBe(sampleBySort(p, b, topK, topP, excluded));
          draws++;
        }
      }
    }
    expect(draws).toBe(300 * 7 * 8);
  });
});
