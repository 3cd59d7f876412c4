// The scaffold every task model stands on: its configuration (checked against the task's schema), its parts
// (named sub-modules: embedding, rnn, decoder or head) giving the parameters and a state dict named like a
// PyTorch nn.Module with those attributes, one fit path (shared options, the worker, the training loop), the
// model file both ways, and disposal. A task supplies its spec (file tag, schema, file data), its parts, its
// data preparation and its training steps; src/models/tasks.ts lists the tasks.
import { resolveBackend, type BackendName } from '../backend/index.js';
import type { Backend } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { asModelFileError, decodeModel, encodeModel, inModelFile, loadModel, saveModel, type ModelFileContents, type TaskName } from '../io/model-file.js';
import type { Module, Parameter } from '../nn/module.js';
import type { Random } from '../nn/random.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import type { Tensor } from '../tensor.js';
import { runTraining, type TrainOptions, type TrainResult, type TrainTask } from '../train/trainer.js';
import { configFromFile, configFromOptions, type Schema } from './config-schema.js';
import { fitInWorker, portableOptions, useWorker } from './fit-in-worker.js';
import { permutation, prefixed, splitPrefixed } from './parts.js';

/** What every task's configuration holds. */
export interface TaskConfig {
  seed: number;
}

/** What every task's parts hold: the recurrent layers, left in eval mode after training and loading. */
export interface TaskParts {
  rnn: RecurrentBase;
}

/** The fit options every task takes. */
export interface TaskFitOptions extends TrainOptions {
  batchSize?: number;
  /** Fraction of the data held out for validation, in [0, 1) (default 0.1; 0 for none); the task says which. */
  validationSplit?: number;
}

export interface LoadOptions {
  backend?: Backend | BackendName;
}

/**
 * Each part's initialisation seed is the model's seed plus its offset. Fixed: the same seed must give the same
 * parameters, and so the same training run, in every version.
 */
export const SEED_OFFSETS = { embedding: 1, rnn: 2, output: 3 } as const;

/**
 * What a task is, apart from its class: C its configuration, F what building its parts takes (a vocabulary, or
 * nothing), P its parts, T its model files' tag.
 */
export interface TaskSpec<C extends TaskConfig, F, P extends TaskParts, T extends TaskName = TaskName> {
  /** The task a model file names in its metadata. */
  readonly tag: T;
  /** "language model", ...: names the model in errors ("language model file" for its files). */
  readonly what: string;
  readonly schema: Schema<C>;
  /** What a model file holds beside the configuration and the tensors (the vocabulary), as metadata entries. */
  fileData(parts: P): Record<string, unknown>;
  /**
   * Checks a file's task data against its configuration (already checked against the schema) and that the
   * configuration describes exactly the parameters the file holds (checkFileConfig); returns what build takes.
   */
  fromFile(config: C, file: ModelFileContents, what: string): F;
}

/** A task model's class, as the loaders and the registry of tasks use it. */
export interface TaskClass<M extends AnyTaskModel = AnyTaskModel> {
  new (opts: LoadOptions & object): M;
  readonly spec: TaskSpec<any, any, any>;
}

export type AnyTaskModel = TaskModel<any, any, any, any, any>;

/** A task's part of a TrainTask: its steps over its data; the model gives the parameters, snapshots and backend. */
export type TaskSteps = Pick<TrainTask, 'stepsPerEpoch' | 'startEpoch' | 'trainStep' | 'validate'>;

/** What fit on this thread runs, and what to free after it. */
export interface LocalFit {
  steps: TaskSteps;
  dispose?: () => void;
}

/** A task's data, prepared for fit (the model is built from it when it was not yet). */
export interface FitPlan {
  /** The data as the training worker receives it (structured-cloneable). */
  data: unknown;
  /** Options this thread settled that the worker must take as they are (the language model's batch shape). */
  settled?: Record<string, unknown>;
  /** The training steps on this thread; called only when fit does not run in a worker. */
  local: () => LocalFit;
}

/** Options every task's fit takes, checked: the same rule and message for each task. */
function sharedFitOptions(opts: TaskFitOptions): { validationSplit: number; batchSize: number } {
  if (opts === null || typeof opts !== 'object') throw new RnnkitError('E_ARGUMENT', `fit options: expected an object, found ${opts === null ? 'null' : typeof opts}`);
  const validationSplit = opts.validationSplit ?? 0.1;
  if (!(validationSplit >= 0 && validationSplit < 1)) throw new RnnkitError('E_ARGUMENT', `validationSplit: expected a number in [0, 1), found ${validationSplit}`);
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RnnkitError('E_ARGUMENT', `batchSize: expected a positive integer, found ${String(batchSize)}`);
  return { validationSplit, batchSize };
}

