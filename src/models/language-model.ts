// LanguageModel: next-token prediction over characters or words. Embedding -> recurrent layers -> Linear,
// trained with softmax cross-entropy (L = -Σ log p(w*_t | w_<t)). Two ways to read the data (config
// `sequences`): a running text by truncated BPTT that carries the hidden state across consecutive chunks
// (stream mode), or separated documents each as its own sequence from a zero state, in padded batches with the
// padding masked out of the loss (item mode), which is how predictNext, stream and complete use the model.
import type { BackendName } from '../backend/index.js';
import type { Backend, Buf, CellKind } from '../backend/types.js';
import { GATES } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Scratch, type Module } from '../nn/module.js';
import { Random } from '../nn/random.js';
import { tensor, type Tensor } from '../tensor.js';
import { CrossEntropyLoss, softmaxRows } from '../train/losses.js';
import type { Schema } from './config-schema.js';
import { makeRecurrent, type RecurrentBase } from '../nn/recurrent.js';
import { CELL_KINDS, permutation } from './parts.js';
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
  /**
   * How fit and evaluate read the data. 'items': each document is its own sequence from a zero state, the
   * separator its first input and its last target ([sep, t1..tn] -> [t1..tn, sep]), as predictNext, stream and
   * complete start; 'stream': the documents joined by the separator into one running text, truncated BPTT
   * carrying the state from one document into the next; 'auto' (the default): items for an array of documents
   * when there is a separator, a stream otherwise (a string is always a running text in 'auto').
   */
  sequences: SequenceMode;
  seed: number;
}

/** See LanguageModelConfig.sequences. */
export type SequenceMode = 'auto' | 'items' | 'stream';

export interface LanguageModelOptions extends Partial<LanguageModelConfig> {
  backend?: Backend | BackendName;
}

export interface LanguageModelFitOptions extends TaskFitOptions {
  /**
   * Steps of truncated BPTT (default 64). In item mode, items longer than this are read in windows of seqLen
   * steps with the state carried from one window to the next (one training step each), like a stream.
   */
  seqLen?: number;
  /**
   * Fraction held out for validation, from the end (default 0.1; 0 for none): of the tokens in stream mode, of
   * the documents in item mode.
   */
  validationSplit?: number;
  /**
   * Dropout on the embedding's output, the first recurrent layer's input (the config's `dropout` acts only
   * between recurrent layers): each element is zeroed with this probability and the rest scaled by 1 / (1 - p),
   * a fresh mask every training step drawn from the fit's seed. Training only: validation, evaluate and
   * prediction never drop. In [0, 1); default 0.
   */
  embeddingDropout?: number;
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
  // Files written before item mode have none; 'auto' reads their separated documents as items, which is how
  // their predictions were always made.
  sequences: { kind: 'enum', values: ['auto', 'items', 'stream'], default: 'auto', inFile: 'optional' },
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

  /** The hidden state after the text fed so far: a copy of h, [numLayers, 1, hiddenSize]; null before any text. */
  hidden(): Tensor | null {
    return this.h ? tensor(this.h.data.slice(), [...this.h.shape]) : null;
  }

  /** Probabilities of the next token, all of them, indexed like the vocabulary. */
  distribution(temperature = 1): Float32Array {
    if (!this.logits) throw new RnnkitError('E_STATE', 'language model stream: feed some text first');
    return softmaxRows(this.logits, this.logits.length, temperature);
  }

  /** The k most likely next tokens, most likely first. */
  top(k = 5): TokenProbability[] {
    const p = this.distribution();
    const order = descendingOrder(p, Math.max(1, k));
    return order.map((i) => ({ token: this.lm.vocabulary.tokens[i]!, probability: p[i]! }));
  }
}

