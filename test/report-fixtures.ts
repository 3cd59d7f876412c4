// Hand-built diagnostics results for the report tests: known shapes, so the charts' element counts are known.
import type { GradientReport } from '../src/diagnostics/gradient-report.js';
import type { MemoryExperimentResult } from '../src/diagnostics/memory.js';

/** A two-layer report with ‖∂L/∂h‖ = 0.5^(k-1) (layer 0) and 0.9^(k-1) (layer 1) over T steps. */
export function fakeGradientReport(kind: GradientReport['kind'], T: number): GradientReport {
  const layer = (l: number, g: number) => ({
    layer: l, h: Array.from({ length: T }, (_, k) => g ** k), gamma: g, vanishDistance: g < 0.6 ? 11 : null,
    jacobian: [], jacobianMean: NaN, spectralRadius: { h: 0.95 },
  });
  return { kind, T, B: 2, loss: 2.5, layers: [layer(0, 0.5), layer(1, 0.9)] } as GradientReport;
}

export function fakeMemoryResult(cells: string[] = ['rnn_tanh', 'lstm', 'gru']): MemoryExperimentResult {
  const names = ['5-10', '15-20', '30-49', '50-99', '100'];
  return {
    task: 'agreement',
    settings: {
      steps: 100, batch: 8, lr: 3e-3, optimizer: 'adam', clip: 1, seeds: 2, training: 'uniform', trainDistances: [2, 100],
      testPerBucket: 50, embedding: 8, lstmHidden: 16, lstmForgetBias: 0, referenceParameters: 1000, backend: 'wasm',
    },
    chance: 0.5,
    seconds: 3,
    cells: cells.map((cell, ci) => ({
      cell, hidden: 16, parameters: 1000,
      runs: [0, 1].map((seed) => ({
        seed, trainDistances: [2, 100], seconds: 1, finalLoss: 0.3, diverged: false, accuracy: 0.7,
        history: Array.from({ length: 10 }, (_, i) => ({ step: 10 * (i + 1), loss: 0.7 - 0.04 * i - 0.01 * ci })),
      })),
      buckets: names.map((bucket, i) => ({
        bucket, n: 100, correct: 90 - 10 * i, accuracy: 0.9 - 0.1 * i, ci95: { lo: 0.82 - 0.1 * i, hi: 0.95 - 0.1 * i },
        perSeed: [0.9, 0.9], seedSpread: { mean: 0.9, sd: 0, min: 0.9, max: 0.9 }, lecture: [0.9, 0.7, 0.45, 0.45, 0.45][i],
      })),
    })) as MemoryExperimentResult['cells'],
  };
}
