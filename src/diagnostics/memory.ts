// The memory experiment: tanh RNN, LSTM and GRU with about the same number of parameters, trained with the same
// budget on a long-range task (subject-verb agreement, or the adding problem), then tested by distance.
// Built from the layers and the training loop directly (nn/, train/): a diagnostic, not a task model.
//
// Training draws a fresh batch each step (an endless seeded stream, so nothing is memorised), every example of
// a batch at one distance k drawn uniformly from [trainMin, trainMax]: one length per batch needs no padding.
// The prediction is read from the last hidden state, just before the verb (or at the end of the adding
// sequence): sequence classification (regression for adding). For agreement this equals next-token prediction
// at the verb restricted to was/were, and puts the whole training signal on the long-range decision instead of
// spending it on predicting the distractor words.
import { resolveBackend, type BackendName } from '../backend/index.js';
import { GATES, type Backend, type CellKind } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import type { Parameter } from '../nn/module.js';
import { Random } from '../nn/random.js';
import { makeRecurrent, type RecurrentBase } from '../nn/recurrent.js';
import { CrossEntropyLoss, mseLoss } from '../train/losses.js';
import { runTraining, type Progress, type TrainTask } from '../train/trainer.js';
import { tensor, type Tensor } from '../tensor.js';
import {
  ADDING_TOLERANCE, AddingGenerator, AGREEMENT_CLASSES, AGREEMENT_GRAMMARS, AgreementGenerator, agreementVocab, MAX_DISTANCE, MIN_DISTANCE,
  type AddingExample, type AgreementExample, type AgreementGrammar,
} from './memory-data.js';
import { stateGradients, summarizeFlow } from './gradient-flow.js';
import type { GradientReport } from './gradient-report.js';
import { recurrentSpectralRadii } from './spectral.js';
import { bucketAccuracy, DEFAULT_BUCKETS, type Bucket, type BucketResult, type Outcome } from './memory-stats.js';

/**
 * 'agreement': a classifier reads was/were from the last hidden state (the whole loss is the long-range decision).
 * 'agreement-lm': a next-word language model on the same sentences, loss at every position (the verb is one
 * target of k + 2); it is right when P(verb) > P(the other verb) at the verb, as in Linzen et al. (2016), the
 * lecture's source. 'adding': the adding problem, a regression on the last hidden state.
 */
export type MemoryTask = 'agreement' | 'agreement-lm' | 'adding';
export const MEMORY_TASKS: readonly MemoryTask[] = ['agreement', 'agreement-lm', 'adding'];
const isAgreement = (t: MemoryTask) => t !== 'adding';
export const MEMORY_CELLS: readonly CellKind[] = ['rnn_tanh', 'lstm', 'gru'];

/** The sizes around the recurrent layer that every cell of a task shares. */
export interface TaskShape {
  /** Vocabulary size for an embedded input (agreement), 0 for a real-valued one (adding). */
  vocab: number;
  /** Embedding width, or the input features when vocab is 0. */
  inputSize: number;
  /**
   * Outputs of the head: classes (agreement), the words plus was/were (agreement-lm: ids 0..vocab-1 are the
   * input words, vocab and vocab + 1 the two verbs) or 1 (adding).
   */
  outputs: number;
}

export function taskShape(task: MemoryTask, embedding: number, grammar: AgreementGrammar = 'plain'): TaskShape {
  const V = agreementVocab(grammar).length;
  if (task === 'agreement') return { vocab: V, inputSize: embedding, outputs: AGREEMENT_CLASSES.length };
  if (task === 'agreement-lm') return { vocab: V, inputSize: embedding, outputs: V + AGREEMENT_CLASSES.length };
  return { vocab: 0, inputSize: 2, outputs: 1 };
}

/** Trainable parameters of embedding + one recurrent layer of `kind` with `hidden` units + linear head. */
export function parameterCount(kind: CellKind, hidden: number, s: TaskShape): number {
  const G = GATES[kind];
  return s.vocab * s.inputSize + G * hidden * (s.inputSize + hidden + 2) + hidden * s.outputs + s.outputs;
}

