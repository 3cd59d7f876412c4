// The training loop every task shares: steps, optimizer, clipping, schedule, validation, early stopping,
// progress, cancellation, and divergence handling. A task supplies the model-specific step.
import type { Backend, Buf } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import type { Parameter } from '../nn/module.js';
import { OwnedBuffers } from '../nn/owned-buffers.js';
import type { Tensor } from '../tensor.js';
import { clipGradNorm, makeOptimizer, schedules, type OptimizerName, type Schedule } from './optim.js';

export interface Progress {
  /** The epoch this report falls in, counted from 1 (the CLI shows the same number). */
  epoch: number;
  step: number;
  totalSteps: number;
  /** Mean training loss over the steps since the previous report (repeated when a report has no new step). */
  loss: number;
  /** The latest validation loss, when there is a validation set. */
  valLoss?: number;
  /** Tokens (or examples) per second over the steps after the first (start-up and the first step's warm-up excluded). */
  itemsPerSecond: number;
  /** Seconds left at the rate of the steps after the first. */
  etaSeconds: number;
  lr: number;
  /** The global L2 norm of the latest step's gradients, before clipping (see TrainResult.gradNorms). */
  gradNorm: number;
}

export interface TrainOptions {
  /** Passes over the data (default 1, or unlimited when maxSteps is given). */
  epochs?: number;
  /** Stop after this many steps (overrides epochs when smaller). */
  maxSteps?: number;
  optimizer?: OptimizerName;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  /** Clip gradients to this global L2 norm; 0 turns clipping off. Default 5. */
  clip?: number;
  schedule?: 'constant' | 'cosine' | Schedule;
  /** Validate every this many steps (default: once per epoch). */
  evalEvery?: number;
  /** Stop when validation loss has not improved for this many validations (0: never). */
  patience?: number;
  /** Seed for batch order and dropout. */
  seed?: number;
  onProgress?: (p: Progress) => void;
  /** Minimum milliseconds between progress reports (default 200). Validations always report. */
  progressIntervalMs?: number;
  /** Called with a snapshot of the parameters after each validation that improved (and at the end). */
  onCheckpoint?: (state: Record<string, Tensor>, info: { step: number; valLoss?: number }) => void | Promise<void>;
  signal?: AbortSignal;
  /**
   * A training loss above `factor` times the first step's loss (taken as at least 0.01), `steps` steps in a row,
   * ends the run with E_DIVERGED and the last good parameters (default { factor: 10, steps: 3 }; false: only a
   * NaN or infinite loss does).
   */
  divergence?: false | { factor?: number; steps?: number };
  /**
   * Weight averaging (Polyak averaging): an exponential moving average of the parameters over the optimizer
   * steps, a_t = decay a_(t-1) + (1 - decay) θ_t, read debiased as â_t = a_t / (1 - decay^t) (the mean of the
   * parameters after steps 1..t, step i weighted by decay^(t-i)). Validation loss is measured on â, the best
   * validation's checkpoint (onCheckpoint, and what the model ends with) is â, and without validation the model
   * ends with â; the steps themselves update θ exactly as without averaging. `decay` in [0, 1): 0.999 averages
   * over roughly the last 1,000 steps; 0 is plain training. Costs two more copies of the parameters in memory
   * and one pass over them per step. A fit on the caller's thread that fails in a callback (onProgress,
   * onCheckpoint) during a validation leaves θ in the model, as a fit without averaging does (in the training
   * worker the model keeps its parameters from before the fit: models/fit-in-worker.ts).
   */
  averaging?: { decay: number };
  /**
   * Models only: train in a worker thread so the event loop stays free (default: yes when the built worker
   * script exists and no option is a function). false trains on this thread, yielding between steps.
   */
  worker?: boolean;
}

export interface TrainResult {
  steps: number;
  epochs: number;
  /** (step, mean training loss) at every progress report. */
  history: { step: number; loss: number }[];
  /** (step, validation loss) at every validation. */
  valHistory: { step: number; loss: number }[];
  /**
   * The global L2 norm of every step's gradients (all parameters), before clipping (what clipGradNorm returns)
   * and after it (equal when the step was not clipped or clipping is off): exploding gradients show here.
   */
  gradNorms: { step: number; norm: number; clippedNorm: number }[];
  bestValLoss?: number;
  stoppedEarly: boolean;
  seconds: number;
}

