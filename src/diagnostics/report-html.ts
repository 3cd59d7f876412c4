// The diagnostics as one self-contained HTML page: inline CSS and inline SVG, no script, no external resource, so
// it opens from disk offline. `rnnkit gradients --out` and `rnnkit experiment memory --out` write it; the terminal
// keeps the same numbers as a table. Every string from outside (model paths, names) goes through `esc`.
import { RnnkitError } from '../errors.js';
import type { GradientReport } from './gradient-report.js';
import type { MemoryExperimentResult } from './memory.js';

/** HTML/SVG text and attribute escaping: the five characters that can end a text node or an attribute. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface ChartSeries {
  name: string;
  /** [x, y] points; on a log y-axis points with y <= 0 or non-finite y are left out (a gap in the line). */
  points: readonly (readonly [number, number])[];
  /** Per point [lo, hi]: drawn as a vertical error bar at that point's x. */
  errors?: readonly (readonly [number, number])[];
  /** Points only, no connecting line (e.g. reference numbers). */
  markersOnly?: boolean;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  logY?: boolean;
  /** Categorical x: x values are indices into these labels. */
  xCategories?: readonly string[];
  /** A fixed y range (linear axes), e.g. [0, 1] for accuracy. */
  yRange?: readonly [number, number];
  /** Horizontal reference lines, e.g. chance accuracy. */
  refLines?: readonly { y: number; label: string }[];
  /** Draw a marker at each point (default: when a series has at most 40 points). */
  markers?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
// Plot box in SVG user units; the legend goes under the x-axis label, one row per series.
const W = 680, H = 340, ML = 70, MR = 20, MT = 34, MB = 50, LEGEND_ROW = 18;

/** A number for a tick label or a legend: 4 significant digits, exponent form outside [1e-3, 1e5). */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e5) return x.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

/** Linear ticks at 1, 2 or 5 times a power of ten, `n` to 2n intervals but at most n + 1, covering [lo, hi]. */
function linearTicks(lo: number, hi: number, n = 5): { lo: number; hi: number; ticks: number[] } {
  if (!(hi > lo)) { const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  // The smallest step with at most n + 1 intervals: 1..102 gets 0..120 by 20 rather than 0..150 by 50.
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => (hi - lo) / s <= n + 1)!;
  const a = Math.floor(lo / step) * step, b = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = a; v <= b + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: a, hi: b, ticks };
}

/**
 * Log ticks at each power of ten from the decade below `lo` to the decade above `hi` (at least two); over 12
 * decades (a vanishing gradient spans 40) at every 2nd, 5th, 10th ... power so that the labels do not overlap.
 */
function logTicks(lo: number, hi: number): { lo: number; hi: number; ticks: number[] } {
  let a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  if (b === a) b = a + 1;
  let every = 1;
  for (let i = 0; (b - a) / every > 12; i++) every = [2, 5][i % 2]! * 10 ** Math.floor(i / 2);
  a = Math.floor(a / every) * every;
  b = Math.ceil(b / every) * every;
  const ticks: number[] = [];
  // Up to two decades the powers of ten alone are too sparse to read a value off: add 2x and 5x.
  const minor = b - a <= 2 ? [1, 2, 5] : [1];
  for (let k = a; k <= b; k += every) for (const m of minor) if (k < b || m === 1) ticks.push(Number((m * 10 ** k).toPrecision(12)));
  return { lo: 10 ** a, hi: 10 ** b, ticks };
}