/**
 * The hidden size of each cell whose parameter count is closest to an LSTM's with `lstmHidden` units (the
 * reference, whether or not the LSTM is among `cells`).
 */
export function matchHiddenSizes(cells: readonly CellKind[], lstmHidden: number, s: TaskShape): { cell: CellKind; hidden: number; parameters: number }[] {
  const target = parameterCount('lstm', lstmHidden, s);
  return cells.map((cell) => {
    let best = 1;
    for (let h = 1; parameterCount(cell, h, s) <= 2 * target; h++) {
      if (Math.abs(parameterCount(cell, h, s) - target) < Math.abs(parameterCount(cell, best, s) - target)) best = h;
    }
    return { cell, hidden: best, parameters: parameterCount(cell, best, s) };
  });
}

type Example = AgreementExample | AddingExample;

/** Embedding (agreement only) -> one recurrent layer -> Linear on the last hidden state. */
export class MemoryModel {
  readonly embedding: Embedding | null;
  readonly rnn: RecurrentBase;
  readonly head: Linear;
  private readonly ce: CrossEntropyLoss;

  /** `forgetBias` is added to an LSTM's forget-gate bias (bias_ih rows H..2H, PyTorch's gate order i, f, g, o). */
  constructor(readonly task: MemoryTask, readonly kind: CellKind, readonly hidden: number, readonly shape: TaskShape, seed: number,
    readonly backend: Backend, forgetBias = 0) {
    this.embedding = shape.vocab > 0 ? new Embedding({ numEmbeddings: shape.vocab, embeddingDim: shape.inputSize, seed: seed * 3 + 1, backend }) : null;
    this.rnn = makeRecurrent(kind, { inputSize: shape.inputSize, hiddenSize: hidden, seed: seed * 3 + 2, backend });
    if (kind === 'lstm' && forgetBias !== 0) {
      const bias = this.rnn.parameters().find((p) => p.name === 'bias_ih_l0')!.value;
      const f = backend.read(bias, hidden, hidden);
      for (let j = 0; j < hidden; j++) f[j]! += forgetBias;
      backend.write(bias, f, hidden);
    }
    this.head = new Linear({ inFeatures: hidden, outFeatures: shape.outputs, seed: seed * 3 + 3, backend });
    this.ce = new CrossEntropyLoss(backend);
  }

  parameters(): Parameter[] {
    return [...(this.embedding?.parameters() ?? []), ...this.rnn.parameters(), ...this.head.parameters()];
  }

  /** The input of a batch of examples of one length: ids [T, B] embedded, or values [T, B, 2]. */
  private input(batch: readonly Example[]): Tensor {
    const B = batch.length;
    if (isAgreement(this.task)) {
      const xs = batch as readonly AgreementExample[];
      const T = xs[0]!.tokens.length;
      const ids = new Int32Array(T * B);
      xs.forEach((e, b) => e.tokens.forEach((w, t) => { ids[t * B + b] = w; }));
      return this.embedding!.forward({ data: ids, shape: [T, B] });
    }
    const xs = batch as readonly AddingExample[];
    const T = xs[0]!.steps;
    const x = new Float32Array(T * B * 2);
    xs.forEach((e, b) => { for (let t = 0; t < T; t++) x.set(e.input.subarray(t * 2, t * 2 + 2), (t * B + b) * 2); });
    return tensor(x, [T, B, 2]);
  }

  /**
   * Head outputs from the last hidden state, [B, outputs]; for agreement-lm from every step's output,
   * [T * B, outputs] (row t * B + b), unless `lastOnly`.
   */
  private forward(batch: readonly Example[], lastOnly = false): Tensor {
    const { output, hN } = this.rnn.forward(this.input(batch));
    if (this.task === 'agreement-lm' && !lastOnly) return this.head.forward(tensor(output.data, [output.data.length / this.hidden, this.hidden]));
    return this.head.forward(tensor(hN.data, [batch.length, this.hidden]));
  }

