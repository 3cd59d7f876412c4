// Training in a browser build (scripts/build-browser.cjs puts this in place of fit-in-worker.ts): fit runs on the
// page's thread (yielding between steps); a training worker is a Node worker_threads feature.
import { RnnkitError } from '../errors.js';
import type { TrainOptions } from '../train/trainer.js';

export function useWorker(opts: TrainOptions & { worker?: boolean }): boolean {
  if (opts.worker === true) throw new RnnkitError('E_ARGUMENT', 'worker: training in a worker is not available in a browser; pass worker: false');
  return false;
}

export function portableOptions(_opts: object): Record<string, unknown> {
  throw new RnnkitError('E_STATE', 'fit: no training worker in a browser');
}

export function fitInWorker(): never {
  throw new RnnkitError('E_STATE', 'fit: no training worker in a browser');
}
