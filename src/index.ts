// rnnkit's public API.
export { tensor, zeros, numel, type Tensor } from './tensor.js';
export { RnnkitError, type ErrorCode } from './errors.js';
export { RNN, LSTM, GRU, RecurrentBase } from './nn/recurrent.js';
export type { RecurrentOptions, ForwardState, ForwardResult, BackwardGrads, BackwardResult } from './nn/recurrent.js';
export { getBackend, loadBackend, backendReport, BACKEND_NAMES } from './backend/index.js';
export type { Backend, Buf, CellKind, BackendName, BackendReport, BackendAttempt } from './backend/index.js';
