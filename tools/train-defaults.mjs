// Trains the bundled default models with rnnkit itself (npm run train:defaults):
//   models/names.safetensors      character LSTM over English first names (rnnkit complete "Joh")
//   models/moby-dick.safetensors  character LSTM over Moby Dick (rnnkit generate --prefix "Call me")
// usage: node tools/train-defaults.mjs [names] [moby-dick] [--steps N]
import { LanguageModel } from '../dist/index.js';
import { mobyDick } from '../examples/datasets.mjs';
import { NAMES_CANDIDATES, NAMES_CHOSEN, namesFitOptions, namesModel, splitNames } from './names-eval.mjs';

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
  // Item mode: each name its own sequence from a zero state, as complete uses it. The settings and the epoch
  // count are those tools/names-eval.mjs chose on its validation split (NAMES_CHOSEN); the bundled model trains
  // on train + validation, so names-eval can still score it on the test names it never saw.
  const c = NAMES_CANDIDATES[NAMES_CHOSEN.candidate];
  const { train, validation } = splitNames();
  const lm = namesModel(c);
  const r = await lm.fit([...train, ...validation], {
    ...namesFitOptions(c, { epochs: NAMES_CHOSEN.epochs, trainCount: train.length + validation.length }),
    progressIntervalMs: 5000, onProgress: progress('names'),
  });
  await lm.save('models/names.safetensors');
  const top = (prefix) => `"${prefix}" -> ` + lm.predictNext(prefix, 3).map((t) => `${JSON.stringify(t.token)} ${t.probability.toFixed(3)}`).join(', ');
  console.log(`names: ${NAMES_CHOSEN.candidate}, ${train.length + validation.length} names, ${r.steps} steps in ${r.seconds.toFixed(0)} s, final training loss ${r.history.at(-1)?.loss.toFixed(3)}; ${['Joh', 'Sar', 'Mar'].map(top).join('; ')}`);
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
