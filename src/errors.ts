// Errors with a stable `code`, so callers can branch on the kind of failure, and a message that says
// which argument was wrong, what was expected and what was found.

export type ErrorCode =
  | 'E_SHAPE' // a tensor or buffer has the wrong shape or length
  | 'E_DTYPE' // data is not a Float32Array (or convertible)
  | 'E_NONFINITE' // NaN or Infinity where finite numbers are required
  | 'E_ARGUMENT' // an option or argument is out of range or of the wrong kind
  | 'E_STATE_DICT' // a state dict with a missing, extra or mis-shaped parameter
  | 'E_STATE' // an operation called out of order (backward before a training forward)
  | 'E_BACKEND' // no backend could be loaded, or a forced backend failed
  | 'E_MODEL_FILE' // a model file that is truncated, corrupt, of another version, or hostile
  | 'E_IO' // reading or writing a file failed
  | 'E_ABORTED' // cancelled through an AbortSignal
  | 'E_DIVERGED'; // training produced a NaN or Infinity loss

export class RnnkitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RnnkitError';
  }
}

export const shapeError = (what: string, expected: string, found: string) =>
  new RnnkitError('E_SHAPE', `${what}: expected ${expected}, found ${found}`);

export function checkFinite(what: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      throw new RnnkitError('E_NONFINITE', `${what}: element ${i} is ${v}; expected finite numbers`);
    }
  }
}
