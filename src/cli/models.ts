// Finding and loading the model a command runs: the --model file, or a default model shipped beside the
// package; which task a file holds is read from its metadata.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RnnkitError } from '../errors.js';
import { decodeModel, MAX_MODEL_BYTES, namingFile, type TaskName } from '../io/model-file.js';
import { readFileLimited } from '../io/atomic.js';
import { LanguageModel } from '../models/language-model.js';
import { SequenceClassifier } from '../models/sequence-classifier.js';
import { SequenceRegressor } from '../models/sequence-regressor.js';

interface ModelOf {
  'language-model': LanguageModel;
  'sequence-classifier': SequenceClassifier;
  'sequence-regressor': SequenceRegressor;
}

export type AnyModel =
  | { task: 'language-model'; model: LanguageModel }
  | { task: 'sequence-classifier'; model: SequenceClassifier }
  | { task: 'sequence-regressor'; model: SequenceRegressor };

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

const TASK_WORDS: Record<TaskName, string> = {
  'language-model': 'language model (rnnkit train lm)',
  'sequence-classifier': 'classifier (rnnkit train classify)',
  'sequence-regressor': 'forecaster (rnnkit train forecast)',
};

/** Loads a model file of any task. */
export async function loadAnyModel(path: string): Promise<AnyModel> {
  try {
    const bytes = await readFileLimited(path, MAX_MODEL_BYTES);
    const { task } = decodeModel(bytes);
    switch (task) {
      case 'language-model': return { task, model: LanguageModel.fromBytes(bytes) };
      case 'sequence-classifier': return { task, model: SequenceClassifier.fromBytes(bytes) };
      case 'sequence-regressor': return { task, model: SequenceRegressor.fromBytes(bytes) };
      default: throw new RnnkitError('E_MODEL_FILE', `${path}: unknown task ${JSON.stringify(task ?? null)}`);
    }
  } catch (e) {
    throw namingFile(path, e);
  }
}

/** Loads a model file that must hold `task`; another task is an E_MODEL_FILE error saying which it holds. */
export async function loadModelOf<T extends TaskName>(path: string, task: T): Promise<ModelOf[T]> {
  const m = await loadAnyModel(path);
  if (m.task !== task) {
    throw new RnnkitError('E_MODEL_FILE', `${path}: expected a ${TASK_WORDS[task]}, found a ${TASK_WORDS[m.task]}`);
  }
  return m.model as ModelOf[T];
}
