// Stacked, optionally bidirectional recurrent layers (RNN, LSTM, GRU) with PyTorch's options, parameter names
// and layouts. Each layer/direction is one backend kernel call over the whole sequence batch; this file only
// arranges buffers, states and layouts around those calls, and moves data between buffers through the backend
// (copies, transposes, the direction interleave, dropout): it reads a buffer only to return a result.
import { resolveBackend, type BackendName } from '../backend/index.js';
import { checkCellSizes, checkParameterSizes } from '../backend/limits.js';
import type { Backend, Buf, CellKind } from '../backend/types.js';
import { CELL_KINDS, CELL_TABLE, GATES, workspaceFloats } from '../backend/types.js';
import { checkFinite, RnnkitError, shapeError } from '../errors.js';
import { expectShape, shapeStr, tensor, type Tensor } from '../tensor.js';
import { newParameter, ParameterModule, type Parameter } from './module.js';
import { OwnedBuffers } from './owned-buffers.js';
import { Random } from './random.js';

export interface RecurrentOptions {
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  /** Input and output are [B, T, *] instead of [T, B, *]. States stay [L*D, B, H], as in PyTorch. */
  batchFirst?: boolean;
  /** Dropout probability on the outputs of every layer but the last, while training. */
  dropout?: number;
  /** Seed for the initial weights (uniform in ±1/sqrt(hiddenSize)) and dropout masks. */
  seed?: number;
  /** A backend, or its name; default: the active one (see backendReport()). */
  backend?: Backend | BackendName;
}

export interface ForwardState {
  h0?: Tensor;
  c0?: Tensor;
}

export interface ForwardResult {
  /** [T, B, D*H], or [B, T, D*H] with batchFirst. */
  output: Tensor;
  /** [L*D, B, H] */
  hN: Tensor;
  /** [L*D, B, H], LSTM only */
  cN?: Tensor;
}

export interface BackwardGrads {
  dOutput?: Tensor;
  dhN?: Tensor;
  dcN?: Tensor;
}

export interface BackwardResult {
  dInput: Tensor;
  dh0: Tensor;
  dc0?: Tensor;
}

/** Buffers of one layer and direction for a given (T, B): what forward wrote and backward reads. */
interface DirRun {
  h0: Buf;
  c0: Buf | null;
  y: Buf;
  hT: Buf;
  cT: Buf | null;
  ws: Buf | null;
}

interface LayerRun {
  /** [T, B, inSize]: the layer's input after dropout; above layer 0 without dropout, the layer below's output. */
  input: Buf;
  /** The seed of the dropout mask applied to the input (Backend.dropout; backward applies it again), or null. */
  dropoutSeed: number | null;
  dirs: DirRun[];
  output: Buf; // [T, B, D*H] (the single direction's y when D = 1)
}

/** runBackward's buffers, kept with the run (allocated at its capacity on the first backward). */
interface BackRun {
  dys: Buf[] | null; // each direction's share of the upstream gradient (two directions)
  dhT: Buf;
  dcT: Buf | null;
  dh0: Buf;
  dc0: Buf | null;
  dh0All: Buf;
  dc0All: Buf | null;
  dx: Buf[]; // per layer: its input's gradient (the kernels add into it: zeroed before each use)
}

interface Run {
  T: number;
  /** The longest T its buffers hold: a later call of the same B and mode with T up to this reuses them. */
  cap: number;
  B: number;
  training: boolean;
  layers: LayerRun[];
  hN: Buf; // [L*D, B, H]: every direction's final state, gathered for one read
  cN: Buf | null; // [L*D, B, H], LSTM only
  /** batchFirst only: [B, T, max(I, D*H)], a caller's batch-first data before or after its transpose. */
  staging: Buf | null;
  /** backwardBuffer's result [T, B, inputSize], allocated on its first call. */
  dIn: Buf | null;
  back: BackRun | null;
  /** The top layer's output gradient as backward() hands it to runBackward (given, or zeros), on first need. */
  dTop: Buf | null;
}