  /** agreement-lm's targets, [T * B] like forward's rows: the next word at every step, the verb (V or V + 1) at the last. */
  private nextWords(batch: readonly AgreementExample[]): Int32Array {
    const B = batch.length, T = batch[0]!.tokens.length, V = this.shape.vocab;
    const y = new Int32Array(T * B);
    batch.forEach((e, b) => {
      for (let t = 0; t + 1 < T; t++) y[t * B + b] = e.tokens[t + 1]!;
      y[(T - 1) * B + b] = V + e.label;
    });
    return y;
  }

  /** Forward and backward on one batch of one length; accumulates gradients; the mean loss. */
  trainStep(batch: readonly Example[]): number {
    this.rnn.train();
    const out = this.forward(batch);
    const B = batch.length;
    if (this.task === 'agreement-lm') {
      // Mean cross-entropy over every position of every sentence: the verb is one target among T.
      const l = this.ce.compute(out, this.nextWords(batch as AgreementExample[]));
      const dOut = this.head.backward(l.grad);
      const { dInput } = this.rnn.backward({ dOutput: tensor(dOut.data, [dOut.data.length / (B * this.hidden), B, this.hidden]) });
      this.embedding!.backward(dInput);
      return l.loss;
    }
    const l = this.task === 'agreement'
      ? this.ce.compute(out, (batch as AgreementExample[]).map((e) => e.label))
      : mseLoss(out, (batch as AddingExample[]).map((e) => e.target));
    const dh = this.head.backward(l.grad);
    const { dInput } = this.rnn.backward({ dhN: tensor(dh.data, [1, B, this.hidden]) });
    this.embedding?.backward(dInput);
    return l.loss;
  }

  /**
   * The gradient flow (gradient-flow.ts) of the loss at the verb (the end of the sequence) on a batch of one
   * length: ‖∂L/∂h‖ by distance from the real backward pass, γ, the 1e-3 distance, and W_hh's spectral radii.
   * The loss is the one the model is trained on there: cross-entropy over the classes (agreement), over the
   * words at the verb (agreement-lm), squared error (adding). No Jacobian norms (jacobian is empty).
   */
  gradientFlow(batch: readonly Example[]): GradientReport {
    const B = batch.length;
    this.rnn.eval();
    try {
      const x = this.input(batch);
      const hN = this.rnn.forward(x).hN;
      const out = this.head.forward(tensor(hN.data, [B, this.hidden]));
      const V = this.shape.vocab;
      const l = this.task === 'adding'
        ? mseLoss(out, (batch as AddingExample[]).map((e) => e.target))
        : this.ce.compute(out, (batch as AgreementExample[]).map((e) => (this.task === 'agreement-lm' ? V : 0) + e.label));
      const dLast = this.head.backward(l.grad);
      for (const p of this.head.parameters()) this.backend.fill(p.grad.length, p.grad, 0);
      const flow = summarizeFlow(this.rnn, stateGradients(this.rnn, x, tensor(dLast.data, [B, this.hidden])), B, l.loss);
      const radii = recurrentSpectralRadii(this.rnn);
      return {
        ...flow,
        layers: flow.layers.map((f) => ({
          ...f, jacobian: [], jacobianMean: NaN,
          spectralRadius: Object.fromEntries(radii.filter((r) => r.layer === f.layer).map((r) => [r.gate, r.radius])),
        })),
      };
    } finally {
      this.rnn.train();
    }
  }

  /** Whether the model gets each example right: the class, or an absolute error under 0.04 for adding. */
  correct(batch: readonly Example[]): boolean[] {
    this.rnn.eval();
    try {
      const out = this.forward(batch, true).data;
      const C = this.shape.outputs;
      return batch.map((e, b) => {
        if (this.task === 'adding') return Math.abs(out[b]! - (e as AddingExample).target) < ADDING_TOLERANCE;
        if (this.task === 'agreement-lm') {
          // P(was) vs P(were) at the verb: the two logits, the rest of the vocabulary aside.
          const V = this.shape.vocab, label = (e as AgreementExample).label;
          return out[b * C + V + label]! > out[b * C + V + 1 - label]!;
        }
        let arg = 0;
        for (let c = 1; c < C; c++) if (out[b * C + c]! > out[b * C + arg]!) arg = c;
        return arg === (e as AgreementExample).label;
      });
    } finally {
      this.rnn.train();
    }
  }

