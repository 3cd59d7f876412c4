// Lifetimes: a layer, optimizer or loss used after dispose() is E_STATE naming it; dispose() twice is harmless;
// and on WASM, whose buffers live in a linear memory the garbage collector does not see, an object JavaScript
// drops without dispose() gives its buffers back once collected, so memory stops growing.
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadBackend, type BackendName } from '../src/backend/index.js';
import type { Backend, Buf } from '../src/backend/types.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { Embedding } from '../src/nn/embedding.js';
import { Linear } from '../src/nn/linear.js';
import type { Parameter } from '../src/nn/module.js';
import { GRU, LSTM, RNN } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { Adam, AdamW, SGD } from '../src/train/optim.js';
import { BACKENDS, errorOf, randomData } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collects garbage until finalizers have run (they run as tasks after a collection). */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** Calls on a live layer, each with valid arguments, keyed by method or getter name. */
type Calls = Record<string, (l: any) => unknown>;

const recurrentCalls = (I: number): Calls => ({
  forward: (l) => l.forward(tensor(randomData(2 * 1 * I, 1), [2, 1, I])),
  backward: (l) => l.backward({ dhN: tensor(new Float32Array(l.numLayers * l.numDirections * l.hiddenSize), [l.numLayers * l.numDirections, 1, l.hiddenSize]) }),
  forwardBuffer: (l) => l.forwardBuffer(l.backend.alloc(2 * 1 * I), 2, 1),
  backwardBuffer: (l) => l.backwardBuffer(l.backend.alloc(2 * 1 * l.numDirections * l.hiddenSize)),
  parameters: (l) => l.parameters(),
  parameterNames: (l) => l.parameterNames(),
  stateDict: (l) => l.stateDict(),
  loadStateDict: (l) => l.loadStateDict(l.__dict),
  grads: (l) => l.grads(),
  zeroGrad: (l) => l.zeroGrad(),
  train: (l) => l.train(),
  eval: (l) => l.eval(),
});
const commonCalls: Calls = {
  parameters: (l) => l.parameters(),
  stateDict: (l) => l.stateDict(),
  loadStateDict: (l) => l.loadStateDict(l.__dict),
  grads: (l) => l.grads(),
  zeroGrad: (l) => l.zeroGrad(),
};
/** Prototype members that are not public API (TypeScript private or protected) or configuration only. */
const INTERNAL = new Set(['constructor', 'dispose', 'p', 'freeRun', 'getRun', 'stateShape', 'hasCell', 'numDirections', 'scratch', 'live', 'what',
  'checkState', 'runLayers', 'runBackward']);