const SUFFIX = ['', '_reverse'];
/** Outputs' floats (cap x B x H x directions x layers) above which a much shorter call gives up a kept room. */
const SHRINK_FLOATS = 2 ** 20;
const CLASS_NAMES: Record<CellKind, string> = { rnn_tanh: 'RNN', rnn_relu: 'RNN', lstm: 'LSTM', gru: 'GRU' };

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RnnkitError('E_ARGUMENT', `${what}: expected a positive integer, found ${String(v)}`);
  }
  return v;
}

/** What RNN, LSTM and GRU share: forward, backward, train()/eval() and PyTorch's parameter names. */
export abstract class RecurrentBase extends ParameterModule {
  readonly kind: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  /** PyTorch's module.training: keeps what backward needs and applies dropout. `eval()` turns it off. */
  training = true;
  private readonly byName = new Map<string, Parameter>();
  private readonly rng: Random;
  private run: Run | null = null;
  private runValid = false;
  /** The buffers of `run`. */
  private readonly runBuffers = new OwnedBuffers(this.backend, this);

  protected constructor(kind: CellKind, opts: RecurrentOptions) {
    if (opts === null || typeof opts !== 'object') throw new RnnkitError('E_ARGUMENT', 'options: expected an object');
    super(resolveBackend(opts.backend));
    this.kind = kind;
    this.inputSize = positiveInt('inputSize', opts.inputSize);
    this.hiddenSize = positiveInt('hiddenSize', opts.hiddenSize);
    this.numLayers = positiveInt('numLayers', opts.numLayers ?? 1);
    this.bidirectional = Boolean(opts.bidirectional ?? false);
    this.batchFirst = Boolean(opts.batchFirst ?? false);
    const p = opts.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
      throw new RnnkitError('E_ARGUMENT', `dropout: expected a probability in [0, 1), found ${String(p)}`);
    }
    this.dropout = p;
    this.rng = new Random(opts.seed ?? 0);

