// `rnnkit gradients`: how the gradient of a late loss reaches early states in a language model, on a batch of
// windows from a text: ‖∂L/∂h‖ by distance per layer, the fitted decay γ, the distance where it falls under 1e-3,
// the one-step Jacobian norm and the spectral radius of W_hh (src/diagnostics/).
import { gradientReport, windows, type GradientReport } from '../diagnostics/gradient-report.js';
import { VANISH_RATIO } from '../diagnostics/gradient-flow.js';
import { gradientReportHtml } from '../diagnostics/report-html.js';
import { RnnkitError } from '../errors.js';
import { tokenize } from '../models/vocab.js';
import { option, UsageError, type Args, type Command } from './args.js';
import { fmt, out, outJson, readInput, stdinIsPiped } from './io.js';
import { loadModelOf } from './models.js';
import { prepareReportDir, writeReport } from './report-out.js';

export const GRADIENTS: Command = {
  name: 'gradients',
  usage: 'rnnkit gradients <model> --data <file|-> [--length <T>] [--batch <n>] [--out <dir>] [--json]',
  summary: 'Gradient flow through time in a language model: ‖∂L/∂h‖ by distance from a loss at the last step, per layer, ' +
    'with the fitted per-step decay γ, the distance where it falls under 1e-3, ‖∂h_t/∂h_t-1‖ and the spectral radius of W_hh.',
  maxPositionals: 1,
  options: {
    data: option('<file|->', 'a text; its first windows of T+1 tokens are the batch ("-" or omitted with piped stdin: stdin)'),
    length: option('<T>', 'steps per window: the largest distance measured (default 50)'),
    batch: option('<n>', 'windows (default 16; fewer when the text is short)'),
    out: option('<dir>', 'also write an HTML report with the chart (<dir>/index.html; opens offline)'),
  },
  notes: 'The loss is the cross-entropy of the prediction after the last of T inputs; the gradient at distance k is w.r.t.\n' +
    'each layer\'s state k steps before it (h; h and c for LSTM). γ is exp of the least-squares slope of log ‖∂L/∂h‖\n' +
    'against distance. |dS_t/dS_t-1| is the largest singular value of one step\'s state Jacobian (an upper bound on the\n' +
    'per-step factor, loose for LSTM). The run costs about 3T one-step passes for the flow plus 80 per step and layer\n' +
    'for the Jacobian (160 for LSTM).\n' +
    'example: rnnkit gradients models/names.safetensors --data names.txt --length 30',
  run: runGradients,
};

/** Distances shown in the table: 1, 2, 5, 10, 20, 50, 100, ... up to T, and T itself. */
export function tableDistances(T: number): number[] {
  const ds: number[] = [];
  for (let scale = 1; scale <= T; scale *= 10) for (const m of [1, 2, 5]) if (m * scale <= T) ds.push(m * scale);
  if (ds.at(-1) !== T) ds.push(T);
  return ds;
}

async function runGradients(a: Args): Promise<number> {
  const path = a.positional(0, 'model', true);
  const dataPath = a.str('data');
  if (dataPath === undefined && !stdinIsPiped()) throw new UsageError('missing --data <file|-> (or pipe the text on stdin)', 'gradients');
  const T = a.int('length', 1, 100_000) ?? 50;
  const count = a.int('batch', 1, 100_000) ?? 16;
  const outDir = a.str('out');
  const reportPath = outDir === undefined ? undefined : await prepareReportDir(outDir);
  const lm = await loadModelOf(path, 'language-model');
  try {
    const input = await readInput(dataPath, '--data <file|->', 'gradients');
    const ids = lm.vocabulary.encode(tokenize(input.text, lm.config.tokenizer));
    const seqs = windows(ids, T, count);
    if (seqs.length === 0) {
      throw new RnnkitError('E_ARGUMENT', `${input.name}: ${ids.length} tokens, fewer than the ${T + 1} one window of --length ${T} needs`);
    }
    const r = gradientReport(lm, seqs);
    if (a.flag('json')) outJson({ model: path, data: input.name, ...r });
    else out(table(r, path, input.name));
    if (reportPath !== undefined) await writeReport(reportPath, gradientReportHtml([{ name: path, report: r, data: input.name }]));
    return 0;
  } finally {
    lm.dispose();
  }
}

function table(r: GradientReport, model: string, data: string): string {
  const cell = r.layers[0]?.c !== undefined;
  const lines = [
    `${model}: ${r.kind}, ${r.layers.length} layer${r.layers.length > 1 ? 's' : ''}; ${r.B} window${r.B > 1 ? 's' : ''} of ${r.T} steps from ${data}`,
    `loss at the last step: ${fmt(r.loss ?? NaN)} nats (mean cross-entropy)`,
  ];
  const ds = tableDistances(r.T);
  for (const l of r.layers) {
    lines.push('', `layer ${l.layer}`);
    lines.push(`  ${'distance'.padStart(8)}  ${'|dL/dh|'.padStart(10)}${cell ? `  ${'|dL/dc|'.padStart(10)}` : ''}`);
    for (const d of ds) {
      lines.push(`  ${String(d).padStart(8)}  ${fmt(l.h[d - 1]).padStart(10)}${cell ? `  ${fmt(l.c![d - 1]).padStart(10)}` : ''}`);
    }
    lines.push(`  gamma (per-step decay of |dL/dh|, fit over distances 1-${r.T}): ${fmt(l.gamma ?? NaN)}` +
      (cell ? `; of |dL/dc|: ${fmt(l.gammaC ?? NaN)}` : ''));
    lines.push(`  under ${VANISH_RATIO} of distance 1 at distance: ${l.vanishDistance ?? `not within ${r.T}`}`);
    const range = (js: number[]) => `${fmt(js.reduce((a, b) => a + b, 0) / js.length)} (min ${fmt(Math.min(...js))}, max ${fmt(Math.max(...js))})`;
    if (l.jacobian.length) lines.push(`  |dS_t/dS_t-1| (largest singular value; S = ${cell ? '(h, c)' : 'h'}), mean over steps: ${range(l.jacobian)}`);
    if (l.jacobianH?.length) lines.push(`  |dh_t/dh_t-1| (c held), mean over steps: ${range(l.jacobianH)}`);
    lines.push(`  spectral radius of W_hh: ${Object.entries(l.spectralRadius).map(([g, v]) => `${g} ${fmt(v)}`).join('  ')}`);
  }
  return lines.join('\n');
}
