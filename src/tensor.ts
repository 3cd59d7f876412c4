// The small tensor type the public API speaks: a Float32Array and a row-major shape.
import { RnnkitError, shapeError } from './errors.js';

export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const shapeStr = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** A tensor over `data` (not copied). Plain number arrays are converted to float32. */
export function tensor(data: Float32Array | ArrayLike<number>, shape: readonly number[]): Tensor {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RnnkitError('E_SHAPE', `tensor shape: expected an array of non-negative integers, found ${String(shape)}`);
  }
  let arr: Float32Array;
  if (data instanceof Float32Array) arr = data;
  else if (ArrayBuffer.isView(data) || Array.isArray(data)) arr = Float32Array.from(data as ArrayLike<number>);
  else throw new RnnkitError('E_DTYPE', `tensor data: expected a Float32Array or an array of numbers`);
  if (arr.length !== numel(shape)) {
    throw shapeError('tensor data', `${numel(shape)} elements for shape ${shapeStr(shape)}`, `${arr.length}`);
  }
  return Object.freeze({ data: arr, shape: Object.freeze([...shape]) });
}

export const zeros = (shape: readonly number[]): Tensor => tensor(new Float32Array(numel(shape)), shape);

/** Checks that `t` is a tensor of exactly `shape`, naming the argument in the error. */
export function expectShape(what: string, t: unknown, shape: readonly number[]): Tensor {
  if (t === null || typeof t !== 'object' || !('data' in t) || !('shape' in t)) {
    throw new RnnkitError('E_ARGUMENT', `${what}: expected a tensor of shape ${shapeStr(shape)}, found ${t === null ? 'null' : typeof t}`);
  }
  const tt = t as Tensor;
  if (!(tt.data instanceof Float32Array)) throw new RnnkitError('E_DTYPE', `${what}: expected Float32Array data`);
  if (tt.shape.length !== shape.length || tt.shape.some((d, i) => d !== shape[i])) {
    throw shapeError(what, `shape ${shapeStr(shape)}`, `shape ${shapeStr(tt.shape)}`);
  }
  if (tt.data.length !== numel(shape)) {
    throw shapeError(what, `${numel(shape)} elements`, `${tt.data.length}`);
  }
  return tt;
}
