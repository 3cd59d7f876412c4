// `rnnkit experiment memory`: the RNN/LSTM/GRU memory experiment (src/diagnostics/memory.ts) from the command
// line; progress on stderr, the accuracy-by-distance table (or JSON) on stdout.
import { BACKEND_NAMES, type BackendName } from '../backend/index.js';
import type { CellKind } from '../backend/types.js';
import {
  MEMORY_CELLS, MEMORY_TASKS, MEMORY_TRAINING, runMemoryExperiment, type MemoryExperimentResult,
} from '../diagnostics/memory.js';
import { AGREEMENT_GRAMMARS } from '../diagnostics/memory-data.js';
import { memoryReportHtml, type NamedGradientReport } from '../diagnostics/report-html.js';
import { option, UsageError, type Args, type Command } from './args.js';
import { duration } from './progress.js';
import { prepareReportDir, writeReport } from './report-out.js';

const CELL_NAMES: readonly CellKind[] = ['rnn_tanh', 'rnn_relu', 'lstm', 'gru'];

export const EXPERIMENT: Command = {
  name: 'experiment',
  usage: 'rnnkit experiment memory [--task agreement|agreement-lm|adding] [--grammar plain|rich|nested] [--seeds <n>] [--steps <n>] [--cells rnn_tanh,lstm,gru] [--out <dir>] [options]',
  summary: 'Trains a tanh RNN, an LSTM and a GRU with matched parameter counts and the same budget on a long-range ' +
    'task (subject-verb agreement across k distractor words, or the adding problem), several seeds, and prints ' +
    'the test accuracy by distance with 95% intervals beside the lecture\'s RNN numbers.',
  maxPositionals: 1,
  options: {
    task: option('<name>', 'agreement (default; a classifier on the last state), agreement-lm (a next-word language model, P(was) vs P(were) at the verb) or adding'),
    seeds: option('<n>', 'seeds per cell (default 3)'),
    steps: option('<n>', 'training steps per model (default 5000)'),
    cells: option('<list>', 'comma-separated cell kinds (default rnn_tanh,lstm,gru)'),
    training: option('<mode>', 'training distances: uniform (default: one model, k uniform in 2..100), ' +
      'log-uniform (one model, each scale of k equally often) or bucket (a model per bucket, trained on its k only)'),
    'train-max': option('<n>', 'the longest training distance of uniform and log-uniform (default 100): shorter than the test buckets, it asks how far a dependency learned on short sentences carries'),
    grammar: option('<name>', 'agreement sentences: plain (default; number-neutral distractors, 43 words) or rich ' +
      '(125 words, adjectives, clauses whose verbs agree with their own nouns: "the cat that the dogs chase ... was") or nested ' +
      '(the rich words, up to 3 center-embedded clauses open at once: "the cat that the dogs that the bird likes chase ... was")'),
    batch: option('<n>', 'examples per step (default 32)'),
    hidden: option('<n>', 'the LSTM\'s hidden size; the others get the size with the closest parameter count (default 32)'),
    lr: option('<x>', 'Adam learning rate (default 0.003)'),
    'forget-bias': option('<x>', 'added to the LSTM\'s forget-gate bias at initialisation (default 0, as in PyTorch; 1 is the usual remedy)'),
    'test-per-bucket': option('<n>', 'test examples per distance bucket (default 200)'),
    'test-every': option('<n>', 'also test every n steps and print accuracy by bucket along training (default: only at the end)'),
    backend: option('<name>', 'native or wasm (default: the active backend)'),
    out: option('<dir>', 'also write an HTML report with the charts (<dir>/index.html; opens offline)'),
  },
  notes: 'Distance k: the words between the subject noun and the verb (agreement), or the steps from the first ' +
    'marker to the end (adding; right means an error under 0.04). Buckets: 5-10, 15-20, 30-49, 50-99, 100.\n' +
    'Each trained model\'s gradient ‖∂L/∂h‖ by distance is measured on test sequences of the longest distance ' +
    '(the table after the accuracies, and a chart with --out).\n' +
    'The full-size run takes minutes per cell; try --seeds 1 --steps 300 for a quick look.',
  run: runExperiment,
};

