// The layers' buffer paths (forwardBuffer / backwardBuffer / computeBuffer), which the language model's training
// and evaluation loops use so that activations stay in the backend's buffers (on a GPU, on the device): the same
// bits as the public tensor API, their errors, and a fit step that moves no activation through the host.
import { describe, expect, it } from 'vitest';
import { loadBackend, type Backend } from '../src/backend/index.js';
import { CELL_KINDS } from '../src/backend/types.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { Embedding } from '../src/nn/embedding.js';
import { Linear } from '../src/nn/linear.js';
import { tensor } from '../src/tensor.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { BACKENDS, errorOf, makeLayer } from './helpers.js';
import { watchedBackend } from './watched-backend.js';

const wave = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s) * 0.5);
const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
const bufOf = (be: Backend, data: Float32Array) => { const b = be.alloc(data.length); be.write(b, data); return b; };

describe.each(BACKENDS)('%s: the buffer paths give the bits of the tensor API', (backend) => {
  const be = loadBackend(backend);

  it.each(CELL_KINDS)('%s, 2 layers, bidirectional, dropout 0.3: forwardBuffer / backwardBuffer', (kind) => {
    const T = 5, B = 3, I = 4, H = 6;
    const opts = { inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, dropout: 0.3, backend, seed: 11 };
    const a = makeLayer(kind, opts), b = makeLayer(kind, opts);
    const x = wave(T * B * I, 1), dOut = wave(T * B * 2 * H, 2);
    const h0 = tensor(wave(4 * B * H, 3), [4, B, H]);
    const state = kind === 'lstm' ? { h0, c0: tensor(wave(4 * B * H, 4), [4, B, H]) } : { h0 };
    for (let round = 0; round < 2; round++) { // twice: the second reuses the run buffers and draws new masks
      const ta = a.forward(tensor(x, [T, B, I]), state);
      const dA = a.backward({ dOutput: tensor(dOut, [T, B, 2 * H]) });
      const xb = bufOf(be, x), db = bufOf(be, dOut);
      const tb = b.forwardBuffer(xb, T, B, state);
      expect(bits(be.read(tb.output, 0, T * B * 2 * H))).toEqual(bits(ta.output.data));
      expect(bits(tb.hN.data)).toEqual(bits(ta.hN.data));
      if (kind === 'lstm') expect(bits(tb.cN!.data)).toEqual(bits(ta.cN!.data));
      const dIn = b.backwardBuffer(db);
      expect(bits(be.read(dIn, 0, T * B * I))).toEqual(bits(dA.dInput.data));
      // and from the final hidden states' gradient alone (the classifiers' way)
      const dhN = tensor(wave(4 * B * H, 5), [4, B, H]);
      a.forward(tensor(x, [T, B, I]), state);
      const dAh = a.backward({ dhN });
      b.forwardBuffer(xb, T, B, state);
      expect(bits(be.read(b.backwardBuffer(null, dhN), 0, T * B * I))).toEqual(bits(dAh.dInput.data));
      be.free(xb); be.free(db);
    }
    const ga = a.grads(), gb = b.grads();
    for (const k of Object.keys(ga)) expect(bits(gb[k]!.data), k).toEqual(bits(ga[k]!.data));
    a.dispose(); b.dispose();
  });

  it('Linear, Embedding and the cross-entropy', () => {
    const emb = [new Embedding({ numEmbeddings: 9, embeddingDim: 5, backend, seed: 2 }), new Embedding({ numEmbeddings: 9, embeddingDim: 5, backend, seed: 2 })];
    const lin = [new Linear({ inFeatures: 5, outFeatures: 9, backend, seed: 3 }), new Linear({ inFeatures: 5, outFeatures: 9, backend, seed: 3 })];
    const ce = [new CrossEntropyLoss(be), new CrossEntropyLoss(be)];
    const ids = { data: Int32Array.from([1, 4, 8, 0, 4, 2]), shape: [3, 2] };
    const targets = Int32Array.from([2, -1, 7, 0, 3, 3]);
    // the tensor API
    const e = emb[0]!.forward(ids);
    const logits = lin[0]!.forward(tensor(e.data, [6, 5]));
    const loss = ce[0]!.compute(logits, targets);
    emb[0]!.backward(lin[0]!.backward(loss.grad));
    // the buffers
    const eb = emb[1]!.forwardBuffer(ids);
    expect(bits(be.read(eb, 0, 30))).toEqual(bits(e.data));
    const lb = lin[1]!.forwardBuffer(eb, 6);
    expect(bits(be.read(lb, 0, 54))).toEqual(bits(logits.data));
    const lossB = ce[1]!.computeBuffer(lb, 6, 9, targets);
    expect([lossB.loss, lossB.count]).toEqual([loss.loss, loss.count]);
    expect(bits(be.read(lossB.grad!, 0, 54))).toEqual(bits(loss.grad.data));
    expect(ce[1]!.computeBuffer(lb, 6, 9, targets, { grad: false }).grad).toBeNull();
    emb[1]!.backwardBuffer(lin[1]!.backwardBuffer(lossB.grad!));
    for (const [m0, m1] of [[emb[0]!, emb[1]!], [lin[0]!, lin[1]!]] as const) {
      const g0 = m0.grads(), g1 = m1.grads();
      for (const k of Object.keys(g0)) expect(bits(g1[k]!.data), k).toEqual(bits(g0[k]!.data));
    }
    for (const m of [...emb, ...lin, ...ce]) m.dispose();
  });

  it('wrong sizes, and a backward before its forward, are errors that say so', () => {
    const layer = makeLayer('gru', { inputSize: 4, hiddenSize: 3, backend, seed: 1 });
    const small = be.alloc(5);
    expect(errorOf(() => layer.backwardBuffer(small)).code).toBe('E_STATE');
    const e = errorOf(() => layer.forwardBuffer(small, 2, 1));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toMatch(/input buffer: expected 8 floats, found 5/);
    layer.forwardBuffer(be.alloc(8), 2, 1);
    expect(errorOf(() => layer.backwardBuffer(small)).message).toMatch(/dOutput buffer: expected 6 floats, found 5/);
    const none = errorOf(() => layer.backwardBuffer(null, null)); // no gradient at all: not a silent zero backward
    expect(none.code).toBe('E_ARGUMENT');
    expect(none.message).toMatch(/dOutput buffer or dhN, found neither/);
    const lin = new Linear({ inFeatures: 3, outFeatures: 2, backend });
    expect(errorOf(() => lin.backwardBuffer(small)).code).toBe('E_STATE');
    expect(errorOf(() => lin.forwardBuffer(small, 2)).code).toBe('E_SHAPE');
    const ce = new CrossEntropyLoss(be);
    expect(errorOf(() => ce.computeBuffer(small, 2, 3, [0, 1])).message).toMatch(/logits buffer: expected 6 floats, found 5/);
    // The tensor API copies into a scratch buffer that an earlier, larger call left longer: the data is checked itself.
    ce.compute({ data: new Float32Array(12), shape: [4, 3] }, [0, 1, 2, 0]);
    const short = errorOf(() => ce.compute({ data: new Float32Array(5), shape: [2, 3] }, [0, 1]));
    expect(short.code).toBe('E_SHAPE');
    expect(short.message).toMatch(/cross-entropy logits: expected 6 elements, found 5/);
    for (const m of [layer, lin, ce]) m.dispose();
    be.free(small);
  });

  it('a language model\'s fit step moves ids in and states out, no activation through the host', async () => {
    let counting = false;
    const { be: watched, largest } = watchedBackend(backend, Infinity, () => counting);
    const T = 16, B = 4, H = 24, E = 8;
    const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: H, embeddingDim: E, numLayers: 2, seed: 1, backend: watched });
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(20);
    // Counted from the first step's progress report (each step reports) to the last: the fit's parameter snapshot
    // before its first step (kept on the host, to go back to after a divergence) is not a step's.
    let reports = 0;
    const r = await lm.fit(text, {
      seqLen: T, batchSize: B, epochs: 1, maxSteps: 4, worker: false, progressIntervalMs: 0,
      onProgress: () => { reports++; counting = reports < 4; },
    });
    counting = false;
    expect(r.steps).toBe(4);
    expect(reports).toBeGreaterThanOrEqual(4);
    // The ids (as floats), the targets and the states (2 layers x B x H) are the largest; an activation would be
    // T*B*E (embedding out), T*B*H (recurrent out) or T*B*V (logits) floats.
    expect(largest()).toBeGreaterThan(0);
    expect(largest()).toBeLessThanOrEqual(Math.max(T * B, 2 * B * H));
    // Reading a long prefix for the next token: the logits and the states come out, not the prefix's outputs.
    counting = true;
    const prefix = 'the quick brown fox jumps over the lazy dog. the quick brown fox jumps';
    const next = lm.predictNext(prefix, 3);
    counting = false;
    expect(next).toHaveLength(3);
    expect(largest()).toBeLessThanOrEqual(Math.max(T * B, 2 * B * H, lm.vocabulary.size));
    lm.dispose();
  });

  it('a text classifier\'s and a regressor\'s fit steps move inputs in and last states out', async () => {
    let counting = false;
    const { be: watched, largest } = watchedBackend(backend, Infinity, () => counting);
    const H = 20, B = 4, T = 12; // every text is T characters
    const words = ['excellent!!', 'horrible...', 'wonderful!!', 'disgusting.'];
    const examples = Array.from({ length: 16 }, (_, i) => ({ input: `${words[i % 4]}${i % 10}`, label: i % 2 ? 'neg' : 'pos' }));
    const m = new SequenceClassifier({ input: 'text', tokenizer: 'char', hiddenSize: H, embeddingDim: 6, numLayers: 2, bidirectional: true, labels: ['pos', 'neg'], seed: 1, backend: watched });
    let reports = 0;
    await m.fit(examples, { batchSize: B, epochs: 1, maxSteps: 4, worker: false, progressIntervalMs: 0, onProgress: () => { reports++; counting = reports < 4; } });
    counting = false;
    // ids T*B (as floats) and the final states 2 layers x 2 directions x B x H; the outputs would be T*B*2H
    expect(largest()).toBeGreaterThan(0);
    expect(largest()).toBeLessThanOrEqual(Math.max(T * B, 4 * B * H));
    m.dispose();
    expect(reports).toBeGreaterThanOrEqual(4);
    // windows of W values: W*B in, 2 layers x B x H states out; the outputs would be W*B*H
    const W = 16;
    const rw = watchedBackend(backend, Infinity, () => counting);
    const r = new SequenceRegressor({ hiddenSize: H, window: W, numLayers: 2, seed: 1, backend: rw.be });
    reports = 0;
    const series = Float32Array.from({ length: 200 }, (_, i) => Math.sin(i * 0.3));
    await r.fit(series, { batchSize: B, epochs: 1, maxSteps: 4, worker: false, progressIntervalMs: 0, onProgress: () => { reports++; counting = reports < 4; } });
    counting = false;
    expect(reports).toBeGreaterThanOrEqual(4);
    expect(rw.largest()).toBeGreaterThan(0);
    expect(rw.largest()).toBeLessThanOrEqual(Math.max(W * B, 2 * B * H));
    r.dispose();
  });

});