/** One line chart as an `<svg>` element: axes with tick labels, one `<path class="series">` per series with a line, a `<circle>` per marker, error bars, a legend. */
export function lineChart(o: ChartOptions): string {
  const usable = (y: number) => Number.isFinite(y) && (!o.logY || y > 0);
  const xs: number[] = [], ys: number[] = [];
  for (const s of o.series) {
    s.points.forEach(([x, y], i) => {
      if (!Number.isFinite(x) || !usable(y)) return;
      xs.push(x); ys.push(y);
      const e = s.errors?.[i];
      if (e) for (const v of e) if (usable(v)) ys.push(v);
    });
  }
  for (const r of o.refLines ?? []) if (usable(r.y)) ys.push(r.y);
  const cats = o.xCategories;
  const xDom = cats ? { lo: -0.5, hi: cats.length - 0.5 } : linearTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const yDom = o.yRange ? linearTicks(o.yRange[0], o.yRange[1])
    : o.logY ? logTicks(ys.length ? Math.min(...ys) : 1e-3, ys.length ? Math.max(...ys) : 1)
      : linearTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const pw = W - ML - MR, ph = H - MT - MB;
  const sx = (x: number) => ML + ((x - xDom.lo) / (xDom.hi - xDom.lo)) * pw;
  const sy = o.logY
    ? (y: number) => MT + ph - ((Math.log10(y) - Math.log10(yDom.lo)) / (Math.log10(yDom.hi) - Math.log10(yDom.lo))) * ph
    : (y: number) => MT + ph - ((y - yDom.lo) / (yDom.hi - yDom.lo)) * ph;
  const f = (v: number) => v.toFixed(1);
  const height = H + 8 + LEGEND_ROW * (o.series.length + (o.refLines?.length ?? 0));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${esc(o.title)}">`,
    `<text class="title" x="${W / 2}" y="20" text-anchor="middle">${esc(o.title)}</text>`,
    `<rect class="plot" x="${ML}" y="${MT}" width="${pw}" height="${ph}"/>`,
  ];
  // Grid and tick labels.
  for (const t of yDom.ticks) {
    const y = f(sy(t));
    parts.push(`<line class="grid" x1="${ML}" x2="${ML + pw}" y1="${y}" y2="${y}"/>`,
      `<text class="tick ytick" x="${ML - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(num(t))}</text>`);
  }
  const xTicks = cats ? cats.map((_, i) => i) : (xDom as { ticks: number[] }).ticks;
  for (const t of xTicks) {
    const x = f(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${MT}" y2="${MT + ph}"/>`,
      `<text class="tick xtick" x="${x}" y="${MT + ph + 16}" text-anchor="middle">${esc(cats ? cats[t]! : num(t))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${ML + pw / 2}" y="${MT + ph + 36}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text class="axis-label" transform="translate(16 ${MT + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  const legendY = (i: number) => H + 4 + LEGEND_ROW * i;
  (o.refLines ?? []).forEach((r, i) => {
    if (!usable(r.y)) return;
    const y = f(sy(r.y));
    parts.push(`<line class="ref" x1="${ML}" x2="${ML + pw}" y1="${y}" y2="${y}"/>`,
      `<line class="ref" x1="${ML}" x2="${ML + 24}" y1="${legendY(i)}" y2="${legendY(i)}"/>`,
      `<text class="legend" x="${ML + 30}" y="${legendY(i)}" dominant-baseline="middle">${esc(r.label)}</text>`);
  });
  const legend0 = o.refLines?.length ?? 0;
  o.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const markers = o.markers ?? s.points.length <= 40;
    let d = '', pen = 'M';
    const dots: string[] = [];
    s.points.forEach(([x, y], i) => {
      if (!Number.isFinite(x) || !usable(y)) { pen = 'M'; return; }
      const px = f(sx(x)), py = f(sy(y));
      d += `${pen}${px} ${py}`;
      pen = 'L';
      const e = s.errors?.[i];
      if (e && usable(e[0]) && usable(e[1])) {
        const lo = f(sy(e[0])), hi = f(sy(e[1]));
        dots.push(`<path class="errbar" stroke="${color}" d="M${px} ${lo}V${hi}M${f(sx(x) - 4)} ${lo}h8M${f(sx(x) - 4)} ${hi}h8"/>`);
      }
      if (markers || s.markersOnly) dots.push(`<circle class="point" cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
    });
    parts.push(`<g class="series-group" data-series="${esc(s.name)}">`);
    if (!s.markersOnly && d) parts.push(`<path class="series" fill="none" stroke="${color}" stroke-width="2"${dash} d="${d}"/>`);
    parts.push(...dots, '</g>');
    const ly = legendY(legend0 + si);
    parts.push(s.markersOnly
      ? `<circle class="legend-key" cx="${ML + 12}" cy="${ly}" r="4" fill="${color}"/>`
      : `<line class="legend-key" x1="${ML}" x2="${ML + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
    `<text class="legend" x="${ML + 30}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The charts' styles: in the page's stylesheet, and inside each standalone .svg (svgFile). */
const SVG_CSS = `svg.chart{display:block;margin:1em 0;max-width:100%;height:auto;font-family:system-ui,sans-serif}
svg .plot{fill:#fff;stroke:#444}svg .grid{stroke:#e5e5e5}svg .tick{font-size:11px;fill:#444}
svg .axis-label{font-size:12px;fill:#222}svg .title{font-size:14px;font-weight:600}svg .legend{font-size:12px}
svg .ref{stroke:#888;stroke-dasharray:3 3}`;

const CSS = `body{font:15px/1.45 system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}p.meta{color:#555}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
${SVG_CSS}`;

/** A whole page: `body` is trusted HTML built by this module; `title` and `meta` lines are escaped here. */
function page(title: string, meta: readonly string[], body: readonly string[]): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><h1>${esc(title)}</h1>
${meta.map((m) => `<p class="meta">${esc(m)}</p>`).join('\n')}
${body.join('\n')}
</body></html>
`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>\n` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n') + '</table>';
}

