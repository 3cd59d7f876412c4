// Spam or ham: a word-level LSTM classifier on the Spam Assassin corpus, 20% held out (fixed seed).
// usage: npm run build:ts && node examples/spam.mjs
import { SequenceClassifier } from '../dist/index.js';
import { spamAssassin } from './datasets.mjs';

// The Subject and From headers and the body; the routing headers (Received:, Message-Id:, ...) are mostly noise.
function readable(message) {
  const cut = message.search(/\r?\n\r?\n/);
  const head = cut >= 0 ? message.slice(0, cut) : message;
  const body = cut >= 0 ? message.slice(cut) : '';
  const keep = head.split(/\r?\n/).filter((l) => /^(subject|from):/i.test(l)).join('\n');
  return `${keep}\n${body}`;
}

// A fixed, seeded split: shuffle once, hold out the last 20%.
const all = spamAssassin().map((m) => ({ input: readable(m.text), label: m.label }));
let s = 42;
for (let i = all.length - 1; i > 0; i--) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  const j = s % (i + 1);
  [all[i], all[j]] = [all[j], all[i]];
}
const nTest = Math.floor(all.length * 0.2);
const test = all.slice(all.length - nTest), train = all.slice(0, all.length - nTest);

const clf = new SequenceClassifier({ tokenizer: 'word', maxVocab: 10000, maxLength: 200, embeddingDim: 64, hiddenSize: 64, bidirectional: true, seed: 1 });
const r = await clf.fit(train, {
  epochs: 12, batchSize: 32, lr: 2e-3, patience: 4, validationSplit: 0.1,
  onProgress: (p) => process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(4)}` : ''}\n`),
  progressIntervalMs: 10000,
});
const ev = clf.evaluate(test);
console.log(`spam: ${train.length} training / ${test.length} held-out messages, ${r.steps} steps in ${r.seconds.toFixed(0)} s`);
console.log(`held-out accuracy ${(100 * ev.accuracy).toFixed(2)}% (bar: >= 97%), loss ${ev.loss.toFixed(4)}`);
await clf.save('spam.safetensors');
console.log(clf.predict('Subject: WIN A FREE CRUISE!!! Click here now to claim your prize, limited offer'));
