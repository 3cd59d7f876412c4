// LanguageModel: next-token prediction over characters or words. Embedding -> recurrent layers -> Linear,
// trained with softmax cross-entropy (L = -Σ log p(w*_t | w_<t)) and truncated BPTT that carries the hidden
// state across consecutive chunks of the text.
import type { BackendName } from '../backend/index.js';
import type { Backend, CellKind } from '../backend/types.js';
import { GATES } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { Random } from '../nn/random.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import { tensor, type Tensor } from '../tensor.js';
import { CrossEntropyLoss, softmaxRows } from '../train/losses.js';
import type { Schema } from './config-schema.js';
import { CELL_KINDS, makeRecurrent } from './parts.js';
import { checkFileConfig, recurrentParameterCount, TaskModel, type FitPlan, type LoadOptions, type TaskFitOptions, type TaskSpec, type TaskSteps } from './task-model.js';
import { detokenize, tokenize, Vocabulary, type TokenizerKind } from './vocab.js';

export interface LanguageModelConfig {
  tokenizer: TokenizerKind;
  cell: CellKind;
  embeddingDim: number;
  hiddenSize: number;
  numLayers: number;
  dropout: number;
  /** Word vocabularies keep the most frequent tokens up to this size (including <unk>). */
  maxVocab: number;
  /** Put between documents when fitting on several, and before every prefix when predicting. */
  separator: string;
  seed: number;
}

export interface LanguageModelOptions extends Partial<LanguageModelConfig> {
  backend?: Backend | BackendName;
}

export interface LanguageModelFitOptions extends TaskFitOptions {
  /** Steps of truncated BPTT (default 64). */
  seqLen?: number;
  /** Fraction of the text, from the end, held out for validation (default 0.1; 0 for none). */
  validationSplit?: number;
}

export interface TokenProbability {
  token: string;
  probability: number;
}

export interface GenerateOptions {
  /** Tokens to generate (default 200). */
  length?: number;
  temperature?: number;
  /** Sample only among the k most likely tokens. */
  topK?: number;
  /** Sample only among the most likely tokens whose probabilities add up to p. */
  topP?: number;
  seed?: number;
  /** Never produce these tokens (for instance the unknown token). */
  exclude?: string[];
}

const SCHEMA: Schema<LanguageModelConfig> = {
  tokenizer: { kind: 'enum', values: ['char', 'word'], default: 'char', inFile: 'required' },
  cell: { kind: 'enum', values: CELL_KINDS, default: 'lstm', inFile: 'required' },
  embeddingDim: { kind: 'int', min: 1, default: 64, inFile: 'required' },
  hiddenSize: { kind: 'int', min: 1, default: 256, inFile: 'required' },
  numLayers: { kind: 'int', min: 1, default: 1, inFile: 'required' },
  dropout: { kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0, inFile: 'optional' },
  maxVocab: { kind: 'int', min: 2, default: 10000, inFile: 'optional' },
  separator: { kind: 'string', default: '', inFile: 'optional' },
  seed: { kind: 'int', min: -Infinity, default: 0, inFile: 'optional' },
};

/** @internal */
export interface LanguageModelParts {
  vocab: Vocabulary;
  embedding: Embedding;
  rnn: RecurrentBase;
  decoder: Linear;
}

const TASK: TaskSpec<LanguageModelConfig, Vocabulary, LanguageModelParts, 'language-model'> = {
  tag: 'language-model',
  what: 'language model',
  schema: SCHEMA,
  fileData: (p) => ({ vocab: p.vocab.tokens }),
  fromFile(config, file, what) {
    const vocab = Vocabulary.fromFile(file.meta.vocab, config.tokenizer);
    const { embeddingDim: E, hiddenSize: H, numLayers: L } = config;
    checkFileConfig(what, { embeddingDim: E, hiddenSize: H, numLayers: L }, () =>
      vocab.size * E + recurrentParameterCount(GATES[config.cell], E, H, L, 1) + (H + 1) * vocab.size, file.tensors);
    return vocab;
  },
};

/**
 * Streaming state: feed text, then ask for the next-token distribution or sample; no prefix is re-read.
 *
 * For keystrokes, keep one stream per typed token: feed a key into a `clone()` of the current stream and push it;
 * on backspace pop back to the previous one. A clone copies only the state (numLayers x hiddenSize floats for h,
 * as many for an LSTM's c, and the last logits), so nothing is re-read.
 */
export class LanguageModelStream {
  private h: Tensor | undefined;
  private c: Tensor | undefined;
  private logits: Float32Array | null = null;
  constructor(private readonly lm: LanguageModel) {}