describe.each(BACKENDS)('dispose() on the %s backend', (backend: BackendName) => {
  const layers: Record<string, { make: () => any; calls: Calls }> = {
    RNN: { make: () => new RNN({ inputSize: 2, hiddenSize: 3, backend }), calls: recurrentCalls(2) },
    LSTM: { make: () => new LSTM({ inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: true, backend }), calls: recurrentCalls(2) },
    GRU: { make: () => new GRU({ inputSize: 2, hiddenSize: 3, backend }), calls: recurrentCalls(2) },
    Linear: {
      make: () => new Linear({ inFeatures: 2, outFeatures: 3, backend }),
      calls: {
        ...commonCalls,
        forward: (l) => l.forward(tensor(randomData(4, 2), [2, 2])),
        backward: (l) => l.backward(tensor(randomData(6, 3), [2, 3])),
        forwardBuffer: (l) => l.forwardBuffer(l.backend.alloc(4), 2),
        backwardBuffer: (l) => l.backwardBuffer(l.backend.alloc(6)),
        weight: (l) => l.weight,
        bias: (l) => l.bias,
      },
    },
    Embedding: {
      make: () => new Embedding({ numEmbeddings: 4, embeddingDim: 2, backend }),
      calls: {
        ...commonCalls,
        forward: (l) => l.forward({ data: [0, 3], shape: [2] }),
        backward: (l) => l.backward(tensor(randomData(4, 3), [2, 2])),
        forwardBuffer: (l) => l.forwardBuffer({ data: [0, 3], shape: [2] }),
        backwardBuffer: (l) => l.backwardBuffer(l.backend.alloc(4)),
        weight: (l) => l.weight,
      },
    },
  };

  it.each(Object.keys(layers))('%s: every public method after dispose() is E_STATE naming the layer; dispose() twice is harmless', (name) => {
    const { make, calls } = layers[name]!;
    const layer = make();
    layer.__dict = layer.stateDict();
    // Every call works on the live layer (forward before backward: the table is in that order).
    for (const call of Object.values(calls)) call(layer);
    // The list covers every public member the class has.
    const members = new Set<string>();
    for (let p = Object.getPrototypeOf(layer); p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const k of Object.getOwnPropertyNames(p)) if (!INTERNAL.has(k)) members.add(k);
    }
    expect([...members].sort()).toEqual(Object.keys(calls).sort());
    layer.dispose();
    for (const [method, call] of Object.entries(calls)) {
      const e = errorOf(() => call(layer));
      expect(e.code, method).toBe('E_STATE');
      expect(e.message, method).toBe(`${name}: used after dispose()`);
    }
    expect(() => layer.dispose()).not.toThrow();
    expect(() => layer[Symbol.dispose]()).not.toThrow();
  });

  it('optimizers after dispose() are E_STATE naming them; dispose() twice is harmless; Symbol.dispose disposes', () => {
    const makers: [string, (ps: readonly Parameter[]) => Adam | SGD][] = [
      ['Adam', (ps) => new Adam(ps)], ['AdamW', (ps) => new AdamW(ps)], ['SGD', (ps) => new SGD(ps)],
    ];
    for (const [name, make] of makers) {
      const lin = new Linear({ inFeatures: 2, outFeatures: 2, backend });
      const opt = make(lin.parameters());
      opt.step();
      opt.dispose();
      for (const f of [() => opt.step(), () => opt.zeroGrad()]) {
        const e = errorOf(f);
        expect(e.code).toBe('E_STATE');
        expect(e.message).toBe(`${name}: used after dispose()`);
      }
      expect(() => opt.dispose()).not.toThrow();
      const other = make(lin.parameters());
      other[Symbol.dispose]();
      expect(errorOf(() => other.step()).code).toBe('E_STATE');
      lin.dispose();
    }
  });

  it('CrossEntropyLoss after dispose() is E_STATE; dispose() twice is harmless', () => {
    const ce = new CrossEntropyLoss(loadBackend(backend));
    const logits = tensor(randomData(6, 4), [2, 3]);
    ce.compute(logits, [0, 2]);
    ce.dispose();
    const e = errorOf(() => ce.compute(logits, [0, 2]));
    expect(e.code).toBe('E_STATE');
    expect(e.message).toBe('CrossEntropyLoss: used after dispose()');
    expect(() => ce.dispose()).not.toThrow();
  });

  it('task models after dispose() are E_STATE asking for fit() or load(); dispose() twice is harmless', async () => {
    const lm = new LanguageModel({ hiddenSize: 8, embeddingDim: 4, backend });
    await lm.fit('abcabcabc '.repeat(20), { seqLen: 8, batchSize: 2, maxSteps: 1, worker: false });
    const clf = new SequenceClassifier({ hiddenSize: 8, embeddingDim: 4, backend });
    await clf.fit([{ input: 'ab', label: 'x' }, { input: 'ba', label: 'y' }], { batchSize: 2, maxSteps: 1, worker: false });
    const reg = new SequenceRegressor({ hiddenSize: 8, window: 4, backend });
    await reg.fit(Array.from({ length: 40 }, (_, i) => Math.sin(i)), { batchSize: 2, maxSteps: 1, worker: false });
    const calls: [string, { dispose(): void }, () => unknown][] = [
      ['language model', lm, () => lm.predictNext('ab', 1)],
      ['language model', lm, () => lm.generate('ab', { length: 2 })],
      ['language model', lm, () => lm.vocabulary],
      ['language model', lm, () => lm.stateDict()],
      ['language model', lm, () => lm.toBytes()],
      ['sequence classifier', clf, () => clf.predict('ab')],
      ['sequence classifier', clf, () => clf.stateDict()],
      ['sequence regressor', reg, () => reg.predict([1, 2, 3, 4])],
      ['sequence regressor', reg, () => reg.parameters()],
    ];
    for (const m of [lm, clf, reg]) m.dispose();
    for (const [what, m, call] of calls) {
      const e = errorOf(call);
      expect(e.code, String(call)).toBe('E_STATE');
      expect(e.message, String(call)).toBe(`${what}: fit() or load() it first`);
      expect(() => m.dispose()).not.toThrow();
    }
  });
});

