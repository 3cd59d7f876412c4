// Finding and loading the model a command runs: the --model file, or a default model shipped beside the
// package; which task a file holds is read from its metadata.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RnnkitError } from '../errors.js';
import { decodeModel, MAX_MODEL_BYTES, namingFile, type TaskName } from '../io/model-file.js';
import { readFileLimited } from '../io/atomic.js';
import { taskOfFile, type AnyModel, type ModelOf } from '../models/tasks.js';

export type { AnyModel };

/** The default models, resolved from the package root (dist/cli/ -> ../../models/). */
export const DEFAULT_MODELS = {
  complete: 'names.safetensors',
  generate: 'moby-dick.safetensors',
} as const;

export function defaultModelPath(command: keyof typeof DEFAULT_MODELS): string {
  return fileURLToPath(new URL(`../../models/${DEFAULT_MODELS[command]}`, import.meta.url));
}

/** The --model path, or the command's default model, which must exist. */
export function modelPath(given: string | undefined, command: keyof typeof DEFAULT_MODELS): string {
  if (given !== undefined) return given;
  const path = defaultModelPath(command);
  if (!existsSync(path)) {
    throw new RnnkitError('E_IO',
      `the default model for "rnnkit ${command}" (${path}) is not there: it has not been trained yet. ` +
      `Train the default models with "npm run train:defaults" in the rnnkit package, or pass --model <file>`);
  }
  return path;
}

/** "classifier (rnnkit train classify)": what a user calls a task's models, and how to make one. */
function taskWords(task: TaskName): string {
  const t = taskOfFile(task)!;
  return `${t.noun} (rnnkit train ${t.word})`;
}

/** Loads a model file of any task. */
export async function loadAnyModel(path: string): Promise<AnyModel> {
  try {
    const bytes = await readFileLimited(path, MAX_MODEL_BYTES);
    const { task } = decodeModel(bytes);
    const t = taskOfFile(task);
    if (!t) throw new RnnkitError('E_MODEL_FILE', `${path}: unknown task ${JSON.stringify(task ?? null)}`);
    return { task, model: t.model.fromBytes(bytes) } as AnyModel;
  } catch (e) {
    throw namingFile(path, e);
  }
}

/** Loads a model file that must hold `task`; another task is an E_MODEL_FILE error saying which it holds. */
export async function loadModelOf<T extends TaskName>(path: string, task: T): Promise<ModelOf[T]> {
  const m = await loadAnyModel(path);
  if (m.task !== task) {
    throw new RnnkitError('E_MODEL_FILE', `${path}: expected a ${taskWords(task)}, found a ${taskWords(m.task)}`);
  }
  return m.model as ModelOf[T];
}
