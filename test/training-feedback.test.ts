// What a user sees while and after training: small data trains (with a warning) instead of failing on the
// defaults, an error from the training worker points at the caller's line, divergence is caught before the
// loss is infinite, progress counts epochs from 1 with an ETA from steady steps, and a stream can be cloned.
import { afterEach, describe, expect, it } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { LanguageModel, fitBatchShape, type TokenProbability } from '../src/models/language-model.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { Linear } from '../src/nn/linear.js';
import { runTraining, type Progress } from '../src/train/trainer.js';
import { BACKENDS } from './helpers.js';

const NAMES = ['Anna', 'John', 'Johanna', 'Mary'];
const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(40);

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
process.on('warning', onWarning);
afterEach(() => { warnings.length = 0; });

describe('a text too short for the requested batch shape', () => {
  it('keeps seqLen with fewer streams, then shortens seqLen, and warns', () => {
    expect(fitBatchShape(1000, 64, 4)).toEqual({ T: 64, B: 4 });
    expect(warnings).toHaveLength(0);
    expect(fitBatchShape(200, 64, 32)).toEqual({ T: 64, B: 3 });
    expect(fitBatchShape(21, 32, 32)).toEqual({ T: 20, B: 1 });
    return new Promise<void>((resolve) => setImmediate(() => {
      expect(warnings.map((w) => w.name)).toEqual(['RnnkitWarning', 'RnnkitWarning']);
      expect(warnings[1]!.message).toMatch(/21 tokens is too short for batchSize 32 x seqLen 32; training with batchSize 1 x seqLen 20/);
      resolve();
    }));
  });

  it('of under two tokens is an E_ARGUMENT error', () => {
    expect(() => fitBatchShape(1, 64, 32)).toThrow(/at least 2 are needed/);
    expect(() => fitBatchShape(100, 0, 32)).toThrow(/seqLen: expected a positive integer/);
  });

  it.each([true, false])('trains the README names snippet (worker: %s)', async (worker) => {
    const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 16, embeddingDim: 8, separator: '\n', seed: 1 });
    const r = await lm.fit(NAMES, { seqLen: 32, epochs: 3, worker });
    expect(r.steps).toBe(3);
    expect(lm.predictNext('Joh', 3)).toHaveLength(3);
    lm.dispose();
  });
});

