// brain.js (2.0 beta) as a peer: node peer-brain.mjs
// brain.js has no batch dimension and its cells are not PyTorch's:
//   LSTM: no cell state of its own: c_t = f ⊙ h_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t) (the previous *output* is kept)
//   GRU:  n = tanh(W_n x + U_n (r ⊙ h) + b_n) (reset before the recurrent product), one bias per gate
//   RNN:  ReLU only (no tanh RNN)
// So it runs the same shapes with the same weights (b_ih + b_hh as its one bias, PyTorch's gate rows mapped to
// its gate matrices), a batch as B sequential runs, and its output (the last hidden state, through an identity
// output layer) is checked twice: against the PyTorch reference (it must differ) and against brain.js's own
// equations evaluated here in float64 (it must agree: this proves the weights are mapped and the work is real).
import brain from 'brain.js';
import { maxAbsErr, pkgVersion, runPeer, TOLERANCE } from './common.mjs';

console.log(`@@VERSION brain.js ${pkgVersion('brain.js')} (pure JavaScript, 1 thread)`);

const sig = (v) => 1 / (1 + Math.exp(-v));

/** brain.js's own equations in float64 for one sequence; returns h_T. */
function brainFormula(kind, w, b) {
  const { steps: T, batch: B, inputSize: I, hiddenSize: H } = w;
  const G = kind === 'lstm' ? 4 : 3;
  const Wih = w.a.weight_ih_l0, Whh = w.a.weight_hh_l0, bias = new Float64Array(G * H);
  for (let k = 0; k < G * H; k++) bias[k] = w.a.bias_ih_l0[k] + w.a.bias_hh_l0[k];
  let h = new Float64Array(H);
  const pre = new Float64Array(G * H);
  for (let t = 0; t < T; t++) {
    const x = w.a.x.subarray((t * B + b) * I, (t * B + b + 1) * I);
    let hr = h;
    if (kind === 'gru') { // r first: it scales h inside the candidate's product
      const r = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        let s = bias[j];
        for (let k = 0; k < I; k++) s += Wih[j * I + k] * x[k];
        for (let k = 0; k < H; k++) s += Whh[j * H + k] * h[k];
        r[j] = sig(s);
      }
      hr = h.map((v, j) => v * r[j]);
    }
    for (let j = 0; j < G * H; j++) {
      let s = bias[j];
      for (let k = 0; k < I; k++) s += Wih[j * I + k] * x[k];
      const hv = kind === 'gru' && j >= 2 * H ? hr : h;
      for (let k = 0; k < H; k++) s += Whh[j * H + k] * hv[k];
      pre[j] = s;
    }
    const nh = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      if (kind === 'lstm') { // PyTorch rows i, f, g, o
        const c = sig(pre[H + j]) * h[j] + sig(pre[j]) * Math.tanh(pre[2 * H + j]);
        nh[j] = sig(pre[3 * H + j]) * Math.tanh(c);
      } else { // rows r, z, n
        const z = sig(pre[H + j]);
        nh[j] = (1 - z) * Math.tanh(pre[2 * H + j]) + z * h[j];
      }
    }
    h = nh;
  }
  return h;
}