export interface NamedGradientReport {
  /** What the legend calls this model, e.g. its path or its cell kind. */
  name: string;
  report: GradientReport;
  /** Where the batch came from (a file name), shown in the page header. */
  data?: string;
}

/**
 * The gradient report(s) as a page: ‖∂L/∂h‖ against distance on a log y-axis, one series per model and layer with
 * its fitted γ in the legend (one chart for all, so cells compare directly), then a table of γ, the 1e-3 distance
 * and the spectral radii.
 */
export function gradientReportHtml(reports: readonly NamedGradientReport[]): string {
  const meta = reports.map(({ name, report: r, data }) =>
    `${name}: ${r.kind}, ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}; ${r.B} window${r.B === 1 ? '' : 's'} of ${r.T} steps` +
    `${data ? ` from ${data}` : ''}; loss at the last step ${r.loss === null ? 'n/a' : num(r.loss)} nats`);
  return page('rnnkit gradient report', meta, gradientSection(reports));
}

/** ‖∂L/∂h‖ against distance on a log axis, one series per model and layer with its γ in the legend. */
export function gradientChart(reports: readonly NamedGradientReport[]): string {
  const series: ChartSeries[] = reports.flatMap(({ name, report: r }) => r.layers.map((l) => ({
    name: `${name} (${r.kind}) layer ${l.layer}: γ = ${l.gamma === null ? 'n/a' : num(l.gamma)}`,
    points: l.h.map((v, i) => [i + 1, v] as const),
  })));
  return lineChart({
    title: 'Gradient norm by distance from the loss', xLabel: 'distance k (steps before the last)', yLabel: '‖∂L/∂h‖ (log scale)',
    series, logY: true,
  });
}

/** The gradient chart and its table: shared by the gradient page and the memory page (when given the cells' flows). */
function gradientSection(reports: readonly NamedGradientReport[]): string[] {
  const rows: string[][] = reports.flatMap(({ name, report: r }) => r.layers.map((l) => [
    `${name} (${r.kind}) layer ${l.layer}`, l.gamma === null ? 'n/a' : num(l.gamma), l.vanishDistance === null ? `> ${r.T}` : String(l.vanishDistance),
    Object.entries(l.spectralRadius).map(([g, v]) => `${g} ${num(v)}`).join(', '),
  ]));
  const chart = gradientChart(reports);
  return [
    '<h2>‖∂L/∂h‖ against distance</h2>',
    '<p>γ is the per-step decay: exp of the least-squares slope of log ‖∂L/∂h‖ against distance; a straight falling line on this log axis is geometric decay.</p>',
    chart,
    table(['layer', 'γ', 'under 1e-3 at distance', 'spectral radius of W_hh'], rows),
  ];
}

const pct = (x: number) => (100 * x).toFixed(1);

/**
 * The memory experiment as a page: accuracy against distance bucket per cell with 95% Wilson intervals as error
 * bars (the lecture's RNN numbers and chance as references), then the training curves (loss per window), one
 * chart per cell with a series per run. `gradients` (e.g. `gradientReport` of each cell's trained model, named by
 * cell) adds the ‖∂L/∂h‖-by-distance chart of the cells between the two.
 */