describe('errors from the training worker', () => {
  it('carry the stack of the line that called fit(), and the worker stack as their cause', async () => {
    const lm = new LanguageModel({ hiddenSize: 8, embeddingDim: 4, seed: 1 });
    // The worker rejects an unknown optimizer after it has started: the error is thrown there, not here.
    const err = await lm.fit(TEXT, { maxSteps: 2, optimizer: 'adamax' as never, worker: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RnnkitError);
    expect((err as RnnkitError).stack).toContain('training-feedback.test.ts');
    expect(String(((err as RnnkitError).cause as Error).stack)).toMatch(/^in the training worker/);
    lm.dispose();
  });

  it.each([true, false])('an onCheckpoint that returns a rejected promise fails fit with its error (worker: %s)', async (worker) => {
    // The callback runs on this thread either way; in worker mode its promise was once dropped (an unhandled
    // rejection, while training went on).
    const lm = new LanguageModel({ hiddenSize: 8, embeddingDim: 4, seed: 1 });
    const err = await lm.fit(TEXT, {
      maxSteps: 4, evalEvery: 2, validationSplit: 0.2, worker,
      onCheckpoint: async () => { await Promise.resolve(); throw new Error('could not save the checkpoint'); },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('could not save the checkpoint');
    lm.dispose();
  });

  it.each([true, false])('fit ends only after the last onCheckpoint, and fails if it fails late (worker: %s)', async (worker) => {
    // The worker finishes training before a slow callback for its final checkpoint settles: fit must wait for
    // it, and report its failure.
    const lm = new LanguageModel({ hiddenSize: 8, embeddingDim: 4, seed: 1 });
    let ended = 0;
    const err = await lm.fit(TEXT, {
      maxSteps: 2, validationSplit: 0, worker,
      onCheckpoint: async () => {
        await new Promise((r) => setTimeout(r, 100));
        ended++;
        throw new Error('the disk went away');
      },
    }).catch((e: unknown) => e);
    expect(ended).toBe(1);
    expect((err as Error).message).toBe('the disk went away');
    lm.dispose();
  });
});

describe('the ETA', () => {
  it('comes from the steps after the first, so a slow start does not inflate it', async () => {
    const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const layer = new Linear({ inFeatures: 2, outFeatures: 2, seed: 1 });
    const seen: Progress[] = [];
    await runTraining({
      backend: layer.backend,
      parameters: () => layer.parameters(),
      stepsPerEpoch: () => 20,
      startEpoch: () => {},
      trainStep: (i) => { sleep(i === 0 ? 400 : 5); return { loss: 1, count: 1 }; },
      validate: () => null,
      snapshot: () => layer.stateDict(),
      restore: (s) => layer.loadStateDict(s),
    }, { epochs: 1, progressIntervalMs: 0, onProgress: (p) => seen.push(p) });
    const at3 = seen.find((p) => p.step === 3)!;
    // 17 steps of ~5 ms are left: well under a second, where counting the first step's 400 ms said ~2.3 s.
    expect(at3.etaSeconds).toBeLessThan(0.5);
    expect(at3.etaSeconds).toBeGreaterThan(0.05);
    layer.dispose();
  });
});

describe.each(BACKENDS)('training feedback on the %s backend', (backend) => {
  it('a huge learning rate stops with E_DIVERGED before the loss is infinite, keeping the first parameters', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, seed: 2, backend });
    await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 1, lr: 1e-12, worker: false, validationSplit: 0 });
    const before = lm.stateDict();
    const losses: number[] = [];
    const err = await lm.fit(TEXT, {
      seqLen: 16, batchSize: 4, epochs: 5, lr: 1e9, worker: false, validationSplit: 0, progressIntervalMs: 0,
      onProgress: (p) => losses.push(p.loss),
    }).catch((e: unknown) => e);
    expect((err as RnnkitError).code).toBe('E_DIVERGED');
    expect((err as RnnkitError).message).toMatch(/above 10 x the first step's .* for 3 steps.*lower lr/);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.length).toBeLessThan(6);
    const after = lm.stateDict();
    for (const k of Object.keys(before)) expect(after[k]!.data, k).toEqual(before[k]!.data);
    lm.dispose();
  });

  it('divergence: false lets a high loss run on (only a NaN or infinite loss stops it)', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, seed: 2, backend });
    // With the default rule lr 1e9 ends in E_DIVERGED (the test above); turned off, all 8 steps run at a loss ~1e9.
    const r = await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 8, lr: 1e9, worker: false, validationSplit: 0, divergence: false });
    expect(r.steps).toBe(8);
    expect(r.history.at(-1)!.loss).toBeGreaterThan(1e6);
    lm.dispose();
  });

  it('progress counts epochs from 1 and estimates the ETA from the steps after the first', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, seed: 2, backend });
    const seen: Progress[] = [];
    await lm.fit(TEXT, { seqLen: 16, batchSize: 4, epochs: 2, progressIntervalMs: 0, worker: false, onProgress: (p) => seen.push(p) });
    expect(seen[0]!.epoch).toBe(1);
    expect(seen.at(-1)!.epoch).toBe(2);
    expect(seen.at(-1)!.etaSeconds).toBe(0);
    for (const p of seen) expect(p.itemsPerSecond).toBeGreaterThan(0);
    lm.dispose();
  });

  it('stream.clone() is an independent copy: a backspace needs no re-read', async () => {
    const lm = new LanguageModel({ hiddenSize: 16, embeddingDim: 8, seed: 2, backend });
    await lm.fit(TEXT, { seqLen: 16, batchSize: 4, maxSteps: 3, worker: false });
    const s = lm.stream('the c');
    const copy = s.clone();
    s.feed('at s');
    expect(copy.top(3)).toEqual(lm.predictNext('the c', 3));
    // A stream fed in pieces runs its products over other row counts than the whole prefix does (one row at a
    // time against all of them: other micro-tiles, or the unpacked one-row product), so its probabilities can
    // differ from predictNext's in the last bits: the same tokens, the same probabilities to 1e-6.
    const same = (a: TokenProbability[], b: TokenProbability[]) => {
      expect(a.map((t) => t.token)).toEqual(b.map((t) => t.token));
      a.forEach((t, i) => expect(t.probability).toBeCloseTo(b[i]!.probability, 6));
    };
    same(s.top(3), lm.predictNext('the cat s', 3));
    copy.feed('o');
    same(s.top(3), lm.predictNext('the cat s', 3));
    same(copy.top(3), lm.predictNext('the co', 3));
    lm.dispose();
  });
});
