// The memory experiment (issue 14, section 2): its data generators, the parameter matching of the cells, the
// statistics of its table, and the command end to end at a tiny size. The full-size run is a command, not a test.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ADDING_TOLERANCE, AddingGenerator, AGREEMENT_VOCAB, AgreementGenerator, agreementText, agreementVocab, nounNumber, RICH_AGREEMENT_VOCAB, wordNumber,
} from '../src/diagnostics/memory-data.js';
import { bucketAccuracy, DEFAULT_BUCKETS, spread, wilsonInterval } from '../src/diagnostics/memory-stats.js';
import { memoryTable } from '../src/cli/experiment.js';
import {
  chanceAccuracy, logUniformDistance, matchHiddenSizes, MemoryModel, parameterCount, runMemoryExperiment, taskShape, testSet,
} from '../src/diagnostics/memory.js';
import { getBackend } from '../src/backend/index.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { numel, tensor } from '../src/tensor.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('agreement sentences', () => {
  it('label is the subject noun\'s number for every distance 2..100, with exactly k words between subject and verb', () => {
    const gen = new AgreementGenerator(7);
    for (let k = 2; k <= 100; k++) {
      for (let i = 0; i < 20; i++) {
        const e = gen.example(k);
        expect(e.tokens.length).toBe(k + 2);
        expect(AGREEMENT_VOCAB[e.tokens[0]!]).toBe('the');
        // Read from the words themselves: a plural subject ends in "s" and calls for "were".
        const subject = AGREEMENT_VOCAB[e.tokens[1]!]!;
        expect(nounNumber(e.tokens[1]!)).not.toBe(-1);
        expect(e.label).toBe(subject.endsWith('s') ? 1 : 0);
        expect(agreementText(e).endsWith(subject.endsWith('s') ? ' were' : ' was')).toBe(true);
        expect(e.distance).toBe(k);
      }
    }
  });

  it('distractor nouns of the other number occur, so the last noun agrees with the subject only about half the time', () => {
    const gen = new AgreementGenerator(3);
    let withOpposite = 0, lastNounAgrees = 0, withNoun = 0;
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const e = gen.example(5 + (i % 96));
      const nouns = e.tokens.slice(2).map(nounNumber).filter((n) => n >= 0);
      if (nouns.some((n) => n !== e.label)) withOpposite++;
      if (nouns.length) { withNoun++; if (nouns.at(-1) === e.label) lastNounAgrees++; }
    }
    expect(withOpposite / N).toBeGreaterThan(0.7);
    expect(withNoun / N).toBeGreaterThan(0.9);
    // A model that copies the number of the last noun is at chance.
    expect(lastNounAgrees / withNoun).toBeGreaterThan(0.45);
    expect(lastNounAgrees / withNoun).toBeLessThan(0.55);
  });

  it('both labels occur about equally often', () => {
    const gen = new AgreementGenerator(11);
    let plural = 0;
    for (let i = 0; i < 2000; i++) plural += gen.example(10).label;
    expect(plural / 2000).toBeGreaterThan(0.45);
    expect(plural / 2000).toBeLessThan(0.55);
  });

  it('is deterministic per seed, and another seed gives other sentences', () => {
    const run = (seed: number) => { const g = new AgreementGenerator(seed); return [5, 30, 100].map((k) => agreementText(g.example(k))); };
    expect(run(1)).toEqual(run(1));
    expect(run(2)).not.toEqual(run(1));
  });

  it('rejects a distance that is not an integer >= 2 with E_ARGUMENT', () => {
    const gen = new AgreementGenerator(0);
    for (const k of [1, 0, 2.5, NaN]) expect(() => gen.example(k)).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });
});