/**
 * fit(text | documents, opts) trains on a running text, or on documents: with a separator each its own sequence
 * from a zero state (item mode), else joined into one text (see LanguageModelConfig.sequences); the first fit
 * builds the vocabulary.
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

  /** Whether `text` is read as items (see LanguageModelConfig.sequences). */
  private readsItems(text: string | readonly string[]): boolean {
    const mode = this.config.sequences;
    return mode === 'auto' ? typeof text !== 'string' && this.config.separator !== '' : mode === 'items';
  }

  /**
   * The token ids of fit or evaluate data: in stream mode one running text (each document after the
   * separator), in item mode one sequence per document, [separator, tokens, separator] (a separator of several
   * tokens puts all of them at both ends). The first fit builds the vocabulary from the running text's tokens
   * in either mode, so both modes give the same vocabulary.
   */
  private encodeData(text: string | readonly string[], items: boolean): Int32Array[] {
    if (typeof text !== 'string' && !Array.isArray(text)) throw new RnnkitError('E_ARGUMENT', `text: expected a string or an array of strings, found ${text === null ? 'null' : typeof text}`);
    const docs: readonly unknown[] = typeof text === 'string' ? [text] : text;
    const kind = this.config.tokenizer;
    const sep = this.config.separator ? tokenize(this.config.separator, kind) : [];
    const perDoc = docs.map((d, i) => {
      if (typeof d !== 'string') throw new RnnkitError('E_ARGUMENT', `text[${i}]: expected a string, found ${d === null ? 'null' : typeof d}`);
      return tokenize(d, kind);
    });
    const joined = () => {
      const tokens: string[] = [];
      for (const doc of perDoc) {
        for (const t of sep) tokens.push(t);
        for (const t of doc) tokens.push(t);
      }
      return tokens;
    };
    if (!this.parts) {
      const maxSize = kind === 'word' ? this.config.maxVocab : Infinity;
      this.build(Vocabulary.build(joined(), { maxSize }));
    }
    const vocab = this.built().vocab;
    if (!items) return [vocab.encode(joined())];
    return perDoc.map((doc) => vocab.encode([...sep, ...doc, ...sep]));
  }

  protected planFit(text: string | readonly string[], opts: LanguageModelFitOptions, shared: { validationSplit: number; batchSize: number }): FitPlan {
    const embeddingDropout = opts.embeddingDropout ?? 0;
    if (!(typeof embeddingDropout === 'number' && embeddingDropout >= 0 && embeddingDropout < 1)) {
      throw new RnnkitError('E_ARGUMENT', `embeddingDropout: expected a probability in [0, 1), found ${String(embeddingDropout)}`);
    }
    const seed = opts.seed ?? this.config.seed;
    const items = this.readsItems(text);
    const seqs = this.encodeData(text, items);
    const seqLen = opts.seqLen ?? 64;
    if (items) {
      const nVal = Math.floor(seqs.length * shared.validationSplit);
      const train = seqs.slice(0, seqs.length - nVal), val = seqs.slice(seqs.length - nVal);
      const B = itemBatchSize(train, seqLen, shared.batchSize);
      return {
        data: text,
        settled: { batchSize: B },
        local: () => {
          const ce = new CrossEntropyLoss(this.backend);
          const steps = new LMItemSteps(this.built(), ce, train, val, seqLen, B, seed, embeddingDropout);
          return { steps, dispose: () => { ce.dispose(); steps.dispose(); } };
        },
      };
    }
    const ids = seqs[0]!;
    const nVal = Math.floor(ids.length * shared.validationSplit);
    const train = ids.subarray(0, ids.length - nVal), val = ids.subarray(ids.length - nVal);
    const { T, B } = fitBatchShape(train.length, seqLen, shared.batchSize);
    return {
      data: text,
      // The shape is settled (and any warning given) here, so a worker trains exactly what this thread decided.
      settled: { seqLen: T, batchSize: B },
      local: () => {
        const ce = new CrossEntropyLoss(this.backend);
        const steps = new LMSteps(this.built(), ce, train, val, T, B, seed, embeddingDropout);
        return { steps, dispose: () => { ce.dispose(); steps.dispose(); } };
      },
    };
  }

  /**
   * Mean cross-entropy per predicted token (natural log) of the model on a text or documents, and its
   * perplexity, read the way fit reads them (see LanguageModelConfig.sequences): in item mode every token of
   * every document and the separator after it, each from a zero state before the document.
   */
  evaluate(text: string | readonly string[], opts: { seqLen?: number; batchSize?: number } = {}): { loss: number; perplexity: number; tokens: number } {
    this.built(); // an unfitted model must not build its vocabulary from the evaluation text
    const items = this.readsItems(text);
    const seqs = this.encodeData(text, items);
    const T = opts.seqLen ?? 64, B = opts.batchSize ?? 32;
    for (const [k, v] of [['seqLen', T], ['batchSize', B]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RnnkitError('E_ARGUMENT', `${k}: expected a positive integer, found ${String(v)}`);
    }
    const ce = new CrossEntropyLoss(this.backend);
    try {
      const r = items ? evaluateItems(this.built(), ce, seqs, T, B) : evaluateIds(this.built(), ce, seqs[0]!, T, B);
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

  /**
   * @internal One inference pass over ids (batch 1) from a state; the logits after the last id. The outputs stay
   * in the backend's buffers: the last one goes to the decoder there, and only the logits and states come out.
   */
  _step(ids: Int32Array, h?: Tensor, c?: Tensor): { h: Tensor; c?: Tensor; logits: Float32Array } {
    const p = this.built();
    p.rnn.eval();
    const n = ids.length, H = p.decoder.inFeatures;
    const r = p.rnn.forwardBuffer(p.embedding.forwardBuffer({ data: ids, shape: [n, 1] }), n, 1, { ...(h ? { h0: h } : {}), ...(c ? { c0: c } : {}) });
    this.lastOutput ??= new Scratch(this.backend);
    const last = this.lastOutput.get(H);
    this.backend.copy(1, H, r.output, (n - 1) * H, H, last, 0, H);
    const logits = this.backend.read(p.decoder.forwardBuffer(last, 1), 0, p.decoder.outFeatures);
    return { h: r.hN, ...(r.cN ? { c: r.cN } : {}), logits };
  }

  /** _step's last output [1, H], for the decoder. */
  private lastOutput: Scratch | null = null;

  protected override forget(): void {
    super.forget();
    this.lastOutput?.dispose();
    this.lastOutput = null;
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

/**
 * The indices of p (not in `excluded`) by descending probability, ties by ascending index (the order of a stable
 * sort by p[b] - p[a]), handed out one at a time from a binary heap: building it is one pass over the vocabulary,
 * and a caller that needs the first few (top k, or sampling from a peaked distribution) never pays for sorting the
 * rest (a comparator sort of 10,000 probabilities took 1-2 ms a token). A NaN counts as -Infinity.
 */
class DescendingIndices {
  private readonly heap: Int32Array;
  private readonly v: Float64Array; // p, NaN as -Infinity
  private n = 0;

  constructor(p: Float32Array, excluded?: Set<number>) {
    this.heap = new Int32Array(p.length);
    this.v = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const x = p[i]!;
      this.v[i] = x === x ? x : -Infinity;
      if (!excluded?.has(i)) this.heap[this.n++] = i;
    }
    for (let k = (this.n >> 1) - 1; k >= 0; k--) this.down(k);
  }

  /** Indices not yet handed out. */
  get left(): number {
    return this.n;
  }

  /** The next index in the order; -1 when none is left. */
  next(): number {
    if (this.n === 0) return -1;
    const top = this.heap[0]!;
    this.heap[0] = this.heap[--this.n]!;
    this.down(0);
    return top;
  }

  private before(a: number, b: number): boolean {
    const va = this.v[a]!, vb = this.v[b]!;
    return va > vb || (va === vb && a < b);
  }

  private down(k: number): void {
    const h = this.heap, n = this.n;
    const x = h[k]!;
    for (;;) {
      let c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(h[c + 1]!, h[c]!)) c++;
      if (!this.before(h[c]!, x)) break;
      h[k] = h[c]!;
      k = c;
    }
    h[k] = x;
  }
}

/** The first `limit` indices of p (not in `excluded`) by descending probability, ties by ascending index. */
export function descendingOrder(p: Float32Array, limit = p.length, excluded?: Set<number>): number[] {
  const it = new DescendingIndices(p, excluded);
  const out: number[] = [];
  const n = Math.trunc(limit); // as slice(0, limit) took it
  while (out.length < n && it.left > 0) out.push(it.next());
  return out;
}

/**
 * Index drawn from probabilities p after top-k / top-p filtering and exclusions: the candidates by descending
 * probability (ties by index), a uniform draw u in [0, their sum), and the first candidate at which the running
 * sum reaches u. The candidates come from a heap as the walk needs them. Their sum is added in that order when a
 * filter chose them (a prefix of the order); with no filter it is the sum over all of them in index order, which
 * can differ from the sum in descending order in the last bits only.
 */
export function sampleIndex(p: Float32Array, rng: Random, topK?: number, topP?: number, excluded?: Set<number>): number {
  const it = new DescendingIndices(p, excluded);
  const order: number[] = []; // the candidates handed out so far, in order
  const at = (r: number) => { while (order.length <= r) order.push(it.next()); return order[r]!; };
  let count = it.left;
  const k = topK !== undefined && topK > 0 ? Math.trunc(topK) : count; // a fractional k as slice(0, k) took it
  const filtered = k < count || (topP !== undefined && topP > 0 && topP < 1);
  count = Math.min(count, k);
  if (topP !== undefined && topP > 0 && topP < 1) {
    let acc = 0, n = 0;
    while (n < count) { acc += p[at(n)]!; n++; if (acc >= topP) break; }
    count = n;
  }
  let total = 0;
  if (filtered) {
    for (let r = 0; r < count; r++) total += p[at(r)]!;
  } else {
    for (let i = 0; i < p.length; i++) if (!excluded?.has(i)) total += p[i]!;
  }
  let u = rng.next() * total;
  for (let r = 0; r < count; r++) {
    const i = at(r);
    u -= p[i]!;
    if (u <= 0) return i;
  }
  return count > 0 ? at(count - 1) : 0;
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
    const r = forwardIds(p, x, n, B, h, c);
    h = r.h; c = r.c;
    const res = lossOfIds(ce, r.logits, y);
    sum += res.loss * res.count; count += res.count;
  }
  return { loss: sum / count, count };
}

/** Truncated BPTT over B parallel streams of the training ids, T steps at a time, the state carried across chunks. */
class LMSteps implements TaskSteps {
  private h: Tensor | undefined;
  private c: Tensor | undefined;
  private readonly streams: ReturnType<typeof streamsOf>;
  private readonly drop: EmbeddingDropout | null;
  constructor(
    private readonly p: LanguageModelParts, private readonly ce: CrossEntropyLoss,
    train: Int32Array, private readonly val: Int32Array, private readonly T: number, private readonly B: number,
    seed: number, embeddingDropout: number,
  ) {
    this.streams = streamsOf(train, B);
    this.drop = embeddingDropout > 0 ? new EmbeddingDropout(p.embedding.backend, embeddingDropout, seed) : null;
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
    const r = forwardIds(p, x, T, B, this.h, this.c, this.drop);
    this.h = r.h; this.c = r.c; // carried, not backpropagated into (truncated BPTT)
    return backwardIds(p, this.ce, r.logits, y, this.drop);
  }
  validate() {
    if (this.val.length < 2) return null;
    const r = evaluateIds(this.p, this.ce, this.val, this.T, this.B);
    return r.count ? r : null;
  }
  /** Returns the embedding dropout's buffer. */
  dispose(): void { this.drop?.dispose(); }
}

/**
 * The batch size item mode trains with: `B`, or the count of items when there are fewer (with a process warning,
 * type RnnkitWarning, code RNNKIT_SMALL_DATA, as fitBatchShape gives for a short text). Items of under two
 * tokens (possible only without a separator) have nothing to predict and do not count.
 */
export function itemBatchSize(items: readonly Int32Array[], T: number, B: number): number {
  for (const [k, v] of [['seqLen', T], ['batchSize', B]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RnnkitError('E_ARGUMENT', `${k}: expected a positive integer, found ${String(v)}`);
  }
  const n = items.filter((s) => s.length >= 2).length;
  if (n < 1) throw new RnnkitError('E_ARGUMENT', `training data: ${items.length ? 'no document has a token to predict' : 'no documents'} after the validation split`);
  if (n >= B) return B;
  process.emitWarning(
    `training data: ${n} item${n === 1 ? ' is' : 's are'} fewer than batchSize ${B}; training with batchSize ${n}`,
    { type: 'RnnkitWarning', code: 'RNNKIT_SMALL_DATA' },
  );
  return n;
}

/**
 * Item sequences (token ids, each [sep, t1..tn, sep]) in padded batches: ordered by length so that a batch
 * wastes little on padding, B to a batch, each batch read in windows of at most T steps with the state carried
 * from one window to the next. A batch of rows b with n_b = len_b - 1 targets is padded to max n_b steps: input
 * id 0 and target -1 (masked) past a row's end. The recurrence is causal, so padding after a row's end never
 * changes its outputs, and its zero loss gradient gives zero gradients through the padded steps.
 */
class ItemBatches {
  /** Each batch: the indices of its rows into `seqs`, and its window count. */
  readonly batches: { rows: Int32Array; windows: number }[] = [];
  constructor(readonly seqs: readonly Int32Array[], private readonly T: number, B: number, order: Int32Array) {
    // Stable sort by length over `order`: items of one length keep the (shuffled) order they came in.
    const idx = Array.from(order).filter((k) => seqs[k]!.length >= 2);
    idx.sort((a, b) => seqs[a]!.length - seqs[b]!.length);
    for (let i = 0; i < idx.length; i += B) {
      const rows = Int32Array.from(idx.slice(i, i + B));
      const steps = seqs[rows[rows.length - 1]!]!.length - 1; // the longest row is the last
      this.batches.push({ rows, windows: Math.ceil(steps / T) });
    }
  }

  /** Inputs and targets of window w of batch `k`, [n, Bk] sequence-major. */
  window(k: number, w: number): { x: Int32Array; y: Int32Array; n: number; B: number } {
    const { rows } = this.batches[k]!;
    const B = rows.length, t0 = w * this.T;
    const steps = this.seqs[rows[B - 1]!]!.length - 1;
    const n = Math.min(this.T, steps - t0);
    const x = new Int32Array(n * B), y = new Int32Array(n * B).fill(-1);
    for (let b = 0; b < B; b++) {
      const s = this.seqs[rows[b]!]!;
      const end = Math.min(n, s.length - 1 - t0);
      for (let t = 0; t < end; t++) { x[t * B + b] = s[t0 + t]!; y[t * B + b] = s[t0 + t + 1]!; }
    }
    return { x, y, n, B };
  }
}

/**
 * LanguageModelFitOptions.embeddingDropout on the embedding output [n, B, E] of each training step: the backend's
 * seeded dropout (Backend.dropout, as between recurrent layers: elements 0 with probability p, the rest scaled by
 * 1 / (1 - p)), each step's mask seed drawn from a generator of its own (seeded from the fit's seed, apart from
 * the batch order's); backward applies the same mask to the gradient, in place.
 */
class EmbeddingDropout {
  private readonly rng: Random;
  private readonly out: Scratch;
  private seed = 0;
  private n = 0;
  constructor(private readonly backend: Backend, private readonly p: number, seed: number) {
    this.rng = new Random((seed ^ 0x3c6ef372) >>> 0);
    this.out = new Scratch(backend);
  }
  /** x's first n floats through a fresh mask, into a buffer of its own. */
  forward(x: Buf, n: number): Buf {
    this.n = n;
    this.seed = this.rng.skip(n);
    const y = this.out.get(n);
    this.backend.dropout(n, this.p, this.seed, x, y);
    return y;
  }
  /** The gradient dy of forward's output through the same mask, in place. */
  backward(dy: Buf): Buf {
    this.backend.dropout(this.n, this.p, this.seed, dy, dy);
    return dy;
  }
  dispose(): void { this.out.dispose(); }
}

/**
 * Logits of the embedded ids x [n, B] from a state (the embedding output through `drop` when training with
 * it), and the new state. The activations stay in the backend's buffers (on a GPU, on the device): only the ids
 * go in and the states come out. `logits` [n*B, V] is the decoder's buffer, valid until its next forward.
 */
function forwardIds(p: LanguageModelParts, x: Int32Array, n: number, B: number, h?: Tensor, c?: Tensor, drop?: EmbeddingDropout | null) {
  const e = p.embedding.forwardBuffer({ data: x, shape: [n, B] });
  const emb = drop ? drop.forward(e, n * B * p.embedding.embeddingDim) : e;
  const r = p.rnn.forwardBuffer(emb, n, B, { ...(h ? { h0: h } : {}), ...(c ? { c0: c } : {}) });
  return { logits: { buf: p.decoder.forwardBuffer(r.output, n * B), N: n * B, C: p.decoder.outFeatures }, h: r.hN, c: r.cN };
}

type Logits = ReturnType<typeof forwardIds>['logits'];

/** The mean cross-entropy of forwardIds' logits against targets y (-1: padding), backpropagated to every parameter. */
function backwardIds(p: LanguageModelParts, ce: CrossEntropyLoss, logits: Logits, y: Int32Array, drop?: EmbeddingDropout | null): { loss: number; count: number } {
  const loss = ce.computeBuffer(logits.buf, logits.N, logits.C, y);
  const dEmb = p.rnn.backwardBuffer(p.decoder.backwardBuffer(loss.grad!));
  p.embedding.backwardBuffer(drop ? drop.backward(dEmb) : dEmb);
  return { loss: loss.loss, count: loss.count };
}

/** The mean cross-entropy of forwardIds' logits against y, without gradients. */
function lossOfIds(ce: CrossEntropyLoss, logits: Logits, y: Int32Array): { loss: number; count: number } {
  return ce.computeBuffer(logits.buf, logits.N, logits.C, y, { grad: false });
}

/** Mean cross-entropy over every target of every item sequence, each from a zero state (item mode). */
function evaluateItems(p: LanguageModelParts, ce: CrossEntropyLoss, seqs: readonly Int32Array[], T: number, B: number): { loss: number; count: number } {
  const batches = new ItemBatches(seqs, T, B, Int32Array.from(seqs.keys()));
  p.rnn.eval();
  let sum = 0, count = 0;
  for (let k = 0; k < batches.batches.length; k++) {
    let h: Tensor | undefined, c: Tensor | undefined;
    for (let w = 0; w < batches.batches[k]!.windows; w++) {
      const { x, y, n, B: Bk } = batches.window(k, w);
      const r = forwardIds(p, x, n, Bk, h, c);
      h = r.h; c = r.c;
      const res = lossOfIds(ce, r.logits, y);
      sum += res.loss * res.count; count += res.count;
    }
  }
  return { loss: count ? sum / count : NaN, count };
}

/**
 * @internal Item mode's training steps: each epoch shuffles the items, orders them by length (ties stay
 * shuffled), cuts them into batches of B, and shuffles the batches; a step is one window of T steps of one
 * batch, the loss the mean over its real (unpadded) targets. The windows of a batch are consecutive steps, the
 * state carried between them and reset to zero at the start of each batch. The window count of each batch
 * follows from the sorted lengths alone, so every epoch has the same number of steps.
 */
export class LMItemSteps implements TaskSteps {
  private plan: { batches: ItemBatches; steps: Int32Array } | null = null;
  private h: Tensor | undefined;
  private c: Tensor | undefined;
  private readonly rng: Random;
  private readonly perEpoch: number;
  private readonly drop: EmbeddingDropout | null;
  /** `embeddingDropout`: LanguageModelFitOptions.embeddingDropout (0: none). */
  constructor(
    private readonly p: LanguageModelParts, private readonly ce: CrossEntropyLoss,
    private readonly train: readonly Int32Array[], private readonly val: readonly Int32Array[],
    private readonly T: number, private readonly B: number, seed: number, embeddingDropout = 0,
  ) {
    this.rng = new Random(seed);
    this.drop = embeddingDropout > 0 ? new EmbeddingDropout(p.embedding.backend, embeddingDropout, seed) : null;
    this.perEpoch = new ItemBatches(train, T, B, Int32Array.from(train.keys())).batches.reduce((n, b) => n + b.windows, 0);
  }
  stepsPerEpoch() { return this.perEpoch; }
  startEpoch() {
    const batches = new ItemBatches(this.train, this.T, this.B, permutation(this.train.length, () => this.rng.next()));
    const order = permutation(batches.batches.length, () => this.rng.next());
    // steps[2i], steps[2i+1]: the batch and window of step i.
    const steps = new Int32Array(2 * this.perEpoch);
    let i = 0;
    for (const k of order) for (let w = 0; w < batches.batches[k]!.windows; w++) { steps[i++] = k; steps[i++] = w; }
    this.plan = { batches, steps };
  }
  trainStep(i: number) {
    if (!this.plan) this.startEpoch();
    const { batches, steps } = this.plan!;
    const k = steps[2 * i]!, w = steps[2 * i + 1]!;
    if (w === 0) { this.h = undefined; this.c = undefined; }
    const { x, y, n, B } = batches.window(k, w);
    const p = this.p;
    p.rnn.train();
    const r = forwardIds(p, x, n, B, this.h, this.c, this.drop);
    this.h = r.h; this.c = r.c; // carried to the batch's next window, not backpropagated into
    return backwardIds(p, this.ce, r.logits, y, this.drop);
  }
  validate() {
    if (!this.val.some((s) => s.length >= 2)) return null;
    return evaluateItems(this.p, this.ce, this.val, this.T, this.B);
  }
  /** Returns the embedding dropout's buffer. */
  dispose(): void { this.drop?.dispose(); }
}