/**
 * C: the configuration, P: the parts, F: what building the parts takes, D: the training data, O: the fit
 * options.
 */
export abstract class TaskModel<C extends TaskConfig, P extends TaskParts, F, D, O extends TaskFitOptions> {
  readonly config: C;
  readonly backend: Backend;
  /** The parts, or null before fit() or load() and after dispose(). */
  protected parts: P | null = null;

  /** Options are checked against the task's configuration schema: a wrong kind or range, or an unknown key, is E_ARGUMENT. */
  protected constructor(private readonly spec: TaskSpec<C, F, P>, opts: (Partial<C> & LoadOptions) | undefined) {
    this.config = configFromOptions(spec.schema, opts);
    this.backend = resolveBackend(opts?.backend);
  }

  /** "language model", ...: names the model in errors. */
  protected get what(): string {
    return this.spec.what;
  }

  /** The task's parts from its configuration and F (the vocabulary, ...), seeded with seedOf(). */
  protected abstract makeParts(from: F): P;
  /** The named sub-modules of the parts. */
  protected abstract namedModules(parts: P): Record<string, Module>;
  /**
   * Reads and checks the training data (the first fit builds the model from it) and plans the training: the
   * data a worker gets, and the steps this thread runs.
   */
  protected abstract planFit(data: D, opts: O, shared: { validationSplit: number; batchSize: number }): FitPlan;

  /** A part's initialisation seed (see SEED_OFFSETS). */
  protected seedOf(part: keyof typeof SEED_OFFSETS): number {
    return this.config.seed + SEED_OFFSETS[part];
  }

  protected build(from: F): P {
    this.parts = this.makeParts(from);
    return this.parts;
  }

  protected built(): P {
    if (!this.parts) throw new RnnkitError('E_STATE', `${this.what}: fit() or load() it first`);
    return this.parts;
  }

  protected modules(): Record<string, Module> {
    return this.namedModules(this.built());
  }

  /**
   * Trains on `data` (what each task takes, see its class). Returns a Promise: training runs in a worker thread
   * by default (`opts.worker`), else on this thread, yielding to the event loop between steps; progress through
   * opts.onProgress, cancel with opts.signal. The model ends with the parameters training ended with (on an
   * error, the last good ones).
   */
  async fit(data: D, opts: O = {} as O): Promise<TrainResult> {
    const plan = this.planFit(data, opts, sharedFitOptions(opts));
    if (useWorker(opts)) {
      const req = { task: this.spec.tag, backend: this.backend.name, model: this.toBytes(), data: plan.data, opts: { ...portableOptions(opts), ...plan.settled } };
      return fitInWorker(req, opts, (s) => this.loadStateDict(s));
    }
    const { rnn } = this.built();
    const { steps, dispose } = plan.local();
    const task: TrainTask = {
      backend: this.backend,
      parameters: () => this.parameters(),
      stepsPerEpoch: () => steps.stepsPerEpoch(),
      startEpoch: (epoch) => steps.startEpoch(epoch),
      trainStep: (i) => steps.trainStep(i),
      validate: () => steps.validate(),
      snapshot: () => this.stateDict(),
      restore: (state) => this.loadStateDict(state),
    };
    try {
      return await runTraining(task, { seed: this.config.seed, ...opts });
    } finally {
      dispose?.();
      rnn.eval();
    }
  }

  parameters(): Parameter[] {
    return Object.values(this.modules()).flatMap((m) => [...m.parameters()]);
  }

  stateDict(): Record<string, Tensor> {
    return prefixed(this.modules());
  }

  /** Validates the whole dict first, so a bad one changes nothing. */
  loadStateDict(dict: Record<string, Tensor>): void {
    splitPrefixed(this.modules(), dict);
  }

  /** Task, metadata and tensors of the model file. */
  protected contents(): ModelFileContents {
    const p = this.built();
    return { task: this.spec.tag, meta: { config: this.config, ...this.spec.fileData(p) }, tensors: this.stateDict() };
  }

  toBytes(): Uint8Array {
    return encodeModel(this.contents());
  }

  /** Writes the model file atomically (temporary file, fsync, rename). */
  async save(path: string): Promise<void> {
    await saveModel(path, this.contents());
  }

  /** Drops the parts after dispose(). */
  protected forget(): void {
    this.parts = null;
  }

