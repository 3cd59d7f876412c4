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
