// TensorFlow.js as a peer: node peer-tfjs.mjs wasm|cpu
// The cells are written with tf ops in the form the fast peers use: the input projection of all steps in one
// matMul, then per step one matMul with the recurrent weights and the gate math (PyTorch's equations and gate
// order, both biases). tf.layers' cells would redo the input matMul every step.
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { INFERENCE, inferenceErr, pkgVersion, runPeer, trainErr } from './common.mjs';

const which = process.argv[2] ?? 'wasm';
await tf.setBackend(which);
await tf.ready();
const threads = which === 'wasm' ? tfwasm.getThreadsCount() : 1;
console.log(`@@VERSION tfjs ${pkgVersion('@tensorflow/tfjs')} (backend ${tf.getBackend()}${which === 'wasm' ? ` ${pkgVersion('@tensorflow/tfjs-backend-wasm')}, ${threads} thread(s)` : ''})`);

/** y [T, B, H] of one layer; p holds WihT [I, G*H], WhhT [H, G*H], bih, bhh [G*H]. */
function recurrent(kind, x, p, T, B, H) {
  const I = x.shape[2];
  const G = kind === 'lstm' ? 4 : kind === 'gru' ? 3 : 1;
  // input projections of all steps at once; GRU keeps bhh apart (it sits inside r * (...))
  const bias = kind === 'gru' ? p.bih : tf.add(p.bih, p.bhh);
  const xw = tf.unstack(tf.reshape(tf.add(tf.matMul(tf.reshape(x, [T * B, I]), p.WihT), bias), [T, B, G * H]));
  let h = tf.zeros([B, H]);
  let c = kind === 'lstm' ? tf.zeros([B, H]) : null;
  const ys = [];
  for (let t = 0; t < T; t++) {
    if (kind === 'lstm') {
      const [i, f, g, o] = tf.split(tf.add(xw[t], tf.matMul(h, p.WhhT)), 4, 1);
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
    } else if (kind === 'gru') {
      const [xr, xz, xn] = tf.split(xw[t], 3, 1);
      const [hr, hz, hn] = tf.split(tf.add(tf.matMul(h, p.WhhT), p.bhh), 3, 1);
      const r = tf.sigmoid(tf.add(xr, hr));
      const z = tf.sigmoid(tf.add(xz, hz));
      const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
      h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
    } else {
      h = tf.tanh(tf.add(xw[t], tf.matMul(h, p.WhhT)));
    }
    ys.push(h);
  }
  return tf.stack(ys);
}

/** The weights of a PyTorch recurrent state dict as tf tensors (or variables), transposed for x·Wᵀ. */
function layerParams(w, prefix, make) {
  const k = (n) => `${prefix}${n}_l0`;
  return {
    WihT: make(tf.transpose(tf.tensor(w.a[k('weight_ih')], w.shape[k('weight_ih')]))),
    WhhT: make(tf.transpose(tf.tensor(w.a[k('weight_hh')], w.shape[k('weight_hh')]))),
    bih: make(tf.tensor(w.a[k('bias_ih')])),
    bhh: make(tf.tensor(w.a[k('bias_hh')])),
  };
}

const impl = {};
for (const name of INFERENCE) {
  impl[name] = (w) => {
    const { steps: T, batch: B, hiddenSize: H, inputSize: I } = w;
    const p = tf.tidy(() => layerParams(w, '', (t) => tf.keep(t)));
    const x = tf.tensor(w.a.x, [T, B, I]);
    return {
      run: () => {
        const y = tf.tidy(() => recurrent(w.kind, x, p, T, B, H));
        const data = y.dataSync();
        y.dispose();
        return data;
      },
      check: (y) => inferenceErr(w, y),
      dispose: () => { tf.dispose([x, ...Object.values(p)]); },
    };
  };
}

impl.W3 = (w) => {
  const { steps: T, batch: B, hiddenSize: H, embeddingDim: E, vocab: V } = w;
  const oneHot = which === 'wasm'; // the wasm backend has no gradient for gather (UnsortedSegmentSum)
  let vars = null, opt = null;
  const init = () => {
    if (vars) tf.dispose(Object.values(vars));
    if (opt) opt.dispose();
    vars = tf.tidy(() => ({
      emb: tf.variable(tf.tensor(w.a['embedding.weight'], [V, E])),
      ...layerParams(w, 'rnn.', (t) => tf.variable(t)),
      decWT: tf.variable(tf.transpose(tf.tensor(w.a['decoder.weight'], [V, H]))),
      decB: tf.variable(tf.tensor(w.a['decoder.bias'])),
    }));
    opt = tf.train.adam(w.lr, w.betas[0], w.betas[1], w.eps);
  };
  init();
  const ids = tf.tensor1d(w.a.ids, 'int32');
  const idsOneHot = tf.cast(tf.oneHot(ids, V), 'float32');
  const targets = tf.cast(tf.oneHot(tf.tensor1d(w.a.targets, 'int32'), V), 'float32');
  const step = () => {
    const loss = opt.minimize(() => {
      const x = oneHot ? tf.matMul(idsOneHot, vars.emb) : tf.gather(vars.emb, ids);
      const y = recurrent('lstm', tf.reshape(x, [T, B, E]), vars, T, B, H);
      const logits = tf.add(tf.matMul(tf.reshape(y, [T * B, H]), vars.decWT), vars.decB);
      return tf.losses.softmaxCrossEntropy(targets, logits);
    }, true);
    const v = loss.dataSync()[0];
    loss.dispose();
    return v;
  };
  return {
    run: step,
    selfCheck: true,
    check: () => {
      init();
      return trainErr(w, [step(), step()]);
    },
    note: oneHot ? 'embedding as one-hot x matMul (no gather gradient on wasm)' : 'embedding by gather',
  };
};

await runPeer(`tfjs-${which}`, impl);
