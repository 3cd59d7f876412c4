// System errors in words: one map (src/io/errno.ts) for the library's file reads and writes and the CLI's inputs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readInput } from '../src/cli/io.js';
import { readFileLimited } from '../src/io/atomic.js';
import { errnoReason } from '../src/io/errno.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-errno-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rejection = (p: Promise<unknown>) => p.then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error & { code?: string });

describe('system errors in words', () => {
  it('names the cause and keeps the code: "no such file or directory (ENOENT)"', () => {
    expect(errnoReason(Object.assign(new Error('ENOENT: raw'), { code: 'ENOENT' }))).toBe('no such file or directory (ENOENT)');
  });

  it('keeps the message of a code it has no words for, and of an error without a code', () => {
    expect(errnoReason(Object.assign(new Error('EXDEV: cross-device link'), { code: 'EXDEV' }))).toBe('EXDEV: cross-device link (EXDEV)');
    expect(errnoReason(new Error('plain'))).toBe('plain');
    expect(errnoReason('text')).toBe('text');
  });

  it.each([
    ['a missing file', () => join(dir, 'absent.txt'), /: no such file or directory \(ENOENT\)$/],
    ['a path through a file', () => { writeFileSync(join(dir, 'file.txt'), 'x'); return join(dir, 'file.txt', 'inner.txt'); },
      /: a parent of the path is not a directory \(ENOTDIR\)$/],
  ] as const)('%s reads the same from the command line as from the library (E_IO)', async (_, make, words) => {
    const path = make();
    const cli = await rejection(readInput(path, '--data <file|->', 'train lm'));
    const lib = await rejection(readFileLimited(path, 1000));
    expect(cli.code).toBe('E_IO');
    expect(cli.message.startsWith(`cannot read ${path}: `)).toBe(true);
    expect(cli.message).toMatch(words);
    expect(lib.code).toBe('E_IO');
    expect(cli.message).toBe(lib.message);
  });
});
