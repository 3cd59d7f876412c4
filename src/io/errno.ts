// Node's system errors (ENOENT, EACCES, ...) in words: the one map every message about a file uses, from the
// atomic writes and size-limited reads here to the command line's input files.
import { RnnkitError } from '../errors.js';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent of the path is not a directory',
  EISDIR: 'the path is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'the file already exists',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** The `code` of a Node system error ("ENOENT"), else undefined. */
export const errnoCode = (e: unknown): string | undefined =>
  e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? e.code : undefined;

/** "no such file or directory (ENOENT)" for a Node system error, else the error's message. */
export function errnoReason(e: unknown): string {
  const code = errnoCode(e);
  if (code !== undefined) return `${REASONS[code] ?? (e as Error).message} (${code})`;
  return e instanceof Error ? e.message : String(e);
}

/** E_IO "cannot read <path>: <reason>", with the system error as its cause. */
export const readError = (path: string, cause: unknown): RnnkitError =>
  new RnnkitError('E_IO', `cannot read ${path}: ${errnoReason(cause)}`, { cause });
