// The statistics of the memory experiment: accuracy by distance bucket with a 95% Wilson interval over the test
// examples, and the spread of the per-seed accuracies.
import { RnnkitError } from '../errors.js';

/** A range of distances [lo, hi] reported as one row. */
export interface Bucket {
  name: string;
  lo: number;
  hi: number;
  /** The lecture's tanh-RNN accuracy for this range, where it gives one. */
  lecture?: number;
}

/**
 * The buckets, disjoint so each test example counts once. The lecture's "30+" (45%) stands beside every
 * bucket from 30 on, since it covers them all.
 */
export const DEFAULT_BUCKETS: readonly Bucket[] = [
  { name: '5-10', lo: 5, hi: 10, lecture: 0.9 },
  { name: '15-20', lo: 15, hi: 20, lecture: 0.7 },
  { name: '30-49', lo: 30, hi: 49, lecture: 0.45 },
  { name: '50-99', lo: 50, hi: 99, lecture: 0.45 },
  { name: '100', lo: 100, hi: 100, lecture: 0.45 },
];

/** The two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

/**
 * Wilson's score interval for a proportion: `successes` of `n`, at normal quantile z. Unlike p ± z·sqrt(p(1-p)/n)
 * it stays inside [0, 1] and is not empty at p = 0 or 1.
 */
export function wilsonInterval(successes: number, n: number, z = Z95): { lo: number; hi: number } {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(successes) || successes < 0 || successes > n) {
    throw new RnnkitError('E_ARGUMENT', `wilsonInterval: expected integers 0 <= successes <= n with n >= 1, found ${successes} of ${n}`);
  }
  const p = successes / n, z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lo: Math.max(0, center - half), hi: Math.min(1, center + half) };
}

/** Mean, sample standard deviation (n-1; 0 for one value), min and max. */
export function spread(xs: readonly number[]): { mean: number; sd: number; min: number; max: number } {
  if (xs.length === 0) throw new RnnkitError('E_ARGUMENT', 'spread: expected at least one value');
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, sd: xs.length > 1 ? Math.sqrt(ss / (xs.length - 1)) : 0, min: Math.min(...xs), max: Math.max(...xs) };
}

/** One test outcome: the example's distance and whether the model got it right. */
export interface Outcome {
  distance: number;
  correct: boolean;
  /** The example's nesting depth (nested grammar only). */
  depth?: number;
}

export interface BucketResult {
  bucket: string;
  /** Test examples over all seeds, and how many were right. */
  n: number;
  correct: number;
  /** correct / n: with the same test set per seed, also the mean of the per-seed accuracies. */
  accuracy: number;
  /** 95% Wilson interval over the n test examples (it ignores the seed-to-seed variation: see perSeed). */
  ci95: { lo: number; hi: number };
  /** Accuracy of each seed, in seed order. */
  perSeed: number[];
  seedSpread: { mean: number; sd: number; min: number; max: number };
  lecture?: number;
}

/**
 * Accuracy per bucket from the outcomes of each seed (outcomesBySeed[s] = that seed's test outcomes). A bucket
 * without test examples is left out.
 */
export function bucketAccuracy(outcomesBySeed: readonly (readonly Outcome[])[], buckets: readonly Bucket[] = DEFAULT_BUCKETS): BucketResult[] {
  const out: BucketResult[] = [];
  for (const b of buckets) {
    const perSeedCounts = outcomesBySeed.map((os) => {
      let n = 0, c = 0;
      for (const o of os) if (o.distance >= b.lo && o.distance <= b.hi) { n++; if (o.correct) c++; }
      return { n, c };
    });
    const n = perSeedCounts.reduce((a, s) => a + s.n, 0);
    if (n === 0) continue;
    const correct = perSeedCounts.reduce((a, s) => a + s.c, 0);
    const perSeed = perSeedCounts.filter((s) => s.n > 0).map((s) => s.c / s.n);
    out.push({
      bucket: b.name, n, correct, accuracy: correct / n, ci95: wilsonInterval(correct, n), perSeed,
      seedSpread: spread(perSeed), ...(b.lecture !== undefined ? { lecture: b.lecture } : {}),
    });
  }
  return out;
}