function makeNet(kind, w) {
  const { inputSize: I, hiddenSize: H } = w;
  const Net = kind === 'lstm' ? brain.recurrent.LSTMTimeStep : brain.recurrent.GRUTimeStep;
  const net = new Net({ inputSize: I, hiddenLayers: [H], outputSize: H });
  net.initialize();
  const L = net.model.hiddenLayers[0];
  const rows = (m, g, cols) => m.subarray(g * H * cols, (g + 1) * H * cols);
  const bias = (g) => Float32Array.from({ length: H }, (_, j) => w.a.bias_ih_l0[g * H + j] + w.a.bias_hh_l0[g * H + j]);
  // [brain's input matrix, hidden matrix, bias] per PyTorch gate index
  const map = kind === 'lstm'
    ? [['inputMatrix', 'inputHidden', 'inputBias'], ['forgetMatrix', 'forgetHidden', 'forgetBias'],
      ['cellActivationMatrix', 'cellActivationHidden', 'cellActivationBias'], ['outputMatrix', 'outputHidden', 'outputBias']]
    : [['resetGateInputMatrix', 'resetGateHiddenMatrix', 'resetGateBias'], ['updateGateInputMatrix', 'updateGateHiddenMatrix', 'updateGateBias'],
      ['cellWriteInputMatrix', 'cellWriteHiddenMatrix', 'cellWriteBias']];
  map.forEach(([mi, mh, mb], g) => {
    L[mi].weights.set(rows(w.a.weight_ih_l0, g, I));
    L[mh].weights.set(rows(w.a.weight_hh_l0, g, H));
    L[mb].weights.set(bias(g));
  });
  // identity output layer: run() returns the last hidden state
  net.model.outputConnector.weights.fill(0);
  for (let j = 0; j < H; j++) net.model.outputConnector.weights[j * H + j] = 1;
  net.model.output.weights.fill(0);
  // run() ends with one more step on a zero input of outputSize values (RNNTimeStep.end); with outputSize != inputSize
  // that throws ('inputValue is of wrong dimensions'), so give it inputSize (the output layer is already built)
  net.options.outputSize = I;
  net.bindEquation(); // run() insists on one bound equation (it expects train() first)
  return net;
}

function inference(kind) {
  return (w) => {
    const { steps: T, batch: B, inputSize: I, hiddenSize: H } = w;
    const net = makeNet(kind, w);
    const seqs = Array.from({ length: B }, (_, b) =>
      Array.from({ length: T }, (_, t) => Array.from(w.a.x.subarray((t * B + b) * I, (t * B + b + 1) * I))));
    return {
      run: () => seqs.map((s) => Float32Array.from(net.run(s))), // copies: run() returns its own reused buffer
      check: (outs) => {
        // vs PyTorch: h_T of every sequence against ref_hn [1, B, H]
        const hT = new Float32Array(B * H);
        outs.forEach((o, b) => hT.set(o, b * H));
        const errTorch = maxAbsErr(hT, w.a.ref_hn);
        const errOwn = maxAbsErr(outs[0], brainFormula(kind, w, 0));
        return { err: errTorch, errNote: `differs from PyTorch by design (its cell); its own equations in float64 agree to ${errOwn.toExponential(1)}${errOwn > TOLERANCE ? ' FLAG' : ''} (sequence 0)` };
      },
      note: `${B > 1 ? `batch as ${B} sequential runs; ` : ''}${kind === 'lstm' ? "brain's LSTM keeps no cell state (c_t = f*h_{t-1} + i*g)" : "brain's GRU resets h before the recurrent product"}; checked on h_T only`,
    };
  };
}

const impl = {
  W1: inference('lstm'),
  'W2-lstm': inference('lstm'),
  'W2-gru': inference('gru'),
  'W2-rnn': () => "cannot express it: brain.js's plain RNN cell is ReLU only",
  W3: (w) => {
    // brain.recurrent.LSTM is a character model with an embedding (its `input` matrix), its LSTM and a softmax
    // output; training is one sequence at a time with its own RMSProp-like update (not Adam).
    const { steps: T, batch: B, hiddenSize: H, embeddingDim: E, vocab: V } = w;
    const net = new brain.recurrent.LSTM({ inputSize: E, inputRange: V, hiddenLayers: [H], outputSize: V });
    net.initialize();
    const seqs = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => w.a.ids[t * B + b]));
    return {
      run: () => { for (const s of seqs) net.trainPattern(s); },
      note: `brain.recurrent.LSTM: ${B} sequential trainPattern calls of ${T} tokens (no batch), its RMSProp-like update (not Adam), its own LSTM cell and random weights, so no accuracy check`,
    };
  },
};

await runPeer('brain.js', impl);
