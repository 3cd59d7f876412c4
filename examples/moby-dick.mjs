// Text generation: a character LSTM over Moby Dick (90/10 split by position), then sampling from "Call me".
// usage: npm run build:ts && node examples/moby-dick.mjs [steps]
import { LanguageModel } from '../dist/index.js';
import { mobyDick } from './datasets.mjs';

const steps = Number(process.argv[2] ?? 2000);
const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 256, embeddingDim: 64, seed: 1 });
const r = await lm.fit(mobyDick(), { seqLen: 64, batchSize: 32, maxSteps: steps, lr: 2e-3, clip: 5, evalEvery: 500,
  onProgress: (p) => process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)} ${Math.round(p.itemsPerSecond)} tok/s\n`),
  progressIntervalMs: 10000 });
console.log(`validation loss ${r.bestValLoss?.toFixed(3)} nats/char after ${r.steps} steps`);
console.log('Call me' + lm.generate('Call me', { length: 300, temperature: 0.7, seed: 1 }));
