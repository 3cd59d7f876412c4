// The memory experiment's data: two long-range tasks whose answer depends on something k steps back, generated
// from a seed (same seed, same examples). Both return one example at a time; the experiment batches examples of
// one distance together, so a batch needs no padding.
import { RnnkitError } from '../errors.js';
import { Random } from '../nn/random.js';

/** The shortest and longest distance the generators accept (the k from 2 to 100, and some room). */
export const MIN_DISTANCE = 2;
export const MAX_DISTANCE = 1000;

function checkDistance(k: number): void {
  if (!Number.isInteger(k) || k < MIN_DISTANCE || k > MAX_DISTANCE) {
    throw new RnnkitError('E_ARGUMENT', `distance: expected an integer in [${MIN_DISTANCE}, ${MAX_DISTANCE}], found ${String(k)}`);
  }
}

// ---- subject-verb agreement ------------------------------------------------------------------------------

/** Regular nouns: singular at even index, its plural right after (the number is index % 2). */
const NOUN_STEMS = ['cat', 'dog', 'bird', 'horse', 'farmer', 'teacher', 'girl', 'boy'];
/** Past-tense verbs: they do not mark number, so a clause inside the distractors gives no hint. */
const VERBS = ['ate', 'saw', 'chased', 'liked', 'found', 'heard', 'followed', 'watched'];
const INTRANSITIVE = ['slept', 'waited', 'sang', 'ran'];
const PREPOSITIONS = ['near', 'behind', 'with', 'beside', 'under'];
const ADVERBS = ['today', 'again', 'often', 'quietly', 'yesterday'];

/**
 * The agreement vocabulary: id 0 "the", the nouns (singular/plural pairs), then the number-neutral words. The
 * verbs to predict (was/were) are not inputs: they are the two classes.
 */
export const AGREEMENT_VOCAB: readonly string[] = [
  'the', 'that', 'and', 'all', 'day',
  ...NOUN_STEMS.flatMap((n) => [n, `${n}s`]),
  ...VERBS, ...INTRANSITIVE, ...PREPOSITIONS, ...ADVERBS,
];
/** The classes of the agreement task: 0 singular subject ("was"), 1 plural ("were"). */
export const AGREEMENT_CLASSES: readonly string[] = ['was', 'were'];

const ID = new Map(AGREEMENT_VOCAB.map((w, i) => [w, i]));
const id = (w: string) => ID.get(w)!;
const FIRST_NOUN = id(NOUN_STEMS[0]!);

/** 0 singular, 1 plural for a noun id; -1 for any other word. */
export function nounNumber(tokenId: number): number {
  const j = tokenId - FIRST_NOUN;
  return j >= 0 && j < NOUN_STEMS.length * 2 ? j % 2 : -1;
}

export interface AgreementExample {
  /** Word ids: "the", the subject noun, then `distance` distractor words. The verb follows the last one. */
  tokens: number[];
  /** 0: the subject is singular (the verb is "was"); 1: plural ("were"). */
  label: number;
  /** Words between the subject noun and the verb. */
  distance: number;
  /**
   * The nested grammar only: clauses opened inside the distance and closed, innermost first, before the verb;
   * depth + 1 numbers are in flight at the innermost point.
   */
  depth?: number;
}

