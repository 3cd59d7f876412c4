// rnnkit model files: one .safetensors file holding the weights (standard layout, PyTorch-style names) and, in
// its string metadata, the format tag, the task, its configuration and task data (vocabulary, labels,
// normalisation) as JSON. Saving is atomic; loading validates every field before anything is built.
import { RnnkitError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { readFileLimited, writeFileAtomic } from './atomic.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';

export const FORMAT = 'rnnkit';
export const FORMAT_VERSION = '1';
/** Model files larger than this are refused before reading (a hostile or wrong file). */
export const MAX_MODEL_BYTES = 2 ** 31;

export type TaskName = 'language-model' | 'sequence-classifier' | 'sequence-regressor';

export interface ModelFileContents {
  task: TaskName;
  /** JSON-serialisable configuration and task data, stored as metadata entries. */
  meta: Record<string, unknown>;
  tensors: Record<string, Tensor>;
}

export function encodeModel(m: ModelFileContents): Uint8Array {
  const metadata: Record<string, string> = { format: FORMAT, format_version: FORMAT_VERSION, task: m.task };
  for (const [k, v] of Object.entries(m.meta)) metadata[k] = JSON.stringify(v);
  return encodeSafetensors(m.tensors, metadata);
}

export function decodeModel(bytes: Uint8Array, expectedTask?: TaskName): ModelFileContents {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== FORMAT) {
    throw new RnnkitError('E_MODEL_FILE', `model file: expected metadata format "${FORMAT}", found ${JSON.stringify(metadata.format ?? null)} (not an rnnkit model)`);
  }
  if (metadata.format_version !== FORMAT_VERSION) {
    throw new RnnkitError('E_MODEL_FILE', `model file: format version ${JSON.stringify(metadata.format_version ?? null)} is not supported (this rnnkit reads version ${FORMAT_VERSION})`);
  }
  const task = metadata.task as TaskName;
  if (expectedTask && task !== expectedTask) {
    throw new RnnkitError('E_MODEL_FILE', `model file: expected a ${expectedTask} model, found ${JSON.stringify(task ?? null)}`);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k === 'format' || k === 'format_version' || k === 'task') continue;
    try {
      meta[k] = JSON.parse(v);
    } catch {
      throw new RnnkitError('E_MODEL_FILE', `model file: metadata "${k}" is not valid JSON`);
    }
  }
  return { task, meta, tensors };
}

export async function saveModel(path: string, m: ModelFileContents): Promise<void> {
  await writeFileAtomic(path, encodeModel(m));
}

/** Reads and decodes a model file; its errors name the file. */
export async function loadModel(path: string, expectedTask?: TaskName): Promise<ModelFileContents> {
  const bytes = await readFileLimited(path, MAX_MODEL_BYTES);
  return inModelFile(path, () => decodeModel(bytes, expectedTask));
}

/** An E_MODEL_FILE error that does not already name `path`, prefixed with it; any other error as it is. */
export function namingFile(path: string, e: unknown): unknown {
  if (e instanceof RnnkitError && e.code === 'E_MODEL_FILE' && !e.message.includes(path)) {
    return new RnnkitError('E_MODEL_FILE', `${path}: ${e.message}`, { cause: e });
  }
  return e;
}

/** Runs `build` (the loading of the file at `path`) so that its model-file errors name the file. */
export function inModelFile<T>(path: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    throw namingFile(path, e);
  }
}

/**
 * Runs `build` and turns any configuration or state-dict error into E_MODEL_FILE, naming the file. E_BACKEND
 * stays itself: a backend that cannot load or allocate is the machine's problem, not the file's.
 */
export function asModelFileError<T>(what: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof RnnkitError && e.code !== 'E_MODEL_FILE' && e.code !== 'E_BACKEND') {
      throw new RnnkitError('E_MODEL_FILE', `${what}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}