async function runExperiment(a: Args): Promise<number> {
  const which = a.positional(0, 'experiment', true);
  if (which !== 'memory') throw new UsageError(`unknown experiment "${which}" (expected memory)`, 'experiment');
  const cellsArg = a.str('cells');
  const cells = cellsArg === undefined ? MEMORY_CELLS : cellsArg.split(',').map((c) => c.trim());
  for (const c of cells) {
    if (!(CELL_NAMES as readonly string[]).includes(c)) {
      throw new UsageError(`--cells: expected a comma-separated list of ${CELL_NAMES.join(', ')}, found "${c}"`, 'experiment');
    }
  }
  const json = a.flag('json');
  const opts = {
    task: a.choice('task', MEMORY_TASKS) ?? 'agreement',
    cells: cells as CellKind[],
    seeds: a.int('seeds', 1, 1000) ?? 3,
    steps: a.int('steps', 1, 1e7) ?? 5000,
    training: a.choice('training', MEMORY_TRAINING) ?? 'uniform',
    grammar: a.choice('grammar', AGREEMENT_GRAMMARS) ?? 'plain',
    trainMax: a.int('train-max', 2, 1000) ?? 100,
    batch: a.int('batch', 1, 4096) ?? 32,
    lstmHidden: a.int('hidden', 1, 4096) ?? 32,
    lr: a.num('lr', { min: 0, minExclusive: true }) ?? 3e-3,
    lstmForgetBias: a.num('forget-bias') ?? 0,
    testPerBucket: a.int('test-per-bucket', 1, 1e6) ?? 200,
    testEvery: a.int('test-every', 1, 1e7) ?? 0,
    ...(a.has('backend') ? { backend: a.choice('backend', BACKEND_NAMES as BackendName[])! } : {}),
  };
  const outDir = a.str('out');
  const reportPath = outDir === undefined ? undefined : await prepareReportDir(outDir);
  let last = -Infinity;
  const result = await runMemoryExperiment({
    ...opts,
    onProgress: (p) => {
      const now = performance.now();
      if (now - last < 2000 && p.step !== p.totalSteps) return;
      last = now;
      const what = `${p.cell} seed ${p.seed}${p.bucket ? ` k ${p.bucket}` : ''}`;
      process.stderr.write(`rnnkit experiment: run ${p.run}/${p.runs} ${what}: step ${p.step}/${p.totalSteps} ` +
        `loss ${p.loss.toFixed(4)} eta ${duration(p.etaSeconds)}\n`);
    },
  });
  process.stdout.write(json ? JSON.stringify(result, null, 2) + '\n' : memoryTable(result));
  if (reportPath !== undefined) await writeReport(reportPath, memoryReportHtml(result, memoryGradients(result)));
  return 0;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`;

/** Each cell's first run with a gradient flow, named by its seed (the legend adds the cell): the memory page's three-cell gradient chart. */
export function memoryGradients(r: MemoryExperimentResult): NamedGradientReport[] {
  return r.cells.flatMap((c) => {
    const run = c.runs.find((x) => x.gradients);
    return run ? [{ name: `seed ${run.seed}`, report: run.gradients! }] : [];
  });
}

/** ‖∂L/∂h‖ at these distances from the verb in the terminal table (those within T). */
const GRADIENT_DISTANCES = [1, 10, 20, 50, 100];

/** The experiment as text: settings, the cells' sizes, then accuracy by distance bucket per cell. */
export function memoryTable(r: MemoryExperimentResult): string {
  const s = r.settings;
  const mix = s.trainDistances ? `${s.training} k in ${s.trainDistances[0]}..${s.trainDistances[1]}` : 'one model per bucket';
  const lines = [
    `memory experiment: ${r.task}${s.grammar && s.grammar !== 'plain' ? ` (${s.grammar} grammar)` : ''}, training ${mix}, ${s.steps} steps x batch ${s.batch}, adam lr ${s.lr}, clip ${s.clip}, ` +
      `${s.lstmForgetBias ? `LSTM forget bias +${s.lstmForgetBias}, ` : ''}` +
      `${s.seeds} seed${s.seeds > 1 ? 's' : ''}, ${s.testPerBucket} test examples per bucket and seed, ${s.backend} backend, ${r.seconds.toFixed(0)} s`,
    '',
    `${'cell'.padEnd(10)}${'hidden'.padStart(7)}${'params'.padStart(8)}${'vs LSTM'.padStart(9)}${'train s'.padStart(9)}  accuracy % per seed (all buckets)`,
  ];
  for (const c of r.cells) {
    const secs = c.runs.reduce((x, run) => x + run.seconds, 0) / s.seeds;
    const bySeed = Array.from({ length: s.seeds }, (_, seed) => {
      const rs = c.runs.filter((run) => run.seed === seed);
      return pct(rs.reduce((x, run) => x + run.accuracy, 0) / rs.length);
    });
    const off = (100 * (c.parameters - s.referenceParameters)) / s.referenceParameters;
    lines.push(`${c.cell.padEnd(10)}${String(c.hidden).padStart(7)}${String(c.parameters).padStart(8)}` +
      `${`${off >= 0 ? '+' : ''}${off.toFixed(1)}%`.padStart(9)}${secs.toFixed(1).padStart(9)}  ${bySeed.join(' ')}`);
  }
  lines.push('', `accuracy % by distance k: pooled over seeds [95% Wilson interval over test examples] (seed min-max); chance ${pct(r.chance)}`);
  const cellWidth = 35;
  lines.push(`${'k'.padEnd(8)}${(r.task !== 'adding' ? 'lecture RNN' : '').padEnd(13)}${r.cells.map((c) => c.cell.padEnd(cellWidth)).join('')}`);
  const names = r.cells[0]?.buckets.map((b) => b.bucket) ?? [];
  for (const name of names) {
    const lecture = r.cells[0]!.buckets.find((b) => b.bucket === name)!.lecture;
    const lec = r.task !== 'adding' && lecture !== undefined ? `${pct(lecture)}${name.startsWith('5-') || name.startsWith('15-') ? '' : ' (30+)'}` : '';
    const cols = r.cells.map((c) => {
      const b = c.buckets.find((x) => x.bucket === name);
      if (!b) return ''.padEnd(cellWidth);
      return `${pct(b.accuracy)} [${pct(b.ci95.lo)}-${pct(b.ci95.hi)}] (${pct(b.seedSpread.min)}-${pct(b.seedSpread.max)})`.padEnd(cellWidth);
    });
    lines.push(`${name.padEnd(8)}${lec.padEnd(13)}${cols.join('')}`);
  }
  if (r.cells.some((c) => c.byDepth)) {
    lines.push('', 'accuracy % by distance k and nesting depth (clauses open inside the distance), pooled over seeds (test sentences)');
    lines.push(`${'cell'.padEnd(10)}${'depth'.padStart(5)}${names.map((n) => n.padStart(14)).join('')}`);
    for (const c of r.cells) {
      for (const d of c.byDepth ?? []) {
        lines.push(`${c.cell.padEnd(10)}${String(d.depth).padStart(5)}` + names.map((n) => {
          const b = d.buckets.find((x) => x.bucket === n);
          return (b ? `${pct(b.accuracy)} (${b.n})` : '').padStart(14);
        }).join(''));
      }
    }
  }
  const flows = r.cells.flatMap((c) => c.runs.filter((run) => run.gradients).map((run) => ({ cell: c.cell, run, g: run.gradients! })));
  if (flows.length) {
    const T = Math.max(...flows.map((f) => f.g.T));
    const ks = GRADIENT_DISTANCES.filter((k) => k <= T);
    lines.push('', `gradient of the loss at the end, ‖∂L/∂h‖ by distance k, on ${flows[0]!.g.B} test sequences of ${T} steps; ` +
      'γ: fitted decay per step; vanish: first k under 1e-3 of k = 1');
    lines.push(`${'cell'.padEnd(10)}${'seed'.padStart(5)}${ks.map((k) => `k=${k}`.padStart(10)).join('')}${'γ'.padStart(8)}${'vanish'.padStart(8)}`);
    for (const { cell, run, g } of flows) {
      for (const l of g.layers) {
        lines.push(`${cell.padEnd(10)}${String(run.seed).padStart(5)}${ks.map((k) => (l.h[k - 1] ?? NaN).toExponential(2).padStart(10)).join('')}` +
          `${(l.gamma === null ? 'n/a' : l.gamma.toFixed(3)).padStart(8)}${(l.vanishDistance === null ? `>${g.T}` : String(l.vanishDistance)).padStart(8)}`);
      }
    }
  }
  const curves = r.cells.flatMap((c) => c.runs.filter((run) => run.checkpoints).map((run) => ({ cell: c.cell, run })));
  if (curves.length) {
    lines.push('', 'accuracy % by distance bucket along training (test set after each --test-every steps)');
    lines.push(`${'cell'.padEnd(10)}${'seed'.padStart(5)}${'step'.padStart(8)}${names.map((n) => n.padStart(8)).join('')}`);
    for (const { cell, run } of curves) {
      for (const cp of run.checkpoints!) {
        lines.push(`${cell.padEnd(10)}${String(run.seed).padStart(5)}${String(cp.step).padStart(8)}` +
          names.map((n) => (cp.accuracy[n] === undefined ? '' : pct(cp.accuracy[n]!)).padStart(8)).join(''));
      }
    }
  }
  return lines.map((l) => l.trimEnd()).join('\n') + '\n';
}
