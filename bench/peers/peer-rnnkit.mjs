// rnnkit itself, on one backend: node peer-rnnkit.mjs native|wasm
// It loads this checkout's dist/ (npm run build:ts), or the dist/index.js that RNNKIT_DIST names (another build).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HERE, INFERENCE, inferenceErr, trainErr, runPeer } from './common.mjs';

const distIndex = process.env.RNNKIT_DIST ? path.resolve(process.env.RNNKIT_DIST) : path.join(HERE, '../../dist/index.js');
const {
  LSTM, GRU, RNN, Embedding, Linear, CrossEntropyLoss, Adam, tensor, loadBackend,
} = await import(pathToFileURL(distIndex).href);

const which = process.argv[2] ?? 'native';
const backend = loadBackend(which);
const pkgFile = path.join(path.dirname(distIndex), '../package.json');
const version = existsSync(pkgFile) ? JSON.parse(readFileSync(pkgFile, 'utf8')).version : '?';
let commit = '';
try { // which commit the build comes from, and whether its tree had changes
  const root = path.join(path.dirname(distIndex), '..');
  commit = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch { /* not a git checkout */ }
const from = `${commit ? `, commit ${commit}` : ''}${process.env.RNNKIT_DIST ? `, from ${distIndex}` : ''}`;
console.log(`@@VERSION rnnkit ${version} (${backend.name}: ${backend.details}${from})`);

function stateDict(w, prefix = '') {
  const d = {};
  for (const k of Object.keys(w.a)) {
    if (k.startsWith(prefix) && w.a[k] instanceof Float32Array && !k.startsWith('ref_') && k !== 'x') {
      d[k.slice(prefix.length)] = tensor(w.a[k], w.shape[k]);
    }
  }
  return d;
}

const impl = {};
for (const name of INFERENCE) {
  impl[name] = (w) => {
    const opts = { inputSize: w.inputSize, hiddenSize: w.hiddenSize, backend };
    const m = w.kind === 'lstm' ? new LSTM(opts) : w.kind === 'gru' ? new GRU(opts) : new RNN({ ...opts, nonlinearity: 'tanh' });
    m.loadStateDict(stateDict(w));
    m.eval();
    const x = tensor(w.a.x, w.shape.x);
    return {
      run: () => m.forward(x).output.data,
      check: (y) => inferenceErr(w, y),
      dispose: () => m.dispose(),
    };
  };
}

impl.W3 = (w) => {
  const T = w.steps, B = w.batch, H = w.hiddenSize;
  const emb = new Embedding({ numEmbeddings: w.vocab, embeddingDim: w.embeddingDim, backend });
  const rnn = new LSTM({ inputSize: w.embeddingDim, hiddenSize: H, backend });
  const dec = new Linear({ inFeatures: H, outFeatures: w.vocab, backend });
  const init = () => {
    emb.loadStateDict(stateDict(w, 'embedding.'));
    rnn.loadStateDict(stateDict(w, 'rnn.'));
    dec.loadStateDict(stateDict(w, 'decoder.'));
  };
  init();
  const params = [...emb.parameters(), ...rnn.parameters(), ...dec.parameters()];
  const ce = new CrossEntropyLoss(backend);
  let opt = new Adam(params, backend, { lr: w.lr, betas: w.betas, eps: w.eps });
  const ids = { data: w.a.ids, shape: [T, B] };
  const step = () => {
    opt.zeroGrad();
    // the layers' buffer paths, as LanguageModel's fit runs a batch: activations stay in the backend's buffers
    const r = rnn.forwardBuffer(emb.forwardBuffer(ids), T, B);
    const loss = ce.computeBuffer(dec.forwardBuffer(r.output, T * B), T * B, w.vocab, w.a.targets);
    emb.backwardBuffer(rnn.backwardBuffer(dec.backwardBuffer(loss.grad)));
    opt.step();
    return loss.loss;
  };
  return {
    // the check: two steps from the exported weights with a fresh Adam, losses against PyTorch float64
    run: step,
    selfCheck: true,
    check: () => {
      init();
      opt = new Adam(params, backend, { lr: w.lr, betas: w.betas, eps: w.eps });
      const losses = [step(), step()];
      return trainErr(w, losses);
    },
    note: 'Embedding+LSTM+Linear+CrossEntropyLoss+Adam from dist/index.js, through the buffer paths fit uses',
  };
};

await runPeer(`rnnkit ${which}`, impl);
