#!/usr/bin/env node
// Reproduces the README's "Why LSTM" section: the memory experiment at the size the README reports (agreement-lm,
// nested grammar, k log-uniform in 2..100, 3 seeds), its table on stdout, and the pictures the README shows, drawn
// by the report renderer from this run (not by hand):
//   docs/why-lstm-accuracy.svg   accuracy by distance bucket per cell, 95% Wilson intervals, the lecture's numbers
//   docs/why-lstm-gradients.svg  ‖∂L/∂h‖ against distance from the verb (k = 100 test sentences), γ per cell
//   docs/why-lstm.json           the whole result (per-seed accuracies, gradient norms, training curves)
// Usage (from the repository root, after npm run build:ts):
//   RNNKIT_THREADS=1 node tools/why-lstm.mjs                    # the README's run, about 3-4 min on one thread
//   RNNKIT_THREADS=1 node tools/why-lstm.mjs --grammar rich --training uniform --out docs/why-lstm-rich-uniform
//                                                               # the README's one-bit run, about 12 min
//   node tools/why-lstm.mjs --steps 200 --seeds 1 --out /tmp/x  # a quick look, written elsewhere
//   node tools/why-lstm.mjs --from docs/why-lstm.json            # redraw the pictures and table of a saved run
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { memoryGradients, memoryTable } from '../dist/cli/experiment.js';
import { runMemoryExperiment } from '../dist/diagnostics/memory.js';
import { accuracyChart, gradientChart, svgFile } from '../dist/diagnostics/report-html.js';

const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'agreement-lm' },
    grammar: { type: 'string', default: 'nested' },
    training: { type: 'string', default: 'log-uniform' },
    steps: { type: 'string', default: '5000' },
    seeds: { type: 'string', default: '3' },
    'test-per-bucket': { type: 'string', default: '200' },
    out: { type: 'string', default: 'docs' },
    from: { type: 'string' },
  },
});
const result = values.from ? JSON.parse(readFileSync(values.from, 'utf8')) : await runMemoryExperiment({
  task: values.task, grammar: values.grammar, training: values.training,
  steps: Number(values.steps), seeds: Number(values.seeds), testPerBucket: Number(values['test-per-bucket']),
  onProgress: (p) => { if (p.step === p.totalSteps) process.stderr.write(`why-lstm: run ${p.run}/${p.runs} ${p.cell} seed ${p.seed} done\n`); },
});
process.stdout.write(memoryTable(result));
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, 'why-lstm-accuracy.svg'), svgFile(accuracyChart(result)));
writeFileSync(join(values.out, 'why-lstm-gradients.svg'), svgFile(gradientChart(memoryGradients(result))));
if (!values.from) writeFileSync(join(values.out, 'why-lstm.json'), JSON.stringify(result) + '\n');
process.stderr.write(`why-lstm: pictures and results in ${values.out}/\n`);
