// SequenceClassifier: a text (characters or words) or a numeric sequence [T, features] -> one of N labels, from
// the recurrent layers' final hidden state (both directions when bidirectional). Two labels use one logit with
// a sigmoid and binary cross-entropy; more use softmax cross-entropy. Batches are left-padded to their longest
// sequence, so the final state always follows the real tokens.
import type { BackendName } from '../backend/index.js';
import type { Backend, CellKind } from '../backend/types.js';
import { GATES } from '../backend/types.js';
import { checkFinite, RnnkitError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Scratch, type Module } from '../nn/module.js';
import { Random } from '../nn/random.js';
import type { Tensor } from '../tensor.js';
import { bceWithLogitsLoss, CrossEntropyLoss, softmaxRows, type LossResult } from '../train/losses.js';
import { MAX_INT32, type Schema } from './config-schema.js';
import { makeRecurrent, type RecurrentBase } from '../nn/recurrent.js';
import { CELL_KINDS, lastHidden, lastHiddenGrad, permutation } from './parts.js';
import { checkFileConfig, recurrentParameterCount, shuffledBatches, TaskModel, type FitPlan, type LocalFit, type LoadOptions, type TaskFitOptions, type TaskSpec } from './task-model.js';
import { tokenize, UNK, Vocabulary, type TokenizerKind } from './vocab.js';

export const PAD = '<pad>';

/** A text, or a numeric sequence: T steps of `features` numbers (number[][] or a flat array with features = 1). */
export type SequenceInput = string | readonly (readonly number[])[] | readonly number[] | Float32Array;

export interface Example {
  input: SequenceInput;
  label: string;
}

export interface SequenceClassifierConfig {
  input: 'text' | 'numeric';
  tokenizer: TokenizerKind;
  maxVocab: number;
  /** Longer sequences keep their first maxLength steps. */
  maxLength: number;
  /** Numbers per step for numeric input (set from the data by fit). */
  features: number;
  embeddingDim: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  cell: CellKind;
  dropout: number;
  seed: number;
  /** Set by the first fit, in order of first appearance. */
  labels: string[];
}

export interface SequenceClassifierOptions extends Partial<SequenceClassifierConfig> {
  backend?: Backend | BackendName;
}

export interface ClassifierFitOptions extends TaskFitOptions {
  /** Fraction of the examples (after a seeded shuffle) held out for validation; default 0.1. */
  validationSplit?: number;
}

export interface Prediction {
  label: string;
  probabilities: Record<string, number>;
}

const SCHEMA: Schema<SequenceClassifierConfig> = {
  input: { kind: 'enum', values: ['text', 'numeric'], default: 'text', inFile: 'required' },
  tokenizer: { kind: 'enum', values: ['char', 'word'], default: 'word', inFile: 'required' },
  maxVocab: { kind: 'int', min: 3, default: 20000, inFile: 'optional' },
  maxLength: { kind: 'int', min: 1, max: MAX_INT32, default: 200, inFile: 'optional' },
  features: { kind: 'int', min: 1, default: 1, inFile: 'required' },
  embeddingDim: { kind: 'int', min: 1, default: 64, inFile: 'required' },
  hiddenSize: { kind: 'int', min: 1, default: 128, inFile: 'required' },
  numLayers: { kind: 'int', min: 1, default: 1, inFile: 'required' },
  bidirectional: { kind: 'boolean', default: false, inFile: 'optional' },
  cell: { kind: 'enum', values: CELL_KINDS, default: 'lstm', inFile: 'required' },
  dropout: { kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0, inFile: 'optional' },
  seed: { kind: 'int', min: -Infinity, default: 0, inFile: 'optional' },
  labels: { kind: 'strings', default: [], inFile: 'required' },
};

/** @internal */
export interface SequenceClassifierParts {
  vocab: Vocabulary | null;
  embedding: Embedding | null;
  rnn: RecurrentBase;
  head: Linear;
}

