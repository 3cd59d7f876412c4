// SequenceRegressor (forecaster): a window of past values of a numeric series -> the next `horizon` values.
// Values are standardised with the training series' mean and standard deviation, which the model stores.
import type { BackendName } from '../backend/index.js';
import type { Backend, CellKind } from '../backend/types.js';
import { GATES } from '../backend/types.js';
import { checkFinite, RnnkitError } from '../errors.js';
import { Linear } from '../nn/linear.js';
import { Scratch, type Module } from '../nn/module.js';
import { Random } from '../nn/random.js';
import type { Tensor } from '../tensor.js';
import { mseLoss } from '../train/losses.js';
import { MAX_INT32, type Schema } from './config-schema.js';
import { makeRecurrent, type RecurrentBase } from '../nn/recurrent.js';
import { CELL_KINDS, lastHidden, lastHiddenGrad } from './parts.js';
import { checkFileConfig, recurrentParameterCount, shuffledBatches, TaskModel, type FitPlan, type LocalFit, type LoadOptions, type TaskFitOptions, type TaskSpec } from './task-model.js';

export interface SequenceRegressorConfig {
  /** Past values the model reads. */
  window: number;
  /** Future values it predicts at once. */
  horizon: number;
  hiddenSize: number;
  numLayers: number;
  cell: CellKind;
  dropout: number;
  seed: number;
  /** Standardisation, set from the training series by the first fit. */
  mean: number;
  std: number;
}

export interface SequenceRegressorOptions extends Partial<SequenceRegressorConfig> {
  backend?: Backend | BackendName;
}

export interface RegressorFitOptions extends TaskFitOptions {
  /** Fraction of the windows, from the end of the series, held out for validation; default 0.1. */
  validationSplit?: number;
}

// mean and std default to NaN, "not set yet": the first fit sets them, and a file must hold them.
const SCHEMA: Schema<SequenceRegressorConfig> = {
  window: { kind: 'int', min: 1, max: MAX_INT32, default: 28, inFile: 'required' },
  horizon: { kind: 'int', min: 1, default: 1, inFile: 'required' },
  hiddenSize: { kind: 'int', min: 1, default: 64, inFile: 'required' },
  numLayers: { kind: 'int', min: 1, default: 1, inFile: 'required' },
  cell: { kind: 'enum', values: CELL_KINDS, default: 'lstm', inFile: 'required' },
  dropout: { kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0, inFile: 'optional' },
  seed: { kind: 'int', min: -Infinity, default: 0, inFile: 'optional' },
  mean: { kind: 'number', default: NaN, inFile: 'required' },
  std: { kind: 'number', min: 0, minExclusive: true, default: NaN, inFile: 'required' },
};

/** @internal */
export interface SequenceRegressorParts {
  rnn: RecurrentBase;
  head: Linear;
}

const TASK: TaskSpec<SequenceRegressorConfig, void, SequenceRegressorParts, 'sequence-regressor'> = {
  tag: 'sequence-regressor',
  what: 'sequence regressor',
  schema: SCHEMA,
  fileData: () => ({}),
  fromFile(config, file, what) {
    const { hiddenSize: H, numLayers: L, horizon: K } = config;
    checkFileConfig(what, { hiddenSize: H, numLayers: L, horizon: K }, () =>
      recurrentParameterCount(GATES[config.cell], 1, H, L, 1) + (H + 1) * K, file.tensors);
  },
};

function toSeries(values: ArrayLike<number>, what: string): Float32Array {
  const kind = values === null ? 'null' : typeof values;
  if (kind === 'string' || !values || typeof values.length !== 'number') {
    throw new RnnkitError('E_DTYPE', `${what}: expected an array of numbers, found ${kind === 'object' ? 'an object' : `a ${kind}`}`);
  }
  if (Array.isArray(values)) {
    const i = values.findIndex((v) => typeof v !== 'number');
    if (i >= 0) throw new RnnkitError('E_DTYPE', `${what}: element ${i} is ${JSON.stringify(values[i]) ?? typeof values[i]}; expected a number`);
  }
  const s = Float32Array.from(values);
  checkFinite(what, s);
  return s;
}