  snapshot(): Record<string, Tensor> {
    const s: Record<string, Tensor> = {};
    for (const [prefix, m] of this.modules()) for (const [k, v] of Object.entries(m.stateDict())) s[prefix + k] = v;
    return s;
  }

  restore(state: Record<string, Tensor>): void {
    for (const [prefix, m] of this.modules()) {
      const own: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(state)) if (k.startsWith(prefix)) own[k.slice(prefix.length)] = v;
      m.loadStateDict(own);
    }
  }

  private modules(): [string, Embedding | RecurrentBase | Linear][] {
    return [...(this.embedding ? [['embedding.', this.embedding] as [string, Embedding]] : []), ['rnn.', this.rnn], ['head.', this.head]];
  }

  dispose(): void {
    this.embedding?.dispose();
    this.rnn.dispose();
    this.head.dispose();
    this.ce.dispose();
  }
}

function generator(task: MemoryTask, seed: number, grammar: AgreementGrammar): { example(k: number): Example } {
  return isAgreement(task) ? new AgreementGenerator(seed, grammar) : new AddingGenerator(seed);
}

/** The fixed test set: `perBucket` examples per bucket, distances uniform within it, grouped by distance. */
export function testSet(task: MemoryTask, buckets: readonly Bucket[], perBucket: number, seed: number, grammar: AgreementGrammar = 'plain'): Map<number, Example[]> {
  const gen = generator(task, seed, grammar);
  const pickK = new Random(seed + 1);
  const byK = new Map<number, Example[]>();
  for (const b of buckets) {
    for (let i = 0; i < perBucket; i++) {
      const k = b.lo + Math.floor(pickK.next() * (b.hi - b.lo + 1));
      let list = byK.get(k);
      if (!list) byK.set(k, (list = []));
      list.push(gen.example(k));
    }
  }
  return byK;
}

/**
 * A distance from u uniform in [0, 1), log-uniform over [lo, hi]: each scale of distance (2-4, 5-10, ...,
 * 50-100) gets about the same share of batches, where a uniform draw over 2..100 puts 9 in 10 over 10 words.
 */
export function logUniformDistance(u: number, lo: number, hi: number): number {
  return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + u * (Math.log(hi + 1) - Math.log(lo)))));
}

/** The accuracy a constant answer gets: half for agreement, P(|S - 1| < 0.04) = 1 - 0.96² for adding. */
export function chanceAccuracy(task: MemoryTask): number {
  return isAgreement(task) ? 0.5 : 1 - (1 - ADDING_TOLERANCE) ** 2;
}

export interface MemoryExperimentOptions {
  task?: MemoryTask;
  cells?: readonly CellKind[];
  /** Seeds 0..seeds-1 (model initialisation and training stream each). */
  seeds?: number;
  steps?: number;
  batch?: number;
  lr?: number;
  /** Gradient clipping by global norm (0: off). */
  clip?: number;
  /** The LSTM's hidden size; the other cells get the hidden size that matches its parameter count. */
  lstmHidden?: number;
  /**
   * Added to the LSTM's forget-gate bias at initialisation (default 0: PyTorch's and rnnkit's initialisation).
   * 1 is the common remedy (Gers et al. 2000; Jozefowicz et al. 2015): the cell starts out remembering.
   */
  lstmForgetBias?: number;
  /** Embedding width (agreement). */
  embedding?: number;
  /** The agreement sentences' grammar (default 'plain'; see memory-data.ts). Ignored by the adding problem. */
  grammar?: AgreementGrammar;
  trainMin?: number;
  trainMax?: number;
  /**
   * 'uniform' (default): one model on distances uniform in [trainMin, trainMax], tested on every bucket.
   * 'log-uniform': the same with each scale of distance equally often (many more short sentences).
   * 'bucket': a model per bucket, trained on distances within it only: whether a cell can learn a dependency at
   * that distance from scratch.
   */
  training?: MemoryTraining;
  /** Test examples per bucket (per seed: every seed sees the same test set). */
  testPerBucket?: number;
  /**
   * Test examples of the longest distance on which each trained model's gradient flow is measured (default 32;
   * 0: none).
   */
  gradientBatch?: number;
  /**
   * Also test every this many steps (0, the default: only at the end), recording accuracy by bucket along
   * training: which distances a cell learns first.
   */
  testEvery?: number;
  buckets?: readonly Bucket[];
  backend?: Backend | BackendName;
  onProgress?: (p: Progress & { cell: CellKind; seed: number; bucket?: string; run: number; runs: number }) => void;
  signal?: AbortSignal;
}