const TASK: TaskSpec<SequenceClassifierConfig, Vocabulary | null, SequenceClassifierParts, 'sequence-classifier'> = {
  tag: 'sequence-classifier',
  what: 'sequence classifier',
  schema: SCHEMA,
  fileData: (p) => ({ vocab: p.vocab?.tokens ?? null }),
  fromFile(config, file, what) {
    const K = config.labels.length;
    if (K < 2) throw new RnnkitError('E_MODEL_FILE', `${what}: config labels: expected at least 2 labels, found ${K}`);
    const text = config.input === 'text';
    if (!text && file.meta.vocab != null) throw new RnnkitError('E_MODEL_FILE', `${what}: vocab: expected none for numeric input`);
    const vocab = text ? Vocabulary.fromFile(file.meta.vocab, config.tokenizer, [PAD]) : null;
    const { embeddingDim: E, hiddenSize: H, numLayers: L, features: F } = config;
    const D = config.bidirectional ? 2 : 1;
    // Only the sizes the parameter count grows with: embeddingDim for text input, features for numeric.
    checkFileConfig(what, { ...(vocab ? { embeddingDim: E } : { features: F }), hiddenSize: H, numLayers: L, labels: K }, () =>
      (vocab ? vocab.size * E : 0) + recurrentParameterCount(GATES[config.cell], vocab ? E : F, H, L, D) +
      (D * H + 1) * (K === 2 ? 1 : K), file.tensors);
    return vocab;
  },
};

/** Encoded example: token ids (text) or a [T * features] array (numeric). */
type Encoded = Int32Array | Float32Array;

/** fit(examples, opts) trains on labelled examples; the first fit fixes the labels and the vocabulary. */
export class SequenceClassifier extends TaskModel<SequenceClassifierConfig, SequenceClassifierParts, Vocabulary | null, readonly Example[], ClassifierFitOptions> {
  /** @internal */
  static readonly spec = TASK;
  private ce: CrossEntropyLoss | null = null;
  /** Feature input [T, B, features] for the recurrent layer (its buffer path). */
  private inputs: Scratch | null = null;

  /** Options are checked against the task's configuration schema: a wrong kind or range, or an unknown key, is E_ARGUMENT. */
  constructor(opts: SequenceClassifierOptions = {}) {
    super(TASK, opts);
  }

  get labels(): readonly string[] {
    return this.config.labels;
  }

  private get binary(): boolean {
    return this.config.labels.length === 2;
  }

  protected makeParts(vocab: Vocabulary | null): SequenceClassifierParts {
    const c = this.config;
    const text = c.input === 'text';
    const embedding = text ? new Embedding({ numEmbeddings: vocab!.size, embeddingDim: c.embeddingDim, backend: this.backend, seed: this.seedOf('embedding') }) : null;
    const rnn = makeRecurrent(c.cell, {
      inputSize: text ? c.embeddingDim : c.features, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
      bidirectional: c.bidirectional, dropout: c.dropout, backend: this.backend, seed: this.seedOf('rnn'),
    });
    const outputs = this.binary ? 1 : c.labels.length;
    const head = new Linear({ inFeatures: c.hiddenSize * rnn.numDirections, outFeatures: outputs, backend: this.backend, seed: this.seedOf('output') });
    return { vocab, embedding, rnn, head };
  }

  protected namedModules(p: SequenceClassifierParts): Record<string, Module> {
    return { ...(p.embedding ? { embedding: p.embedding } : {}), rnn: p.rnn, head: p.head };
  }

  protected override forget(): void {
    super.forget();
    this.ce?.dispose();
    this.ce = null;
    this.inputs?.dispose();
    this.inputs = null;
  }

  private encode(input: SequenceInput, where: string): Encoded {
    const c = this.config;
    if (c.input === 'text') {
      if (typeof input !== 'string') throw new RnnkitError('E_ARGUMENT', `${where}: expected a string for a text classifier`);
      const ids = this.built().vocab!.encode(tokenize(input, c.tokenizer).slice(0, c.maxLength));
      return ids.length ? ids : Int32Array.of(0);
    }
    if (typeof input === 'string') throw new RnnkitError('E_ARGUMENT', `${where}: expected numbers for a numeric classifier`);
    let flat: Float32Array;
    if (input instanceof Float32Array || (input.length > 0 && typeof input[0] === 'number')) {
      if (c.features !== 1) throw new RnnkitError('E_SHAPE', `${where}: expected T steps of ${c.features} numbers (number[][])`);
      flat = Float32Array.from(input as ArrayLike<number>);
    } else {
      const rows = input as readonly (readonly number[])[];
      flat = new Float32Array(rows.length * c.features);
      rows.forEach((r, t) => {
        if (!r || r.length !== c.features) throw new RnnkitError('E_SHAPE', `${where}: step ${t} has ${r?.length} numbers, expected ${c.features}`);
        flat.set(r, t * c.features);
      });
    }
    if (flat.length === 0) throw new RnnkitError('E_SHAPE', `${where}: empty sequence`);
    checkFinite(where, flat);
    return flat.subarray(0, c.maxLength * c.features);
  }

