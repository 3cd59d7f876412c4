// SequenceRegressor (forecaster): a window of past values of a numeric series -> the next `horizon` values.
// Values are standardised with the training series' mean and standard deviation, which the model stores.
import { resolveBackend, type BackendName } from '../backend/index.js';
import type { Backend, CellKind } from '../backend/types.js';
import { GATES } from '../backend/types.js';
import { checkFinite, RnnkitError } from '../errors.js';
import { asModelFileError, decodeModel, inModelFile, loadModel, type ModelFileContents } from '../io/model-file.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { Random } from '../nn/random.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import { tensor, type Tensor } from '../tensor.js';
import { mseLoss } from '../train/losses.js';
import { runTraining, type TrainOptions, type TrainResult } from '../train/trainer.js';
import { fitInWorker, portableOptions, useWorker } from './fit-in-worker.js';
import { configFromFile, configFromOptions, MAX_INT32, type Schema } from './config-schema.js';
import { CELL_KINDS, lastHidden, lastHiddenGrad, makeRecurrent, permutation } from './parts.js';
import { checkFileConfig, loadOptionsBackend, recurrentParameterCount, TaskModel } from './task-model.js';

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

export interface RegressorFitOptions extends TrainOptions {
  batchSize?: number;
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

export class SequenceRegressor extends TaskModel {
  protected readonly what = 'sequence regressor';
  readonly config: SequenceRegressorConfig;
  readonly backend: Backend;
  private parts: { rnn: RecurrentBase; head: Linear } | null = null;

  /** Options are checked against the task's configuration schema: a wrong kind or range, or an unknown key, is E_ARGUMENT. */
  constructor(opts: SequenceRegressorOptions = {}) {
    super();
    this.config = configFromOptions(SCHEMA, opts);
    this.backend = resolveBackend(opts.backend);
  }

  private built() {
    if (!this.parts) throw new RnnkitError('E_STATE', 'sequence regressor: fit() or load() it first');
    return this.parts;
  }

  private build() {
    const c = this.config;
    const rnn = makeRecurrent(c.cell, {
      inputSize: 1, hiddenSize: c.hiddenSize, numLayers: c.numLayers, dropout: c.dropout, backend: this.backend, seed: c.seed + 2,
    });
    this.parts = { rnn, head: new Linear({ inFeatures: c.hiddenSize, outFeatures: c.horizon, backend: this.backend, seed: c.seed + 3 }) };
    return this.parts;
  }

  protected namedModules(): Record<string, Module> | null {
    const p = this.parts;
    return p && { rnn: p.rnn, head: p.head };
  }

  protected forget(): void {
    this.parts = null;
  }

  /** Normalised windows starting at `starts` -> predictions [B, horizon] (normalised). */
  private forwardWindows(z: Float32Array, starts: ArrayLike<number>, training: boolean): Tensor {
    const { window: W } = this.config;
    const p = this.built();
    const B = starts.length;
    const x = new Float32Array(W * B);
    for (let b = 0; b < B; b++) for (let t = 0; t < W; t++) x[t * B + b] = z[starts[b]! + t]!;
    p.rnn.train(training);
    const r = p.rnn.forward(tensor(x, [W, B, 1]));
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

  /** Trains on a series (windows taken at every position). The first fit fixes the normalisation. */
  async fit(values: ArrayLike<number>, opts: RegressorFitOptions = {}): Promise<TrainResult> {
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
    if (useWorker(opts)) {
      const req = { task: 'sequence-regressor' as const, backend: this.backend.name, model: this.toBytes(), data: Array.from(s), opts: portableOptions(opts) };
      return fitInWorker(req, opts, (st) => this.loadStateDict(st));
    }
    const z = this.normalise(s);
    const split = opts.validationSplit ?? 0.1;
    const nVal = Math.floor(n * split);
    const trainStarts = Int32Array.from({ length: n - nVal }, (_, i) => i);
    const valStarts = Int32Array.from({ length: nVal }, (_, i) => n - nVal + i);
    const B = opts.batchSize ?? 32;
    const rng = new Random(opts.seed ?? this.config.seed);
    const self = this;
    const task = {
      backend: this.backend,
      parameters: () => this.parameters(),
      stepsPerEpoch: () => Math.ceil(trainStarts.length / B),
      startEpoch: () => { trainStarts.set(permutation(trainStarts.length, () => rng.next()).map((i) => trainStarts[i]!)); },
      trainStep(i: number) {
        const starts = trainStarts.subarray(i * B, (i + 1) * B);
        const pred = self.forwardWindows(z, starts, true);
        const loss = mseLoss(pred, self.targets(z, starts));
        const p = self.built();
        p.rnn.backward({ dhN: lastHiddenGrad(p.rnn, p.head.backward(loss.grad)) });
        return { loss: loss.loss, count: starts.length };
      },
      validate: () => {
        if (!nVal) return null;
        let sum = 0;
        for (let s0 = 0; s0 < nVal; s0 += 256) {
          const starts = valStarts.subarray(s0, s0 + 256);
          sum += mseLoss(this.forwardWindows(z, starts, false), this.targets(z, starts)).loss * starts.length;
        }
        return { loss: sum / nVal, count: nVal };
      },
      snapshot: () => this.stateDict(),
      restore: (st: Record<string, Tensor>) => this.loadStateDict(st),
    };
    try {
      return await runTraining(task, { seed: this.config.seed, ...opts });
    } finally {
      this.built().rnn.eval();
    }
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

  protected contents(): ModelFileContents {
    this.built();
    return { task: 'sequence-regressor', meta: { config: this.config }, tensors: this.stateDict() };
  }

  static fromBytes(bytes: Uint8Array, opts: { backend?: Backend | BackendName } = {}): SequenceRegressor {
    return SequenceRegressor.fromContents(decodeModel(bytes, 'sequence-regressor'), opts);
  }

  /**
   * Loads a model file; its E_MODEL_FILE errors name the file. It runs on `opts.backend` (else RNNKIT_BACKEND or
   * the default), never on a backend the file names.
   */
  static async load(path: string, opts: { backend?: Backend | BackendName } = {}): Promise<SequenceRegressor> {
    const m = await loadModel(path, 'sequence-regressor');
    return inModelFile(path, () => SequenceRegressor.fromContents(m, opts));
  }

  private static fromContents(m: ModelFileContents, opts: { backend?: Backend | BackendName }): SequenceRegressor {
    const what = 'sequence regressor file';
    const config = asModelFileError(what, () => {
      const config = configFromFile(SCHEMA, what, m.meta.config);
      const { hiddenSize: H, numLayers: L, horizon: K } = config;
      checkFileConfig(what, { hiddenSize: H, numLayers: L, horizon: K }, () =>
        recurrentParameterCount(GATES[config.cell], 1, H, L, 1) + (H + 1) * K, m.tensors);
      return config;
    });
    const backend = loadOptionsBackend(opts);
    return asModelFileError(what, () => {
      const model = new SequenceRegressor({ ...config, backend });
      model.build();
      model.loadStateDict(m.tensors);
      model.built().rnn.eval();
      return model;
    });
  }
}
