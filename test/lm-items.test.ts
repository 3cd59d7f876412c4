// A language model with a separator trains each document (a name) as its own sequence from a zero state, the
// way predictNext, stream and complete use it: [sep, c1..cn] -> [c1..cn, sep], batches padded to their longest
// item with the padding masked out of the loss. Stream mode (the documents joined into one running text,
// truncated BPTT carrying the state across them) stays for running text.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { decodeModel, encodeModel } from '../src/io/model-file.js';
import { LanguageModel, LMItemSteps, type LanguageModelParts } from '../src/models/language-model.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { BACKENDS } from './helpers.js';

const NAMES = ['Anna', 'Jo', 'Johanna', 'Mary-Ann', 'X', 'Sara', 'Sarah', 'Marta', 'Tim', 'Bartholomew'];
const TINY = { tokenizer: 'char', hiddenSize: 12, embeddingDim: 6, separator: '\n', seed: 3 } as const;

/** Mean of -log p(next token) over every position of every item, each read by a stream from a zero state. */
function zeroStateLoss(lm: LanguageModel, items: readonly string[]): { loss: number; tokens: number } {
  let sum = 0, tokens = 0;
  for (const item of items) {
    const s = lm.stream();
    for (const ch of [...Array.from(item), lm.config.separator]) {
      sum -= Math.log(s.distribution()[lm.vocabulary.id(ch)]!);
      tokens++;
      s.feed(ch);
    }
  }
  return { loss: sum / tokens, tokens };
}

/** A model fitted for one step (so it has a vocabulary and parts), on this thread. */
async function fitted(backend: (typeof BACKENDS)[number], cell: 'lstm' | 'gru' | 'rnn_tanh', items = NAMES): Promise<LanguageModel> {
  const lm = new LanguageModel({ ...TINY, cell, backend });
  await lm.fit(items, { maxSteps: 1, batchSize: 4, worker: false, validationSplit: 0 });
  return lm;
}

