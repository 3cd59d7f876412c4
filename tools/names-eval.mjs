// Name completion measured on names held out from training (issue 14): the bundled first names split by a
// seeded shuffle into train and held-out; for each model, on the held-out names,
//   top-1 / top-3  next-letter accuracy from every prefix, a name's end (the separator) included,
//   exact          the share of names of at least 4 letters that greedy decoding from their first three letters
//                  completes exactly (argmax letter by letter until the end, at most 30 letters),
//   loss           mean -log p of the held-out letters and ends (nats), each name read from a zero state.
// Models: rnnkit trained in stream mode (how the names model was trained before item mode), rnnkit trained in
// item mode (each name its own sequence from a zero state), and a character n-gram model with interpolated
// Kneser-Ney smoothing (its order chosen on the last 10% of the train split), all on the same train split.
//
// usage: npm run build:ts && node tools/names-eval.mjs [--epochs 30] [--split 0.9] [--seed 1]
//          [--only stream,items,ngram] [--save DIR] [--model FILE ...] [--json]
//          [--hidden 128] [--embedding 32] [--layers 1] [--dropout 0] [--lr 3e-3] [--weight-decay 0]
//          [--validation 0.1]  (the share of the train split fit holds out to keep its best parameters)
//   --model FILE  also measure a saved model (e.g. models/names.safetensors; it may have seen held-out names)
//   --save DIR    write the trained models as DIR/names-stream.safetensors and DIR/names-items.safetensors
// The rnnkit models default to tools/train-defaults.mjs's first names settings before item mode (char LSTM,
// embedding 32, hidden 128, seqLen 32, batch 32, Adam lr 3e-3, clip 5, cosine schedule, 30 epochs, seed 1);
// the flags change them for both modes alike.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LanguageModel } from '../dist/index.js';
import { firstNames } from '../examples/datasets.mjs';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const epochs = Number(value('--epochs', '30'));
const settings = {
  hiddenSize: Number(value('--hidden', '128')), embeddingDim: Number(value('--embedding', '32')),
  numLayers: Number(value('--layers', '1')), dropout: Number(value('--dropout', '0')),
};
const lr = Number(value('--lr', '3e-3')), weightDecay = Number(value('--weight-decay', '0'));
const validationSplit = Number(value('--validation', '0.1'));
const split = Number(value('--split', '0.9'));
const seed = Number(value('--seed', '1'));
const only = value('--only', 'stream,items,ngram').split(',');
const saveDir = value('--save', undefined);
const modelFiles = args.flatMap((a, i) => (a === '--model' ? [args[i + 1]] : []));
const json = args.includes('--json');
const SEP = '\n';
const MAX_LETTERS = 30;