  /** An independent copy of this stream: feeding one never changes the other. */
  clone(): LanguageModelStream {
    const copy = new LanguageModelStream(this.lm);
    const dup = (t: Tensor | undefined) => t && tensor(t.data.slice(), [...t.shape]);
    copy.h = dup(this.h);
    copy.c = dup(this.c);
    copy.logits = this.logits && this.logits.slice();
    return copy;
  }

  /** Reads more text (tokenized with the model's tokenizer). */
  feed(text: string): this {
    const ids = this.lm.vocabulary.encode(tokenize(text, this.lm.config.tokenizer));
    if (ids.length) this.feedIds(ids);
    return this;
  }

  /** @internal */
  feedIds(ids: Int32Array): void {
    const r = this.lm._step(ids, this.h, this.c);
    this.h = r.h; this.c = r.c; this.logits = r.logits;
  }

  /** Probabilities of the next token, all of them, indexed like the vocabulary. */
  distribution(temperature = 1): Float32Array {
    if (!this.logits) throw new RnnkitError('E_STATE', 'language model stream: feed some text first');
    return softmaxRows(this.logits, this.logits.length, temperature);
  }

  /** The k most likely next tokens, most likely first. */
  top(k = 5): TokenProbability[] {
    const p = this.distribution();
    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]!).slice(0, Math.max(1, k));
    return order.map((i) => ({ token: this.lm.vocabulary.tokens[i]!, probability: p[i]! }));
  }
}

/**
 * fit(text | documents, opts) trains on a text (or documents joined by the separator); the first fit builds the
 * vocabulary.
 */
export class LanguageModel extends TaskModel<LanguageModelConfig, LanguageModelParts, Vocabulary, string | readonly string[], LanguageModelFitOptions> {
  /** @internal */
  static readonly spec = TASK;

  /** Options are checked against the task's configuration schema: a wrong kind or range, or an unknown key, is E_ARGUMENT. */
  constructor(opts: LanguageModelOptions = {}) {
    super(TASK, opts);
  }

  get vocabulary(): Vocabulary {
    return this.built().vocab;
  }

  get isTrained(): boolean {
    return this.parts !== null;
  }

  protected makeParts(vocab: Vocabulary): LanguageModelParts {
    const c = this.config;
    return {
      vocab,
      embedding: new Embedding({ numEmbeddings: vocab.size, embeddingDim: c.embeddingDim, backend: this.backend, seed: this.seedOf('embedding') }),
      rnn: makeRecurrent(c.cell, {
        inputSize: c.embeddingDim, hiddenSize: c.hiddenSize, numLayers: c.numLayers, dropout: c.dropout,
        backend: this.backend, seed: this.seedOf('rnn'),
      }),
      decoder: new Linear({ inFeatures: c.hiddenSize, outFeatures: vocab.size, backend: this.backend, seed: this.seedOf('output') }),
    };
  }

  protected namedModules(p: LanguageModelParts): Record<string, Module> {
    return { embedding: p.embedding, rnn: p.rnn, decoder: p.decoder };
  }

  private textToIds(text: string | readonly string[]): Int32Array {
    const docs = typeof text === 'string' ? [text] : text;
    if (!Array.isArray(docs) && typeof text !== 'string') throw new RnnkitError('E_ARGUMENT', 'text: expected a string or an array of strings');
    const sep = this.config.separator;
    const tokens: string[] = [];
    for (const d of docs) {
      if (typeof d !== 'string') throw new RnnkitError('E_ARGUMENT', 'text: expected strings');
      if (sep) tokens.push(...tokenize(sep, this.config.tokenizer));
      for (const t of tokenize(d, this.config.tokenizer)) tokens.push(t);
    }
    if (!this.parts) {
      const maxSize = this.config.tokenizer === 'word' ? this.config.maxVocab : Infinity;
      this.build(Vocabulary.build(tokens, { maxSize }));
    }
    return this.built().vocab.encode(tokens);
  }

  protected planFit(text: string | readonly string[], opts: LanguageModelFitOptions, shared: { validationSplit: number; batchSize: number }): FitPlan {
    const ids = this.textToIds(text);
    const nVal = Math.floor(ids.length * shared.validationSplit);
    const train = ids.subarray(0, ids.length - nVal), val = ids.subarray(ids.length - nVal);
    const { T, B } = fitBatchShape(train.length, opts.seqLen ?? 64, shared.batchSize);
    return {
      data: text,
      // The shape is settled (and any warning given) here, so a worker trains exactly what this thread decided.
      settled: { seqLen: T, batchSize: B },
      local: () => {
        const ce = new CrossEntropyLoss(this.backend);
        return { steps: new LMSteps(this.built(), ce, train, val, T, B), dispose: () => ce.dispose() };
      },
    };
  }