export function memoryReportHtml(r: MemoryExperimentResult, gradients: readonly NamedGradientReport[] = []): string {
  const names = r.cells[0]?.buckets.map((b) => b.bucket) ?? [];
  const s = r.settings;
  const curves = r.cells.map((c) => lineChart({
    title: `Training loss: ${c.cell}`, xLabel: 'step', yLabel: 'mean loss per window',
    series: c.runs.map((run) => ({
      name: `seed ${run.seed}${run.bucket ? `, k ${run.bucket}` : ''}${run.diverged ? ' (diverged)' : ''}`,
      points: run.history.map((h) => [h.step, h.loss] as const),
    })),
  }));
  const rows = names.map((n) => [n, ...r.cells.map((c) => {
    const b = c.buckets.find((x) => x.bucket === n);
    return b ? `${pct(b.accuracy)} [${pct(b.ci95.lo)}-${pct(b.ci95.hi)}]` : '';
  })]);
  const mix = s.trainDistances ? `${s.training} k in ${s.trainDistances[0]}..${s.trainDistances[1]}` : 'one model per bucket';
  return page(`rnnkit memory experiment: ${r.task}`, [
    `training ${mix}; ${s.steps} steps x batch ${s.batch}, adam lr ${s.lr}, clip ${s.clip}; ${s.seeds} seed${s.seeds === 1 ? '' : 's'}; ` +
      `${s.testPerBucket} test examples per bucket and seed; ${s.backend} backend; ${r.seconds.toFixed(0)} s`,
  ], [
    '<h2>Accuracy against distance</h2>',
    '<p>Pooled over seeds; error bars are 95% Wilson intervals over the test examples.</p>',
    accuracyChart(r),
    table(['k', ...r.cells.map((c) => `${c.cell} % [95% CI]`)], rows),
    ...(gradients.length ? gradientSection(gradients) : []),
    '<h2>Training curves</h2>',
    ...curves,
  ]);
}

/**
 * Accuracy against distance bucket, a series per cell with 95% Wilson error bars, the lecture's RNN numbers
 * (agreement) and chance as references.
 */
export function accuracyChart(r: MemoryExperimentResult): string {
  const names = r.cells[0]?.buckets.map((b) => b.bucket) ?? [];
  // Each cell's points are nudged sideways within their bucket so that the error bars do not hide each other.
  const nudge = (ci: number) => (ci - (r.cells.length - 1) / 2) * 0.08;
  const series: ChartSeries[] = r.cells.map((c, ci) => {
    const bs = names.map((n) => c.buckets.find((b) => b.bucket === n));
    const idx = bs.map((_, i) => i).filter((i) => bs[i] !== undefined);
    return {
      name: `${c.cell} (hidden ${c.hidden}, ${c.parameters} parameters)`,
      points: idx.map((i) => [i + nudge(ci), bs[i]!.accuracy] as const),
      errors: idx.map((i) => [bs[i]!.ci95.lo, bs[i]!.ci95.hi] as const),
    };
  });
  if (r.task !== 'adding') {
    const lec = names.map((n, i) => [i, r.cells[0]!.buckets.find((b) => b.bucket === n)?.lecture] as const)
      .filter((p): p is readonly [number, number] => p[1] !== undefined);
    if (lec.length) series.push({ name: 'the lecture\'s RNN numbers', points: lec, markersOnly: true });
  }
  const s = r.settings;
  return lineChart({
    title: `Accuracy by distance (${r.task})`, xLabel: 'distance k (bucket)', yLabel: 'test accuracy',
    series, xCategories: names, yRange: [0, 1], refLines: [{ y: r.chance, label: `chance ${pct(r.chance)}%` }],
  });
}

/**
 * A chart of lineChart as a standalone .svg file (for a README or an image viewer): the chart styles go inside
 * it, since no page's stylesheet reaches an SVG loaded as an image; a white background for dark viewers.
 */
export function svgFile(chart: string): string {
  const open = chart.indexOf('>') + 1;
  if (!chart.startsWith('<svg ') || open === 0) throw new RnnkitError('E_ARGUMENT', 'chart: expected an <svg> element from lineChart');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${chart.slice(0, open)}<style>${SVG_CSS}</style>` +
    `<rect width="100%" height="100%" fill="#fff"/>${chart.slice(open)}\n`;
}