    const H = this.hiddenSize;
    const GH = GATES[kind] * H;
    const bound = 1 / Math.sqrt(H);
    // Every weight's size checked before the first is allocated (src/backend/limits.ts).
    checkParameterSizes(`inputSize ${this.inputSize}, hiddenSize ${H}`, [
      ['weight_ih_l0', [GH, this.inputSize]],
      ['weight_hh_l0', [GH, H]],
      ...(this.numLayers > 1 ? [['weight_ih_l1', [GH, H * this.numDirections]] as const] : []),
    ]);
    for (let l = 0; l < this.numLayers; l++) {
      const inSize = l === 0 ? this.inputSize : H * this.numDirections;
      for (let d = 0; d < this.numDirections; d++) {
        for (const [base, shape] of [
          ['weight_ih', [GH, inSize]],
          ['weight_hh', [GH, H]],
          ['bias_ih', [GH]],
          ['bias_hh', [GH]],
        ] as const) {
          const name = `${base}_l${l}${SUFFIX[d]}`;
          const param = newParameter(this.backend, name, shape);
          this.backend.write(param.value, this.rng.uniform(new Float32Array(param.value.length), -bound, bound));
          this.params.push(param);
          this.byName.set(name, param);
        }
      }
    }
  }

  protected get what(): string {
    return CLASS_NAMES[this.kind];
  }

  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  private get hasCell(): boolean {
    return CELL_TABLE[this.kind].hasCellState;
  }

  train(on = true): this {
    this.live();
    this.training = on;
    return this;
  }

  eval(): this {
    this.live();
    return this.train(false);
  }

  /** Parameter names in PyTorch's state_dict order. */
  parameterNames(): string[] {
    this.live();
    return this.params.map((p) => p.name);
  }

  /** Loads parameters; every name must be present with its exact shape, and no other name may appear. */
  override loadStateDict(dict: Record<string, Tensor>): void {
    super.loadStateDict(dict);
    this.runValid = false;
  }

  private p(base: string, l: number, d: number): Parameter {
    return this.byName.get(`${base}_l${l}${SUFFIX[d]}`)!;
  }

  private freeRun(): void {
    this.runBuffers.freeAll();
    this.run = null;
  }

  /**
   * The buffers for a call of T steps and B rows. Kept between calls and reused while B and the mode stay and T
   * fits (sequences of varying length: one batch after another in item mode, a growing prefix), as the layers'
   * Scratch buffers are; a longer T allocates them again with room for a quarter more (just T where that room
   * would pass the kernels' size limit or memory). A room over SHRINK_FLOATS is given up for a T under an eighth
   * of it (one long call's buffers, a whole text fed to a stream, are not held for the layer's life).
   */
  private getRun(T: number, B: number, training: boolean): Run {
    const r = this.run;
    const H = this.hiddenSize, D = this.numDirections;
    const same = r !== null && r.B === B && r.training === training;
    const large = (cap: number) => cap * B * H * D * this.numLayers > SHRINK_FLOATS;
    if (same && T <= r.cap && !(8 * T < r.cap && large(r.cap))) {
      r.T = T;
      return r;
    }
    const sizes = (t: number) => {
      for (let l = 0; l < this.numLayers; l++) checkCellSizes('input', this.kind, t, B, l === 0 ? this.inputSize : H * D, H);
    };
    sizes(T);
    let cap = same && T > r.cap ? Math.max(T, Math.floor(r.cap * 1.25)) : T;
    if (cap > T) {
      try {
        sizes(cap);
      } catch {
        cap = T;
      }
    }
    const build = (cap: number): Run => {
      const be = this.runBuffers;
      const layers: LayerRun[] = [];
      // Dropout writes a layer's input from the output below; without it the layer reads that output itself.
      const dropped = training && this.dropout > 0;
      for (let l = 0; l < this.numLayers; l++) {
        const inSize = l === 0 ? this.inputSize : H * D;
        const dirs: DirRun[] = [];
        for (let d = 0; d < D; d++) {
          dirs.push({
            h0: be.alloc(B * H),
            c0: this.hasCell ? be.alloc(B * H) : null,
            y: be.alloc(cap * B * H),
            hT: be.alloc(B * H),
            cT: this.hasCell ? be.alloc(B * H) : null,
            // (the workspace's layout follows the call's T: a longer buffer holds it at its start)
            ws: training && workspaceFloats(this.kind, cap, B, H) > 0 ? be.alloc(workspaceFloats(this.kind, cap, B, H)) : null,
          });
        }
        const output = dirs.length > 1 ? be.alloc(cap * B * H * dirs.length) : dirs[0]!.y;
        const input = l === 0 || dropped ? be.alloc(cap * B * inSize) : layers[l - 1]!.output;
        layers.push({ input, dropoutSeed: null, dirs, output });
      }
      const LDBH = this.numLayers * D * B * H;
      return {
        T, cap, B, training, layers,
        hN: be.alloc(LDBH),
        cN: this.hasCell ? be.alloc(LDBH) : null,
        staging: this.batchFirst ? be.alloc(cap * B * Math.max(this.inputSize, D * H)) : null,
        dIn: null,
        back: null,
        dTop: null,
      };
    };
    this.freeRun();
    try {
      this.run = build(cap);
    } catch (e) {
      this.freeRun();
      if (cap === T) throw e;
      this.run = build(T); // the room did not fit in memory; the call itself may
    }
    return this.run;
  }

  private stateShape(B: number): number[] {
    return [this.numLayers * this.numDirections, B, this.hiddenSize];
  }

  /**
   * Runs the layers over x ([T, B, inputSize], or [B, T, inputSize] with batchFirst). h0/c0 default to zeros.
   * In training mode (the default, as in PyTorch) it keeps what backward() needs.
   */
  forward(x: Tensor, state: ForwardState = {}): ForwardResult {
    this.live();
    if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) {
      throw new RnnkitError('E_ARGUMENT', `input: expected a tensor of shape [${this.batchFirst ? 'B, T' : 'T, B'}, ${this.inputSize}]`);
    }
    if (x.shape.length !== 3 || x.shape[2] !== this.inputSize || x.shape[0]! < 1 || x.shape[1]! < 1) {
      throw shapeError('input', `shape [${this.batchFirst ? 'B, T' : 'T, B'}, ${this.inputSize}] with T, B >= 1`, `shape ${shapeStr(x.shape)}`);
    }
    const [T, B] = this.batchFirst ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
    expectShape('input', x, x.shape);
    checkFinite('input', x.data);
    const { h0, c0, sshape } = this.checkState(B, state);
    const run = this.getRun(T, B, this.training);
    const H = this.hiddenSize, D = this.numDirections;
    const be = this.backend;
    const first = run.layers[0]!.input;
    if (run.staging) {
      be.write(run.staging, x.data);
      be.transpose01(B, T, this.inputSize, run.staging, first);
    } else {
      be.write(first, x.data);
    }
    const top = this.runLayers(run, h0, c0);
    const n = T * B * H * D;
    let outData: Float32Array;
    if (run.staging) {
      be.transpose01(T, B, H * D, top, run.staging);
      outData = be.read(run.staging, 0, n);
    } else {
      outData = be.read(top, 0, n);
    }
    const outShape = this.batchFirst ? [B, T, H * D] : [T, B, H * D];
    const result: ForwardResult = { output: tensor(outData, outShape), hN: tensor(be.read(run.hN), sshape) };
    if (run.cN) result.cN = tensor(be.read(run.cN), sshape);
    return result;
  }

  /**
   * @internal forward() on data already in a buffer of this layer's backend, for the models' training and
   * evaluation loops (nothing crosses to the host but the final states): x [T, B, inputSize] sequence-major
   * whatever `batchFirst` says, not checked for NaN. The output [T, B, D*H] is a buffer of this layer's, valid
   * until its next forward.
   */
  forwardBuffer(x: Buf, T: number, B: number, state: ForwardState = {}): { output: Buf; hN: Tensor; cN?: Tensor } {
    this.live();
    positiveInt('forwardBuffer T', T);
    positiveInt('forwardBuffer B', B);
    if (x.length < T * B * this.inputSize) throw shapeError('input buffer', `${T * B * this.inputSize} floats`, `${x.length}`);
    const { h0, c0, sshape } = this.checkState(B, state);
    const run = this.getRun(T, B, this.training);
    const be = this.backend;
    const n = T * B * this.inputSize;
    be.copy(1, n, x, 0, n, run.layers[0]!.input, 0, n);
    const output = this.runLayers(run, h0, c0);
    const result: { output: Buf; hN: Tensor; cN?: Tensor } = { output, hN: tensor(be.read(run.hN), sshape) };
    if (run.cN) result.cN = tensor(be.read(run.cN), sshape);
    return result;
  }

  /** h0 and c0 of a forward's state, checked against [L*D, B, H]. */
  private checkState(B: number, state: ForwardState): { h0: Tensor | null; c0: Tensor | null; sshape: number[] } {
    const sshape = this.stateShape(B);
    if (state === null || typeof state !== 'object') throw new RnnkitError('E_ARGUMENT', 'state: expected an object { h0, c0 }');
    const h0 = state.h0 === undefined ? null : expectShape('h0', state.h0, sshape);
    if (h0) checkFinite('h0', h0.data);
    let c0: Tensor | null = null;
    if (this.hasCell) {
      c0 = state.c0 === undefined ? null : expectShape('c0', state.c0, sshape);
      if (c0) checkFinite('c0', c0.data);
    } else if (state.c0 !== undefined) {
      throw new RnnkitError('E_ARGUMENT', `c0: only LSTM has a cell state; ${this.kind} takes h0 only`);
    }
    return { h0, c0, sshape };
  }

  /** The layers over run.layers[0].input, from h0 / c0 (zeros when null); the top layer's output buffer. */
  private runLayers(run: Run, h0: Tensor | null, c0: Tensor | null): Buf {
    const { T, B, training } = run;
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const BH = B * H;
    const be = this.backend;
    for (let l = 0; l < L; l++) {
      const layer = run.layers[l]!;
      const inSize = l === 0 ? this.inputSize : H * D;
      layer.dropoutSeed = null;
      if (l > 0 && training && this.dropout > 0) {
        // One mask over the whole input [T, B, inSize], drawn from the layer's generator (Random.skip).
        const n = T * B * inSize;
        layer.dropoutSeed = this.rng.skip(n);
        be.dropout(n, this.dropout, layer.dropoutSeed, run.layers[l - 1]!.output, layer.input);
      }
      for (let d = 0; d < D; d++) {
        const dir = layer.dirs[d]!;
        const k = l * D + d;
        if (h0) be.write(dir.h0, h0.data.subarray(k * BH, (k + 1) * BH)); else be.fill(BH, dir.h0, 0);
        if (dir.c0) {
          if (c0) be.write(dir.c0, c0.data.subarray(k * BH, (k + 1) * BH)); else be.fill(BH, dir.c0, 0);
        }
        be.cellForward({
          kind: this.kind, T, B, I: inSize, H, reverse: d === 1,
          x: layer.input, h0: dir.h0, c0: dir.c0,
          wih: this.p('weight_ih', l, d).value, whh: this.p('weight_hh', l, d).value,
          bih: this.p('bias_ih', l, d).value, bhh: this.p('bias_hh', l, d).value,
          y: dir.y, hT: dir.hT, cT: dir.cT, ws: dir.ws,
        });
        be.copy(1, BH, dir.hT, 0, BH, run.hN, k * BH, BH);
        if (run.cN && dir.cT) be.copy(1, BH, dir.cT, 0, BH, run.cN, k * BH, BH);
      }
      if (D > 1) be.interleave(T * B, H, layer.dirs[0]!.y, layer.dirs[1]!.y, layer.output);
    }
    this.runValid = training;
    return run.layers[L - 1]!.output;
  }

  /**
   * Backpropagates through the last training-mode forward(). At least one upstream gradient must be given;
   * the missing ones count as zeros.
   * Accumulates parameter gradients (see grads(), zeroGrad()) and returns the input and state gradients.
   */
  backward(g: BackwardGrads): BackwardResult {
    this.live();
    const run = this.run;
    if (!run || !this.runValid || !run.training) {
      throw new RnnkitError('E_STATE', 'backward: call forward() in training mode first (after loadStateDict, forward again)');
    }
    // Nothing upstream would give all-zero gradients without a word: almost always a misnamed key.
    const given = g === null || typeof g !== 'object' ? [] : Object.keys(g);
    const unknown = given.filter((k) => k !== 'dOutput' && k !== 'dhN' && k !== 'dcN');
    if (unknown.length || !given.some((k) => (g as Record<string, unknown>)[k] !== undefined)) {
      throw new RnnkitError('E_ARGUMENT', `backward: expected { dOutput?, dhN?, dcN? } with at least one gradient, found ${
        unknown.length ? `unknown key ${unknown.join(', ')}` : 'none'}`);
    }
    const { T, B } = run;
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const sshape = this.stateShape(B);
    const oshape = this.batchFirst ? [B, T, D * H] : [T, B, D * H];
    const dOut = g.dOutput === undefined ? null : expectShape('dOutput', g.dOutput, oshape);
    const dhN = g.dhN === undefined ? null : expectShape('dhN', g.dhN, sshape);
    const dcN = this.hasCell && g.dcN !== undefined ? expectShape('dcN', g.dcN, sshape) : null;
    if (!this.hasCell && g.dcN !== undefined) throw new RnnkitError('E_ARGUMENT', `dcN: only LSTM has a cell state`);
    if (dOut) checkFinite('dOutput', dOut.data);
    if (dhN) checkFinite('dhN', dhN.data);
    if (dcN) checkFinite('dcN', dcN.data);

    const be = this.backend;
    // Gradient w.r.t. the top layer's output, sequence-major (zeros when none is given), in the run's buffer.
    const dTop = run.dTop ??= this.runBuffers.alloc(run.cap * B * D * H);
    if (dOut) {
      if (run.staging) {
        be.write(run.staging, dOut.data);
        be.transpose01(B, T, D * H, run.staging, dTop);
      } else {
        be.write(dTop, dOut.data);
      }
    } else {
      be.fill(T * B * D * H, dTop, 0);
    }
    return this.runBackward(run, dTop, dhN, dcN, (dIn, dh0All, dc0All) => {
      const n = T * B * this.inputSize;
      let dInData: Float32Array;
      if (run.staging) {
        be.transpose01(T, B, this.inputSize, dIn, run.staging);
        dInData = be.read(run.staging, 0, n);
      } else {
        dInData = be.read(dIn, 0, n);
      }
      const result: BackwardResult = {
        dInput: tensor(dInData, this.batchFirst ? [B, T, this.inputSize] : [T, B, this.inputSize]),
        dh0: tensor(be.read(dh0All), sshape),
      };
      if (dc0All) result.dc0 = tensor(be.read(dc0All), sshape);
      return result;
    });
  }

  /**
   * @internal backward() for forwardBuffer: the gradient of its output, dOutput [T, B, D*H] sequence-major in a
   * buffer (null: zeros; not checked for NaN; at least one of the two given), and of the final hidden states
   * (dhN [L*D, B, H], as in backward; the cell states get none). Accumulates the parameter gradients and returns the input's gradient
   * [T, B, inputSize], a buffer of this layer's valid until its next backward.
   */
  backwardBuffer(dOutput: Buf | null, dhN: Tensor | null = null): Buf {
    this.live();
    const run = this.run;
    if (!run || !this.runValid || !run.training) {
      throw new RnnkitError('E_STATE', 'backwardBuffer: call forwardBuffer() in training mode first');
    }
    if (!dOutput && !dhN) {
      throw new RnnkitError('E_ARGUMENT', 'backwardBuffer: expected a dOutput buffer or dhN, found neither');
    }
    const { T, B } = run;
    const n = T * B * this.numDirections * this.hiddenSize;
    if (dOutput && dOutput.length < n) throw shapeError('dOutput buffer', `${n} floats`, `${dOutput.length}`);
    if (dhN) {
      expectShape('dhN', dhN, this.stateShape(B));
      checkFinite('dhN', dhN.data);
    }
    const be = this.backend;
    const m = T * B * this.inputSize;
    run.dIn ??= this.runBuffers.alloc(run.cap * B * this.inputSize);
    const dIn = run.dIn;
    let dTop = dOutput;
    if (!dTop) {
      dTop = run.dTop ??= this.runBuffers.alloc(run.cap * B * this.numDirections * this.hiddenSize);
      be.fill(n, dTop, 0);
    }
    this.runBackward(run, dTop, dhN, null, (d) => be.copy(1, m, d, 0, m, dIn, 0, m));
    return dIn;
  }

  /**
   * Backpropagates dTop (the top layer's output gradient, [T, B, D*H], only read) and the final states'
   * gradients (zeros when null) through `run`; `done` gets the input's gradient and the initial states' before
   * the temporaries go back.
   */
  private runBackward<R>(run: Run, dTop: Buf, dhN: Tensor | null, dcN: Tensor | null,
    done: (dIn: Buf, dh0All: Buf, dc0All: Buf | null) => R): R {
    const { T, B } = run;
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const be = this.backend;
    const BH = B * H;
    // Kept with the run (allocating them each call cost ~5% of a small model's training step in allocation and
    // collection); every one is written before it is read, dx zeroed first (the kernels add into it).
    const alloc = (n: number) => this.runBuffers.alloc(n);
    const C = run.cap;
    const back = run.back ??= {
      // Each direction's share of dUp; with one direction dUp itself (the kernels only read dy).
      dys: D > 1 ? [alloc(C * BH), alloc(C * BH)] : null,
      dhT: alloc(BH),
      dcT: this.hasCell ? alloc(BH) : null,
      dh0: alloc(BH),
      dc0: this.hasCell ? alloc(BH) : null,
      dh0All: alloc(L * D * BH),
      dc0All: this.hasCell ? alloc(L * D * BH) : null,
      dx: Array.from({ length: L }, (_, l) => alloc(C * B * (l === 0 ? this.inputSize : H * D))),
    };
    const { dys, dhT, dcT, dh0, dc0, dh0All, dc0All } = back;
    let dUp = dTop;
    for (let l = L - 1; l >= 0; l--) {
      const layer = run.layers[l]!;
      const inSize = l === 0 ? this.inputSize : H * D;
      const dx = back.dx[l]!;
      be.fill(T * B * inSize, dx, 0);
      if (dys) be.deinterleave(T * B, H, dUp, dys[0]!, dys[1]!);
      for (let d = 0; d < D; d++) {
        const dir = layer.dirs[d]!;
        const k = l * D + d;
        if (dhN) be.write(dhT, dhN.data.subarray(k * BH, (k + 1) * BH)); else be.fill(BH, dhT, 0);
        if (dcT) {
          if (dcN) be.write(dcT, dcN.data.subarray(k * BH, (k + 1) * BH)); else be.fill(BH, dcT, 0);
        }
        const wih = this.p('weight_ih', l, d), whh = this.p('weight_hh', l, d);
        const bih = this.p('bias_ih', l, d), bhh = this.p('bias_hh', l, d);
        be.cellBackward({
          kind: this.kind, T, B, I: inSize, H, reverse: d === 1,
          x: layer.input, h0: dir.h0, c0: dir.c0,
          wih: wih.value, whh: whh.value, bih: bih.value, bhh: bhh.value,
          y: dir.y, ws: dir.ws, dy: dys ? dys[d]! : dUp, dhT, dcT, dx, dh0, dc0,
          dwih: wih.grad, dwhh: whh.grad, dbih: bih.grad, dbhh: bhh.grad,
        });
        be.copy(1, BH, dh0, 0, BH, dh0All, k * BH, BH);
        if (dc0All && dc0) be.copy(1, BH, dc0, 0, BH, dc0All, k * BH, BH);
      }
      // The forward's mask again, from its seed: the gradient flows only through the kept inputs.
      if (layer.dropoutSeed !== null) be.dropout(T * B * inSize, this.dropout, layer.dropoutSeed, dx, dx);
      dUp = dx;
    }
    return done(dUp, dh0All, dc0All);
  }

  /** Returns every backend buffer this layer holds; any later call is E_STATE (see ParameterModule.dispose). */
  override dispose(): void {
    this.runBuffers.dispose();
    this.run = null;
    super.dispose();
    this.byName.clear();
  }
}

