// Worker-thread entry for fit-in-worker.ts: rebuilds the model from its bytes, trains it with the options it
// was sent, and posts progress, checkpoints and the final parameters.
import { parentPort, workerData } from 'node:worker_threads';
import { RnnkitError } from '../errors.js';
import type { WorkerFitRequest, WorkerMessage } from './fit-in-worker.js';
import type { AnyTaskModel } from './task-model.js';
import { taskOfFile } from './tasks.js';

const req = workerData as WorkerFitRequest;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const ac = new AbortController();
port.on('message', (m: { type: string }) => { if (m.type === 'abort') ac.abort(); });

let model: AnyTaskModel | null = null;
try {
  // The task is the one the caller's model has: fit-in-worker sends that model's own bytes.
  model = taskOfFile(req.task)!.model.fromBytes(req.model, { backend: req.backend });
  const result = await model.fit(req.data, {
    ...req.opts,
    worker: false,
    signal: ac.signal,
    onProgress: (progress: never) => post({ type: 'progress', progress }),
    onCheckpoint: (state: never, info: never) => post({ type: 'checkpoint', state, info }),
  });
  post({ type: 'done', result: result as never, state: model.stateDict() });
} catch (e) {
  const code = e instanceof RnnkitError ? e.code : undefined;
  let state = null;
  try { state = model ? model.stateDict() : null; } catch { state = null; }
  post({ type: 'error', code, message: (e as Error).message, stack: (e as Error).stack, state });
} finally {
  port.close();
}
