// The configuration of a task model, declared once per task as a schema: each key's kind, range or allowed
// values, its default, and whether a model file must carry it. The same schema checks the options a caller
// passes to a constructor (E_ARGUMENT) and the configuration read from a model file (E_MODEL_FILE), so a model
// can only ever save a configuration its loader accepts.
import { RnnkitError } from '../errors.js';

export type FieldKind =
  /** A safe integer in [min, max]. */
  | { kind: 'int'; min: number; max?: number }
  /** A finite number in [min, max], either end exclusive when asked. */
  | { kind: 'number'; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'string' }
  /** An array of distinct strings (copied on the way in). */
  | { kind: 'strings' };

export type Field<T> = FieldKind & {
  default: T;
  /**
   * 'required': a file without it is refused (it decides the model's shape or meaning, and no default could be
   * right); 'optional': a file without it gets the default (keys a user writing a file might leave out).
   */
  inFile: 'required' | 'optional';
};

export type Schema<C> = { readonly [K in keyof C]: Field<C[K]> };

/** The largest count of time steps or values a kernel indexes (int32), for keys no tensor shape bounds. */
export const MAX_INT32 = 2 ** 31 - 1;

function describe(f: FieldKind): string {
  switch (f.kind) {
    case 'int':
      if (f.max !== undefined) return `an integer in [${f.min}, ${f.max}]`;
      if (f.min === 1) return 'a positive integer';
      if (f.min === 0) return 'a non-negative integer';
      return Number.isFinite(f.min) ? `an integer of at least ${f.min}` : 'an integer';
    case 'number': {
      if (f.min === undefined && f.max === undefined) return 'a finite number';
      if (f.max === undefined) return f.minExclusive && f.min === 0 ? 'a positive finite number' : `a number of at least ${f.min}`;
      return `a number in ${f.minExclusive ? '(' : '['}${f.min ?? '-inf'}, ${f.max}${f.maxExclusive ? ')' : ']'}`;
    }
    case 'enum': return `one of ${f.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'boolean': return 'a boolean';
    case 'string': return 'a string';
    case 'strings': return 'an array of distinct strings';
  }
}

function fits(f: FieldKind, v: unknown): boolean {
  switch (f.kind) {
    case 'int':
      return Number.isSafeInteger(v) && (v as number) >= f.min && (f.max === undefined || (v as number) <= f.max);
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (f.min !== undefined && (f.minExclusive ? v <= f.min : v < f.min)) return false;
      return f.max === undefined || (f.maxExclusive ? v < f.max : v <= f.max);
    }
    case 'enum': return typeof v === 'string' && f.values.includes(v);
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'strings': return Array.isArray(v) && v.every((s) => typeof s === 'string') && new Set(v).size === v.length;
  }
}

/** A value for an error message: JSON where it has one, else its kind. */
function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return typeof v;
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeof v;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function fill<C>(schema: Schema<C>, raw: Record<string, unknown>, missing: (key: string, field: Field<unknown>) => unknown,
  bad: (key: string, field: Field<unknown>, v: unknown) => RnnkitError): C {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema) as Array<[string, Field<unknown>]>) {
    const v = Object.hasOwn(raw, key) ? raw[key] : undefined;
    if (v === undefined) {
      const d = missing(key, field);
      out[key] = Array.isArray(d) ? [...d] : d;
    } else if (!fits(field, v)) {
      throw bad(key, field, v);
    } else {
      out[key] = Array.isArray(v) ? [...v] : v;
    }
  }
  return out as C;
}

/**
 * The configuration a constructor's options give: every key checked, a key left out or undefined takes its
 * default, an unknown key is an error (a typo would otherwise be ignored and then saved). `backend` is the
 * constructor's own option, not part of the configuration.
 */
export function configFromOptions<C>(schema: Schema<C>, opts: unknown): C {
  if (opts === undefined) opts = {};
  if (!isObject(opts)) throw new RnnkitError('E_ARGUMENT', `options: expected an object, found ${shown(opts)}`);
  for (const key of Object.keys(opts)) {
    if (key !== 'backend' && !Object.hasOwn(schema, key)) {
      throw new RnnkitError('E_ARGUMENT', `unknown option "${key}"; expected one of ${Object.keys(schema).join(', ')}, backend`);
    }
  }
  return fill(schema, opts, (_, f) => f.default,
    (key, f, v) => new RnnkitError('E_ARGUMENT', `${key}: expected ${describe(f)}, found ${shown(v)}`));
}

/**
 * The configuration a model file holds, checked key by key before anything is built (E_MODEL_FILE naming the
 * key, what was expected and what was found). `what` names the file in messages ("language model file").
 */
export function configFromFile<C>(schema: Schema<C>, what: string, raw: unknown): C {
  const fail = (message: string) => new RnnkitError('E_MODEL_FILE', `${what}: ${message}`);
  if (!isObject(raw)) throw fail(`config: expected an object, found ${raw === undefined ? 'none' : shown(raw)}`);
  for (const key of Object.keys(raw)) {
    // A backend is where the caller's code runs (native, WASM, a GPU): the caller's option or RNNKIT_BACKEND
    // decides it, never a file someone else may have written. rnnkit has never saved one, so a file that
    // carries it was written or edited by something else; refusing it, like any unknown key, says so instead
    // of quietly running a file that is not what it claims.
    if (key === 'backend') throw fail('config backend: a model file cannot choose the backend (pass { backend } to load it on one)');
    if (!Object.hasOwn(schema, key)) throw fail(`unknown config key "${key}"; expected only ${Object.keys(schema).join(', ')}`);
  }
  return fill(schema, raw,
    (key, f) => {
      if (f.inFile === 'required') throw fail(`config ${key} is missing; expected ${describe(f)}`);
      return f.default;
    },
    (key, f, v) => fail(`config ${key}: expected ${describe(f)}, found ${shown(v)}`));
}
