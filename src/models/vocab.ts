// Tokenizers and vocabularies for the language model and text classifiers.
import { RnnkitError } from '../errors.js';

export type TokenizerKind = 'char' | 'word';

export const UNK = '<unk>';

/** Words (letters/digits with inner apostrophes), each punctuation mark, and newlines; lowercased. */
const WORD_RE = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*|\n|[^\s\p{L}\p{N}]/gu;
/** Exactly one word token: what tokenize(t, 'word') gives back as [t] when t is also lowercase. */
const ONE_WORD_RE = new RegExp(`^(?:${WORD_RE.source})$`, 'u');

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
    this.index = new Map();
    for (let i = 0; i < this.tokens.length; i++) {
      const t = this.tokens[i]!, j = this.index.get(t);
      if (j !== undefined) throw new RnnkitError('E_ARGUMENT', `vocab[${i}] ${JSON.stringify(t)} is also vocab[${j}]; expected distinct tokens`);
      this.index.set(t, i);
    }
  }

  /**
   * A vocabulary read from a model file, where anything may be wrong: strings only, none twice, <unk> first and
   * then `specials` (the other tokens the task puts there itself, such as <pad>), and every other token one that
   * `kind` can produce: a single character for 'char', a token the word tokenizer gives back unchanged for 'word'
   * (so `tokenizer: "word"` on a character model, whose vocabulary holds capitals and spaces, is refused here
   * rather than mapping every word to <unk>). Errors are E_ARGUMENT naming `vocab[i]`; a loader turns them into
   * E_MODEL_FILE.
   */
  static fromFile(tokens: unknown, kind: TokenizerKind, specials: readonly string[] = []): Vocabulary {
    const bad = (message: string) => new RnnkitError('E_ARGUMENT', `vocab${message}`);
    if (!Array.isArray(tokens)) throw bad(`: expected an array of strings, found ${tokens === null ? 'null' : typeof tokens}`);
    const head = [UNK, ...specials];
    for (let i = 0; i < tokens.length; i++) {
      const t: unknown = tokens[i];
      if (typeof t !== 'string') throw bad(`[${i}]: expected a string, found ${JSON.stringify(t) ?? typeof t}`);
      if (i < head.length) {
        if (t !== head[i]) throw bad(`[${i}]: expected ${JSON.stringify(head[i])}, found ${JSON.stringify(t)}`);
      } else if (kind === 'char') {
        if (t.length === 0 || t.length > 2 || Array.from(t).length !== 1) {
          throw bad(`[${i}] ${JSON.stringify(t)} is not a single character, but the tokenizer is "char"`);
        }
      } else {
        if (!ONE_WORD_RE.test(t) || t.toLowerCase() !== t) {
          const back = tokenize(t, 'word');
          throw bad(`[${i}] ${JSON.stringify(t)} cannot come from the word tokenizer (it gives ${JSON.stringify(back)}); is this a "char" model?`);
        }
      }
    }
    if (tokens.length < head.length) throw bad(`: expected at least ${head.map((h) => JSON.stringify(h)).join(', ')}, found ${tokens.length} tokens`);
    return new Vocabulary(tokens as string[]); // and no token twice
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
