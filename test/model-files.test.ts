// Loading model files that are not what they claim: a file that is not safetensors at all, a configuration that
// does not fit its schema (wrong types, unknown keys, a `backend` that would choose where code runs), sizes so
// large that counting their parameters would hang, and vocabularies the tokenizer could never produce. Each is
// an E_MODEL_FILE error naming the file and the key, found before anything is built; an error that is not the
// file's fault (the backend, the caller's own options) keeps its own code.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { decodeModel, encodeModel, type ModelFileContents } from '../src/io/model-file.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { BACKENDS, errorOf } from './helpers.js';
import { watchedBackend } from './watched-backend.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const NAMES = join(root, 'models/names.safetensors');
const backend = BACKENDS[0]!;
const dir = mkdtempSync(join(tmpdir(), 'rnnkit-model-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejectionOf(p: Promise<unknown>): Promise<RnnkitError> {
  try { await p; } catch (e) {
    expect(e, 'expected an RnnkitError').toBeInstanceOf(RnnkitError);
    return e as RnnkitError;
  }
  return expect.fail('expected a rejection');
}

function expectFileError(fn: () => unknown, mentions: RegExp): RnnkitError {
  const e = errorOf(fn);
  expect(e.code, e.message).toBe('E_MODEL_FILE');
  expect(e.message).toMatch(mentions);
  return e;
}

interface Task {
  name: string;
  fromBytes: (bytes: Uint8Array, opts?: object) => { dispose(): void };
  load: (path: string, opts?: object) => Promise<{ dispose(): void }>;
  good: ModelFileContents;
}

/** The file with meta patched (undefined deletes a key). */
function withMeta(good: ModelFileContents, patch: Record<string, unknown>): Uint8Array {
  const meta = { ...good.meta, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete meta[k];
  return encodeModel({ ...good, meta });
}

/** The file with config keys patched (undefined deletes a key). */
function withConfig(good: ModelFileContents, patch: Record<string, unknown>): Uint8Array {
  const config: Record<string, unknown> = { ...(good.meta.config as object), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete config[k];
  return withMeta(good, { config });
}

const tasks: Task[] = [];
beforeAll(async () => {
  const lm = decodeModel(readFileSync(NAMES));
  const clf = new SequenceClassifier({ tokenizer: 'char', hiddenSize: 4, embeddingDim: 3, backend });
  await clf.fit(['ab', 'ba', 'aab', 'bba'].map((input, i) => ({ input, label: i % 2 ? 'y' : 'x' })), { maxSteps: 1, worker: false, validationSplit: 0 });
  const reg = new SequenceRegressor({ window: 4, hiddenSize: 4, backend });
  await reg.fit(Array.from({ length: 20 }, (_, i) => Math.sin(i)), { maxSteps: 1, worker: false, validationSplit: 0 });
  tasks.push(
    { name: 'language model', fromBytes: LanguageModel.fromBytes, load: LanguageModel.load, good: lm },
    { name: 'sequence classifier', fromBytes: SequenceClassifier.fromBytes, load: SequenceClassifier.load, good: decodeModel(clf.toBytes()) },
    { name: 'sequence regressor', fromBytes: SequenceRegressor.fromBytes, load: SequenceRegressor.load, good: decodeModel(reg.toBytes()) },
  );
  clf.dispose(); reg.dispose();
});
const task = (name: string) => tasks.find((t) => t.name === name)!;

describe('a file that is not safetensors at all', () => {
  it('is "not a safetensors file" from the decoder', () => {
    const text = new TextEncoder().encode('Anna\nJohn\nJohanna\nMary\n');
    expectFileError(() => decodeSafetensors(text), /not a safetensors file/);
    expectFileError(() => decodeSafetensors(new TextEncoder().encode('{"config": {"hiddenSize": 8}}')), /not a safetensors file/);
  });

  it('while a truncated safetensors file is still called truncated', () => {
    const e = expectFileError(() => decodeSafetensors(readFileSync(NAMES).subarray(0, 100)), /is larger than the 92 bytes after the length field \(truncated file\?\)/);
    expect(e.message).not.toMatch(/not a safetensors file/);
  });

  it('is E_MODEL_FILE naming the file, for every task, a text file and a JSON file alike', async () => {
    const txt = join(dir, 'names.txt'), json = join(dir, 'model.json');
    writeFileSync(txt, 'Anna\nJohn\nJohanna\nMary\n');
    writeFileSync(json, JSON.stringify({ config: { hiddenSize: 8 } }));
    for (const t of tasks) {
      for (const path of [txt, json]) {
        const e = await rejectionOf(t.load(path));
        expect(e.code).toBe('E_MODEL_FILE');
        expect(e.message).toContain(path);
        expect(e.message).toMatch(/not a safetensors file/);
      }
    }
  });
});

describe('every load(path) error names the file', () => {
  it('a configuration that does not match the tensors, another task, a foreign safetensors file', async () => {
    const mismatched = join(dir, 'mismatched.safetensors');
    writeFileSync(mismatched, withConfig(task('language model').good, { hiddenSize: 7 }));
    const e1 = await rejectionOf(LanguageModel.load(mismatched));
    expect(e1.code).toBe('E_MODEL_FILE');
    expect(e1.message).toContain(mismatched);
    const e2 = await rejectionOf(SequenceRegressor.load(NAMES));
    expect(e2.code).toBe('E_MODEL_FILE');
    expect(e2.message).toContain(NAMES);
  });
});

describe('an error that is not the file\'s fault keeps its code', () => {
  it('a backend that cannot load is E_BACKEND, not E_MODEL_FILE', () => {
    const saved = process.env.RNNKIT_BACKEND;
    process.env.RNNKIT_BACKEND = 'abacus';
    try {
      for (const t of tasks) {
        const e = errorOf(() => t.fromBytes(encodeModel(t.good)));
        expect(e.code, `${t.name}: ${e.message}`).toBe('E_BACKEND');
      }
    } finally {
      if (saved === undefined) delete process.env.RNNKIT_BACKEND; else process.env.RNNKIT_BACKEND = saved;
    }
  });

  it('the caller\'s own unknown backend name is E_BACKEND (the registry names the known ones)', () => {
    for (const t of tasks) {
      const e = errorOf(() => t.fromBytes(encodeModel(t.good), { backend: 'abacus' }));
      expect(e.code, `${t.name}: ${e.message}`).toBe('E_BACKEND');
      expect(e.message).toMatch(/backend/);
    }
  });

  describe('rnnkit complete in a copy of the package without the native addon', () => {
    const pkg = mkdtempSync(join(tmpdir(), 'rnnkit-noaddon-files-'));
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(root, 'models'), join(pkg, 'models'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    afterAll(() => rmSync(pkg, { recursive: true, force: true }));

    it('says E_BACKEND when native is forced, and does not blame the model file', () => {
      const r = spawnSync(process.execPath, [join(pkg, 'dist/cli/main.js'), 'complete', 'Joh'], {
        encoding: 'utf8', env: { ...process.env, RNNKIT_BACKEND: 'native' },
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/\[E_BACKEND\]/);
      expect(r.stderr).not.toMatch(/E_MODEL_FILE/);
    });
  });
});

describe('sizes are checked against the file in O(1), before any per-layer loop', () => {
  // The refusal must come from the bound (each size at most the parameters held, a loop over the few sizes),
  // which runs before the parameter count and before anything is built: its message says so, and the backend
  // sees no allocation.
  const beyondHeld = (key: string, value: number) => new RegExp(`config ${key} is ${value}, more than the \\d+ parameters the file holds`);

  it('numLayers 2^31 and 2^53-1 are refused by the bound, before counting or allocating, for all three tasks', () => {
    for (const t of tasks) {
      const { be, allocs } = watchedBackend(backend);
      for (const numLayers of [2 ** 31, 2 ** 53 - 1]) {
        expectFileError(() => t.fromBytes(withConfig(t.good, { numLayers }), { backend: be }), beyondHeld('numLayers', numLayers));
      }
      expect(allocs, t.name).toEqual([]);
    }
  });

  it('a huge hiddenSize or embeddingDim is refused the same way', () => {
    for (const t of tasks) {
      const { be, allocs } = watchedBackend(backend);
      for (const hiddenSize of [2 ** 53 - 1, 2 ** 31]) {
        expectFileError(() => t.fromBytes(withConfig(t.good, { hiddenSize }), { backend: be }), beyondHeld('hiddenSize', hiddenSize));
      }
      expect(allocs, t.name).toEqual([]);
    }
    expectFileError(() => LanguageModel.fromBytes(withConfig(task('language model').good, { embeddingDim: 2 ** 53 - 1 }), { backend }), beyondHeld('embeddingDim', 2 ** 53 - 1));
  });
});

describe('a model file never chooses the backend', () => {
  it('config.backend of any kind is E_MODEL_FILE naming the key', () => {
    for (const t of tasks) {
      for (const value of [{}, null, 'wasm', 'native', 3]) {
        expectFileError(() => t.fromBytes(withConfig(t.good, { backend: value }), { backend }), /config.*backend/);
      }
    }
  });

  it('saving never writes a backend', () => {
    for (const t of tasks) {
      const m = t.fromBytes(encodeModel(t.good), { backend }) as unknown as { toBytes(): Uint8Array; dispose(): void };
      expect(Object.keys(decodeModel(m.toBytes()).meta.config as object)).not.toContain('backend');
      m.dispose();
    }
  });
});

describe('every config key is validated against the task\'s schema', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['language model', { separator: 5 }, /config separator: expected a string, found 5/],
    ['language model', { seed: 'x' }, /config seed: expected an integer, found "x"/],
    ['language model', { seed: null }, /config seed/],
    ['language model', { maxVocab: 'many' }, /config maxVocab/],
    ['language model', { maxVocab: 1.5 }, /config maxVocab/],
    ['language model', { colour: 'red' }, /unknown config key "colour"/],
    ['language model', { tokenizer: 'sentencepiece' }, /config tokenizer: expected one of "char", "word"/],
    ['language model', { cell: 'transformer' }, /config cell: expected one of "lstm", "gru", "rnn_tanh", "rnn_relu"/],
    ['language model', { dropout: 1 }, /config dropout/],
    ['language model', { dropout: '0' }, /config dropout/],
    ['language model', { hiddenSize: undefined }, /config hiddenSize is missing/],
    ['language model', { numLayers: 0 }, /config numLayers: expected a positive integer, found 0/],
    ['sequence classifier', { input: 'image' }, /config input/],
    ['sequence classifier', { bidirectional: 'yes' }, /config bidirectional: expected a boolean/],
    ['sequence classifier', { labels: ['x', 'x'] }, /config labels/],
    ['sequence classifier', { labels: ['x', 2] }, /config labels/],
    ['sequence classifier', { labels: 'xy' }, /config labels/],
    ['sequence classifier', { labels: ['x'] }, /config labels: expected at least 2 labels, found 1/],
    ['sequence classifier', { maxLength: -1 }, /config maxLength/],
    ['sequence classifier', { colour: 'red' }, /unknown config key "colour"/],
    ['sequence regressor', { mean: 'zero' }, /config mean/],
    ['sequence regressor', { std: 0 }, /config std/],
    ['sequence regressor', { window: 1.5 }, /config window/],
    ['sequence regressor', { window: 2 ** 40 }, /config window/],
    ['sequence regressor', { colour: 'red' }, /unknown config key "colour"/],
  ];
  it.each(cases)('%s with %j', (name, patch, message) => {
    const e = expectFileError(() => task(name).fromBytes(withConfig(task(name).good, patch), { backend }), message);
    expect(e.message).toMatch(new RegExp(`^${name} file`));
  });

  it('a config that is not an object, or missing', () => {
    for (const t of tasks) {
      for (const config of [undefined, null, [1, 2], 'lstm']) {
        expectFileError(() => t.fromBytes(withMeta(t.good, { config }), { backend }), /config/);
      }
    }
  });

  it('optional keys a user might omit take their defaults', () => {
    for (const t of tasks) {
      const m = t.fromBytes(withConfig(t.good, { seed: undefined, dropout: undefined }), { backend }) as unknown as { config: { seed: number; dropout: number }; dispose(): void };
      expect(m.config.seed).toBe(0);
      expect(m.config.dropout).toBe(0);
      m.dispose();
    }
  });

  it('the constructor checks its options against the same schema (E_ARGUMENT), so every saved file loads', () => {
    const e = errorOf(() => new LanguageModel({ colour: 'red', backend } as object));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/unknown option "colour"/);
    expect(errorOf(() => new SequenceRegressor({ seed: 'x' as unknown as number, backend })).code).toBe('E_ARGUMENT');
    expect(errorOf(() => new SequenceClassifier({ labels: ['a', 'a'], backend })).code).toBe('E_ARGUMENT');
    // undefined means "the default", as when the CLI leaves an option out
    expect(new LanguageModel({ hiddenSize: undefined, backend }).config.hiddenSize).toBe(256);
  });
});

describe('vocabularies and labels', () => {
  const lm = () => task('language model');
  const vocab = () => lm().good.meta.vocab as string[];

  it('a character model\'s tokens are single characters, apart from <unk>', () => {
    const tokens = [...vocab()]; tokens[5] = 'ab';
    expectFileError(() => LanguageModel.fromBytes(withMeta(lm().good, { vocab: tokens }), { backend }), /vocab\[5\] "ab"/);
  });

  it('tokenizer "word" on a character model is refused', () => {
    expectFileError(() => LanguageModel.fromBytes(withConfig(lm().good, { tokenizer: 'word' }), { backend }), /vocab\[\d+\] .*word tokenizer/);
  });

  it('duplicate, non-string or missing tokens', () => {
    const dup = [...vocab()]; dup[5] = dup[4]!;
    expectFileError(() => LanguageModel.fromBytes(withMeta(lm().good, { vocab: dup }), { backend }), new RegExp(`vocab\\[5\\] ${JSON.stringify(dup[4])} .*also vocab\\[4\\]`));
    const num = [...vocab()] as unknown[]; num[3] = 3;
    expectFileError(() => LanguageModel.fromBytes(withMeta(lm().good, { vocab: num }), { backend }), /vocab\[3\]: expected a string, found 3/);
    expectFileError(() => LanguageModel.fromBytes(withMeta(lm().good, { vocab: undefined }), { backend }), /vocab/);
  });

  it('a text classifier\'s vocabulary starts with <unk>, <pad>', () => {
    const c = task('sequence classifier');
    const tokens = [...(c.good.meta.vocab as string[])]; tokens[1] = 'z';
    expectFileError(() => SequenceClassifier.fromBytes(withMeta(c.good, { vocab: tokens }), { backend }), /vocab\[1\]/);
  });
});
