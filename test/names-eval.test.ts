// tools/names-eval.mjs: the split and the n-gram baseline the bundled names model is measured against.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs tool without types
import { CharNgram, NAMES_CANDIDATES, NAMES_CHOSEN, namesFitOptions, ngramCandidates, ngramName, splitNames } from '../tools/names-eval.mjs';
import { firstNames } from '../examples/datasets.mjs';

type Settings = { order: number; smoothing: 'kn' | 'mkn' | 'wb'; discount?: number; backoff?: boolean };
const p = (m: InstanceType<typeof CharNgram>, history: string, w: string): number =>
  m.probabilities(history)[m.vocab.indexOf(w)];

describe('names split', () => {
  it('is by name, disjoint, covers every name, 80/10/10', () => {
    const all = firstNames();
    const { train, validation, test } = splitNames();
    expect([train.length, validation.length, test.length]).toEqual([6738, 842, 842]);
    const seen = new Set([...train, ...validation, ...test]);
    expect(seen.size).toBe(all.length);
    expect(new Set(all.map((n: string) => n.toLowerCase())).size).toBe(all.length); // no name twice in two cases
    expect(splitNames()).toEqual({ train, validation, test }); // the seed fixes it
  });
});

describe('names candidates', () => {
  it('fit options carry a candidate\'s weight averaging and embedding dropout (the bundled recipe uses them)', () => {
    type C = { averaging?: { decay: number }; embeddingDropout?: number };
    for (const [name, c] of Object.entries(NAMES_CANDIDATES as Record<string, C>)) {
      const o = namesFitOptions(c, { trainCount: 100 });
      expect(o.averaging, name).toEqual(c.averaging);
      expect(o.embeddingDropout, name).toBe(c.embeddingDropout);
    }
    expect(namesFitOptions(NAMES_CANDIDATES[NAMES_CHOSEN.candidate], { trainCount: 100 }).averaging).toEqual({ decay: 0.9995 });
  });
});

describe('character n-gram baseline', () => {
  // Corpus "ab", "ac" read as [start, a, b, end], [start, a, c, end]; vocabulary end, a, b, c.
  const corpus = ['ab', 'ac'];

  it('interpolated Kneser-Ney matches a hand computation', () => {
    // Unigram continuation counts: end 2 (after b, c), a 1, b 1, c 1; total 5, D 0.5, 4 types:
    //   p(end) = 1.5/5 + 0.4 * 1/4 = 0.4, p(a) = p(b) = p(c) = 0.5/5 + 0.1 = 0.2.
    // After a: b 1, c 1; gamma = 0.5 * 2 / 2: p(b) = 0.5/2 + 0.5 * 0.2 = 0.35, p(end) = 0.5 * 0.4 = 0.2.
    const m = new CharNgram(corpus, { order: 2, smoothing: 'kn', discount: 0.5 });
    expect(p(m, 'a', 'b')).toBeCloseTo(0.35, 12);
    expect(p(m, 'a', 'c')).toBeCloseTo(0.35, 12);
    expect(p(m, 'a', '\n')).toBeCloseTo(0.2, 12);
    expect(p(m, 'a', 'a')).toBeCloseTo(0.1, 12);
    // An unseen context falls to the unigram level.
    expect(p(m, 'z', '\n')).toBeCloseTo(0.4, 12);
  });

  it('backed-off Kneser-Ney gives the discounted mass only to letters unseen in the context', () => {
    // After a: b, c keep 0.5/2 each; the 0.5 left goes to end and a in proportion 0.4 : 0.2.
    const m = new CharNgram(corpus, { order: 2, smoothing: 'kn', discount: 0.5, backoff: true });
    expect(p(m, 'a', 'b')).toBeCloseTo(0.25, 12);
    expect(p(m, 'a', '\n')).toBeCloseTo(0.5 * (0.4 / 0.6), 12);
    expect(p(m, 'a', 'a')).toBeCloseTo(0.5 * (0.2 / 0.6), 12);
  });

  it('Witten-Bell matches a hand computation', () => {
    // Unigram counts a 2, b 1, c 1, end 2 (total 6, 4 types): p_1 = (c + 4/4) / 10, so a 0.3, b 0.2, end 0.3.
    // After a (b 1, c 1: total 2, 2 types): (c + 2 p_1) / 4. After the start (a 2: 1 type): (c + p_1) / 3.
    const m = new CharNgram(corpus, { order: 2, smoothing: 'wb' });
    expect(p(m, 'z', 'a')).toBeCloseTo(0.3, 12);
    expect(p(m, '', 'a')).toBeCloseTo((2 + 0.3) / 3, 12);
    expect(p(m, 'a', 'b')).toBeCloseTo((1 + 2 * 0.2) / 4, 12);
    expect(p(m, 'a', '\n')).toBeCloseTo((2 * 0.3) / 4, 12);
  });

  it('every setting compared gives a distribution (sums to 1, no negatives) in seen and unseen contexts', () => {
    const names = splitNames().train.slice(0, 800);
    for (const s of ngramCandidates() as Settings[]) {
      const m = new CharNgram(names, s);
      for (const h of ['', 'Sar', 'Joh', 'Qx', 'Zzzzzzzzz', 'Annabell']) {
        const q: Float64Array = m.probabilities(h);
        const total = q.reduce((a, b) => a + b, 0);
        expect(Math.abs(total - 1), `${ngramName(s)} after ${JSON.stringify(h)}`).toBeLessThan(1e-9);
        expect(Math.min(...q)).toBeGreaterThan(0);
      }
    }
  });
});
