// The HTML report (src/diagnostics/report-html.ts): one <svg> per chart, a path per series and a circle per point,
// log-axis ticks at the powers of ten, error bars, and every outside string escaped.
import { describe, expect, it } from 'vitest';
import { accuracyChart, esc, gradientChart, gradientReportHtml, lineChart, memoryReportHtml, svgFile } from '../src/diagnostics/report-html.js';
import { fakeGradientReport, fakeMemoryResult } from './report-fixtures.js';

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

describe('lineChart', () => {
  it('draws a path per series and a circle per point, with error bars', () => {
    const svg = lineChart({
      title: 't', xLabel: 'x', yLabel: 'y',
      series: [
        { name: 'a', points: [[1, 1], [2, 2], [3, 3]], errors: [[0.5, 1.5], [1.5, 2.5], [2.5, 3.5]] },
        { name: 'b', points: [[1, 3], [2, 1]] },
      ],
    });
    expect(count(svg, /<svg /g)).toBe(1);
    expect(count(svg, /<path class="series"/g)).toBe(2);
    expect(count(svg, /<circle class="point"/g)).toBe(5);
    expect(count(svg, /<path class="errbar"/g)).toBe(3);
    expect(svg).toMatch(/<path class="series"[^>]* d="M[\d.]+ [\d.]+L[\d.]+ [\d.]+L[\d.]+ [\d.]+"/);
  });

  it('a log y-axis has a tick at each power of ten and leaves out zero values', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 'a', points: [[1, 0.5], [2, 2e-4], [3, 0]] }] });
    const ticks = [...svg.matchAll(/class="tick ytick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['1e-4', '0.001', '0.01', '0.1', '1']);
    expect(count(svg, /<circle class="point"/g)).toBe(2);
    // 0.5 sits log10(0.5) = -0.301 decades below 1 in a 4-decade axis of 256 units from y = 34.
    const cy = Number(/<circle class="point" cx="[\d.]+" cy="([\d.]+)"/.exec(svg)![1]);
    expect(cy).toBeCloseTo(34 + (0.301 / 4) * 256, 0);
  });

  it('a log y-axis of one or two decades also has ticks at 2x and 5x', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 'a', points: [[1, 0.9], [2, 0.2]] }] });
    const ticks = [...svg.matchAll(/class="tick ytick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['0.1', '0.2', '0.5', '1']);
  });

  it('a log y-axis over 12 decades (a vanishing gradient) has a tick every 5th power of ten, all labels apart', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', logY: true,
      series: [{ name: 'a', points: Array.from({ length: 102 }, (_, i) => [i + 1, 0.1 * 0.4 ** i] as const) }] });
    const ticks = [...svg.matchAll(/class="tick ytick" x="[\d.]+" y="([\d.]+)"[^>]*>([^<]*)</g)];
    // 0.4^101 * 0.1 = 4e-42: decades -42..-1, every 5th: 1e-45 .. 1.
    expect(ticks.map((m) => m[2])).toEqual(['1e-45', '1e-40', '1e-35', '1e-30', '1e-25', '1e-20', '1e-15', '1e-10', '1e-5', '1']);
    const ys = ticks.map((m) => Number(m[1]));
    for (let i = 1; i < ys.length; i++) expect(ys[i - 1]! - ys[i]!).toBeGreaterThan(20); // px between labels
  });

  it('a linear x-axis of 1..102 ends at 120 (ticks every 20), not 150', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[1, 1], [102, 2]] }] });
    const ticks = [...svg.matchAll(/class="tick xtick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['0', '20', '40', '60', '80', '100', '120']);
  });
});

