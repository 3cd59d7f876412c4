// Forecasting daily US births: an LSTM reads the last 4 weeks and predicts the next day. Trained on
// 2000-2013, scored on 2014 against the seasonal naive forecast (the same weekday one week earlier).
// usage: npm run build:ts && node examples/births.mjs
import { SequenceRegressor } from '../dist/index.js';
import { usBirths } from './datasets.mjs';

const rows = usBirths();
const series = rows.map((r) => r.births);
const first2014 = rows.findIndex((r) => r.date.startsWith('2014-'));

const model = new SequenceRegressor({ window: 28, hiddenSize: 64, seed: 1 });
const r = await model.fit(series.slice(0, first2014), {
  epochs: 30, batchSize: 32, lr: 3e-3, patience: 5, validationSplit: 0.1,
  onProgress: (p) => process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(4)}` : ''}\n`),
  progressIntervalMs: 10000,
});
const ours = model.evaluate(series, { from: first2014 });
let naive = 0;
for (let t = first2014; t < series.length; t++) naive += Math.abs(series[t] - series[t - 7]);
naive /= series.length - first2014;
console.log(`births: ${r.steps} steps in ${r.seconds.toFixed(0)} s; 2014 one-day-ahead MAE ${ours.mae.toFixed(1)} (${ours.count} days) vs seasonal naive ${naive.toFixed(1)}`);
await model.save('births.safetensors');
