// Imported first by isa-generic.test.ts: the addon picks its instruction set once per process (vitest runs each
// test file in its own fork), from RNNKIT_ISA as it is when the first kernel runs.
process.env.RNNKIT_ISA = 'generic';
