// Tasks end to end on small synthetic data: training converges, predictions make sense, models round-trip
// through files bit-exactly, training can be cancelled, stops cleanly on divergence, and leaves the event
// loop responsive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { decodeModel, encodeModel } from '../src/io/model-file.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { BACKENDS } from './helpers.js';
import { watchedBackend } from './watched-backend.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(40);

describe.each(BACKENDS)('models on the %s backend', (backend) => {
  it('LanguageModel learns a repetitive text and predicts the next character', async () => {
    const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 48, embeddingDim: 16, seed: 3, backend });
    const r = await lm.fit(TEXT, { seqLen: 24, batchSize: 8, epochs: 15, lr: 1e-2 });
    expect(r.valHistory.at(-1)!.loss).toBeLessThan(0.35);
    expect(lm.predictNext('the cat sat on the m', 1)[0]!.token).toBe('a');
    expect(lm.predictNext('the dog sat on the l', 1)[0]!.token).toBe('o');
    lm.dispose();
  });

  it('LanguageModel over words generates known words, deterministically for a seed', async () => {
    const lm = new LanguageModel({ tokenizer: 'word', hiddenSize: 32, embeddingDim: 16, seed: 1, backend });
    await lm.fit(TEXT, { seqLen: 8, batchSize: 4, epochs: 6, lr: 1e-2, validationSplit: 0 });
    const a = lm.generate('the cat', { length: 12, seed: 7, temperature: 0.5 });
    expect(a).toBe(lm.generate('the cat', { length: 12, seed: 7, temperature: 0.5 }));
    for (const w of a.match(/[a-z]+/g)!) expect(['the', 'cat', 'sat', 'on', 'mat', 'dog', 'log']).toContain(w);
    expect(lm.predictNext('the cat sat on', 1)[0]!.token).toBe('the');
    lm.dispose();
  });

  it('LanguageModel round-trips through a model file bit-exactly', async () => {
    const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 16, embeddingDim: 8, numLayers: 2, cell: 'gru', backend });
    await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 5 });
    const file = join(dir, `lm-${backend}.safetensors`);
    await lm.save(file);
    const back = await LanguageModel.load(file, { backend });
    expect(back.config).toEqual(lm.config);
    expect(back.vocabulary.tokens).toEqual(lm.vocabulary.tokens);
    const a = lm.stateDict(), b = back.stateDict();
    for (const k of Object.keys(a)) expect(Buffer.from(b[k]!.data.buffer).equals(Buffer.from(a[k]!.data.buffer)), k).toBe(true);
    expect(back.predictNext('the ', 3)).toEqual(lm.predictNext('the ', 3));
  });

  it('a model file whose configuration does not match its tensors is E_MODEL_FILE, before any allocation', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, backend });
    await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 2 });
    const good = decodeModel(lm.toBytes());
    const withConfig = (patch: object) => encodeModel({ ...good, meta: { ...good.meta, config: { ...(good.meta.config as object), ...patch } } });
    const { be, allocs } = watchedBackend(backend);
    expect(() => LanguageModel.fromBytes(withConfig({ hiddenSize: 10_000_000 }), { backend: be })).toThrow(/config hiddenSize is 10000000, more than the \d+ parameters the file holds/);
    expect(() => LanguageModel.fromBytes(withConfig({ hiddenSize: 17 }), { backend: be })).toThrow(/describes \d+ parameters, the file holds \d+/);
    expect(allocs, 'floats allocated before the refusal').toEqual([]);
    LanguageModel.fromBytes(withConfig({}), { backend: be }).dispose();
    expect(allocs.length, 'allocations of a good file, seen through the same wrapper').toBeGreaterThan(0);
    for (const [patch, message] of [[{ numLayers: 0 }, /config numLayers: expected a positive integer, found 0/], [{ cell: 'transformer' }, /config cell: expected one of/]] as const) {
      let err: unknown;
      try { LanguageModel.fromBytes(withConfig(patch), { backend }); } catch (e) { err = e; }
      expect((err as RnnkitError).code).toBe('E_MODEL_FILE');
      expect((err as RnnkitError).message).toMatch(message);
    }
    expect(LanguageModel.fromBytes(withConfig({}), { backend }).predictNext('the ', 1)).toEqual(lm.predictNext('the ', 1));
  });

  it('the same seed on the same backend gives the same loss curve', async () => {
    const run = async () => {
      const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, seed: 11, backend, dropout: 0 });
      const r = await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 12, progressIntervalMs: 0 });
      lm.dispose();
      return r.history.map((h) => h.loss);
    };
    const [a, b] = [await run(), await run()];
    expect(a.length).toBe(12);
    expect(a).toEqual(b);
  });

  it.each([true, false])('training (worker: %s) stops with E_ABORTED when its signal aborts, and the event loop keeps running', async (worker) => {
    const lm = new LanguageModel({ hiddenSize: 32, embeddingDim: 8, backend });
    const ac = new AbortController();
    const steps: number[] = [];
    const tickSteps: number[] = []; // the last reported step at each timer tick
    let totalSteps = Infinity;
    const timer = setInterval(() => { tickSteps.push(steps.at(-1) ?? 0); }, 2);
    // Turns of the event loop, counted by an immediate that re-arms itself: one per turn, whatever the turn's
    // length. Only on this thread, where training occupies the loop between turns; beside a worker it would spin.
    let turns = 0, counting = !worker;
    const turn = () => { turns++; if (counting) setImmediate(turn); };
    if (counting) setImmediate(turn);
    const turnsAt: number[] = []; // turns at each progress report
    const p = lm.fit(TEXT, {
      seqLen: 16, batchSize: 4, epochs: 100, progressIntervalMs: 0, worker,
      onProgress: (pr) => { steps.push(pr.step); turnsAt.push(turns); totalSteps = pr.totalSteps; if (pr.step === 30) ac.abort(); },
      signal: ac.signal,
    });
    await expect(p).rejects.toMatchObject({ code: 'E_ABORTED' });
    clearInterval(timer);
    counting = false;
    // On this thread the abort is seen before the next step. A worker is some steps ahead of the progress
    // messages this thread has read (how many depends on the machine's load), so it stops at its next step
    // after the message arrives: well before the end of its 100 epochs, not at a fixed step.
    if (worker) expect(steps.at(-1)).toBeLessThan(totalSteps / 2); else expect(steps.at(-1)).toBe(30);
    expect(lm.stateDict()['decoder.weight']!.data.every(Number.isFinite)).toBe(true);
    // The timer ran while training was under way (between its first and its last progress report), not only
    // before or after it; a count of ticks was flaky here, since 30 steps can take as little as 20 ms.
    expect(tickSteps.some((s) => s > steps[0]! && s < steps.at(-1)!)).toBe(true);
    // On this thread the loop turns between every two steps (progressIntervalMs 0 reports each step; a
    // validation reports its step a second time, with no step and so no turn in between).
    if (!worker) {
      const noTurn = steps.filter((s, i) => i > 0 && s > steps[i - 1]! && turnsAt[i] === turnsAt[i - 1]);
      expect(steps.length).toBeGreaterThanOrEqual(30);
      expect(noTurn, 'steps reached with no turn of the event loop since the step before').toEqual([]);
    }
  });

  it('a NaN loss stops training with E_DIVERGED and restores the last good parameters', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, backend });
    let poisoned = false;
    const p = lm.fit(TEXT, {
      seqLen: 16, batchSize: 4, epochs: 3, progressIntervalMs: 0, worker: false, // poisons this thread's weights
      onProgress: (pr) => { if (pr.step === 3 && !poisoned) { poisoned = true; lm.parameters()[0]!.value.view().fill(NaN); } },
    });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RnnkitError);
    expect((err as RnnkitError).code).toBe('E_DIVERGED');
    for (const t of Object.values(lm.stateDict())) expect(t.data.every(Number.isFinite)).toBe(true);
  });

  it('SequenceClassifier separates two kinds of text', async () => {
    const pos = ['good great fine', 'great good', 'fine good nice', 'nice great'];
    const neg = ['bad awful poor', 'awful bad', 'poor bad ugly', 'ugly awful'];
    const examples = Array.from({ length: 80 }, (_, i) => ({ input: (i % 2 ? pos : neg)[i % 4]! + ' the movie', label: i % 2 ? 'pos' : 'neg' }));
    const clf = new SequenceClassifier({ hiddenSize: 16, embeddingDim: 8, seed: 2, backend });
    await clf.fit(examples, { epochs: 15, batchSize: 8, lr: 1e-2 });
    expect(clf.labels).toEqual(['neg', 'pos']);
    expect(clf.evaluate(examples).accuracy).toBe(1);
    expect(clf.predict('nice good the movie').label).toBe('pos');
    expect(clf.predict('poor awful the movie').label).toBe('neg');
    const back = SequenceClassifier.fromBytes(clf.toBytes(), { backend });
    expect(back.predict('nice good the movie')).toEqual(clf.predict('nice good the movie'));
  });

  it('SequenceClassifier (bidirectional, 3 labels) classifies numeric sequences of different lengths', async () => {
    const examples = Array.from({ length: 90 }, (_, i) => {
      const k = i % 3, len = 5 + (i % 7);
      return { input: Array.from({ length: len }, (_, t) => [k - 1 + 0.1 * Math.sin(t + i), (t % 2) * 0.1]), label: ['low', 'mid', 'high'][k]! };
    });
    const clf = new SequenceClassifier({ input: 'numeric', hiddenSize: 12, bidirectional: true, seed: 4, backend });
    await clf.fit(examples, { epochs: 25, batchSize: 10, lr: 1e-2 });
    expect(clf.config.features).toBe(2);
    expect(clf.evaluate(examples).accuracy).toBeGreaterThan(0.95);
    const p = clf.predict([[0.95, 0], [1.05, 0.1], [1, 0]]);
    expect(p.label).toBe('high');
    expect(Object.values(p.probabilities).reduce((a, b) => a + b)).toBeCloseTo(1, 5);
  });

  it('SequenceRegressor forecasts a noisy seasonal series better than the seasonal naive forecast', async () => {
    const series = Array.from({ length: 600 }, (_, t) => 100 + 10 * Math.sin((2 * Math.PI * t) / 7) + 8 * Math.sin((2 * Math.PI * t) / 40) + 0.5 * Math.sin(t * 1.7));
    const reg = new SequenceRegressor({ window: 21, hiddenSize: 24, seed: 5, backend });
    await reg.fit(series.slice(0, 500), { epochs: 20, batchSize: 16, lr: 1e-2 });
    const ours = reg.evaluate(series, { from: 500 });
    let naive = 0;
    for (let t = 500; t < 600; t++) naive += Math.abs(series[t]! - series[t - 7]!);
    expect(ours.count).toBe(100);
    expect(ours.mae).toBeLessThan(naive / 100);
    const back = SequenceRegressor.fromBytes(reg.toBytes(), { backend });
    expect(back.predict(series.slice(0, 21))).toEqual(reg.predict(series.slice(0, 21)));
    expect(reg.forecast(series.slice(0, 100), 10)).toHaveLength(10);
  });
});
