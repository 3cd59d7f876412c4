// The WASM backend's choice between one thread and its threads, per call shape, on made-up call times
// (src/backend/wasm-core.ts: noteSingleCall, noteThreadedCall): the rules exactly, whatever this machine's load.
import { describe, expect, it } from 'vitest';
import { newShapePerf, noteSingleCall, noteThreadedCall, type ShapePerf } from '../src/backend/wasm-core.js';

/** A shape whose one-thread time is `single` ms and whose next threaded call is judged. */
function measured(single: number): ShapePerf {
  const p = newShapePerf();
  noteSingleCall(p, single);
  expect(noteThreadedCall(p, 0.5 * single, 0, 100)).toBe(null); // the warm-up call after one-thread calls
  return p;
}

describe('WASM thread back-off rules', () => {
  it('keeps its threads through one slow call (a preempted core)', () => {
    const p = measured(1.7);
    expect([1.1, 4.0, 1.1, 1.2, 5.0, 1.1].map((ms) => noteThreadedCall(p, ms, 0, 100))).toEqual([null, null, null, null, null, null]);
    expect(p.skip).toBe(0);
  });

  it('backs off for 16 calls after two threaded calls in a row over 1.1 times the one-thread time', () => {
    const p = measured(1.0);
    expect(noteThreadedCall(p, 1.11, 0, 100)).toBe(null);
    expect(noteThreadedCall(p, 1.5, 0, 100)).toBe('backoff');
    expect(p.skip).toBe(16);
  });

  it('judges against 1.1 times the one-thread time, not more and not less', () => {
    const p = measured(1.0);
    expect([1.09, 1.09, 1.09].map((ms) => noteThreadedCall(p, ms, 0, 100))).toEqual([null, null, null]);
    const q = measured(1.0);
    expect([1.12, 1.12].map((ms) => noteThreadedCall(q, ms, 0, 100))).toEqual([null, 'backoff']);
  });

  it('does not judge the first threaded call after one-thread calls', () => {
    const p = measured(1.0);
    expect([1.5, 1.5].map((ms) => noteThreadedCall(p, ms, 0, 100))).toEqual([null, 'backoff']);
    for (let i = 0; i < 16; i++) noteSingleCall(p, 1.0); // the back-off's one-thread calls
    // cold: the worker slept and its cache lost the weights; then fast again
    expect([3.0, 1.5, 0.7, 0.7].map((ms) => noteThreadedCall(p, ms, 0, 100))).toEqual([null, null, null, null]);
  });

  it('keeps the one-thread time as a running average (weight 0.5 on the newest)', () => {
    const p = newShapePerf();
    noteSingleCall(p, 2.0);
    noteSingleCall(p, 1.0);
    expect(p.single).toBe(1.5);
    noteThreadedCall(p, 0.1, 0, 100); // warm-up
    expect([1.66, 1.66].map((ms) => noteThreadedCall(p, ms, 0, 100))).toEqual([null, 'backoff']);
  });

  it('probes one thread (2 calls) when a shape with no one-thread time slept at over a quarter of its barriers', () => {
    const p = newShapePerf();
    expect(noteThreadedCall(p, 1.0, 25, 100)).toBe(null);
    expect(noteThreadedCall(p, 1.0, 26, 100)).toBe('probe');
    expect(p.skip).toBe(2);
    const few = newShapePerf();
    expect(noteThreadedCall(few, 1.0, 2, 4)).toBe(null); // at least 3 sleeps, however few the barriers
    expect(noteThreadedCall(few, 1.0, 3, 4)).toBe('probe');
  });
});