describe.each(BACKENDS)('item sequences on the %s backend', (backend) => {
  it.each(['lstm', 'gru', 'rnn_tanh'] as const)('the masked sequence training gives the same gradients as running each item alone (%s)', async (cell) => {
    const lm = await fitted(backend, cell);
    const parts = (lm as unknown as { built(): LanguageModelParts }).built();
    const params = lm.parameters();
    const ce = new CrossEntropyLoss(lm.backend);
    const items = NAMES.map((n) => lm.vocabulary.encode(['\n', ...n, '\n']));
    const zero = () => { for (const p of params) p.grad.view().fill(0); };
    const grads = () => params.map((p) => Float64Array.from(p.grad.view()));

    // One padded batch of every item (lengths 2 to 12 targets), one step.
    zero();
    const batch = new LMItemSteps(parts, ce, items, [], 64, items.length, 1);
    expect(batch.stepsPerEpoch()).toBe(1);
    batch.startEpoch(0);
    const all = batch.trainStep(0);
    const batched = grads();
    const N = items.reduce((n, s) => n + s.length - 1, 0);
    expect(all.count).toBe(N);

    // Each item alone at batch 1: its mean loss over its n_i targets, so the batch's gradient is the sum of
    // theirs weighted by n_i / N.
    const summed = params.map((p) => new Float64Array(p.grad.view().length));
    let lossSum = 0;
    for (const s of items) {
      zero();
      const alone = new LMItemSteps(parts, ce, [s], [], 64, 1, 1);
      alone.startEpoch(0);
      const r = alone.trainStep(0);
      expect(r.count).toBe(s.length - 1);
      lossSum += r.loss * r.count;
      grads().forEach((g, k) => { for (let j = 0; j < g.length; j++) summed[k]![j]! += (g[j]! * r.count) / N; });
    }
    expect(all.loss).toBeCloseTo(lossSum / N, 5);
    let worst = 0;
    batched.forEach((g, k) => { for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - summed[k]![j]!)); });
    expect(worst).toBeLessThan(1e-5);
    expect(Math.max(...batched.map((g) => Math.max(...g.map(Math.abs))))).toBeGreaterThan(1e-3); // not trivially zero
    ce.dispose();
    lm.dispose();
  });

  it('training steps in windows (items longer than seqLen) carry the state within an item and reset it between batches', async () => {
    const lm = await fitted(backend, 'gru');
    const parts = (lm as unknown as { built(): LanguageModelParts }).built();
    const ce = new CrossEntropyLoss(lm.backend);
    const items = NAMES.map((n) => lm.vocabulary.encode(['\n', ...n, '\n']));
    // seqLen 2, batch 3: the 4 batches' longest items have 4, 6, 9 and 12 targets, so 2 + 3 + 5 + 6 windows of
    // at most 2 steps; with dropout 0 the training forward is the inference one, and the losses of an epoch add
    // up to the zero-state loss.
    const steps = new LMItemSteps(parts, ce, items, [], 2, 3, 7);
    expect(steps.stepsPerEpoch()).toBe(16);
    steps.startEpoch(0);
    let sum = 0, count = 0;
    for (let i = 0; i < steps.stepsPerEpoch(); i++) {
      const r = steps.trainStep(i);
      sum += r.loss * r.count; count += r.count;
    }
    const want = zeroStateLoss(lm, NAMES);
    expect(count).toBe(want.tokens);
    expect(sum / count).toBeCloseTo(want.loss, 5);
    ce.dispose();
    lm.dispose();
  });

  it('evaluate on separated items gives the mean -log p that streams from a zero state give', async () => {
    const lm = await fitted(backend, 'lstm');
    await lm.fit(NAMES, { epochs: 20, batchSize: 4, lr: 1e-2, worker: false, validationSplit: 0 });
    const want = zeroStateLoss(lm, NAMES);
    const r = lm.evaluate(NAMES);
    expect(r.tokens).toBe(want.tokens);
    expect(r.loss).toBeCloseTo(want.loss, 5);
    // Items longer than seqLen are read in windows with the state carried: the same numbers.
    const windows = lm.evaluate(NAMES, { seqLen: 3, batchSize: 3 });
    expect(windows.tokens).toBe(want.tokens);
    expect(windows.loss).toBeCloseTo(want.loss, 5);
    lm.dispose();
  });

  it('the loss a training step reports is the loss predictNext gives from a zero state', async () => {
    const lm = await fitted(backend, 'lstm');
    const seen: number[] = [];
    // lr 0 (a schedule of 0): the first step's loss is that of the parameters the model ends with.
    await lm.fit(NAMES, { maxSteps: 1, batchSize: NAMES.length, worker: false, validationSplit: 0, schedule: () => 0, progressIntervalMs: 0,
      onProgress: (p) => seen.push(p.loss) });
    expect(seen[0]).toBeCloseTo(zeroStateLoss(lm, NAMES).loss, 5);
    lm.dispose();
  });
});