  /** Runs a batch (left-padded to its longest member); returns the head's logits [B, outputs]. */
  private forwardBatch(items: readonly Encoded[], training: boolean): Tensor {
    const p = this.built();
    const c = this.config;
    const B = items.length;
    p.rnn.train(training);
    if (p.embedding) {
      const T = Math.max(...items.map((e) => e.length));
      const pad = p.vocab!.id(PAD);
      const ids = new Int32Array(T * B).fill(pad);
      items.forEach((e, b) => { for (let t = 0; t < e.length; t++) ids[(T - e.length + t) * B + b] = e[t]!; });
      // The embeddings and the recurrent outputs stay in the backend's buffers: only the last states come out.
      const r = p.rnn.forwardBuffer(p.embedding.forwardBuffer({ data: ids, shape: [T, B] }), T, B);
      return p.head.forward(lastHidden(p.rnn, r.hN));
    }
    const F = c.features;
    const T = Math.max(...items.map((e) => e.length / F));
    const x = new Float32Array(T * B * F);
    items.forEach((e, b) => {
      const len = e.length / F;
      for (let t = 0; t < len; t++) x.set(e.subarray(t * F, (t + 1) * F), ((T - len + t) * B + b) * F);
    });
    checkFinite('input', x);
    this.inputs ??= new Scratch(this.backend);
    const r = p.rnn.forwardBuffer(this.inputs.from(x), T, B);
    return p.head.forward(lastHidden(p.rnn, r.hN));
  }

  private loss(logits: Tensor, labels: Int32Array, grad: boolean): LossResult {
    if (this.binary) return bceWithLogitsLoss(logits, labels);
    this.ce ??= new CrossEntropyLoss(this.backend);
    return this.ce.compute(logits, labels, { grad });
  }

  private backwardBatch(dLogits: Tensor): void {
    const p = this.built();
    const dFeatures = p.head.backward(dLogits);
    const dInput = p.rnn.backwardBuffer(null, lastHiddenGrad(p.rnn, dFeatures));
    p.embedding?.backwardBuffer(dInput);
  }

  private prepare(examples: readonly Example[]): { x: Encoded[]; y: Int32Array } {
    if (!Array.isArray(examples) || examples.length === 0) throw new RnnkitError('E_ARGUMENT', 'examples: expected a non-empty array of { input, label }');
    const c = this.config;
    if (!this.parts) {
      for (const e of examples) {
        const l = String(e?.label);
        if (!c.labels.includes(l)) c.labels.push(l);
      }
      if (c.labels.length < 2) throw new RnnkitError('E_ARGUMENT', `labels: expected at least 2 different labels, found ${c.labels.length}`);
      let vocab: Vocabulary | null = null;
      if (c.input === 'text') {
        const tokens: string[] = [];
        examples.forEach((e, i) => {
          if (typeof e?.input !== 'string') throw new RnnkitError('E_ARGUMENT', `examples[${i}].input: expected a string`);
          for (const t of tokenize(e.input, c.tokenizer).slice(0, c.maxLength)) tokens.push(t);
        });
        const base = Vocabulary.build(tokens, { maxSize: c.maxVocab - 1 });
        vocab = new Vocabulary([UNK, PAD, ...base.tokens.slice(1).filter((t) => t !== PAD)]);
      } else {
        const first = examples[0]!.input;
        c.features = Array.isArray(first) && Array.isArray(first[0]) ? (first[0] as number[]).length : 1;
      }
      this.build(vocab);
    }
    const x = examples.map((e, i) => this.encode(e.input, `examples[${i}].input`));
    const y = Int32Array.from(examples, (e, i) => {
      const k = c.labels.indexOf(String(e?.label));
      if (k < 0) throw new RnnkitError('E_ARGUMENT', `examples[${i}].label: unknown label ${JSON.stringify(e?.label)}; known: ${c.labels.join(', ')}`);
      return k;
    });
    return { x, y };
  }

