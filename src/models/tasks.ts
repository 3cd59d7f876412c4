// The registry of tasks, one row each: the model class, the word `rnnkit train` takes for the task and what the
// CLI calls its models. The class carries the rest (its spec: the tag its model files hold, its name in errors,
// its configuration schema). Whatever maps a file's task or a command's word to a class reads this table.
import type { TaskName } from '../io/model-file.js';
import { LanguageModel } from './language-model.js';
import { SequenceClassifier } from './sequence-classifier.js';
import { SequenceRegressor } from './sequence-regressor.js';

export const TASKS = [
  { word: 'lm', noun: 'language model', model: LanguageModel },
  { word: 'classify', noun: 'classifier', model: SequenceClassifier },
  { word: 'forecast', noun: 'forecaster', model: SequenceRegressor },
] as const;

export type TaskRow = (typeof TASKS)[number];
/** The words of `rnnkit train <lm|classify|forecast>`. */
export type TaskWord = TaskRow['word'];
/** The model class a file's task names. */
export type ModelOf = { [R in TaskRow as R['model']['spec']['tag']]: InstanceType<R['model']> };
/** A model with its task; a compile error if a task a model file can name has no row. */
export type AnyModel = { [T in TaskName]: { task: T; model: ModelOf[T] } }[TaskName];
/** The model class of each `rnnkit train` word. */
export type ClassOfWord = { [R in TaskRow as R['word']]: R['model'] };

export const TASK_WORDS: readonly TaskWord[] = TASKS.map((t) => t.word);

export const CLASS_OF_WORD = Object.fromEntries(TASKS.map((t) => [t.word, t.model])) as ClassOfWord;

/** The row of the task a model file names, or undefined for a task this version does not know. */
export function taskOfFile(tag: unknown): TaskRow | undefined {
  return TASKS.find((t) => t.model.spec.tag === tag);
}