export interface TrainTask {
  readonly backend: Backend;
  parameters(): readonly Parameter[];
  stepsPerEpoch(): number;
  /** Called before each epoch (shuffle, reset carried state). */
  startEpoch(epoch: number): void;
  /** Forward and backward for step `i` of the epoch; accumulates gradients. Mean loss and items counted. */
  trainStep(i: number): { loss: number; count: number };
  /** Mean loss over the validation set, or null when there is none. */
  validate(): { loss: number; count: number } | null;
  snapshot(): Record<string, Tensor>;
  restore(state: Record<string, Tensor>): void;
}

/** The divergence rule of TrainOptions.divergence, checked; null when turned off. */
function divergenceRule(d: TrainOptions['divergence']): { factor: number; steps: number } | null {
  if (d === false) return null;
  const factor = d?.factor ?? 10, steps = d?.steps ?? 3;
  if (!(typeof factor === 'number' && factor > 1 && Number.isFinite(factor))) {
    throw new RnnkitError('E_ARGUMENT', `divergence.factor: expected a finite number above 1, found ${String(factor)}`);
  }
  if (!(Number.isSafeInteger(steps) && steps >= 1)) {
    throw new RnnkitError('E_ARGUMENT', `divergence.steps: expected a positive integer, found ${String(steps)}`);
  }
  return { factor, steps };
}

/** TrainOptions.averaging's decay, checked; null when there is no averaging (absent, or decay 0). */
function averagingDecay(a: TrainOptions['averaging']): number | null {
  if (a === undefined) return null;
  if (a === null || typeof a !== 'object') {
    throw new RnnkitError('E_ARGUMENT', `averaging: expected an object { decay } or nothing, found ${a === null ? 'null' : typeof a}`);
  }
  const extra = Object.keys(a).filter((k) => k !== 'decay');
  if (extra.length) throw new RnnkitError('E_ARGUMENT', `averaging: unknown option ${extra.join(', ')} (expected only decay)`);
  const { decay } = a;
  if (!(typeof decay === 'number' && decay >= 0 && decay < 1)) {
    throw new RnnkitError('E_ARGUMENT', `averaging.decay: expected a number in [0, 1), found ${String(decay)}`);
  }
  return decay === 0 ? null : decay;
}

/**
 * The moving average of TrainOptions.averaging, on the parameters' backend: `avg` holds a_t (zero before the
 * first step), `held` the training parameters θ while the model holds â. The update is the backend's sgdStep
 * with momentum 0 run on the average: a -= lr (g + weightDecay a) with g = θ, weightDecay = -1 and
 * lr = -(1 - decay) is a += (1 - decay)(θ - a), one fused pass on every backend without a kernel of its own.
 */
class Averager {
  private readonly bufs: OwnedBuffers;
  private readonly avg: Buf[];
  private readonly held: Buf[];
  private t = 0;
  constructor(private readonly params: readonly Parameter[], private readonly backend: Backend, private readonly decay: number) {
    this.bufs = new OwnedBuffers(backend, this);
    this.avg = params.map((p) => this.bufs.alloc(p.value.length));
    this.held = params.map((p) => this.bufs.alloc(p.value.length));
  }
  /** After an optimizer step: a = decay a + (1 - decay) θ. */
  update(): void {
    this.t++;
    this.params.forEach((p, i) => {
      const a = this.avg[i]!;
      // momentum 0: the buffer argument is never read or written, so `a` stands in for it.
      this.backend.sgdStep(p.value.length, a, p.value, a, -(1 - this.decay), 0, -1, false, false);
    });
  }
  /** The model's parameters become â; with `hold`, θ is kept for putBack(). */
  load(hold: boolean): void {
    const s = 1 / (1 - this.decay ** this.t);
    this.params.forEach((p, i) => {
      const n = p.value.length;
      if (hold) this.backend.copy(1, n, p.value, 0, n, this.held[i]!, 0, n);
      this.backend.copy(1, n, this.avg[i]!, 0, n, p.value, 0, n);
      this.backend.scale(n, p.value, s);
    });
  }
  /** The training parameters θ kept by load(true) go back into the model. */
  putBack(): void {
    this.params.forEach((p, i) => this.backend.copy(1, p.value.length, this.held[i]!, 0, p.value.length, p.value, 0, p.value.length));
  }
  [Symbol.dispose](): void { this.bufs.dispose(); }
}

