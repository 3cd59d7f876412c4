// Pins what a seed gives each task, from the code before the task models shared one scaffold: the initial
// parameters (built in JavaScript from the seed and its per-part offsets, so the same bits on every backend)
// exactly, and a short training run's loss curve, validation losses and final parameters (kernels differ in
// their last bits across backends and ISAs) to 1e-5. A changed seed offset, batch order, validation split or
// build order moves these by far more than that; a model trained before must load and train as it did.
// RNNKIT_PRINT_PINS=1 prints the values instead of checking them.
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import type { Tensor } from '../src/tensor.js';
import type { TrainResult } from '../src/train/trainer.js';
import { BACKENDS } from './helpers.js';

const PRINT = process.env.RNNKIT_PRINT_PINS === '1';

/** FNV-1a (32 bits) over bytes: equal only for identical bytes. */
function fnv(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** Over every parameter's name and float bits, in state-dict order: equal only for identical parameters. */
function bitsHash(dict: Record<string, Tensor>): string {
  let h = 0x811c9dc5;
  for (const [k, t] of Object.entries(dict)) h = fnv(new Uint8Array(t.data.slice().buffer), fnv(new TextEncoder().encode(k), h));
  return h.toString(16).padStart(8, '0');
}

/** Σ w² and Σ w·(i mod 7 - 3) over all parameters: two numbers that move with any parameter. */
function moments(dict: Record<string, Tensor>): [number, number] {
  let sq = 0, tilt = 0, n = 0;
  for (const t of Object.values(dict)) for (const v of t.data) { sq += v * v; tilt += v * ((n++ % 7) - 3); }
  return [sq, tilt];
}

interface Pin {
  init: string;
  losses: number[];
  valLosses: number[];
  moments: [number, number];
}

interface Model {
  fit(data: unknown, opts: object): Promise<TrainResult>;
  stateDict(): Record<string, Tensor>;
  toBytes(): Uint8Array;
  dispose(): void;
}

const TEXT = 'the cat sat on the mat. the dog sat on the log. a cat and a dog. '.repeat(6);
const REVIEWS = ['good great fine', 'awful bad', 'fine good nice', 'poor bad ugly', 'so so', 'okay then', 'nice great', 'meh okay'];
const SERIES = Array.from({ length: 90 }, (_, t) => 10 + 3 * Math.sin(t / 2) + Math.cos(t / 7));

const TASKS: Record<string, { make: (backend: string) => Model; data: unknown; opts: object }> = {
  'language model (char, 2 GRU layers, dropout)': {
    make: (backend) => new LanguageModel({ hiddenSize: 12, embeddingDim: 6, numLayers: 2, cell: 'gru', dropout: 0.25, seed: 7, backend: backend as never }) as never,
    data: TEXT,
    opts: { seqLen: 8, batchSize: 4, maxSteps: 6, lr: 1e-2, validationSplit: 0.2, evalEvery: 3 },
  },
  'sequence classifier (words, bidirectional LSTM, 3 labels)': {
    make: (backend) => new SequenceClassifier({ hiddenSize: 10, embeddingDim: 5, bidirectional: true, seed: 5, backend: backend as never }) as never,
    data: Array.from({ length: 40 }, (_, i) => ({ input: `${REVIEWS[i % 8]!} the film ${i % 5 ? 'was' : 'is'}`, label: ['pos', 'neg', 'mid'][Math.floor(i % 8 / 2) % 3]! })),
    opts: { batchSize: 6, maxSteps: 7, lr: 1e-2, validationSplit: 0.25, evalEvery: 4 },
  },
  'sequence classifier (numeric, 2 labels, tanh RNN)': {
    make: (backend) => new SequenceClassifier({ input: 'numeric', cell: 'rnn_tanh', hiddenSize: 8, seed: 9, backend: backend as never }) as never,
    data: Array.from({ length: 30 }, (_, i) => ({ input: Array.from({ length: 4 + (i % 5) }, (_, t) => [Math.sin(t + i), (i % 2) - 0.5]), label: i % 2 ? 'up' : 'down' })),
    opts: { batchSize: 5, maxSteps: 6, lr: 1e-2, validationSplit: 0.2, evalEvery: 3 },
  },
  'sequence regressor (2 LSTM layers, dropout, horizon 2)': {
    make: (backend) => new SequenceRegressor({ window: 6, horizon: 2, hiddenSize: 10, numLayers: 2, dropout: 0.2, seed: 3, backend: backend as never }) as never,
    data: SERIES,
    opts: { batchSize: 8, maxSteps: 6, lr: 1e-2, validationSplit: 0.2, evalEvery: 3 },
  },
};

// From the native backend (AVX-512), before the scaffold; WASM's are within 1e-6 of these.
const PINS: Record<string, Pin> = {
  'language model (char, 2 GRU layers, dropout)': {
    init: '0fc33cfa',
    losses: [2.7737055109106974, 2.7137937710371225, 2.676808521730672, 2.659582763228857, 2.57062179360391, 2.5738467359353234],
    valLosses: [2.6468099395464546, 2.5438063010956737],
    moments: [154.9384907682008, -17.56404050416313],
  },
  'sequence classifier (words, bidirectional LSTM, 3 labels)': {
    init: '249ef557',
    losses: [1.0616085752060969, 1.0877993027971495, 1.1299373622335034, 1.246172828676837, 1.1140726211294474, 1.2087305628430374, 1.0531505558553655],
    valLosses: [1.033477298583558, 1.004888003651723],
    moments: [151.25023559680582, -42.47582754003815],
  },
  'sequence classifier (numeric, 2 labels, tanh RNN)': {
    init: '3b370adb',
    losses: [0.6425673981180412, 0.7005466947511234, 0.6459896161366594, 0.6527636846661842, 0.6683737872918123, 0.6313236870597949],
    valLosses: [0.6544705721117071, 0.6194318249805787],
    moments: [4.338006664696844, 2.0106491213664412],
  },
  'sequence regressor (2 LSTM layers, dropout, horizon 2)': {
    init: '41e1de04',
    losses: [0.5804063715055204, 1.04012033790973, 1.0871076294925988, 1.3612005197360466, 0.7878915474478281, 1.1117980060306214],
    valLosses: [0.9305660502401926, 0.8965387077825004],
    moments: [49.94584012016012, 1.4052529276814312],
  },
};

async function initialHash(make: () => Model, data: unknown): Promise<string> {
  // An aborted signal stops before the first step, after the first fit has built the model from the data.
  const m = make();
  await m.fit(data, { worker: false, signal: AbortSignal.abort() }).catch((e: unknown) => { if ((e as { code?: string }).code !== 'E_ABORTED') throw e; });
  const h = bitsHash(m.stateDict());
  m.dispose();
  return h;
}

describe.each(BACKENDS)('training pins on the %s backend', (backend) => {
  describe.each(Object.keys(TASKS))('%s', (name) => {
    const t = TASKS[name]!;
    it.each([false, true])('the seed gives the pinned parameters and loss curve (worker: %s)', async (worker) => {
      const init = await initialHash(() => t.make(backend), t.data);
      const m = t.make(backend);
      const r = await m.fit(t.data, { ...t.opts, worker, progressIntervalMs: 0 });
      const got: Pin = { init, losses: r.history.map((h) => h.loss), valLosses: r.valHistory.map((h) => h.loss), moments: moments(m.stateDict()) };
      // Printed only: the last bits differ across backends and ISAs.
      const final = bitsHash(m.stateDict()), file = fnv(m.toBytes()).toString(16);
      m.dispose();
      if (PRINT) {
        console.log(`PIN ${backend} worker=${worker} ${JSON.stringify(name)}: ${JSON.stringify({ ...got, final, file })}`);
        return;
      }
      const pin = PINS[name]!;
      expect(got.init).toBe(pin.init);
      const close = (what: string, a: number[], b: number[]) => {
        expect(a.length, `${what}: length`).toBe(b.length);
        a.forEach((v, i) => expect(Math.abs(v - b[i]!), `${what}[${i}]: ${v} vs ${b[i]}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]!))));
      };
      close('losses', got.losses, pin.losses);
      close('validation losses', got.valLosses, pin.valLosses);
      close('parameter moments', got.moments, pin.moments);
    });
  });
});