describe('agreement sentences, rich grammar', () => {
  // The present-tense verbs: "likes" .. the word before the first adjective. (Number read from spelling below:
  // plural nouns and singular present verbs end in "s", all regular here.)
  const isVerb = (t: number) => t >= RICH_AGREEMENT_VOCAB.indexOf('likes') && t < RICH_AGREEMENT_VOCAB.indexOf('old');

  it('has 125 words, the plain ones first with the same ids, and no word twice', () => {
    expect(RICH_AGREEMENT_VOCAB).toHaveLength(125);
    expect(RICH_AGREEMENT_VOCAB.slice(0, AGREEMENT_VOCAB.length)).toEqual(AGREEMENT_VOCAB);
    expect(new Set(RICH_AGREEMENT_VOCAB).size).toBe(RICH_AGREEMENT_VOCAB.length);
  });

  it('the label is the subject\'s number, k words follow it, and every present verb agrees with the noun just before it', () => {
    const gen = new AgreementGenerator(7, 'rich');
    let verbs = 0;
    for (let k = 2; k <= 100; k++) {
      for (let i = 0; i < 10; i++) {
        const e = gen.example(k);
        expect(e.tokens.length).toBe(k + 2);
        const subject = RICH_AGREEMENT_VOCAB[e.tokens[1]!]!;
        expect(wordNumber(e.tokens[1]!)).toBe(subject.endsWith('s') ? 1 : 0);
        expect(e.label).toBe(subject.endsWith('s') ? 1 : 0);
        e.tokens.forEach((t, j) => {
          if (!isVerb(t)) return;
          verbs++;
          const verb = RICH_AGREEMENT_VOCAB[t]!, noun = RICH_AGREEMENT_VOCAB[e.tokens[j - 1]!]!;
          expect(j).toBeGreaterThan(1); // never the subject's own verb: k stays the dependency's distance
          expect(verb.endsWith('s'), `${noun} ${verb}`).toBe(!noun.endsWith('s')); // "the dog likes", "the dogs like"
        });
      }
    }
    expect(verbs).toBeGreaterThan(500);
  });

  // rich: clauses with their own agreeing verbs; nested: the word just before the verb is an inner clause's verb.
  it.each([['rich', 0.95], ['nested', 0.99]] as const)(
    '%s: the last number-marking word before the verb agrees with the subject only about half the time',
    (grammar, minMarked) => {
      const gen = new AgreementGenerator(3, grammar);
      let agrees = 0, marked = 0;
      for (let i = 0; i < 3000; i++) {
        const e = gen.example(10 + (i % 91));
        const last = e.tokens.slice(2).map(wordNumber).filter((n) => n >= 0).at(-1);
        if (last !== undefined) { marked++; if (last === e.label) agrees++; }
      }
      expect(marked / 3000).toBeGreaterThan(minMarked);
      expect(agrees / marked).toBeGreaterThan(0.45);
      expect(agrees / marked).toBeLessThan(0.55);
    });

  it('uses the larger vocabulary: over 90 of its words occur, all valid ids in 2000 sentences', () => {
    const gen = new AgreementGenerator(5, 'rich');
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) for (const t of gen.example(30).tokens) seen.add(t);
    expect(seen.size).toBeGreaterThan(90);
    expect([...seen].every((t) => Number.isInteger(t) && t >= 0 && t < RICH_AGREEMENT_VOCAB.length)).toBe(true);
  });

  it('the plain grammar is unchanged by the option: the same sentences as before for a seed', () => {
    const a = new AgreementGenerator(9), b = new AgreementGenerator(9, 'plain');
    for (const k of [3, 17, 64]) expect(agreementText(a.example(k))).toBe(agreementText(b.example(k)));
    expect(() => new AgreementGenerator(1, 'fancy' as 'rich')).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });
});

