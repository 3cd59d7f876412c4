// Training off the main thread: the model travels to a worker thread as model-file bytes, trains there with
// the same code and seeds, and reports progress, checkpoints and its final parameters back as messages, so
// the caller's event loop stays free however long a step takes.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RnnkitError, type ErrorCode } from '../errors.js';
import type { BackendName } from '../backend/types.js';
import type { TaskName } from '../io/model-file.js';
import type { Tensor } from '../tensor.js';
import type { Progress, TrainOptions, TrainResult } from '../train/trainer.js';

export interface WorkerFitRequest {
  task: TaskName;
  backend: BackendName;
  model: Uint8Array;
  data: unknown;
  /** Fit options without functions or the signal. */
  opts: Record<string, unknown>;
}

export type WorkerMessage =
  | { type: 'progress'; progress: Progress }
  | { type: 'checkpoint'; state: Record<string, Tensor>; info: { step: number; valLoss?: number } }
  | { type: 'done'; result: TrainResult; state: Record<string, Tensor> }
  | { type: 'error'; code: ErrorCode | undefined; message: string; stack: string | undefined; state: Record<string, Tensor> | null };

/** The worker script: next to this module once built, else the built copy (when running from src/). */
export function workerScript(): URL | null {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../dist/models/fit-worker.js', here) : new URL('./fit-worker.js', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** Whether fit() should run in a worker: opts.worker, else yes when the script exists and options can travel. */
export function useWorker(opts: TrainOptions & { worker?: boolean }): boolean {
  if (opts.worker === false) return false;
  const possible = workerScript() !== null && typeof opts.schedule !== 'function';
  if (opts.worker === true && !possible) {
    throw new RnnkitError('E_ARGUMENT', 'worker: training in a worker needs the built worker script (npm run build:ts) and no function-valued options');
  }
  return possible;
}

/** Fit options that can be sent to a worker. */
export function portableOptions(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (typeof v !== 'function' && k !== 'signal' && k !== 'worker') out[k] = v;
  }
  return out;
}

/**
 * Runs the fit in a worker. `apply` loads parameters the worker sends back (the final ones, or on failure the
 * ones it stopped with), so the model in this thread ends where training ended.
 */
export function fitInWorker(
  req: WorkerFitRequest,
  opts: TrainOptions,
  apply: (state: Record<string, Tensor>) => void,
): Promise<TrainResult> {
  // The caller's stack, taken now while fit() is still on it: an error that comes back from the worker is thrown
  // with these frames (the line that called fit), and the worker's own stack as its cause.
  const callSite = new Error();
  const fail = (code: ErrorCode, message: string, cause?: unknown) => {
    const e = new RnnkitError(code, message, cause === undefined ? undefined : { cause });
    const frames = (callSite.stack ?? '').split('\n').slice(1).join('\n');
    e.stack = `${e.name}: ${message}${frames ? `\n${frames}` : ''}`;
    return e;
  };
  return new Promise((resolve, reject) => {
    const script = workerScript();
    if (!script) {
      reject(new RnnkitError('E_STATE', 'worker script missing: run npm run build:ts'));
      return;
    }
    const worker = new Worker(script, { workerData: req });
    let settled = false;
    const pending: Promise<unknown>[] = []; // onCheckpoint calls
    let finished = false; // the worker sent its result (it may exit before the last callbacks end)
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => worker.postMessage({ type: 'abort' });
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort);
    worker.on('message', (m: WorkerMessage) => {
      try {
        if (m.type === 'progress') opts.onProgress?.(m.progress);
        else if (m.type === 'checkpoint') {
          // Training goes on while the callback runs, and fit ends only once every callback has: if one fails
          // (thrown, or its promise rejected, even after the last step), fit fails with its error, as on this
          // thread.
          const done = Promise.resolve(opts.onCheckpoint?.(m.state, m.info));
          pending.push(done);
          done.catch((e: unknown) => finish(() => { void worker.terminate(); reject(e); }));
        }
        else if (m.type === 'done') {
          finished = true;
          void Promise.allSettled(pending).then(() => finish(() => { apply(m.state); resolve(m.result); }));
        }
        else if (m.type === 'error') {
          finish(() => {
            if (m.state) apply(m.state);
            const inWorker = m.stack === undefined ? undefined : Object.assign(new Error(m.message), { stack: `in the training worker: ${m.stack}` });
            reject(fail(m.code ?? 'E_BACKEND', m.message, inWorker));
          });
        }
      } catch (e) {
        finish(() => { void worker.terminate(); reject(e); });
      }
    });
    worker.on('error', (e) => finish(() => reject(fail('E_BACKEND', `training worker failed: ${e.message}`, e))));
    worker.on('exit', (code) => {
      if (!finished) finish(() => reject(fail('E_BACKEND', `training worker exited with code ${code} before finishing`)));
    });
  });
}