/** fit(series, opts) trains on a series (windows taken at every position); the first fit fixes the normalisation. */
export class SequenceRegressor extends TaskModel<SequenceRegressorConfig, SequenceRegressorParts, void, ArrayLike<number>, RegressorFitOptions> {
  /** @internal */
  static readonly spec = TASK;

  /** Options are checked against the task's configuration schema: a wrong kind or range, or an unknown key, is E_ARGUMENT. */
  constructor(opts: SequenceRegressorOptions = {}) {
    super(TASK, opts);
  }

  protected makeParts(): SequenceRegressorParts {
    const c = this.config;
    const rnn = makeRecurrent(c.cell, {
      inputSize: 1, hiddenSize: c.hiddenSize, numLayers: c.numLayers, dropout: c.dropout, backend: this.backend, seed: this.seedOf('rnn'),
    });
    return { rnn, head: new Linear({ inFeatures: c.hiddenSize, outFeatures: c.horizon, backend: this.backend, seed: this.seedOf('output') }) };
  }

  protected namedModules(p: SequenceRegressorParts): Record<string, Module> {
    return { rnn: p.rnn, head: p.head };
  }

  /** The windows [W, B, 1] for the recurrent layer (its buffer path). */
  private inputs: Scratch | null = null;

  protected override forget(): void {
    super.forget();
    this.inputs?.dispose();
    this.inputs = null;
  }

  /** Normalised windows starting at `starts` -> predictions [B, horizon] (normalised). */
  private forwardWindows(z: Float32Array, starts: ArrayLike<number>, training: boolean): Tensor {
    const { window: W } = this.config;
    const p = this.built();
    const B = starts.length;
    const x = new Float32Array(W * B);
    for (let b = 0; b < B; b++) for (let t = 0; t < W; t++) x[t * B + b] = z[starts[b]! + t]!;
    p.rnn.train(training);
    checkFinite('input', x);
    // The recurrent outputs stay in the backend's buffers: only the last states come out.
    this.inputs ??= new Scratch(this.backend);
    const r = p.rnn.forwardBuffer(this.inputs.from(x), W, B);
    return p.head.forward(lastHidden(p.rnn, r.hN));
  }

  private targets(z: Float32Array, starts: ArrayLike<number>): Float32Array {
    const { window: W, horizon: K } = this.config;
    const y = new Float32Array(starts.length * K);
    for (let b = 0; b < starts.length; b++) for (let k = 0; k < K; k++) y[b * K + k] = z[starts[b]! + W + k]!;
    return y;
  }

  private normalise(s: Float32Array): Float32Array {
    const { mean, std } = this.config;
    return s.map((v) => (v - mean) / std);
  }

  protected planFit(values: ArrayLike<number>, opts: RegressorFitOptions, shared: { validationSplit: number; batchSize: number }): FitPlan {
    const s = toSeries(values, 'series');
    const { window: W, horizon: K } = this.config;
    const n = s.length - W - K + 1;
    if (n < 2) throw new RnnkitError('E_ARGUMENT', `series: ${s.length} values is too short for window ${W} + horizon ${K}`);
    if (!this.parts) {
      let mean = 0;
      for (const v of s) mean += v;
      mean /= s.length;
      let v2 = 0;
      for (const v of s) v2 += (v - mean) ** 2;
      this.config.mean = mean;
      this.config.std = Math.sqrt(v2 / s.length) || 1;
      this.build();
    }
    return { data: Array.from(s), local: () => this.localFit(s, n, shared.validationSplit, shared.batchSize, opts.seed ?? this.config.seed) };
  }