/** PyTorch's nn.RNN: `new RNN({ inputSize, hiddenSize, nonlinearity?: 'tanh' | 'relu', ...RecurrentOptions })`. */
export class RNN extends RecurrentBase {
  readonly nonlinearity: 'tanh' | 'relu';
  constructor(opts: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' }) {
    const nl = opts?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') {
      throw new RnnkitError('E_ARGUMENT', `nonlinearity: expected 'tanh' or 'relu', found ${String(nl)}`);
    }
    super(nl === 'relu' ? 'rnn_relu' : 'rnn_tanh', opts);
    this.nonlinearity = nl;
  }
}

/** PyTorch's nn.LSTM: `new LSTM({ inputSize, hiddenSize, numLayers?, bidirectional?, batchFirst?, dropout?, seed?, backend? })`. */
export class LSTM extends RecurrentBase {
  constructor(opts: RecurrentOptions) {
    super('lstm', opts);
  }
}

/** PyTorch's nn.GRU, with the options of LSTM. */
export class GRU extends RecurrentBase {
  constructor(opts: RecurrentOptions) {
    super('gru', opts);
  }
}

/** The layer of a cell kind: the one place that maps kinds to layer classes (models, diagnostics and tests use it). */
export function makeRecurrent(kind: CellKind, opts: RecurrentOptions): RecurrentBase {
  switch (kind) {
    case 'lstm': return new LSTM(opts);
    case 'gru': return new GRU(opts);
    case 'rnn_tanh': return new RNN({ ...opts, nonlinearity: 'tanh' });
    case 'rnn_relu': return new RNN({ ...opts, nonlinearity: 'relu' });
    // `satisfies never`: a kind added to the table and not here is a compile error, not a runtime surprise
    default: throw new RnnkitError('E_ARGUMENT', `cell: expected one of ${CELL_KINDS.join(', ')}, found ${String(kind satisfies never)}`);
  }
}
