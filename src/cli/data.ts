// The data formats the commands read: text documents, labelled examples (JSONL, TSV, CSV) and numeric
// series (one number per line, or a CSV/TSV column). Errors name the input and the line.
import { RnnkitError } from '../errors.js';
import type { Example } from '../models/sequence-classifier.js';
import type { Input } from './io.js';

const dataError = (input: Input, line: number, message: string) =>
  new RnnkitError('E_ARGUMENT', `${input.name} line ${line}: ${message}`);

/** The lines of a text without their line ends (\n or \r\n), with 1-based line numbers, blank ones left out. */
export function lines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split('\n').forEach((l, i) => {
    const t = l.endsWith('\r') ? l.slice(0, -1) : l;
    if (t.trim() !== '') out.push({ line: i + 1, text: t });
  });
  return out;
}

/** Documents of a text split on a separator (a "\n" separator also drops "\r"); empty ones are left out. */
export function splitDocuments(text: string, separator: string): string[] {
  const parts = separator === '\n' ? lines(text).map((l) => l.text) : text.split(separator);
  return parts.filter((d) => d !== '');
}

/** Rows of delimiter-separated values, with quoted fields ("a ""b"", c") that may span lines. */
export function parseDelimited(text: string, delimiter: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [], field = '', quoted = false, line = 1, rowLine = 1, fieldStarted = false;
  const endRow = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0]!.trim() !== '') rows.push({ line: rowLine, fields });
    fields = []; field = ''; fieldStarted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && !fieldStarted) { quoted = true; fieldStarted = true; continue; }
    if (ch === delimiter) { fields.push(field); field = ''; fieldStarted = false; continue; }
    if (ch === '\r' && text[i + 1] === '\n') continue;
    if (ch === '\n') { endRow(); line++; rowLine = line; continue; }
    field += ch;
    fieldStarted = true;
  }
  if (field !== '' || fields.length) endRow();
  return rows;
}

/**
 * Labelled examples: JSON Lines of {"input": "...", "label": "..."} (or "text" for "input"), or rows of
 * label<TAB>text, or CSV rows label,text. A first row whose label is "label" is a header and is skipped.
 */
export function parseLabelled(input: Input): Example[] {
  const ls = lines(input.text);
  if (ls.length === 0) throw new RnnkitError('E_ARGUMENT', `${input.name}: no examples (expected JSONL {"input", "label"} or label<TAB>text lines)`);
  if (ls[0]!.text.trimStart().startsWith('{')) {
    return ls.map(({ line, text }) => {
      let o: unknown;
      try {
        o = JSON.parse(text);
      } catch {
        throw dataError(input, line, 'not valid JSON (expected {"input": "...", "label": "..."})');
      }
      const rec = o as Record<string, unknown>;
      const inp = rec?.input ?? rec?.text;
      if (typeof inp !== 'string') throw dataError(input, line, 'expected a string "input"');
      if (typeof rec.label !== 'string' && typeof rec.label !== 'number' && typeof rec.label !== 'boolean') {
        throw dataError(input, line, 'expected a "label" (string or number)');
      }
      return { input: inp, label: String(rec.label) };
    });
  }
  const delimiter = ls[0]!.text.includes('\t') ? '\t' : ',';
  const rows = parseDelimited(input.text, delimiter);
  const examples: Example[] = [];
  rows.forEach(({ line, fields }, i) => {
    const label = fields[0]!.trim();
    if (i === 0 && label.toLowerCase() === 'label') return;
    if (fields.length < 2) throw dataError(input, line, `expected label${delimiter === '\t' ? '<TAB>' : ','}text`);
    if (label === '') throw dataError(input, line, 'empty label');
    examples.push({ input: fields.slice(1).join(delimiter), label });
  });
  return examples;
}

function toNumber(s: string): number {
  const t = s.trim();
  return t === '' ? NaN : Number(t);
}

/**
 * A numeric series: one number per line, or with `column` (a header name, or a 1-based position) one column
 * of CSV/TSV rows; a first row that is not numeric there is a header.
 */
export function parseSeries(input: Input, column?: string): number[] {
  if (column === undefined) {
    return lines(input.text).map(({ line, text }) => {
      const v = toNumber(text);
      if (!Number.isFinite(v)) {
        const hint = /[,\t]/.test(text) ? ' (for a CSV column, name it with --column)' : '';
        throw dataError(input, line, `expected a number, found ${JSON.stringify(text.slice(0, 40))}${hint}`);
      }
      return v;
    });
  }
  const first = lines(input.text)[0];
  if (!first) return [];
  const rows = parseDelimited(input.text, first.text.includes('\t') ? '\t' : ',');
  let index: number;
  let start = 0;
  if (/^\d+$/.test(column)) {
    index = Number(column) - 1;
    if (index < 0) throw new RnnkitError('E_ARGUMENT', `--column: positions start at 1, found ${column}`);
    if (!Number.isFinite(toNumber(rows[0]?.fields[index] ?? ''))) start = 1;
  } else {
    const header = rows[0]!.fields.map((f) => f.trim());
    index = header.indexOf(column);
    if (index < 0) throw new RnnkitError('E_ARGUMENT', `${input.name}: no column "${column}" in the header (${header.join(', ')})`);
    start = 1;
  }
  return rows.slice(start).map(({ line, fields }) => {
    const cell = fields[index];
    if (cell === undefined) throw dataError(input, line, `no column ${column} (the row has ${fields.length} fields)`);
    const v = toNumber(cell);
    if (!Number.isFinite(v)) throw dataError(input, line, `column ${column}: expected a number, found ${JSON.stringify(cell.slice(0, 40))}`);
    return v;
  });
}
