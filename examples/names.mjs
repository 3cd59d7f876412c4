// Name completion: a character LSTM over English first names, one per line.
// usage: npm run build:ts && node examples/names.mjs
import { LanguageModel } from '../dist/index.js';
import { firstNames } from './datasets.mjs';

const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 128, embeddingDim: 32, separator: '\n', seed: 1 });
await lm.fit(firstNames(), { seqLen: 32, batchSize: 32, epochs: 30, lr: 3e-3, schedule: 'cosine',
  onProgress: (p) => process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)}\n`), progressIntervalMs: 5000 });
console.log('Joh ->', lm.predictNext('Joh', 3));
console.log('a new name:', lm.stream('').top(1) && lm.generate('Mar', { length: 10, seed: 3, temperature: 0.8 }).split('\n')[0]);
await lm.save('names.safetensors');
