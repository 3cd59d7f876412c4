// Files in a browser build (scripts/build-browser.cjs puts this in place of atomic.ts): a page has no file
// system, so reading or writing a model by path is E_IO saying what to use instead.
import { RnnkitError } from '../errors.js';

function noFiles(path: string): RnnkitError {
  return new RnnkitError('E_IO', `${path}: a browser has no file system; load a model with fetchModel(url) or fromBytes(bytes), save one with toBytes()`);
}

export async function writeFileAtomic(path: string, _bytes: Uint8Array): Promise<void> {
  throw noFiles(path);
}

export async function readFileLimited(path: string, _maxBytes: number): Promise<Uint8Array> {
  throw noFiles(path);
}
