// The standard benchmarks of DESIGN.md (W1, W2, W3, and the GPU-sized W4, W5): their shapes, the code that runs one iteration of each on a
// backend, and the names that select them. The one definition `rnnkit bench`, bench/run.js (tinybench, through
// dist/), bench/ab.mjs and bench/memory.mjs time; only how they time it differs.
import type { BackendName } from '../backend/index.js';
import { loadBackend } from '../backend/index.js';
import { GATES, type CellKind } from '../backend/types.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { LSTM, makeRecurrent } from '../nn/recurrent.js';
import { tensor } from '../tensor.js';
import { CrossEntropyLoss } from '../train/losses.js';
import { Adam, clipGradNorm } from '../train/optim.js';
import { UsageError } from './args.js';

/** `large`: sized for a GPU (hundreds of GFLOP a run), timed only when asked for by name. */
export interface InferenceWorkload { kind: CellKind; inputSize: number; hiddenSize: number; batch: number; steps: number; what: string; large?: boolean }
export interface TrainingWorkload { vocab: number; embedding: number; hiddenSize: number; batch: number; steps: number; what: string; large?: boolean }

export const WORKLOADS: Record<string, InferenceWorkload> = {
  W1: { kind: 'lstm', inputSize: 64, hiddenSize: 256, batch: 1, steps: 100, what: 'streaming inference' },
  'W2-lstm': { kind: 'lstm', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
  'W2-gru': { kind: 'gru', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
  'W2-rnn': { kind: 'rnn_tanh', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
  W4: { kind: 'lstm', inputSize: 1024, hiddenSize: 1024, batch: 256, steps: 100, what: 'large batched inference', large: true },
};

export const TRAINING_WORKLOADS: Record<string, TrainingWorkload> = {
  W3: { vocab: 65, embedding: 64, hiddenSize: 256, batch: 32, steps: 64, what: 'training step' },
  W5: { vocab: 256, embedding: 256, hiddenSize: 1024, batch: 128, steps: 128, what: 'large training step', large: true },
};

/** Multiply-adds x2 of one forward pass: input projection plus recurrent projection, every step. */
export function forwardFlops(w: InferenceWorkload): number {
  return 2 * w.steps * w.batch * GATES[w.kind] * w.hiddenSize * (w.inputSize + w.hiddenSize);
}

/** Multiply-adds x2 of one W3 step: LSTM and decoder, forward (1x) and backward (2x). */
export function trainingFlops(w: TrainingWorkload): number {
  const lstm = 2 * w.steps * w.batch * 4 * w.hiddenSize * (w.embedding + w.hiddenSize);
  const decoder = 2 * w.steps * w.batch * w.hiddenSize * w.vocab;
  return 3 * (lstm + decoder);
}

export interface Runner { run: () => void; dispose: () => void }

/** One inference pass (eval mode) of an inference workload. */
export function inferenceRunner(w: InferenceWorkload, backend: BackendName): Runner {
  const m = makeRecurrent(w.kind, { inputSize: w.inputSize, hiddenSize: w.hiddenSize, backend, seed: 1 }).eval();
  const x = new Float32Array(w.steps * w.batch * w.inputSize);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const input = tensor(x, [w.steps, w.batch, w.inputSize]);
  return { run: () => { m.forward(input); }, dispose: () => m.dispose() };
}

/**
 * One training step: embedding -> LSTM -> linear -> cross-entropy, backward through all, clip, Adam. The
 * activations stay in the backend's buffers, as in LanguageModel's training (the buffer paths of the layers):
 * only the ids and targets go in and the loss comes out, so the step costs what `fit` pays per batch.
 */
export function trainingRunner(w: TrainingWorkload, backend: BackendName): Runner {
  const emb = new Embedding({ numEmbeddings: w.vocab, embeddingDim: w.embedding, backend, seed: 1 });
  const lstm = new LSTM({ inputSize: w.embedding, hiddenSize: w.hiddenSize, backend, seed: 2 });
  const dec = new Linear({ inFeatures: w.hiddenSize, outFeatures: w.vocab, backend, seed: 3 });
  const be = loadBackend(backend);
  const ce = new CrossEntropyLoss(be);
  const params = [...emb.parameters(), ...lstm.parameters(), ...dec.parameters()];
  const opt = new Adam(params, be, { lr: 2e-3 });
  const n = w.steps * w.batch;
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % w.vocab);
  const targets = Int32Array.from({ length: n }, (_, i) => (i * 7 + 1) % w.vocab);
  const run = () => {
    const x = emb.forwardBuffer({ data: ids, shape: [w.steps, w.batch] });
    const r = lstm.forwardBuffer(x, w.steps, w.batch);
    const loss = ce.computeBuffer(dec.forwardBuffer(r.output, n), n, w.vocab, targets);
    emb.backwardBuffer(lstm.backwardBuffer(dec.backwardBuffer(loss.grad!)));
    clipGradNorm(params, be, 5);
    opt.step();
    opt.zeroGrad();
  };
  return { run, dispose: () => { emb.dispose(); lstm.dispose(); dec.dispose(); ce.dispose(); } };
}

/** A standard workload, ready to time. */
export interface Benchmark {
  name: string;
  what: string;
  /** Floating-point operations of one run: GFLOP/s = flops / ms / 1e6. */
  flops: number;
  /** Tokens one run trains on (W3, W5); null for inference. */
  tokens: number | null;
  /** Sized for a GPU: left out when no names are given. */
  large: boolean;
  runner(backend: BackendName): Runner;
}

/** Every standard workload: W1, W2-lstm, W2-gru, W2-rnn, W4, then the training steps W3, W5. */
export const BENCHMARKS: readonly Benchmark[] = [
  ...Object.entries(WORKLOADS).map(([name, w]): Benchmark => ({
    name, what: w.what, flops: forwardFlops(w), tokens: null, large: w.large ?? false, runner: (b) => inferenceRunner(w, b),
  })),
  ...Object.entries(TRAINING_WORKLOADS).map(([name, w]): Benchmark => ({
    name, what: w.what, flops: trainingFlops(w), tokens: w.steps * w.batch, large: w.large ?? false,
    runner: (b) => trainingRunner(w, b),
  })),
];

/**
 * The benchmarks `names` ask for, in the order asked, each once; no names ask for all but the large ones. Case is ignored, and a
 * group's name stands for all of it ("W2", the README's and DESIGN.md's name: W2-lstm, W2-gru, W2-rnn). An
 * unknown name is a UsageError of `command` listing the known ones.
 */
export function selectBenchmarks(names: readonly string[], command = 'bench'): Benchmark[] {
  if (names.length === 0) return BENCHMARKS.filter((b) => !b.large);
  const picked = names.flatMap((n) => {
    const key = n.toLowerCase();
    const hit = BENCHMARKS.filter((b) => b.name.toLowerCase() === key || b.name.toLowerCase().startsWith(`${key}-`));
    if (hit.length === 0) {
      throw new UsageError(`unknown workload "${n}"; known: ${BENCHMARKS.map((b) => b.name).join(', ')} (W2 runs all three W2 cells)`, command);
    }
    return hit;
  });
  return [...new Set(picked)];
}
