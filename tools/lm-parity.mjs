// The Moby Dick quality bar: rnnkit and PyTorch (tools/lm-parity-torch.py) train the same character LSTM with
// the same data pipeline and settings for the same number of steps; prints both validation curves and the
// ratio of the final validation losses (the bar: rnnkit within 3% of PyTorch).
// usage: npm run build:ts && node tools/lm-parity.mjs [--steps 600] [--eval-every 100] [--backend native|wasm] [--skip-torch]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LanguageModel } from '../dist/index.js';
import { mobyDick } from '../examples/datasets.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const steps = Number(opt('--steps', 600));
const evalEvery = Number(opt('--eval-every', 100));
const backend = opt('--backend', undefined);
const settings = { seqLen: 64, batchSize: 32, lr: 2e-3, clip: 5, validationSplit: 0.1 };

const text = mobyDick();
const textFile = join(tmpdir(), 'rnnkit-moby-dick.txt');
writeFileSync(textFile, text);

function runTorch() {
  return new Promise((resolve, reject) => {
    const args = ['tools/lm-parity-torch.py', '--text', textFile, '--steps', String(steps), '--eval-every', String(evalEvery)];
    const child = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => code === 0 ? resolve(out.trim().split('\n').map((l) => JSON.parse(l))) : reject(new Error(`torch twin exited ${code}`)));
  });
}

const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 256, embeddingDim: 64, seed: 0, ...(backend ? { backend } : {}) });
const t0 = performance.now();
const r = await lm.fit(text, {
  ...settings, maxSteps: steps, evalEvery, progressIntervalMs: 15000,
  onProgress: (p) => process.stderr.write(`rnnkit step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(4)}` : ''} ${Math.round(p.itemsPerSecond)} tok/s\n`),
});
const rnnkitSeconds = (performance.now() - t0) / 1000;
console.log(`rnnkit (${lm.backend.name}): ${steps} steps, ${rnnkitSeconds.toFixed(0)} s, vocabulary ${lm.vocabulary.size}`);
const torch = argv.includes('--skip-torch') ? null : await runTorch();
const rows = r.valHistory.map((v) => {
  const t = torch?.find((x) => x.step === v.step);
  return { step: v.step, rnnkit: v.loss.toFixed(4), pytorch: t ? t.val.toFixed(4) : '-', ratio: t ? (v.loss / t.val).toFixed(4) : '-' };
});
console.table(rows);
if (torch) {
  const done = torch.find((x) => x.done);
  console.log(`pytorch: ${done.seconds.toFixed(0)} s, ${Math.round(done.tokens_per_s)} tok/s training; vocabulary ${done.vocab}`);
  const last = rows.at(-1);
  console.log(`final validation loss: rnnkit ${last.rnnkit}, pytorch ${last.pytorch}, ratio ${last.ratio} (bar: <= 1.03)`);
}
