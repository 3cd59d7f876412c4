// Embedding: integer ids -> rows of a [numEmbeddings, embeddingDim] table (PyTorch's nn.Embedding, N(0,1) init).
import { resolveBackend, type BackendName } from '../backend/index.js';
import type { Backend, Buf } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { numel, shapeStr, tensor, type Tensor } from '../tensor.js';
import { newParameter, ParameterModule, type Parameter } from './module.js';
import { fillNormal, Random } from './random.js';

export interface EmbeddingOptions {
  numEmbeddings: number;
  embeddingDim: number;
  seed?: number;
  backend?: Backend | BackendName;
}

/** Integer ids with a shape, e.g. [T, B]. */
export interface Ids {
  readonly data: Int32Array | readonly number[];
  readonly shape: readonly number[];
}

/** PyTorch's nn.Embedding: `new Embedding({ numEmbeddings, embeddingDim, seed?, backend? })`. */
export class Embedding extends ParameterModule {
  protected readonly what = 'Embedding';
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  private readonly ids = this.scratch();
  private readonly out = this.scratch();
  private readonly dout = this.scratch();
  private savedRows = -1;

  constructor(opts: EmbeddingOptions) {
    super(resolveBackend(opts?.backend));
    for (const k of ['numEmbeddings', 'embeddingDim'] as const) {
      const v = opts?.[k];
      if (!Number.isInteger(v) || v < 1) throw new RnnkitError('E_ARGUMENT', `${k}: expected a positive integer, found ${String(v)}`);
    }
    if (opts.numEmbeddings > 2 ** 24) throw new RnnkitError('E_ARGUMENT', `numEmbeddings: at most 2^24, found ${opts.numEmbeddings}`);
    this.numEmbeddings = opts.numEmbeddings;
    this.embeddingDim = opts.embeddingDim;
    this.params.push(newParameter(this.backend, 'weight', [this.numEmbeddings, this.embeddingDim]));
    const w = this.params[0]!.value;
    this.backend.write(w, fillNormal(new Random(opts.seed ?? 0), new Float32Array(w.length)));
  }

  get weight(): Parameter { this.live(); return this.params[0]!; }

  /** ids [...] -> [..., embeddingDim]. Every id must be an integer in [0, numEmbeddings). */
  forward(ids: Ids): Tensor {
    const ob = this.forwardBuffer(ids);
    return tensor(this.backend.read(ob, 0, this.savedRows * this.embeddingDim), [...ids.shape, this.embeddingDim]);
  }

  /** @internal forward() into a buffer of this layer's: [n, embeddingDim] for n ids, valid until its next forward. */
  forwardBuffer(ids: Ids): Buf {
    this.live();
    const n = numel(ids.shape);
    if (ids.data.length !== n) {
      throw new RnnkitError('E_SHAPE', `Embedding ids: expected ${n} ids for shape ${shapeStr(ids.shape)}, found ${ids.data.length}`);
    }
    const V = this.numEmbeddings, D = this.embeddingDim;
    const iv = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const id = ids.data[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new RnnkitError('E_ARGUMENT', `Embedding ids: element ${i} is ${id}; expected an integer in [0, ${V})`);
      }
      iv[i] = id;
    }
    const idb = this.ids.from(iv);
    const ob = this.out.get(n * D);
    this.backend.embeddingForward(n, D, V, idb, this.weight.value, ob);
    this.savedRows = n;
    return ob;
  }

  /** Accumulates the table gradient from dOutput [..., embeddingDim]. */
  backward(dOutput: Tensor): void {
    this.live();
    const n = this.savedRows, D = this.embeddingDim;
    if (n < 0) throw new RnnkitError('E_STATE', 'Embedding backward: call forward() first');
    if (!dOutput || dOutput.data.length !== n * D) {
      throw new RnnkitError('E_SHAPE', `Embedding dOutput: expected ${n * D} elements, found ${dOutput ? dOutput.data.length : String(dOutput)}`);
    }
    this.backwardBuffer(this.dout.from(dOutput.data));
  }

  /** @internal backward() from dOutput [n, embeddingDim] in a buffer of this layer's backend. */
  backwardBuffer(dOutput: Buf): void {
    this.live();
    const n = this.savedRows, D = this.embeddingDim;
    if (n < 0) throw new RnnkitError('E_STATE', 'Embedding backward: call forward() first');
    if (dOutput.length < n * D) throw new RnnkitError('E_SHAPE', `Embedding dOutput buffer: expected ${n * D} floats, found ${dOutput.length}`);
    this.backend.embeddingBackward(n, D, this.numEmbeddings, this.ids.get(n), dOutput, this.weight.grad);
  }
}
