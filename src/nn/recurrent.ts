// Stacked, optionally bidirectional recurrent layers (RNN, LSTM, GRU) with PyTorch's options, parameter names
// and layouts. Each layer/direction is one backend kernel call over the whole sequence batch; this file only
// arranges buffers, states and layouts around those calls.
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
  input: Buf; // [T, B, inSize]: the layer's input after dropout
  mask: Float32Array | null; // dropout mask (already scaled by 1/(1-p)) applied to the input
  dirs: DirRun[];
  output: Buf; // [T, B, D*H] (the single direction's y when D = 1)
}

interface Run {
  T: number;
  B: number;
  training: boolean;
  layers: LayerRun[];
}

const SUFFIX = ['', '_reverse'];
const CLASS_NAMES: Record<CellKind, string> = { rnn_tanh: 'RNN', rnn_relu: 'RNN', lstm: 'LSTM', gru: 'GRU' };

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RnnkitError('E_ARGUMENT', `${what}: expected a positive integer, found ${String(v)}`);
  }
  return v;
}

/** [A, B, C] -> [B, A, C] for batchFirst layouts. */
function swap01(src: Float32Array, A: number, B: number, C: number, dst: Float32Array): Float32Array {
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) dst.set(src.subarray((a * B + b) * C, (a * B + b + 1) * C), (b * A + a) * C);
  }
  return dst;
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
          this.rng.uniform(param.value.view(), -bound, bound);
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

  private getRun(T: number, B: number, training: boolean): Run {
    const r = this.run;
    if (r && r.T === T && r.B === B && r.training === training) return r;
    const H = this.hiddenSize;
    for (let l = 0; l < this.numLayers; l++) {
      checkCellSizes('input', this.kind, T, B, l === 0 ? this.inputSize : H * this.numDirections, H);
    }
    this.freeRun();
    const be = this.runBuffers;
    const layers: LayerRun[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const inSize = l === 0 ? this.inputSize : H * this.numDirections;
      const dirs: DirRun[] = [];
      for (let d = 0; d < this.numDirections; d++) {
        dirs.push({
          h0: be.alloc(B * H),
          c0: this.hasCell ? be.alloc(B * H) : null,
          y: be.alloc(T * B * H),
          hT: be.alloc(B * H),
          cT: this.hasCell ? be.alloc(B * H) : null,
          ws: training && workspaceFloats(this.kind, T, B, H) > 0 ? be.alloc(workspaceFloats(this.kind, T, B, H)) : null,
        });
      }
      const output = dirs.length > 1 ? be.alloc(T * B * H * dirs.length) : dirs[0]!.y;
      layers.push({ input: be.alloc(T * B * inSize), mask: null, dirs, output });
    }
    this.run = { T, B, training, layers };
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

    const training = this.training;
    const run = this.getRun(T, B, training);
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const be = this.backend;
    // Views are taken fresh after every allocation (WASM memory may have grown).
    const first = run.layers[0]!.input.view();
    if (this.batchFirst) swap01(x.data, B, T, this.inputSize, first);
    else first.set(x.data);

    const hN = new Float32Array(L * D * B * H);
    const cN = this.hasCell ? new Float32Array(L * D * B * H) : null;
    for (let l = 0; l < L; l++) {
      const layer = run.layers[l]!;
      const inSize = l === 0 ? this.inputSize : H * D;
      if (l > 0) {
        const input = layer.input.view();
        input.set(run.layers[l - 1]!.output.view());
        layer.mask = null;
        if (training && this.dropout > 0) {
          const keep = 1 / (1 - this.dropout);
          const mask = new Float32Array(input.length);
          for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < this.dropout ? 0 : keep;
          for (let i = 0; i < input.length; i++) input[i]! *= mask[i]!;
          layer.mask = mask;
        }
      }
      for (let d = 0; d < D; d++) {
        const dir = layer.dirs[d]!;
        const k = l * D + d;
        const hv = dir.h0.view();
        if (h0) hv.set(h0.data.subarray(k * B * H, (k + 1) * B * H)); else hv.fill(0);
        if (dir.c0) {
          const cv = dir.c0.view();
          if (c0) cv.set(c0.data.subarray(k * B * H, (k + 1) * B * H)); else cv.fill(0);
        }
        be.cellForward({
          kind: this.kind, T, B, I: inSize, H, reverse: d === 1,
          x: layer.input, h0: dir.h0, c0: dir.c0,
          wih: this.p('weight_ih', l, d).value, whh: this.p('weight_hh', l, d).value,
          bih: this.p('bias_ih', l, d).value, bhh: this.p('bias_hh', l, d).value,
          y: dir.y, hT: dir.hT, cT: dir.cT, ws: dir.ws,
        });
        hN.set(dir.hT.view(), k * B * H);
        if (cN && dir.cT) cN.set(dir.cT.view(), k * B * H);
      }
      if (D > 1) {
        const out = layer.output.view();
        for (let d = 0; d < D; d++) {
          const y = layer.dirs[d]!.y.view();
          for (let r = 0; r < T * B; r++) out.set(y.subarray(r * H, (r + 1) * H), (r * D + d) * H);
        }
      }
    }
    this.runValid = training;
    const top = run.layers[L - 1]!.output.view();
    const outData = this.batchFirst ? swap01(top, T, B, H * D, new Float32Array(top.length)) : top.slice();
    const outShape = this.batchFirst ? [B, T, H * D] : [T, B, H * D];
    const result: ForwardResult = { output: tensor(outData, outShape), hN: tensor(hN, sshape) };
    if (cN) result.cN = tensor(cN, sshape);
    return result;
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
    const tmp: Buf[] = [];
    const alloc = (n: number) => { const b = be.alloc(n); tmp.push(b); return b; };
    try {
      // Gradient w.r.t. the top layer's output, sequence-major.
      let dUp = new Float32Array(T * B * D * H);
      if (dOut) {
        if (this.batchFirst) swap01(dOut.data, B, T, D * H, dUp);
        else dUp.set(dOut.data);
      }
      const dy = alloc(T * B * H);
      const dhT = alloc(B * H);
      const dcT = this.hasCell ? alloc(B * H) : null;
      const dh0 = alloc(B * H);
      const dc0 = this.hasCell ? alloc(B * H) : null;
      const dh0All = new Float32Array(L * D * B * H);
      const dc0All = this.hasCell ? new Float32Array(L * D * B * H) : null;
      for (let l = L - 1; l >= 0; l--) {
        const layer = run.layers[l]!;
        const inSize = l === 0 ? this.inputSize : H * D;
        const dx = alloc(T * B * inSize);
        for (let d = 0; d < D; d++) {
          const dir = layer.dirs[d]!;
          const k = l * D + d;
          const dyv = dy.view();
          if (D === 1) dyv.set(dUp);
          else for (let r = 0; r < T * B; r++) dyv.set(dUp.subarray((r * D + d) * H, (r * D + d + 1) * H), r * H);
          const dhv = dhT.view();
          if (dhN) dhv.set(dhN.data.subarray(k * B * H, (k + 1) * B * H)); else dhv.fill(0);
          if (dcT) {
            const dcv = dcT.view();
            if (dcN) dcv.set(dcN.data.subarray(k * B * H, (k + 1) * B * H)); else dcv.fill(0);
          }
          const wih = this.p('weight_ih', l, d), whh = this.p('weight_hh', l, d);
          const bih = this.p('bias_ih', l, d), bhh = this.p('bias_hh', l, d);
          be.cellBackward({
            kind: this.kind, T, B, I: inSize, H, reverse: d === 1,
            x: layer.input, h0: dir.h0, c0: dir.c0,
            wih: wih.value, whh: whh.value, bih: bih.value, bhh: bhh.value,
            y: dir.y, ws: dir.ws, dy, dhT, dcT, dx, dh0, dc0,
            dwih: wih.grad, dwhh: whh.grad, dbih: bih.grad, dbhh: bhh.grad,
          });
          dh0All.set(dh0.view(), k * B * H);
          if (dc0All && dc0) dc0All.set(dc0.view(), k * B * H);
        }
        dUp = dx.view().slice();
        if (layer.mask) for (let i = 0; i < dUp.length; i++) dUp[i]! *= layer.mask[i]!;
      }
      const dIn = this.batchFirst ? swap01(dUp, T, B, this.inputSize, new Float32Array(dUp.length)) : dUp;
      const result: BackwardResult = {
        dInput: tensor(dIn, this.batchFirst ? [B, T, this.inputSize] : [T, B, this.inputSize]),
        dh0: tensor(dh0All, sshape),
      };
      if (dc0All) result.dc0 = tensor(dc0All, sshape);
      return result;
    } finally {
      for (const b of tmp) be.free(b);
    }
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
