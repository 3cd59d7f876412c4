// The bundled models (npm run train:defaults) load on every backend and do their job.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import { BACKENDS } from './helpers.js';

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
