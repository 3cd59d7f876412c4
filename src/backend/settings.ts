// One rule for the RNNKIT_* environment settings: unset or empty means the default; any other value must be one
// of the allowed ones, else loading the backend it affects is an E_BACKEND error naming the variable, the value
// found and the allowed values. Such a backend is never skipped in silence (`auto` does not fall back past it),
// and `rnnkit info` shows the error and exits 1. The addon's own settings (RNNKIT_THREADS, RNNKIT_ISA) are
// judged in C++ (native/settings.h) and reported through its info().
import { RnnkitError } from '../errors.js';

const invalid = new WeakMap<RnnkitError, string>();

/** The E_BACKEND error of a bad value `found` of `variable`; `allowed` completes "expected ...". */
export function settingError(variable: string, found: string, allowed: string): RnnkitError {
  const e = new RnnkitError('E_BACKEND', `${variable}: expected ${allowed}, found "${found}"`);
  invalid.set(e, variable);
  return e;
}

/** The variable whose bad value caused `e`, or null when `e` is not a setting error. */
export function invalidSetting(e: unknown): string | null {
  return e instanceof RnnkitError ? (invalid.get(e) ?? null) : null;
}

/** The value of a setting without surrounding blanks ('' when unset). */
export function readSetting(variable: string): string {
  return (process.env[variable] ?? '').trim();
}