/** √Σ‖grad‖² over the parameters, on the backend. */
function globalNorm(params: readonly Parameter[], backend: Backend): number {
  let ss = 0;
  for (const p of params) ss += backend.sumSquares(p.grad.length, p.grad);
  return Math.sqrt(ss);
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function runTraining(task: TrainTask, opts: TrainOptions = {}): Promise<TrainResult> {
  const perEpoch = task.stepsPerEpoch();
  if (perEpoch < 1) throw new RnnkitError('E_ARGUMENT', 'training data: too small for one batch');
  const epochs = opts.epochs ?? (opts.maxSteps !== undefined ? Infinity : 1);
  const total = Math.min(opts.maxSteps ?? Infinity, epochs * perEpoch);
  if (!(total >= 1)) throw new RnnkitError('E_ARGUMENT', `epochs/maxSteps: expected at least one step, found ${total}`);
  const params = task.parameters();
  const decay = averagingDecay(opts.averaging);
  // `using`: the optimizer's state (Adam's m and v: twice the parameters) goes back however the run ends.
  using opt = makeOptimizer(opts.optimizer ?? 'adam', params, task.backend, {
    lr: opts.lr ?? 2e-3, ...(opts.momentum !== undefined ? { momentum: opts.momentum } : {}),
    ...(opts.weightDecay !== undefined ? { weightDecay: opts.weightDecay } : {}),
  });
  const baseLr = opt.lr;
  const sched: Schedule = typeof opts.schedule === 'function' ? opts.schedule
    : opts.schedule === 'cosine' ? schedules.cosine(Math.min(100, Math.floor(total / 20))) : schedules.constant();
  const clip = opts.clip ?? 5;
  const evalEvery = opts.evalEvery ?? perEpoch;
  const interval = opts.progressIntervalMs ?? 200;

  const diverge = divergenceRule(opts.divergence);
  using averager = decay === null ? null : new Averager(params, task.backend, decay);
  const result: TrainResult = { steps: 0, epochs: 0, history: [], valHistory: [], gradNorms: [], stoppedEarly: false, seconds: 0 };
  let lastGood = task.snapshot();
  let lastGoodStep = 0;
  let best = Infinity, sinceBest = 0;
  const t0 = performance.now();
  let lastReport = t0, windowLoss = 0, windowCount = 0, lastLoss = NaN, valLoss: number | undefined, gradNorm = NaN;
  // Rates come from the steps after the first: the first pays for start-up (WASM tiers, buffer growth, a
  // worker's first allocations) and made the first ETA 2-3x too long.
  let firstStepEnd = NaN, items1 = 0, steadyItems = 0, firstLoss = NaN, aboveFor = 0;

  const report = (epoch: number, force: boolean) => {
    const now = performance.now();
    if (!force && now - lastReport < interval) return;
    if (windowCount) {
      lastLoss = windowLoss / windowCount;
      result.history.push({ step: result.steps, loss: lastLoss });
    }
    const loss = lastLoss;
    windowLoss = 0; windowCount = 0; lastReport = now;
    const steady = result.steps > 1 ? { secs: (now - firstStepEnd) / 1000, steps: result.steps - 1, items: steadyItems }
      : { secs: (now - t0) / 1000, steps: result.steps, items: items1 };
    const secs = Math.max(steady.secs, 1e-9);
    opts.onProgress?.({
      epoch: epoch + 1, step: result.steps, totalSteps: total, loss, ...(valLoss !== undefined ? { valLoss } : {}),
      itemsPerSecond: steady.items / secs,
      etaSeconds: (secs / Math.max(steady.steps, 1)) * (total - result.steps), lr: opt.lr, gradNorm,
    });
  };

  const validate = async (epoch: number): Promise<boolean> => {
    // With averaging the validation, the checkpoint and onCheckpoint see â; θ goes back before the next step, and
    // also when a callback (onProgress, onCheckpoint) throws: a fit that fails there leaves the model at θ, the
    // parameters training had reached, as a fit without averaging does.
    averager?.load(true);
    let restored = false; // the parameters were set to the last good checkpoint (â no longer loaded)
    try {
      const v = task.validate();
      if (!v) return false;
      if (!Number.isFinite(v.loss)) {
        task.restore(lastGood);
        restored = true;
        throw new RnnkitError('E_DIVERGED', `validation loss is ${v.loss} at step ${result.steps}; parameters restored to the last good checkpoint`);
      }
      valLoss = v.loss;
      result.valHistory.push({ step: result.steps, loss: v.loss });
      report(epoch, true);
      if (v.loss < best - 1e-9) {
        best = v.loss; sinceBest = 0;
        lastGood = task.snapshot();
        lastGoodStep = result.steps;
        await opts.onCheckpoint?.(lastGood, { step: result.steps, valLoss: v.loss });
      } else {
        sinceBest++;
      }
      return (opts.patience ?? 0) > 0 && sinceBest >= opts.patience!;
    } finally {
      if (!restored) averager?.putBack();
    }
  };

  outer: for (let epoch = 0; result.steps < total; epoch++) {
    task.startEpoch(epoch);
    result.epochs = epoch + 1;
    for (let i = 0; i < perEpoch && result.steps < total; i++) {
      if (opts.signal?.aborted) {
        throw new RnnkitError('E_ABORTED', `training cancelled at step ${result.steps}`, { cause: opts.signal.reason });
      }
      opt.lr = baseLr * sched(result.steps, total);
      let step: { loss: number; count: number };
      try {
        step = task.trainStep(i);
      } catch (e) {
        // NaN or Infinity reaching a layer mid-step means the parameters have diverged.
        if (!(e instanceof RnnkitError && e.code === 'E_NONFINITE')) throw e;
        task.restore(lastGood);
        throw new RnnkitError('E_DIVERGED', `training diverged at step ${result.steps + 1} (${e.message}); parameters restored to the last good checkpoint`, { cause: e });
      }
      const { loss, count } = step;
      if (!Number.isFinite(loss)) {
        task.restore(lastGood);
        throw new RnnkitError('E_DIVERGED', `training loss is ${loss} at step ${result.steps + 1}; parameters restored to the last good checkpoint`);
      }
      // A first loss near 0 (a model already fitted) would make any noise look like divergence: floor it.
      if (result.steps === 0) firstLoss = Math.max(loss, 1e-2);
      aboveFor = diverge && loss > diverge.factor * firstLoss ? aboveFor + 1 : 0;
      if (diverge && aboveFor >= diverge.steps) {
        task.restore(lastGood);
        throw new RnnkitError('E_DIVERGED',
          `training diverged at step ${result.steps + 1}: the loss (${loss.toPrecision(4)}) has been above ${diverge.factor} x the first ` +
          `step's (${firstLoss.toPrecision(4)}) for ${aboveFor} steps; parameters restored to the last good checkpoint ` +
          `(step ${lastGoodStep}); try a lower lr (it was ${opt.lr})`);
      }
      gradNorm = clip > 0 ? clipGradNorm(params, task.backend, clip) : globalNorm(params, task.backend);
      // After clipping the norm is measured again, not assumed: clipGradNorm scales by clip / (norm + 1e-6).
      const clippedNorm = clip > 0 && gradNorm > clip ? globalNorm(params, task.backend) : gradNorm;
      result.gradNorms.push({ step: result.steps + 1, norm: gradNorm, clippedNorm });
      opt.step();
      opt.zeroGrad();
      averager?.update();
      result.steps++;
      if (result.steps === 1) { firstStepEnd = performance.now(); items1 = count; } else steadyItems += count;
      windowLoss += loss; windowCount++;
      report(epoch, result.steps === total);
      if (result.steps % evalEvery === 0 || result.steps === total) {
        if (await validate(epoch)) { result.stoppedEarly = true; break outer; }
      }
      await yieldToEventLoop();
    }
  }
  // The model ends with â, or (below) with the best validation's â when a later validation was worse.
  averager?.load(false);
  if (result.valHistory.length === 0) {
    lastGood = task.snapshot();
    await opts.onCheckpoint?.(lastGood, { step: result.steps });
  } else if (result.stoppedEarly || (result.valHistory.at(-1)!.loss > best)) {
    task.restore(lastGood); // keep the best validated parameters
  }
  if (best < Infinity) result.bestValLoss = best;
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
