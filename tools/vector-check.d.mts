// Types of tools/vector-check.mjs for the TypeScript tests that import it (test/vector-suite.ts).
export interface VectorLib { makeRecurrent: unknown; tensor: unknown }
export type Check = (lib: VectorLib, v: unknown, backend: string) => string[];
export declare const FWD: { rtol: number; atol: number };
export declare const GRAD: { rtol: number; atol: number };
export declare function vectorFiles(): string[];
export declare function loadVector(file: string): unknown;
export declare function mismatch(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): string | null;
export declare const checkForward: Check;
export declare const checkInference: Check;
export declare const checkBackward: Check;
export declare const CHECKS: [string, Check][];