  protected planFit(examples: readonly Example[], opts: ClassifierFitOptions, shared: { validationSplit: number; batchSize: number }): FitPlan {
    const { x, y } = this.prepare(examples);
    const { validationSplit: split, batchSize: B } = shared;
    return { data: examples, local: () => this.localFit(x, y, split, B, opts.seed ?? this.config.seed) };
  }

  /** Splits the examples (seeded shuffle) and gives the training steps; `seed` orders the batches. */
  private localFit(x: Encoded[], y: Int32Array, split: number, B: number, seed: number): LocalFit {
    const rng = new Random(seed);
    const order = permutation(x.length, () => rng.next());
    const nVal = Math.floor(x.length * split);
    const valIdx = order.subarray(0, nVal), trainIdx = Int32Array.from(order.subarray(nVal));
    if (trainIdx.length < 1) throw new RnnkitError('E_ARGUMENT', 'examples: none left for training after the validation split');
    const batches = shuffledBatches(trainIdx, B, rng, (idx) => {
      const logits = this.forwardBatch(Array.from(idx, (k) => x[k]!), true);
      const loss = this.loss(logits, Int32Array.from(idx, (k) => y[k]!), true);
      this.backwardBatch(loss.grad);
      return { loss: loss.loss, count: idx.length };
    });
    const validate = () => (nVal ? this.lossOn(Array.from(valIdx, (k) => x[k]!), Int32Array.from(valIdx, (k) => y[k]!), B) : null);
    return { steps: { ...batches, validate } };
  }

  private lossOn(x: readonly Encoded[], y: Int32Array, B: number): { loss: number; count: number; correct: number } {
    let sum = 0, correct = 0;
    for (let s = 0; s < x.length; s += B) {
      const xs = x.slice(s, s + B), ys = y.subarray(s, s + B);
      const logits = this.forwardBatch(xs, false);
      sum += this.loss(logits, ys, false).loss * xs.length;
      const probs = this.probabilities(logits);
      const K = this.labels.length;
      for (let b = 0; b < xs.length; b++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (probs[b * K + k]! > probs[b * K + best]!) best = k;
        if (best === ys[b]) correct++;
      }
    }
    return { loss: sum / x.length, count: x.length, correct };
  }

  /** [B, labels] probabilities from head logits. */
  private probabilities(logits: Tensor): Float32Array {
    if (!this.binary) return softmaxRows(logits.data, this.labels.length);
    const out = new Float32Array(logits.data.length * 2);
    logits.data.forEach((z, b) => { const p1 = 1 / (1 + Math.exp(-z)); out[2 * b] = 1 - p1; out[2 * b + 1] = p1; });
    return out;
  }

  predict(input: SequenceInput): Prediction {
    return this.predictBatch([input])[0]!;
  }

  predictBatch(inputs: readonly SequenceInput[], batchSize = 64): Prediction[] {
    this.built();
    const out: Prediction[] = [];
    const K = this.labels.length;
    for (let s = 0; s < inputs.length; s += batchSize) {
      const xs = inputs.slice(s, s + batchSize).map((i, k) => this.encode(i, `inputs[${s + k}]`));
      const probs = this.probabilities(this.forwardBatch(xs, false));
      for (let b = 0; b < xs.length; b++) {
        const probabilities: Record<string, number> = {};
        let best = 0;
        for (let k = 0; k < K; k++) {
          probabilities[this.labels[k]!] = probs[b * K + k]!;
          if (probs[b * K + k]! > probs[b * K + best]!) best = k;
        }
        out.push({ label: this.labels[best]!, probabilities });
      }
    }
    return out;
  }

  /** Accuracy and mean loss on labelled examples. */
  evaluate(examples: readonly Example[], batchSize = 64): { accuracy: number; loss: number; count: number } {
    this.built();
    const { x, y } = this.prepare(examples);
    const r = this.lossOn(x, y, batchSize);
    return { accuracy: r.correct / r.count, loss: r.loss, count: r.count };
  }

  static fromBytes(bytes: Uint8Array, opts: LoadOptions = {}): SequenceClassifier {
    return TaskModel.fromBytesOf(SequenceClassifier, bytes, opts);
  }

  /**
   * Loads a model file; its E_MODEL_FILE errors name the file. It runs on `opts.backend` (else RNNKIT_BACKEND or
   * the default), never on a backend the file names.
   */
  static load(path: string, opts: LoadOptions = {}): Promise<SequenceClassifier> {
    return TaskModel.loadOf(SequenceClassifier, path, opts);
  }
}