/**
 * Where the training distances come from: one model on a mix of [trainMin, trainMax] drawn uniformly or
 * log-uniformly, or one model per bucket trained on that bucket's distances.
 */
export type MemoryTraining = 'uniform' | 'log-uniform' | 'bucket';
export const MEMORY_TRAINING: readonly MemoryTraining[] = ['uniform', 'log-uniform', 'bucket'];

export interface MemoryRun {
  seed: number;
  /** The bucket this model was trained and tested on (bucket mode). */
  bucket?: string;
  /** The range its training distances came from. */
  trainDistances: [number, number];
  seconds: number;
  /** Mean training loss over the last window of history. */
  finalLoss: number;
  /** Training diverged (a non-finite loss): the run was scored with the parameters runTraining restored. */
  diverged: boolean;
  accuracy: number;
  /** The training curve: mean loss over each window of steps/50 steps (the step that ends the window). */
  history: { step: number; loss: number }[];
  /**
   * The gradient flow of the trained model (MemoryModel.gradientFlow) on up to `gradientBatch` test examples of
   * the longest distance it was tested on: how far back the loss at the verb reaches. Absent with gradientBatch 0.
   */
  gradients?: GradientReport;
  /** With testEvery: test accuracy by bucket name after each testEvery steps (the last at the end of training). */
  checkpoints?: { step: number; accuracy: Record<string, number> }[];
}

export interface MemoryCellResult {
  cell: CellKind;
  hidden: number;
  parameters: number;
  runs: MemoryRun[];
  buckets: BucketResult[];
  /**
   * The nested grammar only: the same test outcomes by nesting depth (clauses open inside the distance), each
   * depth's sentences scored by bucket over every seed: whether more numbers in flight, or more words, cost more.
   */
  byDepth?: { depth: number; buckets: BucketResult[] }[];
}

export interface MemoryExperimentResult {
  task: MemoryTask;
  settings: {
    steps: number; batch: number; lr: number; optimizer: 'adam'; clip: number; seeds: number;
    training: MemoryTraining; grammar: AgreementGrammar | null; trainDistances: [number, number] | null; testPerBucket: number; embedding: number | null; lstmHidden: number; lstmForgetBias: number;
    /** The LSTM's parameter count at lstmHidden: what every cell is matched to. */
    referenceParameters: number;
    backend: string;
  };
  /** A constant answer's accuracy: what "no memory at all" scores. */
  chance: number;
  cells: MemoryCellResult[];
  seconds: number;
}

function positive(name: string, v: number, max = Infinity): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RnnkitError('E_ARGUMENT', `${name}: expected an integer in [1, ${max}], found ${String(v)}`);
  return v;
}