/** The names in a seeded order (the same LCG shuffle as examples/datasets.mjs), first `share` of them to train. */
function splitNames(names, share, s) {
  const all = [...names];
  s >>>= 0;
  for (let i = all.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  const n = Math.round(all.length * share);
  return { train: all.slice(0, n), heldOut: all.slice(n) };
}

/**
 * Character n-gram model of order N with interpolated Kneser-Ney smoothing (one discount D): the top order uses
 * counts, the lower orders continuation counts (how many distinct letters precede the n-gram), the lowest is
 * interpolated with a uniform distribution over the letters seen. A name is read as N-1 start symbols, its
 * letters, and the end (SEP), so every lower-order n-gram has a left context.
 */
class KneserNey {
  constructor(names, N, D = 0.75) {
    this.N = N;
    this.D = D;
    this.START = '\u0002';
    const letters = new Set([SEP]);
    for (const n of names) for (const ch of n) letters.add(ch);
    this.vocab = [...letters];
    // tables[k]: context (k letters) -> Map(next letter -> count), k = 0..N-1; tables[N-1] holds raw counts.
    this.tables = Array.from({ length: N }, () => new Map());
    const add = (k, h, w, c = 1) => {
      let m = this.tables[k].get(h);
      if (!m) this.tables[k].set(h, (m = new Map()));
      m.set(w, (m.get(w) ?? 0) + c);
    };
    const seen = new Set();
    for (const name of names) {
      const seq = [...this.START.repeat(N - 1), ...name, SEP];
      for (let i = N - 1; i < seq.length; i++) {
        add(N - 1, seq.slice(i - N + 1, i).join(''), seq[i]);
        // Continuation counts: each distinct n-gram of order k+2 (letter x, context h, next w) adds one to (h, w)
        // at order k+1.
        for (let k = 0; k < N - 1; k++) {
          const gram = seq.slice(i - k - 1, i + 1).join('');
          if (seen.has(gram)) continue;
          seen.add(gram);
          add(k, seq.slice(i - k, i).join(''), seq[i]);
        }
      }
    }
    for (const t of this.tables) for (const [h, m] of t) {
      let total = 0;
      for (const c of m.values()) total += c;
      t.set(h, { m, total, types: m.size });
    }
  }

  /** p(w | history), history the letters so far (the start symbols are added). */
  prob(history, w) {
    const h = [...this.START.repeat(this.N - 1), ...history].slice(-(this.N - 1)).join('');
    return this.at(this.N - 1, h, w);
  }

  at(k, h, w) {
    const lower = k === 0 ? 1 / this.vocab.length : this.at(k - 1, [...h].slice(1).join(''), w);
    const e = this.tables[k].get(h);
    if (!e) return lower;
    return Math.max((e.m.get(w) ?? 0) - this.D, 0) / e.total + (this.D * e.types / e.total) * lower;
  }

  /** [{ token, probability }] over the letters seen and the end, most likely first. */
  distribution(history) {
    return this.vocab.map((token) => ({ token, probability: this.prob(history, token) })).sort((a, b) => b.probability - a.probability);
  }
}

/** The n-gram order (3 to 7) with the lowest loss on the last 10% of the train split, then fitted on all of it. */
function fitNgram(train) {
  const cut = Math.round(train.length * 0.9);
  let best = null;
  for (let N = 3; N <= 7; N++) {
    const m = new KneserNey(train.slice(0, cut), N);
    const r = measure(ngramPredictor(m), train.slice(cut), { exact: false });
    if (!best || r.loss < best.loss) best = { N, loss: r.loss };
  }
  return { model: new KneserNey(train, best.N), order: best.N };
}

const ngramPredictor = (m) => ({
  // A predictor: start(prefix) -> state; next(state) -> sorted distribution; feed(state, letter) -> state.
  start: (prefix) => prefix,
  next: (h) => m.distribution(h),
  feed: (h, ch) => h + ch,
});

const rnnkitPredictor = (lm) => ({
  start: (prefix) => lm.stream(prefix),
  next: (s) => {
    const p = s.distribution();
    // <unk> is never an answer: a held-out letter the model never saw counts as missed.
    return lm.vocabulary.tokens.map((token, i) => ({ token, probability: p[i] })).filter((t) => t.token !== '<unk>')
      .sort((a, b) => b.probability - a.probability);
  },
  feed: (s, ch) => s.clone().feed(ch),
});

/** The metrics of a predictor over held-out names (see the header). */
function measure(pred, names, { exact = true } = {}) {
  let positions = 0, top1 = 0, top3 = 0, nll = 0, tried = 0, completed = 0;
  for (const name of names) {
    const letters = Array.from(name);
    let state = pred.start('');
    for (let i = 0; i <= letters.length; i++) {
      const want = i < letters.length ? letters[i] : SEP;
      const dist = pred.next(state);
      const rank = dist.findIndex((t) => t.token === want);
      positions++;
      if (rank === 0) top1++;
      if (rank >= 0 && rank < 3) top3++;
      nll -= Math.log(rank >= 0 ? Math.max(dist[rank].probability, 1e-30) : 1e-30);
      if (i < letters.length) state = pred.feed(state, want);
    }
    if (exact && letters.length >= 4) {
      tried++;
      let s = pred.start(letters.slice(0, 3).join(''));
      let out = letters.slice(0, 3).join('');
      for (let n = 0; n < MAX_LETTERS; n++) {
        const best = pred.next(s)[0].token;
        if (best === SEP) break;
        out += best;
        s = pred.feed(s, best);
      }
      if (out === name) completed++;
    }
  }
  return { names: names.length, positions, top1: top1 / positions, top3: top3 / positions, loss: nll / positions, exact: tried ? completed / tried : NaN, exactOf: tried };
}

const { train, heldOut } = splitNames(firstNames(), split, seed);
const results = [];
const log = (s) => process.stderr.write(`${s}\n`);
log(`names: ${train.length} to train, ${heldOut.length} held out (seeded shuffle, seed ${seed}); rnnkit: ${epochs} epochs, ${JSON.stringify({ ...settings, lr, weightDecay, validationSplit })}`);

for (const mode of ['stream', 'items']) {
  if (!only.includes(mode)) continue;
  const lm = new LanguageModel({ tokenizer: 'char', ...settings, separator: SEP, seed: 1, sequences: mode });
  let tokPerSec = 0;
  const r = await lm.fit(train, {
    seqLen: 32, batchSize: 32, epochs, lr, weightDecay, validationSplit, clip: 5, schedule: 'cosine', progressIntervalMs: 20000,
    onProgress: (p) => { tokPerSec = p.itemsPerSecond; log(`  ${mode}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(3)}` : ''} ${Math.round(p.itemsPerSecond)} tok/s`); },
  });
  if (saveDir) { mkdirSync(saveDir, { recursive: true }); await lm.save(join(saveDir, `names-${mode}.safetensors`)); }
  const m = measure(rnnkitPredictor(lm), heldOut);
  results.push({ model: `rnnkit ${mode} mode`, epochs, bestValLoss: r.bestValLoss, steps: r.steps, seconds: Math.round(r.seconds), tokPerSec: Math.round(tokPerSec), ...m });
  log(`  ${mode}: ${r.steps} steps in ${r.seconds.toFixed(0)} s`);
  lm.dispose();
}

for (const file of modelFiles) {
  const lm = await LanguageModel.load(file);
  results.push({ model: file, ...measure(rnnkitPredictor(lm), heldOut) });
  lm.dispose();
}

if (only.includes('ngram')) {
  const t0 = performance.now();
  const { model, order } = fitNgram(train);
  results.push({ model: `${order}-gram Kneser-Ney`, seconds: Math.round((performance.now() - t0) / 1000), ...measure(ngramPredictor(model), heldOut) });
}

if (json) {
  console.log(JSON.stringify({ train: train.length, heldOut: heldOut.length, seed, results }, null, 2));
} else {
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`held-out names: ${heldOut.length} (${results[0]?.positions ?? 0} next-letter positions; exact completion over the ${results[0]?.exactOf ?? 0} of 4+ letters)`);
  console.log('| model | top-1 | top-3 | exact greedy completion | loss (nats) | train |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    const trained = r.steps !== undefined ? `${r.epochs} epochs, ${r.steps} steps, ${r.seconds} s` : r.seconds !== undefined ? `${r.seconds} s` : '';
    console.log(`| ${r.model} | ${pct(r.top1)} | ${pct(r.top3)} | ${pct(r.exact)} | ${r.loss.toFixed(3)} | ${trained} |`);
  }
}
