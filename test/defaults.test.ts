// The bundled models (npm run train:defaults) load on every backend and do their job.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import { BACKENDS } from './helpers.js';
// @ts-expect-error: a plain .mjs tool without types
import { CharNgram, NAMES_CANDIDATES, NAMES_CHOSEN, NAMES_SHARED, measure, ngramPredictor, rnnkitPredictor, splitNames } from '../tools/names-eval.mjs';

const model = (name: string) => fileURLToPath(new URL(`../models/${name}.safetensors`, import.meta.url));

describe.each(BACKENDS)('bundled models on the %s backend', (backend) => {
  it('the names model completes "Joh" with "n" first', async () => {
    const lm = await LanguageModel.load(model('names'), { backend });
    expect(lm.predictNext('Joh', 1)[0]!.token).toBe('n');
    lm.dispose();
  });

  it('the Moby Dick model continues "Call me" with English-looking text, the same for the same seed', async () => {
    const lm = await LanguageModel.load(model('moby-dick'), { backend });
    const text = lm.generate('Call me', { length: 200, temperature: 0.5, seed: 3 });
    expect(text).toBe(lm.generate('Call me', { length: 200, temperature: 0.5, seed: 3 }));
    const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
    expect(words.length).toBeGreaterThan(20);
    const common = new Set(['the', 'and', 'of', 'a', 'to', 'in', 'that', 'his', 'it', 'was', 'he', 'with', 'as', 'is', 'but', 'for', 'all', 'this', 'at', 'whale', 'ship']);
    expect(words.filter((w) => common.has(w)).length).toBeGreaterThan(words.length / 6);
    lm.dispose();
  });
});

describe('the bundled names model against the n-gram baseline', () => {
  it('is the recipe tools/names-eval.mjs chose on validation', async () => {
    const lm = await LanguageModel.load(model('names'));
    const c = NAMES_CANDIDATES[NAMES_CHOSEN.candidate];
    expect(lm.config).toMatchObject({ cell: c.cell ?? 'lstm', hiddenSize: c.hiddenSize, numLayers: c.numLayers, dropout: c.dropout, embeddingDim: c.embeddingDim ?? NAMES_SHARED.embeddingDim, sequences: 'items' });
    lm.dispose();
  });

  // Issue 14 asks the bundled model to beat the n-gram on top-1. The lstm2x256-d0.5 model tied it (2,288 against
  // 2,291 of 5,959 test positions); lstm2x384-d0.7-e64 with weight averaging (decay 0.9995), chosen on validation
  // (2,232 against 2,206 of 5,835), gets 2,332 against 2,291 on test (tools/names-eval.mjs: +0.7 points, 95%
  // bootstrap interval [-0.2, +1.6]): ahead, though the interval still reaches below zero.
  it('beats the chosen n-gram (refitted on the same names) on top-1 over the test names it never saw', async () => {
    const { train, validation, test } = splitNames();
    const lm = await LanguageModel.load(model('names'));
    const ours = measure(rnnkitPredictor(lm), test);
    const ngram = measure(ngramPredictor(new CharNgram([...train, ...validation], NAMES_CHOSEN.ngram)), test);
    expect(ours.top1).toBeGreaterThan(ngram.top1);
    lm.dispose();
  }, 120_000); // about 30 s here: 5,959 positions through the 2x384 model one letter at a time

});
