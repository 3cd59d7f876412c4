// The standard shapes live in src/cli/workloads.ts (shared with `rnnkit bench`); this re-exports the build.
export { WORKLOADS, TRAINING_WORKLOADS, forwardFlops, trainingFlops, inferenceRunner, trainingRunner } from '../dist/cli/workloads.js';