describe('gradientReportHtml', () => {
  it('one chart, one series per model and layer with γ in the legend, T points each', () => {
    const html = gradientReportHtml([
      { name: 'rnn.safetensors', report: fakeGradientReport('rnn_tanh', 12) },
      { name: 'lstm.safetensors', report: fakeGradientReport('lstm', 12) },
    ]);
    expect(count(html, /<svg /g)).toBe(1);
    expect(count(html, /<path class="series"/g)).toBe(4);
    expect(count(html, /<circle class="point"/g)).toBe(48);
    expect(html).toContain('rnn.safetensors (rnn_tanh) layer 0: γ = 0.5');
    expect(html).toContain('lstm.safetensors (lstm) layer 1: γ = 0.9');
    expect(html).toMatch(/class="tick ytick"[^>]*>0.001</); // 0.5^11 = 4.9e-4: the axis reaches down to 1e-4
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // self-contained: no script, no remote resource
  });

  it('escapes a hostile model name: it shows as text, not markup', () => {
    const evil = '<script>alert("x")</script>&\'';
    const html = gradientReportHtml([{ name: evil, report: fakeGradientReport('gru', 5), data: '<img src=x onerror=alert(1)>' }]);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain(esc(evil));
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
  });
});

describe('memoryReportHtml', () => {
  it('an accuracy chart (a series per cell with Wilson error bars, the lecture points, chance) and a training-curve chart per cell', () => {
    const html = memoryReportHtml(fakeMemoryResult());
    expect(count(html, /<svg /g)).toBe(4);
    const [accuracy, ...curves] = html.split('<svg ').slice(1);
    expect(count(accuracy!, /<path class="series"/g)).toBe(3);
    expect(count(accuracy!, /<path class="errbar"/g)).toBe(15);
    expect(count(accuracy!, /<circle class="point"/g)).toBe(15 + 5); // cells' buckets + the lecture's numbers
    expect(accuracy).toContain('chance 50.0%');
    for (const t of ['5-10', '15-20', '30-49', '50-99', '100']) expect(accuracy).toMatch(new RegExp(`class="tick xtick"[^>]*>${t}<`));
    for (const c of curves) {
      expect(count(c, /<path class="series"/g)).toBe(2); // one per seed
      expect(count(c, /<circle class="point"/g)).toBe(20);
    }
    expect(html).toContain('Training loss: lstm');
  });

  it('with the cells\' gradient reports, adds one log-axis gradient chart with a series per cell and layer', () => {
    const grads = ['rnn_tanh', 'lstm', 'gru'].map((c) => ({ name: c, report: fakeGradientReport(c as 'lstm', 8) }));
    const html = memoryReportHtml(fakeMemoryResult(), grads);
    expect(count(html, /<svg /g)).toBe(5);
    const gradient = html.split('<svg ')[2]!;
    expect(gradient).toContain('Gradient norm by distance');
    expect(count(gradient, /<path class="series"/g)).toBe(6);
    expect(gradient).toContain('gru (gru) layer 1: γ = 0.9');
  });

  it('escapes a hostile cell name', () => {
    const html = memoryReportHtml(fakeMemoryResult(['<script>x</script>']));
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;');
  });
});

describe('svgFile (the README pictures)', () => {
  it('wraps a chart as a standalone SVG: XML prolog, the chart styles inside it, a white background, the chart unchanged', () => {
    const grads = ['rnn_tanh', 'lstm', 'gru'].map((c) => ({ name: c, report: fakeGradientReport(c as 'lstm', 8) }));
    for (const chart of [accuracyChart(fakeMemoryResult()), gradientChart(grads)]) {
      const file = svgFile(chart);
      expect(file.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" class="chart"')).toBe(true);
      const style = /<style>([^<]*)<\/style>/.exec(file)![1]!;
      expect(style).toContain('svg .plot{fill:#fff;stroke:#444}');
      expect(style).not.toContain('body{'); // the page's rules stay in the page
      expect(file).toContain('<rect width="100%" height="100%" fill="#fff"/>');
      // Everything of the chart is there, in order, once the two insertions are taken out.
      expect(file.replace(/<style>[^<]*<\/style><rect width="100%" height="100%" fill="#fff"\/>/, '')).toBe(`<?xml version="1.0" encoding="UTF-8"?>\n${chart}\n`);
    }
    expect(count(gradientChart(grads), /<path class="series"/g)).toBe(6);
    expect(() => svgFile('<div>not a chart</div>')).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });
});