  /** Returns every backend buffer; the model must be fitted or loaded again before use. */
  dispose(): void {
    if (!this.parts) return;
    for (const x of Object.values(this.namedModules(this.parts))) x.dispose();
    this.forget();
  }

  /** The model in a file's bytes (see load). */
  protected static fromBytesOf<M extends AnyTaskModel>(kind: TaskClass<M>, bytes: Uint8Array, opts: LoadOptions): M {
    return TaskModel.fromContents(kind, decodeModel(bytes, kind.spec.tag), opts);
  }

  /**
   * The model in a file; its E_MODEL_FILE errors name the file. It runs on `opts.backend` (else RNNKIT_BACKEND or
   * the default), never on a backend the file names.
   */
  protected static async loadOf<M extends AnyTaskModel>(kind: TaskClass<M>, path: string, opts: LoadOptions): Promise<M> {
    const m = await loadModel(path, kind.spec.tag);
    return inModelFile(path, () => TaskModel.fromContents(kind, m, opts));
  }

  /** Every check of the file before anything is built; then the model, built on the caller's backend, in eval mode. */
  private static fromContents<M extends AnyTaskModel>(kind: TaskClass<M>, file: ModelFileContents, opts: LoadOptions): M {
    const spec = kind.spec;
    const what = `${spec.what} file`;
    const { config, from } = asModelFileError(what, () => {
      const config = configFromFile(spec.schema, what, file.meta.config);
      return { config, from: spec.fromFile(config, file, what) as unknown };
    });
    const backend = loadOptionsBackend(opts);
    return asModelFileError(what, () => {
      const model = new kind({ ...config, backend });
      model.build(from);
      model.loadStateDict(file.tensors);
      model.built().rnn.eval();
      return model;
    });
  }
}

/**
 * Steps over minibatches of `items` (indices into a task's examples or windows), B at a time, reshuffled by
 * `rng` before each epoch; `step` trains on one batch of indices. Pulled from `rng` in the order the classifier
 * and regressor always have, so a seed keeps its batch order.
 */
export function shuffledBatches(items: Int32Array, B: number, rng: Random, step: (batch: Int32Array) => { loss: number; count: number }): Omit<TaskSteps, 'validate'> {
  return {
    stepsPerEpoch: () => Math.ceil(items.length / B),
    startEpoch: () => { items.set(permutation(items.length, () => rng.next()).map((i) => items[i]!)); },
    trainStep: (i) => step(items.subarray(i * B, (i + 1) * B)),
  };
}

/**
 * Parameters of stacked recurrent layers: G gates, input I, hidden H, L layers, D directions. Layer 0 reads I
 * inputs, each later layer the D*H outputs below it; every layer has D directions of G*H rows over its inputs,
 * H recurrent inputs and two biases. A closed form, O(1) in L, so a hostile numLayers cannot make it loop.
 */
export function recurrentParameterCount(G: number, I: number, H: number, L: number, D: number): number {
  return D * G * H * ((I + H + 2) + (L - 1) * (D * H + H + 2));
}

/**
 * A model file's configuration must describe exactly the parameters the file holds, checked before anything is
 * built: a hostile or corrupt configuration (say hiddenSize 1e9, numLayers 2^53 - 1) is then an E_MODEL_FILE
 * error in O(1), never a huge allocation or a long loop. `sizes` (already positive integers, see the task's
 * schema) are those the parameter count grows with, each a factor of some tensor, so none can exceed the
 * parameters held; with that bound the count is exact whenever it could equal what the file holds.
 */
export function checkFileConfig(what: string, sizes: Record<string, number>, expected: () => number, tensors: Record<string, Tensor>): void {
  const held = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  for (const [k, v] of Object.entries(sizes)) {
    if (v > held) throw new RnnkitError('E_MODEL_FILE', `${what}: config ${k} is ${v}, more than the ${held} parameters the file holds`);
  }
  const want = expected();
  if (want !== held) {
    throw new RnnkitError('E_MODEL_FILE', `${what}: the configuration describes ${want} parameters, the file holds ${held}`);
  }
}

/** The backend a load asks for. Resolved outside the file's checks: a backend that cannot load is E_BACKEND, a bad option E_ARGUMENT, neither the file's fault. */
export function loadOptionsBackend(opts: unknown): Backend {
  if (opts === undefined) return resolveBackend(undefined);
  if (opts === null || typeof opts !== 'object') throw new RnnkitError('E_ARGUMENT', `load options: expected an object, found ${opts === null ? 'null' : typeof opts}`);
  return resolveBackend((opts as { backend?: Backend | BackendName }).backend);
}