describe('agreement sentences, nested grammar', () => {
  const W = (t: number) => RICH_AGREEMENT_VOCAB[t]!;
  const isNoun = (t: number) => nounNumber(t) >= 0 || (t >= AGREEMENT_VOCAB.length && t < RICH_AGREEMENT_VOCAB.indexOf('likes'));
  const isVerb = (t: number) => t >= RICH_AGREEMENT_VOCAB.indexOf('likes') && t < RICH_AGREEMENT_VOCAB.indexOf('old');
  const isAdjective = (t: number) => t >= RICH_AGREEMENT_VOCAB.indexOf('old');
  // Parses a sentence with a stack, independently of the generator: "that the [adjective] noun" opens a clause
  // whose subject is that noun (number from its spelling), a present verb closes the innermost open clause and
  // must agree with its subject. Returns the most clauses open at once, or throws on a disagreeing verb.
  function parse(tokens: number[]): { deepest: number; openAtEnd: number } {
    const stack: boolean[] = [];
    let deepest = 0;
    tokens.forEach((t, j) => {
      if (W(t) === 'that' && W(tokens[j + 1]!) === 'the') {
        const n = isAdjective(tokens[j + 2]!) ? tokens[j + 3]! : tokens[j + 2]!;
        expect(isNoun(n), `${W(n)} after "that the"`).toBe(true);
        stack.push(W(n).endsWith('s'));
        deepest = Math.max(deepest, stack.length);
      } else if (isVerb(t)) {
        expect(stack.length, `"${W(t)}" with no open clause`).toBeGreaterThan(0);
        const plural = stack.pop()!;
        expect(W(t).endsWith('s'), tokens.map(W).join(' ')).toBe(!plural); // "the dog likes", "the dogs like"
      }
    });
    return { deepest, openAtEnd: stack.length };
  }

  it('every present verb agrees with its own clause\'s subject, every clause is closed before the verb, the label is the subject\'s number, k words', () => {
    const gen = new AgreementGenerator(11, 'nested');
    const depths = new Map<number, number>();
    for (let k = 2; k <= 100; k++) {
      for (let i = 0; i < 10; i++) {
        const e = gen.example(k);
        expect(e.tokens.length).toBe(k + 2);
        expect(W(e.tokens[0]!)).toBe('the');
        const subject = W(e.tokens[1]!);
        expect(isNoun(e.tokens[1]!)).toBe(true);
        expect(e.label).toBe(subject.endsWith('s') ? 1 : 0);
        const { deepest, openAtEnd } = parse(e.tokens);
        expect(openAtEnd).toBe(0);
        // The nesting the generator reports is there (filler clauses are closed at once, so they add at most one).
        expect(e.depth).toBeGreaterThanOrEqual(k < 4 ? 0 : 1);
        expect(e.depth).toBeLessThanOrEqual(Math.min(3, Math.floor(k / 4)));
        expect(deepest).toBeGreaterThanOrEqual(e.depth!);
        expect(deepest).toBeLessThanOrEqual(e.depth! + 1);
        depths.set(e.depth!, (depths.get(e.depth!) ?? 0) + 1);
      }
    }
    // Depths 1, 2 and 3 all occur often: several numbers in flight at once.
    for (const d of [1, 2, 3]) expect(depths.get(d)).toBeGreaterThan(150);
  });

  it('a depth-3 sentence holds four numbers at its innermost point: the parse sees three clauses open at once', () => {
    const gen = new AgreementGenerator(2, 'nested');
    let seen = 0;
    for (let i = 0; i < 200; i++) {
      const e = gen.example(12); // exactly 4 words per level: no filler at depth 3
      if (e.depth !== 3) continue;
      seen++;
      expect(parse(e.tokens).deepest).toBe(3);
      // the N that the N that the N that the N V V V
      expect(e.tokens.filter((t) => W(t) === 'that')).toHaveLength(3);
      expect(e.tokens.slice(-3).every(isVerb)).toBe(true);
    }
    expect(seen).toBeGreaterThan(40);
  });

  it('has the rich grammar\'s vocabulary, so every cell gets the same hidden size and parameter count as with it', () => {
    expect(agreementVocab('nested')).toBe(RICH_AGREEMENT_VOCAB);
    for (const task of ['agreement', 'agreement-lm'] as const) {
      const nested = taskShape(task, 16, 'nested');
      expect(nested).toEqual(taskShape(task, 16, 'rich'));
      const sizes = matchHiddenSizes(['rnn_tanh', 'lstm', 'gru'], 32, nested);
      // Directly: embedding V x E, G gates x H x (E + H + 2 biases), head H x C + C.
      for (const { cell, hidden, parameters } of sizes) {
        const G = { rnn_tanh: 1, lstm: 4, gru: 3 }[cell as 'rnn_tanh' | 'lstm' | 'gru'];
        expect(parameters).toBe(125 * 16 + G * hidden * (16 + hidden + 2) + hidden * nested.outputs + nested.outputs);
        expect(Math.abs(parameters - parameterCount('lstm', 32, nested)) / parameters).toBeLessThan(0.01);
      }
    }
  });

  it('the experiment scores the nested grammar by nesting depth too: each bucket\'s test sentences split by their depth, over every seed', async () => {
    const r = await runMemoryExperiment({
      task: 'agreement-lm', grammar: 'nested', cells: ['gru'], seeds: 2, steps: 2, testPerBucket: 20, gradientBatch: 0, backend: 'native',
    });
    const c = r.cells[0]!;
    // Directly from the test set every seed is scored on: sentences per (bucket, depth), times the seeds.
    const expected = new Map<string, number>();
    for (const [k, xs] of testSet('agreement-lm', DEFAULT_BUCKETS, 20, 0x5eed, 'nested')) {
      const b = DEFAULT_BUCKETS.find((x) => k >= x.lo && k <= x.hi)!.name;
      for (const e of xs) expected.set(`${b}|${e.depth}`, (expected.get(`${b}|${e.depth}`) ?? 0) + 2);
    }
    const got = new Map<string, number>();
    for (const d of c.byDepth!) for (const b of d.buckets) got.set(`${b.bucket}|${d.depth}`, b.n);
    expect(got).toEqual(expected);
    expect(c.byDepth!.map((d) => d.depth)).toEqual([1, 2, 3]); // the buckets start at k = 5: always a clause
    // The depths partition each bucket: their right answers add up to the bucket's.
    for (const b of c.buckets) {
      const parts = c.byDepth!.flatMap((d) => d.buckets.filter((x) => x.bucket === b.bucket));
      expect(parts.reduce((a, x) => a + x.correct, 0)).toBe(b.correct);
      expect(parts.reduce((a, x) => a + x.n, 0)).toBe(b.n);
    }
    expect(memoryTable(r)).toMatch(/^accuracy % by distance k and nesting depth/m);
    expect(memoryTable(r)).toMatch(/^gru +3( +\d+\.\d \(\d+\))+$/m);
    const rich = await runMemoryExperiment({ task: 'agreement-lm', grammar: 'rich', cells: ['gru'], seeds: 1, steps: 1, testPerBucket: 4, gradientBatch: 0, backend: 'native' });
    expect(rich.cells[0]!.byDepth).toBeUndefined();
    expect(memoryTable(rich)).not.toMatch(/nesting depth/);
  }, 60_000);

  it('the plain and rich grammars\' examples carry no depth; a nested sentence is not a rich one', () => {
    expect(new AgreementGenerator(9, 'rich').example(17).depth).toBeUndefined();
    expect(new AgreementGenerator(9).example(17).depth).toBeUndefined();
    expect(agreementText(new AgreementGenerator(9, 'nested').example(17))).not.toBe(agreementText(new AgreementGenerator(9, 'rich').example(17)));
  });
});