  /** Mean cross-entropy per token (natural log) of the model on a text, and its perplexity. */
  evaluate(text: string | readonly string[], opts: { seqLen?: number; batchSize?: number } = {}): { loss: number; perplexity: number; tokens: number } {
    this.built(); // an unfitted model must not build its vocabulary from the evaluation text
    const ids = this.textToIds(text);
    const ce = new CrossEntropyLoss(this.backend);
    try {
      const r = evaluateIds(this.built(), ce, ids, opts.seqLen ?? 64, opts.batchSize ?? 32);
      return { loss: r.loss, perplexity: Math.exp(r.loss), tokens: r.count };
    } finally {
      ce.dispose();
    }
  }

  /** A new streaming state, optionally primed with a prefix (after the separator). */
  stream(prefix = ''): LanguageModelStream {
    const s = new LanguageModelStream(this);
    const sep = this.config.separator;
    if (sep) s.feed(sep);
    if (prefix) s.feed(prefix);
    if (!sep && !prefix) throw new RnnkitError('E_ARGUMENT', 'prefix: expected at least one token for a model without a separator');
    return s;
  }

  /** The k most likely next tokens after the prefix. */
  predictNext(prefix: string, k = 5): TokenProbability[] {
    return this.stream(prefix).top(k);
  }

  /** Continues the prefix by sampling; returns the generated text (without the prefix). */
  generate(prefix: string, opts: GenerateOptions = {}): string {
    const s = this.stream(prefix);
    const vocab = this.vocabulary;
    const rng = new Random(opts.seed ?? Date.now());
    const temperature = opts.temperature ?? 1;
    if (!(temperature > 0)) throw new RnnkitError('E_ARGUMENT', `temperature: expected a positive number, found ${temperature}`);
    const excluded = new Set((opts.exclude ?? ['<unk>']).map((t) => vocab.id(t)).filter((i) => i > 0 || vocab.has('<unk>')));
    const out: string[] = [];
    const length = opts.length ?? 200;
    for (let n = 0; n < length; n++) {
      const id = sampleIndex(s.distribution(temperature), rng, opts.topK, opts.topP, excluded);
      out.push(vocab.tokens[id]!);
      s.feedIds(Int32Array.of(id));
    }
    return detokenize(out, this.config.tokenizer);
  }

  /** @internal One inference pass over ids (batch 1) from a state; the logits after the last id. */
  _step(ids: Int32Array, h?: Tensor, c?: Tensor): { h: Tensor; c?: Tensor; logits: Float32Array } {
    const p = this.built();
    p.rnn.eval();
    const x = p.embedding.forward({ data: ids, shape: [ids.length, 1] });
    const r = p.rnn.forward(x, { ...(h ? { h0: h } : {}), ...(c ? { c0: c } : {}) });
    const H = this.config.hiddenSize;
    const last = tensor(r.output.data.slice((ids.length - 1) * H), [1, H]);
    const logits = p.decoder.forward(last).data;
    return { h: r.hN, ...(r.cN ? { c: r.cN } : {}), logits };
  }

  static fromBytes(bytes: Uint8Array, opts: LoadOptions = {}): LanguageModel {
    return TaskModel.fromBytesOf(LanguageModel, bytes, opts);
  }

  /**
   * Loads a model file; its E_MODEL_FILE errors name the file. It runs on `opts.backend` (else RNNKIT_BACKEND or
   * the default), never on a backend the file names.
   */
  static load(path: string, opts: LoadOptions = {}): Promise<LanguageModel> {
    return TaskModel.loadOf(LanguageModel, path, opts);
  }
}

/**
 * The batch shape truncated BPTT can use on `n` training tokens: B parallel streams of at least T+1 tokens each.
 * A text too short for the requested shape keeps seqLen and takes fewer streams, then (one stream left) a
 * shorter seqLen, and says so with a process warning (type RnnkitWarning, code RNNKIT_SMALL_DATA): a handful of
 * names should train, not fail on the defaults. Under two tokens there is nothing to predict.
 */
