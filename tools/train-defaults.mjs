// Trains the bundled default models with rnnkit itself (npm run train:defaults):
//   models/names.safetensors      character LSTM over English first names (rnnkit complete "Joh")
//   models/moby-dick.safetensors  character LSTM over Moby Dick (rnnkit generate --prefix "Call me")
// usage: node tools/train-defaults.mjs [names] [moby-dick] [--steps N]
import { LanguageModel } from '../dist/index.js';
import { firstNames, mobyDick } from '../examples/datasets.mjs';

const args = process.argv.slice(2);
const which = args.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const stepsArg = args.indexOf('--steps');
const want = (name) => which.length === 0 || which.includes(name);

function progress(name) {
  return (p) => {
    const val = p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(3)}` : '';
    process.stderr.write(`${name}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)}${val} ` +
      `${Math.round(p.itemsPerSecond)} tok/s eta ${Math.round(p.etaSeconds)}s\n`);
  };
}

if (want('names')) {
  // Item mode (the default for separated names): each name its own sequence from a zero state, as complete
  // uses it. The settings are those that beat a Kneser-Ney n-gram on held-out names (tools/names-eval.mjs);
  // the bundled model trains on every name (no validation split) for the epochs chosen there.
  const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 256, embeddingDim: 32, numLayers: 2, dropout: 0.3, separator: '\n', seed: 1 });
  const r = await lm.fit(firstNames(), {
    seqLen: 32, batchSize: 32, epochs: 30, lr: 2e-3, weightDecay: 1e-4, validationSplit: 0, clip: 5, schedule: 'cosine',
    progressIntervalMs: 5000, onProgress: progress('names'),
  });
  await lm.save('models/names.safetensors');
  const top = (prefix) => `"${prefix}" -> ` + lm.predictNext(prefix, 3).map((t) => `${JSON.stringify(t.token)} ${t.probability.toFixed(3)}`).join(', ');
  console.log(`names: ${r.steps} steps in ${r.seconds.toFixed(0)} s, final training loss ${r.history.at(-1)?.loss.toFixed(3)}; ${['Joh', 'Sar', 'Mar'].map(top).join('; ')}`);
}

if (want('moby-dick')) {
  const steps = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 3000;
  const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 256, embeddingDim: 64, seed: 1 });
  const r = await lm.fit(mobyDick(), {
    seqLen: 64, batchSize: 32, maxSteps: steps, lr: 2e-3, clip: 5, evalEvery: 500, progressIntervalMs: 10000,
    onProgress: progress('moby-dick'),
  });
  await lm.save('models/moby-dick.safetensors');
  console.log(`moby-dick: ${r.steps} steps in ${r.seconds.toFixed(0)} s, best validation loss ${r.bestValLoss?.toFixed(3)}`);
  console.log(`  "Call me" -> ${JSON.stringify(lm.generate('Call me', { length: 120, temperature: 0.7, seed: 1 }))}`);
}