const pick = <T>(rng: Random, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
/** A noun id of random number: a distractor's number is independent of the subject's. */
const anyNoun = (rng: Random) => id(pick(rng, NOUN_STEMS)) + (rng.next() < 0.5 ? 1 : 0);

/**
 * Distractor phrases by length in words. Most carry a noun of random number, so the last noun before the verb
 * agrees with the subject only half of the time and a model must remember the subject itself.
 */
const PHRASES: ((rng: Random) => number[])[][] = [
  [],
  [(r) => [id(pick(r, ADVERBS))]],
  [(r) => [id('and'), id(pick(r, INTRANSITIVE))], () => [id('all'), id('day')]],
  [(r) => [id(pick(r, PREPOSITIONS)), id('the'), anyNoun(r)]],
  [
    (r) => [id('that'), id(pick(r, VERBS)), id('the'), anyNoun(r)], // that chased the dogs
    (r) => [id('that'), id('the'), anyNoun(r), id(pick(r, VERBS))], // that the dogs chased
    (r) => [id('and'), id(pick(r, VERBS)), id('the'), anyNoun(r)], // and saw the birds
  ],
];

/** `distance` distractor words: random phrases while they fit, the last gap filled by shorter ones. */
function distractors(rng: Random, distance: number, phrases: ((rng: Random) => number[])[][]): number[] {
  const out: number[] = [];
  while (out.length < distance) {
    const room = Math.min(distance - out.length, phrases.length - 1);
    // Lengths up to `room`, weighted toward the noun-bearing phrases (3 words and more).
    const lens = Array.from({ length: room }, (_, i) => i + 1);
    const weights = lens.map((n) => (n >= 3 ? 3 : 1));
    let u = rng.next() * weights.reduce((a, b) => a + b, 0);
    let len = lens[0]!;
    for (let i = 0; i < lens.length; i++) {
      u -= weights[i]!;
      if (u < 0) { len = lens[i]!; break; }
    }
    out.push(...pick(rng, phrases[len]!)(rng));
  }
  return out;
}

// ---- the rich grammar ------------------------------------------------------------------------------------
// The plain grammar's distractors never mark number, so once a model holds the subject's number nothing in the
// sentence pushes on it. Real sentences (the lecture's source, Linzen et al. 2016) differ in two ways that matter:
// far more word types, and clauses inside the distance with agreement of their own ("the cat that the dogs
// chase ... was"): the nearest noun and its verb are plural while the subject is singular. The rich grammar adds
// both. Its subject-relative clauses keep past-tense verbs, so the subject noun stays the last word that marks
// the main verb's number and k stays the true distance of the dependency.

/** More regular nouns; the rich grammar draws subjects and distractor nouns from these and NOUN_STEMS. */
const RICH_NOUN_STEMS = [
  'lawyer', 'doctor', 'pilot', 'author', 'student', 'singer', 'artist', 'guard', 'parent', 'driver', 'player',
  'writer', 'baker', 'nurse', 'king', 'queen', 'friend', 'neighbor', 'officer', 'visitor', 'rabbit', 'duck',
  'monkey', 'snake',
];
/** Present-tense verbs: "likes" (singular) and "like" (plural), used only where they agree with their own subject. */
const PRESENT_STEMS = ['like', 'see', 'chase', 'find', 'hear', 'follow', 'watch', 'love', 'know', 'help', 'call', 'visit'];
const ADJECTIVES = ['old', 'young', 'small', 'big', 'happy', 'tired', 'quiet', 'angry', 'famous', 'clever'];

/**
 * The rich grammar's input words: the plain vocabulary (same ids), then the extra nouns (singular, plural), the
 * present-tense verbs (singular "likes", plural "like") and adjectives: 125 words.
 */
export const RICH_AGREEMENT_VOCAB: readonly string[] = [
  ...AGREEMENT_VOCAB,
  ...RICH_NOUN_STEMS.flatMap((n) => [n, `${n}s`]),
  ...PRESENT_STEMS.flatMap((v) => [`${v}s`, v]),
  ...ADJECTIVES,
];
const RID = new Map(RICH_AGREEMENT_VOCAB.map((w, i) => [w, i]));
const rid = (w: string) => RID.get(w)!;
const FIRST_RICH_NOUN = AGREEMENT_VOCAB.length;
const FIRST_PRESENT = FIRST_RICH_NOUN + RICH_NOUN_STEMS.length * 2;
const ALL_NOUN_STEMS = [...NOUN_STEMS, ...RICH_NOUN_STEMS];

/**
 * The number a word marks: 0 singular, 1 plural for a noun (of either grammar) or a present-tense verb of the
 * rich grammar; -1 for any other word.
 */
export function wordNumber(tokenId: number): number {
  const n = nounNumber(tokenId);
  if (n >= 0) return n;
  const j = tokenId - FIRST_RICH_NOUN;
  return j >= 0 && j < (RICH_NOUN_STEMS.length + PRESENT_STEMS.length) * 2 ? j % 2 : -1;
}

/** A noun id of random number from all the rich grammar's nouns. */
const richNoun = (rng: Random) => rid(pick(rng, ALL_NOUN_STEMS)) + (rng.next() < 0.5 ? 1 : 0);
/** "the [adj] noun": 2 or 3 words as asked; returns the noun's number too. */
const nounPhrase = (r: Random, adjective: boolean): { words: number[]; number: number } => {
  const n = richNoun(r);
  return { words: [id('the'), ...(adjective ? [rid(pick(r, ADJECTIVES))] : []), n], number: wordNumber(n) };
};
/** The present-tense verb agreeing with a subject of `number`. */
const presentVerb = (r: Random, number: number) => FIRST_PRESENT + Math.floor(r.next() * PRESENT_STEMS.length) * 2 + number;

const RICH_PHRASES: ((rng: Random) => number[])[][] = [
  [],
  [(r) => [id(pick(r, ADVERBS))]],
  [(r) => [id('and'), id(pick(r, INTRANSITIVE))], () => [id('all'), id('day')]],
  [(r) => [id(pick(r, PREPOSITIONS)), ...nounPhrase(r, false).words]],
  [
    (r) => [id(pick(r, PREPOSITIONS)), ...nounPhrase(r, true).words], // near the old dogs
    (r) => [id('that'), id(pick(r, VERBS)), ...nounPhrase(r, false).words], // that chased the dogs
    (r) => { const np = nounPhrase(r, false); return [id('that'), ...np.words, presentVerb(r, np.number)]; }, // that the dogs like
    (r) => [id('and'), id(pick(r, VERBS)), ...nounPhrase(r, false).words], // and saw the birds
  ],
  [
    (r) => [id('that'), id(pick(r, VERBS)), ...nounPhrase(r, true).words], // that chased the old dogs
    (r) => { const np = nounPhrase(r, true); return [id('that'), ...np.words, presentVerb(r, np.number)]; }, // that the old dogs like
  ],
];

// ---- the nested grammar ----------------------------------------------------------------------------------
// Both grammars above ask a model to carry one bit (the subject's number) across the distance: every clause
// inside it is closed within a few words. A stable attractor holds one bit exactly, however long the distance,
// so a tanh RNN that learns the task holds it to k = 100. The nested grammar tests whether carrying several
// numbers at once, each of which must come out at its own verb, makes the accuracy fall with distance: the
// subject's clause holds up to MAX_NESTING center-embedded object-relative clauses, their verbs (present tense,
// agreeing) in reverse order before the main verb: "the cat [that the dogs [that the bird likes] chase] was".
// Rich-grammar phrases fill the remaining words, spread at random over the gaps between those pieces.

/** The deepest nesting: at the innermost clause the subject's number and MAX_NESTING clauses' are in flight. */
export const MAX_NESTING = 3;

/** Words per nested level: "that the N" opening it and the verb closing it. */
const NESTED_LEVEL_WORDS = 4;

/**
 * A nested sentence's words after the subject: `distance` of them. The depth is uniform in 1..min(MAX_NESTING,
 * distance / 4) (0 under 4 words, where no clause fits).
 */
function nestedDistractors(r: Random, distance: number): { words: number[]; depth: number } {
  const most = Math.min(MAX_NESTING, Math.floor(distance / NESTED_LEVEL_WORDS));
  const depth = most === 0 ? 0 : 1 + Math.floor(r.next() * most);
  const subjects = Array.from({ length: depth }, () => nounPhrase(r, false));
  // The filler words, cut at 2 * depth random points into the 2 * depth + 1 gaps: before each opening, before
  // each closing verb, and after the last one.
  const filler = distance - NESTED_LEVEL_WORDS * depth;
  const cuts = Array.from({ length: 2 * depth }, () => Math.floor(r.next() * (filler + 1))).sort((a, b) => a - b);
  const gaps = [...cuts, filler].map((c, i) => c - (i > 0 ? cuts[i - 1]! : 0));
  const fill = (n: number) => (n > 0 ? distractors(r, n, RICH_PHRASES) : []);
  const words: number[] = [];
  let g = 0;
  for (const np of subjects) words.push(...fill(gaps[g++]!), id('that'), ...np.words);
  for (let i = depth - 1; i >= 0; i--) words.push(...fill(gaps[g++]!), presentVerb(r, subjects[i]!.number));
  words.push(...fill(gaps[g]!));
  return { words, depth };
}

/**
 * Sentences made of plain (number-neutral distractors, 43 words) or rich (125 words, agreeing clauses) phrases,
 * or nested (the rich words, up to 3 center-embedded clauses open at once).
 */
export type AgreementGrammar = 'plain' | 'rich' | 'nested';
export const AGREEMENT_GRAMMARS: readonly AgreementGrammar[] = ['plain', 'rich', 'nested'];

/** The input vocabulary of a grammar: the nested grammar has the rich one's words. */
export function agreementVocab(grammar: AgreementGrammar): readonly string[] {
  return grammar === 'plain' ? AGREEMENT_VOCAB : RICH_AGREEMENT_VOCAB;
}

/** A seeded stream of agreement sentences. */
export class AgreementGenerator {
  private readonly rng: Random;
  constructor(seed: number, readonly grammar: AgreementGrammar = 'plain') {
    if (!AGREEMENT_GRAMMARS.includes(grammar)) throw new RnnkitError('E_ARGUMENT', `grammar: expected plain, rich or nested, found ${String(grammar)}`);
    this.rng = new Random(seed);
  }
  /** "the cat(s)" + `distance` words; the label is the subject's number. */
  example(distance: number): AgreementExample {
    checkDistance(distance);
    if (this.grammar === 'nested') {
      const subject = richNoun(this.rng);
      const { words, depth } = nestedDistractors(this.rng, distance);
      return { tokens: [id('the'), subject, ...words], label: wordNumber(subject), distance, depth };
    }
    if (this.grammar === 'rich') {
      const subject = richNoun(this.rng);
      return { tokens: [id('the'), subject, ...distractors(this.rng, distance, RICH_PHRASES)], label: wordNumber(subject), distance };
    }
    const subject = anyNoun(this.rng);
    return { tokens: [id('the'), subject, ...distractors(this.rng, distance, PHRASES)], label: nounNumber(subject), distance };
  }
}

/** The words of an agreement example (either grammar), with the verb it calls for: "the cats near the dog ... were". */
export function agreementText(e: AgreementExample): string {
  return [...e.tokens.map((t) => RICH_AGREEMENT_VOCAB[t]!), AGREEMENT_CLASSES[e.label]!].join(' ');
}
// ---- the adding problem ----------------------------------------------------------------------------------

export interface AddingExample {
  /** [T, 2]: per step a value in [0, 1) and a marker (1 at exactly two steps, else 0). */
  input: Float32Array;
  steps: number;
  /** The sum of the two marked values, in [0, 2). */
  target: number;
  /** Steps from the first marker to the end of the sequence (its last step has index first + distance). */
  distance: number;
}

/** Steps before the first marker: up to this many, so the first marker is not always at step 0. */
const ADDING_LEAD = 10;

/**
 * A seeded stream of adding-problem sequences (Hochreiter and Schmidhuber's task): the first marker sits exactly
 * `distance` steps before the end, after a random lead of 0..10 steps, the second anywhere after it.
 */
export class AddingGenerator {
  private readonly rng: Random;
  constructor(seed: number) {
    this.rng = new Random(seed);
  }
  example(distance: number): AddingExample {
    checkDistance(distance);
    const r = this.rng;
    const lead = Math.floor(r.next() * (ADDING_LEAD + 1));
    const T = lead + distance + 1;
    const input = new Float32Array(T * 2);
    for (let t = 0; t < T; t++) input[t * 2] = r.next();
    const first = lead;
    const second = first + 1 + Math.floor(r.next() * distance); // in (first, T-1]
    input[first * 2 + 1] = 1;
    input[second * 2 + 1] = 1;
    return { input, steps: T, target: input[first * 2]! + input[second * 2]!, distance };
  }
}

/** The adding problem's accuracy criterion from the literature: an absolute error under 0.04. */
export const ADDING_TOLERANCE = 0.04;
