// Tokenizers and vocabularies for the language model and text classifiers.
import { RnnkitError } from '../errors.js';

export type TokenizerKind = 'char' | 'word';

export const UNK = '<unk>';

/** Words (letters/digits with inner apostrophes), each punctuation mark, and newlines; lowercased. */
const WORD_RE = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*|\n|[^\s\p{L}\p{N}]/gu;

export function tokenize(text: string, kind: TokenizerKind): string[] {
  if (typeof text !== 'string') throw new RnnkitError('E_ARGUMENT', `text: expected a string, found ${typeof text}`);
  if (kind === 'char') return Array.from(text);
  if (kind === 'word') return text.toLowerCase().match(WORD_RE) ?? [];
  throw new RnnkitError('E_ARGUMENT', `tokenizer: expected 'char' or 'word', found ${String(kind)}`);
}

/** Joins tokens back into text: characters directly; words with spaces, none before punctuation. */
export function detokenize(tokens: readonly string[], kind: TokenizerKind): string {
  if (kind === 'char') return tokens.join('');
  let out = '';
  for (const t of tokens) {
    const glue = out === '' || out.endsWith('\n') || t === '\n' || /^[.,;:!?)\]}'’"]$/.test(t) || /[(\[{"]$/.test(out) ? '' : ' ';
    out += glue + t;
  }
  return out;
}

export class Vocabulary {
  readonly tokens: readonly string[];
  private readonly index: Map<string, number>;

  constructor(tokens: readonly string[]) {
    if (!Array.isArray(tokens) || tokens[0] !== UNK || tokens.some((t) => typeof t !== 'string')) {
      throw new RnnkitError('E_ARGUMENT', `vocabulary: expected an array of strings starting with ${UNK}`);
    }
    this.tokens = [...tokens];
    this.index = new Map(this.tokens.map((t, i) => [t, i]));
    if (this.index.size !== this.tokens.length) throw new RnnkitError('E_ARGUMENT', 'vocabulary: duplicate tokens');
  }

  /** The most frequent tokens (ties broken by first appearance), at most maxSize including <unk>. */
  static build(tokens: readonly string[], opts: { maxSize?: number; minCount?: number } = {}): Vocabulary {
    const counts = new Map<string, number>();
    for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    counts.delete(UNK);
    const minCount = opts.minCount ?? 1;
    const sorted = [...counts.entries()].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1]);
    const limit = (opts.maxSize ?? Infinity) - 1;
    const kept = sorted.slice(0, limit).map(([t]) => t);
    return new Vocabulary([UNK, ...kept]);
  }

  get size(): number {
    return this.tokens.length;
  }

  id(token: string): number {
    return this.index.get(token) ?? 0;
  }

  has(token: string): boolean {
    return this.index.has(token);
  }

  encode(tokens: readonly string[]): Int32Array {
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) out[i] = this.index.get(tokens[i]!) ?? 0;
    return out;
  }

  decode(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (i) => this.tokens[i] ?? UNK);
  }
}