describe.runIf(BACKENDS.includes('wasm'))('WASM memory of objects dropped without dispose()', () => {
  const be = (): Backend => loadBackend('wasm');
  const memoryBytes = () => (be() as unknown as { memory: WebAssembly.Memory }).memory.buffer.byteLength;
  afterEach(() => { vi.restoreAllMocks(); });

  /** Counts, per buffer, the allocations and frees the WASM backend sees while `work` runs and after collection. */
  async function ledger(work: () => unknown, opts = { collect: true }): Promise<{ allocated: number; freedOnce: number; freedTwice: number }> {
    const b = be();
    const frees = new Map<Buf, number>();
    const allocs = new Set<Buf>();
    const alloc = b.alloc.bind(b), free = b.free.bind(b);
    vi.spyOn(b, 'alloc').mockImplementation((n) => { const buf = alloc(n); allocs.add(buf); return buf; });
    vi.spyOn(b, 'free').mockImplementation((buf) => { frees.set(buf, (frees.get(buf) ?? 0) + 1); free(buf); });
    await work();
    if (opts.collect) await collect();
    vi.restoreAllMocks();
    const counts = [...allocs].map((x) => frees.get(x) ?? 0);
    return { allocated: allocs.size, freedOnce: counts.filter((c) => c === 1).length, freedTwice: counts.filter((c) => c > 1).length };
  }

  /** Builds and uses one of everything that holds WASM buffers, then drops it (nothing escapes this function). */
  function useAndDrop(): void {
    const backend = 'wasm';
    const emb = new Embedding({ numEmbeddings: 10, embeddingDim: 4, backend });
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, numLayers: 2, bidirectional: true, backend });
    const gru = new GRU({ inputSize: 4, hiddenSize: 8, backend });
    const head = new Linear({ inFeatures: 16, outFeatures: 10, backend });
    const ce = new CrossEntropyLoss(be());
    const opt = new Adam([...emb.parameters(), ...lstm.parameters(), ...head.parameters()], { lr: 1e-2 });
    const sgd = new SGD(gru.parameters(), { lr: 1e-2, momentum: 0.9 });
    const x = emb.forward({ data: [1, 2, 3, 4, 5, 6], shape: [3, 2] });
    gru.forward(x);
    gru.backward({ dhN: tensor(new Float32Array(2 * 8), [1, 2, 8]) });
    const y = lstm.forward(x).output;
    const logits = head.forward(tensor(y.data, [6, 16]));
    const loss = ce.compute(logits, [1, 2, 3, 4, 5, 6]);
    const dy = head.backward(loss.grad);
    const { dInput } = lstm.backward({ dOutput: tensor(dy.data, [3, 2, 16]) });
    emb.backward(dInput);
    opt.step();
    sgd.step();
  }

  it('every buffer of undisposed layers, losses and optimizers is freed exactly once after collection', async () => {
    const r = await ledger(useAndDrop);
    expect(r.allocated).toBeGreaterThan(50);
    expect(r.freedTwice).toBe(0);
    expect(r.freedOnce).toBe(r.allocated);
  });

  it('disposed objects are not freed again when collected', async () => {
    const r = await ledger(() => {
      const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, backend: 'wasm' });
      const opt = new Adam(lstm.parameters());
      const ce = new CrossEntropyLoss(be());
      lstm.forward(tensor(randomData(8, 1), [2, 1, 4]));
      ce.compute(tensor(randomData(6, 2), [2, 3]), [0, 1]);
      opt.step();
      opt.dispose();
      ce.dispose();
      lstm.dispose();
    });
    expect(r.freedTwice).toBe(0);
    expect(r.freedOnce).toBe(r.allocated);
  });

  it('a buffer freed behind its owner\'s back neither stops the other frees nor throws from the collector', async () => {
    const r = await ledger(() => {
      const lin = new Linear({ inFeatures: 4, outFeatures: 3, backend: 'wasm' });
      be().free(lin.weight.value); // the weight's gradient shares its set and must still be freed
    });
    expect(r.freedTwice).toBe(1);
    expect(r.freedOnce).toBe(r.allocated - 1);
  });

  it('a parameter outlives its dropped layer: its buffers stay valid while it is referenced', async () => {
    const make = () => new LSTM({ inputSize: 4, hiddenSize: 8, seed: 5, backend: 'wasm' }).parameters();
    const params = make();
    const before = params.map((p) => p.value.view().slice());
    await collect();
    // New allocations must not land on the parameters' memory.
    for (let i = 0; i < 5; i++) useAndDrop();
    await collect();
    params.forEach((p, i) => expect(p.value.view()).toEqual(before[i]));
    const opt = new Adam(params, { lr: 0.1 });
    for (const p of params) p.grad.view().fill(1);
    opt.step();
    expect(params[0]!.value.view()[0]).toBeCloseTo(before[0]![0]! - 0.1, 4);
    opt.dispose();
  });

  it('500 undisposed LSTMs, collected as they go, stop growing the memory', async () => {
    const one = () => {
      const l = new LSTM({ inputSize: 16, hiddenSize: 64, backend: 'wasm' }); // 2 x 21.5k floats of parameters
      l.forward(tensor(randomData(4 * 2 * 16, 3), [4, 2, 16]));
    };
    const sizes: number[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 50; i++) one();
      await collect();
      sizes.push(memoryBytes());
    }
    // Without reclaiming, 500 x 172 kB is 86 MB; each round of 50 is 8.6 MB.
    expect(sizes.at(-1)! - sizes[1]!, `memory by round: ${sizes.map((s) => (s / 2 ** 20).toFixed(1)).join(', ')} MiB`).toBeLessThanOrEqual(2 ** 20);
  });

  it('30 in-thread fits do not grow the memory (the optimizer state is freed after each)', async () => {
    const lm = new LanguageModel({ hiddenSize: 128, embeddingDim: 16, seed: 1, backend: 'wasm' }); // ~80k parameters
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(4);
    const sizes: number[] = [];
    for (let i = 0; i < 30; i++) {
      await lm.fit(text, { seqLen: 8, batchSize: 2, maxSteps: 1, validationSplit: 0, worker: false });
      sizes.push(memoryBytes());
    }
    // Without collection: what a fit allocates beyond the model's reused buffers, it frees before returning.
    const r = await ledger(() => lm.fit(text, { seqLen: 8, batchSize: 2, maxSteps: 1, validationSplit: 0, worker: false }), { collect: false });
    expect(r.freedOnce).toBe(r.allocated);
    lm.dispose();
    // Adam's m and v are 2 x 80k floats = 640 kB a fit: leaking them grows the memory by ~16 MB over 25 fits.
    expect(sizes.at(-1)! - sizes[4]!, `memory by fit: ${sizes.map((s) => (s / 2 ** 20).toFixed(1)).join(', ')} MiB`).toBeLessThanOrEqual(2 ** 20);
  });
});
