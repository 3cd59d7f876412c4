// The standard shapes of ../shared/DESIGN.md, the same in every comparison.
export const WORKLOADS = {
  W1: { kind: 'lstm', inputSize: 64, hiddenSize: 256, batch: 1, steps: 100, what: 'streaming inference' },
  'W2-lstm': { kind: 'lstm', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
  'W2-gru': { kind: 'gru', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
  'W2-rnn': { kind: 'rnn_tanh', inputSize: 128, hiddenSize: 512, batch: 32, steps: 100, what: 'batched inference' },
};

const GATES = { lstm: 4, gru: 3, rnn_tanh: 1 };

/** Multiply-adds x2 of one forward pass: input projection plus recurrent projection, every step. */
export function forwardFlops(w) {
  const G = GATES[w.kind];
  return 2 * w.steps * w.batch * G * w.hiddenSize * (w.inputSize + w.hiddenSize);
}

/** W3: one training step of a character model (forward, backward, Adam), softmax cross-entropy. */
export const TRAINING_WORKLOADS = {
  W3: { vocab: 65, embedding: 64, hiddenSize: 256, batch: 32, steps: 64, what: 'training step' },
};

/** Multiply-adds x2 of one W3 step: LSTM forward (1x) and backward (2x), decoder forward and backward (3x). */
export function trainingFlops(w) {
  const lstm = 2 * w.steps * w.batch * 4 * w.hiddenSize * (w.embedding + w.hiddenSize);
  const decoder = 2 * w.steps * w.batch * w.hiddenSize * w.vocab;
  return 3 * (lstm + decoder);
}