describe('item and stream modes', () => {
  it('sequences defaults to auto: items for separated documents, a stream for a string or without a separator', async () => {
    expect(new LanguageModel().config.sequences).toBe('auto');
    const lm = new LanguageModel(TINY);
    // 10 items at batch 4: 3 padded batches, one step each (seqLen 64 covers the longest item).
    const r = await lm.fit(NAMES, { epochs: 2, batchSize: 4, worker: false, validationSplit: 0 });
    expect(r.steps).toBe(6);
    // seqLen 2: the batches' longest items have 5, 8 and 12 targets, so 3 + 4 + 6 windows an epoch.
    const windows = await lm.fit(NAMES, { epochs: 2, batchSize: 4, seqLen: 2, worker: false, validationSplit: 0 });
    expect(windows.steps).toBe(26);
    lm.dispose();
    const stream = new LanguageModel({ ...TINY, sequences: 'stream' });
    // The same names as one stream of 60 tokens: 4 streams of 15, at seqLen 2 floor(14 / 2) = 7 steps an epoch.
    const s = await stream.fit(NAMES, { epochs: 2, batchSize: 4, seqLen: 2, worker: false, validationSplit: 0 });
    expect(s.steps).toBe(14);
    // A string is a running text in auto mode.
    const text = new LanguageModel(TINY);
    expect((await text.fit(NAMES.join('\n'), { epochs: 2, batchSize: 4, seqLen: 2, worker: false, validationSplit: 0 })).steps).toBe(14);
    text.dispose();
    stream.dispose();
  });

  it('stream mode keeps carrying the state across documents, so its loss is not the zero-state one', async () => {
    const lm = new LanguageModel({ ...TINY, sequences: 'stream' });
    await lm.fit(NAMES, { epochs: 20, batchSize: 2, seqLen: 8, lr: 1e-2, worker: false, validationSplit: 0 });
    expect(Math.abs(lm.evaluate(NAMES).loss - zeroStateLoss(lm, NAMES).loss)).toBeGreaterThan(1e-3);
    lm.dispose();
  });

  it('splits validation by items, from the end', async () => {
    const lm = new LanguageModel(TINY);
    const r = await lm.fit(NAMES, { maxSteps: 1, batchSize: 8, worker: false, validationSplit: 0.3 });
    // floor(10 * 0.3) = 3 items held out: Marta, Tim, Bartholomew.
    expect(r.valHistory[0]!.loss).toBeCloseTo(lm.evaluate(NAMES.slice(7)).loss, 5);
    lm.dispose();
  });

  it('trains in a worker thread the same way as on this thread', async () => {
    const run = async (worker: boolean) => {
      const lm = new LanguageModel(TINY);
      await lm.fit(NAMES, { epochs: 3, batchSize: 4, worker, validationSplit: 0 });
      const p = lm.predictNext('Ma', 3);
      lm.dispose();
      return p;
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('warns when there are fewer items than batchSize, and trains them as one batch', async () => {
    const warned: Error[] = [];
    const on = (w: Error) => warned.push(w);
    process.on('warning', on);
    const lm = new LanguageModel(TINY);
    const r = await lm.fit(NAMES.slice(0, 4), { epochs: 2, worker: false, validationSplit: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', on);
    expect(r.steps).toBe(2);
    expect(warned.map((w) => w.message)).toEqual(['training data: 4 items are fewer than batchSize 32; training with batchSize 4']);
    lm.dispose();
  });

  it('saves sequences in the model file; a file without it loads as auto; a bad value is E_ARGUMENT', async () => {
    const lm = new LanguageModel({ ...TINY, sequences: 'stream' });
    await lm.fit(NAMES, { maxSteps: 1, worker: false, validationSplit: 0 });
    expect(LanguageModel.fromBytes(lm.toBytes()).config.sequences).toBe('stream');
    // The same file with the key removed, as files written before it existed are.
    const file = decodeModel(lm.toBytes(), 'language-model');
    const { sequences: _, ...config } = file.meta.config as Record<string, unknown>;
    const old = encodeModel({ ...file, meta: { ...file.meta, config } });
    expect(LanguageModel.fromBytes(old).config.sequences).toBe('auto');
    expect(() => new LanguageModel({ sequences: 'lines' as never })).toThrow(RnnkitError);
    expect(() => new LanguageModel({ sequences: 'lines' as never })).toThrow(/sequences: expected one of "auto", "items", "stream", found "lines"/);
    lm.dispose();
  });
});

describe.each(BACKENDS)('the bundled names model on the %s backend', (backend) => {
  it('completes "Sar" with "a" first and has "i" among the first three after "Mar"', async () => {
    const lm = await LanguageModel.load(fileURLToPath(new URL('../models/names.safetensors', import.meta.url)), { backend });
    expect(lm.predictNext('Sar', 1)[0]!.token).toBe('a');
    // In the names data "Mar" goes on with i most often (46 names), then g (25), c (22), t and y (19 each).
    expect(lm.predictNext('Mar', 3).map((t) => t.token)).toContain('i');
    lm.dispose();
  });
});