describe('adding problem', () => {
  it('target is the sum of the two marked values; the first marker is exactly k steps before the end', () => {
    const gen = new AddingGenerator(5);
    for (const k of [2, 3, 10, 57, 100]) {
      for (let i = 0; i < 50; i++) {
        const e = gen.example(k);
        const marked: number[] = [];
        let sum = 0;
        for (let t = 0; t < e.steps; t++) {
          const v = e.input[t * 2]!, m = e.input[t * 2 + 1]!;
          expect(v >= 0 && v < 1).toBe(true);
          expect(m === 0 || m === 1).toBe(true);
          if (m === 1) { marked.push(t); sum += v; }
        }
        expect(marked.length).toBe(2);
        expect(e.steps - 1 - marked[0]!).toBe(k);
        expect(e.target).toBeCloseTo(sum, 12);
        expect(e.distance).toBe(k);
      }
    }
  });

  it('is deterministic per seed', () => {
    const a = new AddingGenerator(9).example(20), b = new AddingGenerator(9).example(20), c = new AddingGenerator(10).example(20);
    expect(Array.from(a.input)).toEqual(Array.from(b.input));
    expect(a.target).toBe(b.target);
    expect(Array.from(c.input)).not.toEqual(Array.from(a.input));
  });

  it('chance is what the best constant answer (1) scores: P(|U1 + U2 - 1| < 0.04)', () => {
    // The sum of two uniforms has the triangular density 1 - |s - 1| around 1: the mass within 0.04 of 1.
    const d = ADDING_TOLERANCE;
    expect(chanceAccuracy('adding')).toBeCloseTo(2 * (d - (d * d) / 2), 12);
    expect(chanceAccuracy('agreement')).toBe(0.5);
  });
});

describe('parameter matching', () => {
  for (const task of ['agreement', 'adding'] as const) {
    for (const lstmHidden of [16, 32, 64]) {
      it(`${task}, LSTM hidden ${lstmHidden}: every cell within 5% of the LSTM's parameter count`, () => {
        const shape = taskShape(task, 16);
        const sizes = matchHiddenSizes(['rnn_tanh', 'lstm', 'gru'], lstmHidden, shape);
        const target = parameterCount('lstm', lstmHidden, shape);
        expect(sizes.find((s) => s.cell === 'lstm')!.hidden).toBe(lstmHidden);
        for (const s of sizes) expect(Math.abs(s.parameters - target) / target).toBeLessThan(0.05);
        // The tanh RNN (1 gate block) gets the most units, the LSTM (4) the fewest.
        const h = Object.fromEntries(sizes.map((s) => [s.cell, s.hidden]));
        expect(h.rnn_tanh).toBeGreaterThan(h.gru!);
        expect(h.gru).toBeGreaterThan(h.lstm!);
      });
    }
  }

  it('each hidden size is the closest match: one unit more or fewer is no closer (even where 5% is out of reach)', () => {
    for (const task of ['agreement', 'adding'] as const) {
      const shape = taskShape(task, 16);
      for (const lstmHidden of [4, 8, 16, 32]) {
        const target = parameterCount('lstm', lstmHidden, shape);
        for (const { cell, hidden, parameters } of matchHiddenSizes(['rnn_tanh', 'rnn_relu', 'gru'], lstmHidden, shape)) {
          const off = Math.abs(parameters - target);
          expect(Math.abs(parameterCount(cell, hidden + 1, shape) - target)).toBeGreaterThanOrEqual(off);
          if (hidden > 1) expect(Math.abs(parameterCount(cell, hidden - 1, shape) - target)).toBeGreaterThanOrEqual(off);
        }
      }
    }
  });

  it('forgetBias adds to the LSTM\'s forget-gate rows of bias_ih only', () => {
    const backend = getBackend();
    const shape = taskShape('agreement', 8);
    const plain = new MemoryModel('agreement', 'lstm', 5, shape, 4, backend);
    const biased = new MemoryModel('agreement', 'lstm', 5, shape, 4, backend, 1);
    try {
      const p = plain.snapshot(), q = biased.snapshot();
      for (const name of Object.keys(p)) {
        const d = Array.from(q[name]!.data, (x, j) => Math.round((x - p[name]!.data[j]!) * 1e5) / 1e5);
        // PyTorch's gate order i, f, g, o: rows 5..9 of bias_ih are the forget gate's.
        const want = name === 'rnn.bias_ih_l0' ? d.map((_, j) => (j >= 5 && j < 10 ? 1 : 0)) : d.map(() => 0);
        expect(d, name).toEqual(want);
      }
    } finally {
      plain.dispose();
      biased.dispose();
    }
  });

  it('the count is what the built model holds, parameter by parameter', () => {
    const backend = getBackend();
    for (const task of ['agreement', 'adding'] as const) {
      const shape = taskShape(task, 12);
      for (const { cell, hidden, parameters } of matchHiddenSizes(['rnn_tanh', 'lstm', 'gru'], 20, shape)) {
        const m = new MemoryModel(task, cell, hidden, shape, 0, backend);
        try {
          expect(m.parameters().reduce((n, p) => n + numel(p.shape), 0)).toBe(parameters);
        } finally {
          m.dispose();
        }
      }
    }
  });
});