/** Trains every cell with every seed and tests each run on the same test set. */
export async function runMemoryExperiment(opts: MemoryExperimentOptions = {}): Promise<MemoryExperimentResult> {
  const task = opts.task ?? 'agreement';
  if (!MEMORY_TASKS.includes(task)) throw new RnnkitError('E_ARGUMENT', `task: expected ${MEMORY_TASKS.join(' or ')}, found ${String(task)}`);
  const cells = opts.cells ?? MEMORY_CELLS;
  if (cells.length === 0) throw new RnnkitError('E_ARGUMENT', 'cells: expected at least one cell kind');
  for (const c of cells) if (!(c in GATES)) throw new RnnkitError('E_ARGUMENT', `cells: expected rnn_tanh, rnn_relu, lstm or gru, found ${String(c)}`);
  const seeds = positive('seeds', opts.seeds ?? 3, 1000);
  const steps = positive('steps', opts.steps ?? 5000);
  const batch = positive('batch', opts.batch ?? 32, 4096);
  const lstmHidden = positive('lstmHidden', opts.lstmHidden ?? 32, 4096);
  const embedding = positive('embedding', opts.embedding ?? 16, 4096);
  const testPerBucket = positive('testPerBucket', opts.testPerBucket ?? 200, 1e6);
  const testEvery = opts.testEvery ?? 0;
  const gradientBatch = opts.gradientBatch ?? 32;
  if (gradientBatch !== 0) positive('gradientBatch', gradientBatch, 4096);
  if (testEvery !== 0) positive('testEvery', testEvery);
  const trainMin = positive('trainMin', opts.trainMin ?? MIN_DISTANCE, MAX_DISTANCE);
  const trainMax = positive('trainMax', opts.trainMax ?? 100, MAX_DISTANCE);
  if (trainMin < MIN_DISTANCE || trainMax < trainMin) {
    throw new RnnkitError('E_ARGUMENT', `trainMin/trainMax: expected ${MIN_DISTANCE} <= trainMin <= trainMax, found ${trainMin} and ${trainMax}`);
  }
  const mode = opts.training ?? 'uniform';
  if (!MEMORY_TRAINING.includes(mode)) throw new RnnkitError('E_ARGUMENT', `training: expected ${MEMORY_TRAINING.join(', ')}, found ${String(mode)}`);
  const lr = opts.lr ?? 3e-3;
  const lstmForgetBias = opts.lstmForgetBias ?? 0;
  if (typeof lstmForgetBias !== 'number' || !Number.isFinite(lstmForgetBias)) {
    throw new RnnkitError('E_ARGUMENT', `lstmForgetBias: expected a finite number, found ${String(lstmForgetBias)}`);
  }
  const clip = opts.clip ?? 1;
  const buckets = opts.buckets ?? DEFAULT_BUCKETS;
  const backend = resolveBackend(opts.backend);
  const grammar = opts.grammar ?? 'plain';
  if (!AGREEMENT_GRAMMARS.includes(grammar)) throw new RnnkitError('E_ARGUMENT', `grammar: expected ${AGREEMENT_GRAMMARS.join(' or ')}, found ${String(grammar)}`);
  const shape = taskShape(task, embedding, grammar);
  const sizes = matchHiddenSizes(cells, lstmHidden, shape);
  const test = testSet(task, buckets, testPerBucket, 0x5eed, grammar);
  const t0 = performance.now();
  const result: MemoryExperimentResult = {
    task,
    settings: {
      steps, batch, lr, optimizer: 'adam', clip, seeds, training: mode, grammar: isAgreement(task) ? grammar : null, trainDistances: mode === 'bucket' ? null : [trainMin, trainMax], testPerBucket,
      embedding: isAgreement(task) ? embedding : null, lstmHidden, lstmForgetBias,
      referenceParameters: parameterCount('lstm', lstmHidden, shape), backend: backend.name,
    },
    chance: chanceAccuracy(task),
    cells: [],
    seconds: 0,
  };
  // One model per (cell, seed) on a mix; one per (cell, seed, bucket) in bucket mode, each tested on its bucket.
  const groups: { bucket: Bucket | null; lo: number; hi: number; test: [number, Example[]][] }[] = mode !== 'bucket'
    ? [{ bucket: null, lo: trainMin, hi: trainMax, test: [...test] }]
    : buckets.map((b) => ({ bucket: b, lo: b.lo, hi: b.hi, test: [...test].filter(([k]) => k >= b.lo && k <= b.hi) }));
  const runs = cells.length * seeds * groups.length;
  const every = Math.max(1, Math.floor(steps / 50));
  let run = 0;
  for (const { cell, hidden, parameters } of sizes) {
    const cellRuns: MemoryRun[] = [];
    const outcomes: Outcome[][] = [];
    for (let seed = 0; seed < seeds; seed++) {
      const os: Outcome[] = [];
      for (const g of groups) {
        run++;
        const model = new MemoryModel(task, cell, hidden, shape, seed, backend, lstmForgetBias);
        try {
          const gen = generator(task, 1000 + seed, grammar);
          const pickK = new Random(2000 + seed);
          const history: { step: number; loss: number }[] = [];
          let windowLoss = 0, stepsDone = 0;
          const batchAt = () => {
            const u = pickK.next();
            const k = mode === 'log-uniform' ? logUniformDistance(u, g.lo, g.hi) : g.lo + Math.floor(u * (g.hi - g.lo + 1));
            return Array.from({ length: batch }, () => gen.example(k));
          };
          // Tests the model on the group's test set: the outcomes, in test-set order.
          const score = (): Outcome[] => {
            const out: Outcome[] = [];
            for (const [k, xs] of g.test) {
              for (let i = 0; i < xs.length; i += 256) {
                model.correct(xs.slice(i, i + 256)).forEach((ok, j) => {
                  const depth = (xs[i + j] as AgreementExample).depth;
                  out.push({ distance: k, correct: ok, ...(depth !== undefined ? { depth } : {}) });
                });
              }
            }
            return out;
          };
          const checkpoints: { step: number; accuracy: Record<string, number> }[] = [];
          const checkpoint = (os: Outcome[]) => {
            const acc = bucketAccuracy([os], buckets);
            checkpoints.push({ step: stepsDone, accuracy: Object.fromEntries(acc.map((b) => [b.bucket, b.accuracy])) });
          };
          const trainTask: TrainTask = {
            backend,
            parameters: () => model.parameters(),
            stepsPerEpoch: () => steps,
            startEpoch: () => {},
            trainStep: () => {
            const loss = model.trainStep(batchAt());
            windowLoss += loss;
            if (++stepsDone % every === 0 || stepsDone === steps) {
              history.push({ step: stepsDone, loss: windowLoss / (stepsDone - (history.at(-1)?.step ?? 0)) });
              windowLoss = 0;
            }
            if (testEvery && stepsDone % testEvery === 0 && stepsDone < steps) checkpoint(score());
            return { loss, count: batch };
          },
            validate: () => null,
            snapshot: () => model.snapshot(),
            restore: (s) => model.restore(s),
          };
          const r0 = performance.now();
          let diverged = false, finalLoss = NaN;
          try {
            await runTraining(trainTask, {
              maxSteps: steps, lr, clip, optimizer: 'adam', divergence: false, progressIntervalMs: 1000, seed,
              ...(opts.signal ? { signal: opts.signal } : {}),
              ...(opts.onProgress ? {
                onProgress: (p: Progress) => opts.onProgress!({ ...p, cell, seed, run, runs, ...(g.bucket ? { bucket: g.bucket.name } : {}) }),
              } : {}),
            });
          } catch (e) {
            if (!(e instanceof RnnkitError && e.code === 'E_DIVERGED')) throw e;
            diverged = true;
          }
          const seconds = (performance.now() - r0) / 1000;
          finalLoss = history.at(-1)?.loss ?? NaN;
          const final = score();
          os.push(...final);
          if (testEvery) checkpoint(final);
          const right = final.filter((o) => o.correct).length;
          // The test examples of the longest distance this model was tested on (one length).
          const longest = g.test.reduce<[number, Example[]] | undefined>((a, e) => (!a || e[0] > a[0] ? e : a), undefined);
          const gradients = gradientBatch && longest ? model.gradientFlow(longest[1].slice(0, gradientBatch)) : undefined;
          cellRuns.push({
            seed, ...(g.bucket ? { bucket: g.bucket.name } : {}), trainDistances: [g.lo, g.hi], seconds, finalLoss, diverged,
            accuracy: final.length ? right / final.length : NaN, history, ...(testEvery ? { checkpoints } : {}),
            ...(gradients ? { gradients } : {}),
          });
        } finally {
          model.dispose();
        }
      }
      outcomes.push(os);
    }
    const depths = [...new Set(outcomes.flat().flatMap((o) => (o.depth === undefined ? [] : [o.depth])))].sort((a, b) => a - b);
    result.cells.push({
      cell, hidden, parameters, runs: cellRuns, buckets: bucketAccuracy(outcomes, buckets),
      ...(depths.length ? { byDepth: depths.map((d) => ({ depth: d, buckets: bucketAccuracy(outcomes.map((os) => os.filter((o) => o.depth === d)), buckets) })) } : {}),
    });
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