export function fitBatchShape(n: number, T: number, B: number): { T: number; B: number } {
  for (const [k, v] of [['seqLen', T], ['batchSize', B]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RnnkitError('E_ARGUMENT', `${k}: expected a positive integer, found ${String(v)}`);
  }
  if (n < 2) throw new RnnkitError('E_ARGUMENT', `training text: ${n} token${n === 1 ? '' : 's'} after the validation split; at least 2 are needed`);
  if (Math.floor(n / B) >= T + 1) return { T, B };
  const fit = Math.floor(n / (T + 1)) >= 1 ? { T, B: Math.floor(n / (T + 1)) } : { T: n - 1, B: 1 };
  process.emitWarning(
    `training text: ${n} tokens is too short for batchSize ${B} x seqLen ${T}; training with batchSize ${fit.B} x seqLen ${fit.T}`,
    { type: 'RnnkitWarning', code: 'RNNKIT_SMALL_DATA' },
  );
  return fit;
}

/** Index drawn from probabilities p after top-k / top-p filtering and exclusions. */
export function sampleIndex(p: Float32Array, rng: Random, topK?: number, topP?: number, excluded?: Set<number>): number {
  let order = Array.from(p.keys()).filter((i) => !excluded?.has(i)).sort((a, b) => p[b]! - p[a]!);
  if (topK !== undefined && topK > 0) order = order.slice(0, topK);
  if (topP !== undefined && topP > 0 && topP < 1) {
    let acc = 0, n = 0;
    for (const i of order) { acc += p[i]!; n++; if (acc >= topP) break; }
    order = order.slice(0, n);
  }
  let total = 0;
  for (const i of order) total += p[i]!;
  let u = rng.next() * total;
  for (const i of order) {
    u -= p[i]!;
    if (u <= 0) return i;
  }
  return order[order.length - 1] ?? 0;
}

/** Rows of B parallel streams over ids: stream b covers ids[b*L, (b+1)*L). */
function streamsOf(ids: Int32Array, B: number) {
  const L = Math.floor(ids.length / B);
  return { L, at: (b: number, pos: number) => ids[b * L + pos]! };
}

function evaluateIds(p: LanguageModelParts, ce: CrossEntropyLoss, ids: Int32Array, T: number, Bmax: number): { loss: number; count: number } {
  const B = Math.max(1, Math.min(Bmax, Math.floor((ids.length - 1) / (T + 1))));
  const { L, at } = streamsOf(ids, B);
  if (L < 2) return { loss: NaN, count: 0 };
  p.rnn.eval();
  let h: Tensor | undefined, c: Tensor | undefined, sum = 0, count = 0;
  for (let start = 0; start + 1 < L; start += T) {
    const n = Math.min(T, L - 1 - start);
    const x = new Int32Array(n * B), y = new Int32Array(n * B);
    for (let t = 0; t < n; t++) for (let b = 0; b < B; b++) { x[t * B + b] = at(b, start + t); y[t * B + b] = at(b, start + t + 1); }
    const emb = p.embedding.forward({ data: x, shape: [n, B] });
    const r = p.rnn.forward(emb, { ...(h ? { h0: h } : {}), ...(c ? { c0: c } : {}) });
    h = r.hN; c = r.cN;
    const logits = p.decoder.forward(tensor(r.output.data, [n * B, r.output.shape[2]!]));
    const res = ce.compute(logits, y, { grad: false });
    sum += res.loss * res.count; count += res.count;
  }
  return { loss: sum / count, count };
}

/** Truncated BPTT over B parallel streams of the training ids, T steps at a time, the state carried across chunks. */
class LMSteps implements TaskSteps {
  private h: Tensor | undefined;
  private c: Tensor | undefined;
  private readonly streams: ReturnType<typeof streamsOf>;
  constructor(
    private readonly p: LanguageModelParts, private readonly ce: CrossEntropyLoss,
    train: Int32Array, private readonly val: Int32Array, private readonly T: number, private readonly B: number,
  ) {
    this.streams = streamsOf(train, B);
  }
  stepsPerEpoch() { return Math.floor((this.streams.L - 1) / this.T); }
  startEpoch() { this.h = undefined; this.c = undefined; }
  trainStep(i: number) {
    const { T, B, p } = this;
    const x = new Int32Array(T * B), y = new Int32Array(T * B);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        x[t * B + b] = this.streams.at(b, i * T + t);
        y[t * B + b] = this.streams.at(b, i * T + t + 1);
      }
    }
    p.rnn.train();
    const emb = p.embedding.forward({ data: x, shape: [T, B] });
    const r = p.rnn.forward(emb, { ...(this.h ? { h0: this.h } : {}), ...(this.c ? { c0: this.c } : {}) });
    this.h = r.hN; this.c = r.cN; // carried, not backpropagated into (truncated BPTT)
    const H = r.output.shape[2]!;
    const logits = p.decoder.forward(tensor(r.output.data, [T * B, H]));
    const loss = this.ce.compute(logits, y);
    const dOut = p.decoder.backward(loss.grad);
    const g = p.rnn.backward({ dOutput: tensor(dOut.data, [T, B, H]) });
    p.embedding.backward(g.dInput);
    return { loss: loss.loss, count: loss.count };
  }
  validate() {
    if (this.val.length < 2) return null;
    const r = evaluateIds(this.p, this.ce, this.val, this.T, this.B);
    return r.count ? r : null;
  }
}