describe('statistics', () => {
  it('Wilson 95% interval matches hand-computed values', () => {
    // 8 of 10: center (0.8 + z²/20) / (1 + z²/10), half-width z/(1 + z²/10) * sqrt(0.016 + z²/400)
    const a = wilsonInterval(8, 10);
    expect(a.lo).toBeCloseTo(0.4902, 4);
    expect(a.hi).toBeCloseTo(0.9433, 4);
    // 0 of 10 and 10 of 10: [0, z²/(n + z²)] and its mirror
    const z2 = 1.959963984540054 ** 2;
    expect(wilsonInterval(0, 10).lo).toBe(0);
    expect(wilsonInterval(0, 10).hi).toBeCloseTo(z2 / (10 + z2), 12);
    expect(wilsonInterval(10, 10).lo).toBeCloseTo(10 / (10 + z2), 12);
    expect(wilsonInterval(10, 10).hi).toBeCloseTo(1, 12);
    // 450 of 1000
    const c = wilsonInterval(450, 1000);
    expect(c.lo).toBeCloseTo(0.4194, 4);
    expect(c.hi).toBeCloseTo(0.4810, 4);
    expect(() => wilsonInterval(11, 10)).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('spread: mean, sample standard deviation, min, max', () => {
    expect(spread([0.5, 0.7, 0.9])).toEqual({ mean: expect.closeTo(0.7, 12), sd: expect.closeTo(0.2, 12), min: 0.5, max: 0.9 });
    expect(spread([0.3]).sd).toBe(0);
  });

  it('buckets count each outcome once, pool the seeds, and keep each seed\'s accuracy', () => {
    const o = (distance: number, correct: boolean) => ({ distance, correct });
    const seed0 = [o(5, true), o(10, true), o(7, false), o(15, true), o(30, false), o(100, true), o(12, true)];
    const seed1 = [o(5, true), o(10, false), o(7, false), o(15, false), o(30, true), o(100, true)];
    const r = bucketAccuracy([seed0, seed1]);
    const by = Object.fromEntries(r.map((b) => [b.bucket, b]));
    expect(r.map((b) => b.bucket)).toEqual(['5-10', '15-20', '30-49', '100']); // no test example in 50-99; k=12 in none
    expect(by['5-10']).toMatchObject({ n: 6, correct: 3, accuracy: 0.5, perSeed: [2 / 3, 1 / 3], lecture: 0.9 });
    expect(by['5-10']!.ci95.lo).toBeCloseTo(wilsonInterval(3, 6).lo, 12);
    expect(by['5-10']!.seedSpread.sd).toBeCloseTo(Math.SQRT2 / 6, 12);
    expect(by['15-20']).toMatchObject({ n: 2, correct: 1, perSeed: [1, 0] });
    expect(by['100']).toMatchObject({ n: 2, correct: 2, accuracy: 1 });
  });

  it('log-uniform training distances cover [lo, hi] and favour short ones', () => {
    expect(logUniformDistance(0, 2, 100)).toBe(2);
    expect(logUniformDistance(0.999999, 2, 100)).toBe(100);
    let short = 0;
    for (let i = 0; i < 1000; i++) {
      const k = logUniformDistance(i / 1000, 2, 100);
      expect(k >= 2 && k <= 100).toBe(true);
      if (k <= 10) short++;
    }
    // ln(11/2) / ln(101/2) of the mass: about 0.435
    expect(short / 1000).toBeCloseTo(Math.log(11 / 2) / Math.log(101 / 2), 2);
  });
});

describe('training', () => {
  for (const task of ['agreement', 'agreement-lm', 'adding'] as const) {
    it(`${task}: trainStep's gradients agree with finite differences of its loss, embedding to head`, () => {
      const backend = getBackend('native');
      const shape = taskShape(task, 3, 'rich');
      const m = new MemoryModel(task, 'lstm', 4, shape, 1, backend);
      try {
        const gen = task === 'adding' ? new AddingGenerator(2) : new AgreementGenerator(2, 'rich');
        const batch = [gen.example(4), gen.example(4), gen.example(4)];
        for (const p of m.parameters()) p.grad.view().fill(0);
        m.trainStep(batch);
        // Copied before the differences below, whose trainStep calls accumulate into the gradients again.
        const grads = m.parameters().map((p) => p.grad.view().slice());
        const checked = new Set<string>();
        for (const [pi, p] of m.parameters().entries()) {
          const grad = grads[pi]!;
          // The entry with the largest gradient of each parameter: float32 differences resolve it.
          let i = 0;
          for (let j = 1; j < grad.length; j++) if (Math.abs(grad[j]!) > Math.abs(grad[i]!)) i = j;
          const v = p.value.view(), x = v[i]!, eps = 1e-2;
          v[i] = x + eps; const up = m.trainStep(batch);
          v[i] = x - eps; const down = m.trainStep(batch);
          v[i] = x;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(grad[i]!), p.name).toBeGreaterThan(1e-4);
          expect(Math.abs(fd - grad[i]!), p.name).toBeLessThan(2e-2 * Math.abs(grad[i]!) + 1e-4);
          checked.add(p.name);
        }
        expect(checked.has('weight_hh_l0')).toBe(true);
      } finally {
        m.dispose();
      }
    });
  }

  it('agreement-lm: the loss is the mean cross-entropy of the next word at every position, the verb at the last; ' +
    'correct() compares P(was) with P(were) there', () => {
    const backend = getBackend('native');
    const shape = taskShape('agreement-lm', 5, 'rich');
    const V = RICH_AGREEMENT_VOCAB.length;
    expect(shape).toEqual({ vocab: V, inputSize: 5, outputs: V + 2 });
    const m = new MemoryModel('agreement-lm', 'gru', 6, shape, 3, backend);
    const ce = new CrossEntropyLoss(backend);
    try {
      const gen = new AgreementGenerator(4, 'rich');
      const batch = [gen.example(6), gen.example(6), gen.example(6), gen.example(6)];
      const T = 8, B = 4, H = 6;
      // Directly: embed, run the layer, decode each step's output and score it against the next word.
      const ids = new Int32Array(T * B);
      batch.forEach((e, b) => e.tokens.forEach((w, t) => { ids[t * B + b] = w; }));
      m.rnn.eval();
      const out = m.rnn.forward(m.embedding!.forward({ data: ids, shape: [T, B] })).output;
      const logits = m.head.forward(tensor(out.data, [T * B, H]));
      let total = 0;
      const C = V + 2;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < B; b++) {
          const target = t + 1 < T ? batch[b]!.tokens[t + 1]! : V + batch[b]!.label;
          const row = logits.data.subarray((t * B + b) * C, (t * B + b + 1) * C);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
          total += lse - row[target]!;
        }
      }
      m.rnn.train();
      expect(m.trainStep(batch)).toBeCloseTo(total / (T * B), 5);
      const last = (b: number) => logits.data.subarray(((T - 1) * B + b) * C, ((T - 1) * B + b + 1) * C);
      expect(m.correct(batch)).toEqual(batch.map((e, b) => last(b)[V + e.label]! > last(b)[V + 1 - e.label]!));
    } finally {
      ce.dispose();
      m.dispose();
    }
  });

  for (const task of ['agreement', 'agreement-lm', 'adding'] as const) {
    it(`${task}: gradientFlow's norm at distance T is the ‖dh0‖ of one backward of the loss at the end, its loss that loss`, () => {
      const backend = getBackend('native');
      const shape = taskShape(task, 4);
      const m = new MemoryModel(task, 'rnn_tanh', 5, shape, 2, backend);
      try {
        const gen = task === 'adding' ? new AddingGenerator(6) : new AgreementGenerator(6);
        const batch = [gen.example(9), gen.example(9), gen.example(9)];
        const g = m.gradientFlow(batch);
        const T = task === 'adding' ? (batch[0] as { steps: number }).steps : 11;
        expect(g.T).toBe(T);
        expect(g.B).toBe(3);
        expect(g.layers).toHaveLength(1);
        expect(g.layers[0]!.h).toHaveLength(T);
        expect(Object.keys(g.layers[0]!.spectralRadius)).toEqual(['h']);
        // Directly: the head on the last state, its loss, and one backward over the whole sequence.
        const B = 3, H = 5;
        let x: ReturnType<typeof tensor>;
        if (task === 'adding') {
          const d = new Float32Array(T * B * 2);
          batch.forEach((e, b) => { for (let t = 0; t < T; t++) d.set((e as { input: Float32Array }).input.subarray(t * 2, t * 2 + 2), (t * B + b) * 2); });
          x = tensor(d, [T, B, 2]);
        } else {
          const ids = new Int32Array(T * B);
          batch.forEach((e, b) => (e as { tokens: number[] }).tokens.forEach((w, t) => { ids[t * B + b] = w; }));
          x = m.embedding!.forward({ data: ids, shape: [T, B] });
        }
        m.rnn.train();
        const { hN } = m.rnn.forward(x);
        const out = m.head.forward(tensor(hN.data, [B, H]));
        let loss: number, dOut: Float32Array;
        if (task === 'adding') {
          const y = batch.map((e) => (e as { target: number }).target);
          loss = y.reduce((a, t, b) => a + (out.data[b]! - t) ** 2, 0) / B;
          dOut = Float32Array.from(y, (t, b) => (2 * (out.data[b]! - t)) / B);
        } else {
          const ce = new CrossEntropyLoss(backend);
          const r = ce.compute(out, batch.map((e) => (task === 'agreement-lm' ? shape.vocab : 0) + (e as { label: number }).label));
          ce.dispose();
          loss = r.loss; dOut = r.grad.data;
        }
        expect(g.loss).toBeCloseTo(loss, 5);
        const dh = m.head.backward(tensor(dOut, [B, task === 'adding' ? 1 : shape.outputs]));
        const dh0 = m.rnn.backward({ dhN: tensor(dh.data, [1, B, H]) }).dh0.data;
        const norm = Math.hypot(...dh0);
        expect(norm).toBeGreaterThan(0);
        expect(Math.abs(g.layers[0]!.h[T - 1]! - norm)).toBeLessThan(1e-4 * norm);
      } finally {
        m.dispose();
      }
    });
  }

  it('testEvery: accuracy by bucket after every n steps, the last the final test; the longest test distance\'s gradient flow per run', async () => {
    const buckets = [{ name: '5-10', lo: 5, hi: 10 }, { name: '15-20', lo: 15, hi: 20 }];
    const r = await runMemoryExperiment({ cells: ['gru', 'lstm'], seeds: 2, steps: 9, testEvery: 4, testPerBucket: 6, buckets, gradientBatch: 3 });
    for (const c of r.cells) {
      for (const run of c.runs) {
        expect(run.checkpoints!.map((cp) => cp.step)).toEqual([4, 8, 9]);
        expect(run.checkpoints!.at(-1)!.accuracy['5-10']).toBe(c.buckets[0]!.perSeed[run.seed]);
        expect(run.checkpoints!.at(-1)!.accuracy['15-20']).toBe(c.buckets[1]!.perSeed[run.seed]);
        // The longest test distance is at most 20; its sentences have 2 words before the k distractors.
        expect(run.gradients!.B).toBeLessThanOrEqual(3);
        expect(run.gradients!.T).toBeGreaterThanOrEqual(17);
        expect(run.gradients!.T).toBeLessThanOrEqual(22);
      }
    }
    const none = await runMemoryExperiment({ cells: ['gru'], seeds: 1, steps: 2, testPerBucket: 2, buckets, gradientBatch: 0 });
    expect(none.cells[0]!.runs[0]!.gradients).toBeUndefined();
    expect(none.cells[0]!.runs[0]!.checkpoints).toBeUndefined();
  }, 60_000);

  it('a GRU learns agreement at distance 5-10 in 400 steps (batches laid out [T, B] as the layers expect)', async () => {
    const r = await runMemoryExperiment({
      cells: ['gru'], seeds: 1, steps: 400, training: 'bucket', testPerBucket: 100,
      buckets: [{ name: '5-10', lo: 5, hi: 10 }],
    });
    expect(r.cells[0]!.buckets[0]!.accuracy).toBeGreaterThan(0.9);
  }, 60_000);

  it('rejects bad options with E_ARGUMENT', async () => {
    await expect(runMemoryExperiment({ seeds: 0 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(runMemoryExperiment({ cells: [] })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(runMemoryExperiment({ task: 'copy' as 'adding' })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(runMemoryExperiment({ grammar: 'fancy' as 'rich' })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(runMemoryExperiment({ testEvery: -1 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(runMemoryExperiment({ gradientBatch: 1.5 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
  });
});

describe('rnnkit experiment memory', () => {
  const rnnkit = (args: string[]) =>
    spawnSync(process.execPath, [`${root}dist/cli/main.js`, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('--json gives the table\'s structure: each cell with its size, runs and the five buckets', () => {
    const r = rnnkit(['experiment', 'memory', '--seeds', '1', '--steps', '3', '--test-per-bucket', '4', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      task: string; chance: number; settings: { steps: number; seeds: number };
      cells: { cell: string; hidden: number; parameters: number; runs: { history: { step: number }[] }[]; buckets: { bucket: string; n: number; ci95: { lo: number; hi: number } }[] }[];
    };
    expect(out.task).toBe('agreement');
    expect(out.settings).toMatchObject({ steps: 3, seeds: 1 });
    expect(out.cells.map((c) => c.cell)).toEqual(['rnn_tanh', 'lstm', 'gru']);
    for (const c of out.cells) {
      expect(c.runs).toHaveLength(1);
      expect(c.runs[0]!.history.map((h) => h.step)).toEqual([1, 2, 3]); // the training curve
      expect(c.buckets.map((b) => b.bucket)).toEqual(['5-10', '15-20', '30-49', '50-99', '100']);
      for (const b of c.buckets) {
        expect(b.n).toBe(4);
        expect(b.ci95.lo).toBeLessThanOrEqual(b.ci95.hi);
      }
    }
    expect(r.stderr).toMatch(/run 3\/3 gru seed 0/);
  }, 60_000);

  it('prints the table with the parameter counts and the lecture\'s numbers', () => {
    const r = rnnkit(['experiment', 'memory', '--task', 'adding', '--cells', 'lstm,gru', '--seeds', '1', '--steps', '2', '--test-per-bucket', '3']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^lstm +32 +\d+/m);
    expect(r.stdout).toMatch(/^100 /m);
    const agreement = rnnkit(['experiment', 'memory', '--cells', 'rnn_tanh', '--seeds', '1', '--steps', '2', '--test-per-bucket', '3']);
    expect(agreement.stdout).toMatch(/^5-10 +90\.0 /m);
  }, 60_000);

  it('--task agreement-lm --grammar rich --train-max --test-every reach the experiment; the table shows the checkpoints and the gradients', () => {
    const args = ['experiment', 'memory', '--task', 'agreement-lm', '--grammar', 'rich', '--cells', 'gru', '--seeds', '1', '--steps', '4',
      '--test-every', '2', '--train-max', '10', '--test-per-bucket', '3'];
    const j = rnnkit([...args, '--json']);
    expect(j.status, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout) as {
      task: string; settings: { grammar: string; trainDistances: number[] };
      cells: { parameters: number; runs: { checkpoints: { step: number }[]; gradients: { T: number; B: number } }[] }[];
    };
    expect(out.task).toBe('agreement-lm');
    expect(out.settings.grammar).toBe('rich');
    expect(out.settings.trainDistances).toEqual([2, 10]);
    expect(out.cells[0]!.parameters).toBe(parameterCount('gru', matchHiddenSizes(['gru'], 32, taskShape('agreement-lm', 16, 'rich'))[0]!.hidden, taskShape('agreement-lm', 16, 'rich')));
    expect(out.cells[0]!.runs[0]!.checkpoints.map((c) => c.step)).toEqual([2, 4]);
    expect(out.cells[0]!.runs[0]!.gradients).toMatchObject({ T: 102, B: 3 });
    const t = rnnkit(args);
    expect(t.stdout).toMatch(/^memory experiment: agreement-lm \(rich grammar\), training uniform k in 2\.\.10/);
    expect(t.stdout).toMatch(/^gru +0 +2( +\d+\.\d){5}$/m);
    expect(t.stdout).toMatch(/^gru +0( +\d\.\d\de[-+]\d+){5} +\d\.\d{3} +(\d+|>102)$/m);
  }, 60_000);

  it('--grammar nested reaches the experiment and names itself in the table', () => {
    const args = ['experiment', 'memory', '--task', 'agreement-lm', '--grammar', 'nested', '--training', 'log-uniform', '--cells', 'rnn_tanh',
      '--seeds', '1', '--steps', '2', '--test-per-bucket', '2'];
    const j = rnnkit([...args, '--json']);
    expect(j.status, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout) as { settings: { grammar: string; training: string }; cells: { parameters: number }[] };
    expect(out.settings).toMatchObject({ grammar: 'nested', training: 'log-uniform' });
    expect(out.cells[0]!.parameters).toBe(matchHiddenSizes(['rnn_tanh'], 32, taskShape('agreement-lm', 16, 'rich'))[0]!.parameters);
    expect(rnnkit(args).stdout).toMatch(/^memory experiment: agreement-lm \(nested grammar\), training log-uniform k in 2\.\.100/);
  }, 60_000);

  it('bad usage exits 2 and names the option', () => {
    const a = rnnkit(['experiment', 'recall']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/unknown experiment "recall"/);
    const b = rnnkit(['experiment', 'memory', '--cells', 'lstm,transformer']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--cells: .*"transformer"/);
    const c = rnnkit(['experiment', 'memory', '--training', 'curriculum']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--training/);
    const d = rnnkit(['experiment', 'memory', '--grammar', 'fancy']);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--grammar/);
  });
});