  /** Splits the n windows of the series (the last ones validate) and gives the training steps; `seed` orders the batches. */
  private localFit(s: Float32Array, n: number, split: number, B: number, seed: number): LocalFit {
    const z = this.normalise(s);
    const nVal = Math.floor(n * split);
    const trainStarts = Int32Array.from({ length: n - nVal }, (_, i) => i);
    const valStarts = Int32Array.from({ length: nVal }, (_, i) => n - nVal + i);
    const rng = new Random(seed);
    const batches = shuffledBatches(trainStarts, B, rng, (starts) => {
      const pred = this.forwardWindows(z, starts, true);
      const loss = mseLoss(pred, this.targets(z, starts));
      const p = this.built();
      p.rnn.backwardBuffer(null, lastHiddenGrad(p.rnn, p.head.backward(loss.grad)));
      return { loss: loss.loss, count: starts.length };
    });
    const validate = () => {
      if (!nVal) return null;
      let sum = 0;
      for (let s0 = 0; s0 < nVal; s0 += 256) {
        const starts = valStarts.subarray(s0, s0 + 256);
        sum += mseLoss(this.forwardWindows(z, starts, false), this.targets(z, starts)).loss * starts.length;
      }
      return { loss: sum / nVal, count: nVal };
    };
    return { steps: { ...batches, validate } };
  }

  /** The next `horizon` values after a window of exactly `window` values. */
  predict(window: ArrayLike<number>): number[] {
    const s = toSeries(window, 'window');
    if (s.length !== this.config.window) throw new RnnkitError('E_SHAPE', `window: expected ${this.config.window} values, found ${s.length}`);
    return this.predictAt(s, [0])[0]!;
  }

  private predictAt(series: Float32Array, starts: ArrayLike<number>): number[][] {
    const { mean, std, horizon: K } = this.config;
    const out: number[][] = [];
    const z = this.normalise(series);
    for (let s0 = 0; s0 < starts.length; s0 += 256) {
      const chunk = Array.from(starts).slice(s0, s0 + 256);
      const pred = this.forwardWindows(z, chunk, false).data;
      for (let b = 0; b < chunk.length; b++) out.push(Array.from(pred.subarray(b * K, (b + 1) * K), (v) => v * std + mean));
    }
    return out;
  }

  /** Continues the series by `steps` values, feeding predictions back in. */
  forecast(history: ArrayLike<number>, steps: number): number[] {
    const s = Array.from(toSeries(history, 'history'));
    const W = this.config.window;
    if (s.length < W) throw new RnnkitError('E_SHAPE', `history: expected at least ${W} values, found ${s.length}`);
    const out: number[] = [];
    while (out.length < steps) {
      const next = this.predict(s.slice(s.length - W));
      for (const v of next) { if (out.length < steps) { out.push(v); s.push(v); } }
    }
    return out;
  }

  /** One-step-ahead errors of the first predicted value at every window of the series from `from` on. */
  evaluate(values: ArrayLike<number>, opts: { from?: number } = {}): { mae: number; rmse: number; count: number } {
    const s = toSeries(values, 'series');
    const W = this.config.window;
    const from = Math.max(W, opts.from ?? W);
    const starts = Array.from({ length: s.length - from }, (_, i) => from + i - W);
    if (!starts.length) throw new RnnkitError('E_ARGUMENT', 'series: no value to predict');
    const preds = this.predictAt(s, starts);
    let ae = 0, se = 0;
    starts.forEach((st, i) => { const e = preds[i]![0]! - s[st + W]!; ae += Math.abs(e); se += e * e; });
    return { mae: ae / starts.length, rmse: Math.sqrt(se / starts.length), count: starts.length };
  }

  static fromBytes(bytes: Uint8Array, opts: LoadOptions = {}): SequenceRegressor {
    return TaskModel.fromBytesOf(SequenceRegressor, bytes, opts);
  }

  /**
   * Loads a model file; its E_MODEL_FILE errors name the file. It runs on `opts.backend` (else RNNKIT_BACKEND or
   * the default), never on a backend the file names.
   */
  static load(path: string, opts: LoadOptions = {}): Promise<SequenceRegressor> {
    return TaskModel.loadOf(SequenceRegressor, path, opts);
  }
}
