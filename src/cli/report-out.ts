// `--out <dir>` for the commands that draw a report (gradients, experiment memory): the directory is made before
// the work starts, so a bad path fails in a second rather than after a long run, and the page is written
// atomically as <dir>/index.html.
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RnnkitError } from '../errors.js';
import { errnoReason } from '../io/errno.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkWritable } from './io.js';

/** Creates `dir` (and its parents) when missing and checks that index.html can be written there; returns that path. */
export async function prepareReportDir(dir: string): Promise<string> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new RnnkitError('E_IO', `--out ${dir}: cannot create the report directory: ${errnoReason(e)}`, { cause: e });
  }
  if (!(await stat(dir)).isDirectory()) throw new RnnkitError('E_IO', `--out ${dir}: expected a directory, found a file`);
  const path = join(dir, 'index.html');
  await checkWritable(path);
  return path;
}

/** Writes the page and says where on stderr (stdout keeps the table or JSON). */
export async function writeReport(path: string, html: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(html));
  process.stderr.write(`rnnkit: report written to ${resolve(path)}\n`);
}
