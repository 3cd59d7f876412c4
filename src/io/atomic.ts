// Crash-safe file writes and size-limited reads.
//
// writeFileAtomic: the bytes go to a temporary file in the target's directory, which is fsynced, closed and
// renamed over the target (rename within one directory is atomic on POSIX filesystems), and then the
// directory is fsynced so the rename itself survives a power loss. A reader therefore sees either the old
// file or the new one, never a torn mix; on any failure the temporary file is removed and the old file is
// left as it was. A writer killed mid-save leaves its temporary file behind; the next successful save to the
// same path removes those of processes that no longer exist.
//
// readFileLimited: stats before opening, so a huge file, a directory or a FIFO is refused without reading
// (or blocking on) it.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RnnkitError } from '../errors.js';
import { errnoCode, errnoReason, readError } from './errno.js';

/** Errors a platform may give for fsync on a directory it will not sync; the data itself is already safe. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'EPERM', 'EISDIR', 'ENOTSUP', 'EBADF']);

function checkWriteArgs(path: unknown, bytes: unknown): void {
  if (typeof path !== 'string' || path === '') {
    throw new RnnkitError('E_ARGUMENT', `writeFileAtomic path: expected a non-empty string, found ${JSON.stringify(path) ?? typeof path}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new RnnkitError('E_ARGUMENT', `writeFileAtomic bytes: expected a Uint8Array, found ${bytes === null ? 'null' : typeof bytes}`);
  }
}

/** A fresh name beside the target: hidden, per process and random, so concurrent writers never collide. */
function tempPathFor(path: string): string {
  const abs = resolve(path);
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether process `pid` exists on this machine (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Temporary files of earlier saves to `path` whose writer died before renaming (a SIGKILL or power loss
 * mid-save): the names tempPathFor gives, with the pid of a process that no longer exists on this machine.
 * A live writer's file (this process's included) is never touched. Best effort: a save never fails for it.
 */
function staleTemps(path: string, names: readonly string[]): string[] {
  const abs = resolve(path);
  const prefix = `.${basename(abs)}.`;
  const out: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && pid > 0 && !processAlive(pid)) out.push(join(dirname(abs), name));
  }
  return out;
}

async function removeStaleTemps(path: string): Promise<void> {
  try {
    const stale = staleTemps(path, await fsp.readdir(dirname(resolve(path))));
    await Promise.all(stale.map((f) => fsp.unlink(f).catch(() => undefined)));
  } catch { /* an unreadable directory: the save itself already succeeded */ }
}

function removeStaleTempsSync(path: string): void {
  try {
    for (const f of staleTemps(path, fs.readdirSync(dirname(resolve(path))))) {
      try { fs.unlinkSync(f); } catch { /* gone already, or not ours to remove */ }
    }
  } catch { /* an unreadable directory: the save itself already succeeded */ }
}

/** The mode of an existing target, so replacing a file keeps its permissions; 0o666 (less umask) for a new one. */
async function modeOf(path: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(path)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

function modeOfSync(path: string): number | undefined {
  try {
    return fs.statSync(path).mode & 0o7777;
  } catch {
    return undefined;
  }
}

const writeError = (path: string, step: string, cause: unknown) =>
  new RnnkitError('E_IO', `cannot write ${path}: ${step} failed: ${errnoReason(cause)}`, { cause });

/**
 * Replaces `path` with `bytes` atomically and durably (temp file, fsync, rename, directory fsync). Throws
 * E_IO naming the path, the step and the cause; on failure no temporary file is left and any previous file
 * at `path` is untouched. A symlink at `path` is replaced by a regular file, not written through.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  checkWriteArgs(path, bytes);
  const tmp = tempPathFor(path);
  const mode = await modeOf(path);
  let handle: fsp.FileHandle | undefined;
  let step = 'creating a temporary file';
  try {
    handle = await fsp.open(tmp, 'wx', 0o666);
    if (mode !== undefined) {
      step = 'copying the permissions of the existing file';
      await handle.chmod(mode).catch(() => undefined); // some filesystems refuse chmod; keep the default mode
    }
    step = 'writing the temporary file';
    await handle.writeFile(bytes);
    step = 'syncing the temporary file';
    await handle.sync();
    step = 'closing the temporary file';
    const h = handle;
    handle = undefined;
    await h.close();
    step = 'renaming the temporary file over the target';
    await fsp.rename(tmp, path);
  } catch (e) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw writeError(path, step, e);
  }
  await syncDirectory(path);
  await removeStaleTemps(path);
}

/** The synchronous twin of `writeFileAtomic`, with the same guarantees and errors. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  checkWriteArgs(path, bytes);
  const tmp = tempPathFor(path);
  const mode = modeOfSync(path);
  let fd: number | undefined;
  let step = 'creating a temporary file';
  try {
    fd = fs.openSync(tmp, 'wx', 0o666);
    if (mode !== undefined) {
      step = 'copying the permissions of the existing file';
      try { fs.fchmodSync(fd, mode); } catch { /* some filesystems refuse chmod; keep the default mode */ }
    }
    step = 'writing the temporary file';
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    step = 'syncing the temporary file';
    fs.fsyncSync(fd);
    step = 'closing the temporary file';
    const f = fd;
    fd = undefined;
    fs.closeSync(f);
    step = 'renaming the temporary file over the target';
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw writeError(path, step, e);
  }
  syncDirectorySync(path);
  removeStaleTempsSync(path);
}

/** Makes the rename durable. The file is already in place, so only real I/O errors are reported. */
async function syncDirectory(path: string): Promise<void> {
  let dir: fsp.FileHandle | undefined;
  try {
    dir = await fsp.open(dirname(resolve(path)), 'r');
    await dir.sync();
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(e) ?? '')) throw writeError(path, 'syncing the directory', e);
  } finally {
    await dir?.close().catch(() => undefined);
  }
}

function syncDirectorySync(path: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dirname(resolve(path)), 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(e) ?? '')) throw writeError(path, 'syncing the directory', e);
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* nothing left to do */ }
  }
}

function checkReadArgs(path: unknown, maxBytes: unknown): void {
  if (typeof path !== 'string' || path === '') {
    throw new RnnkitError('E_ARGUMENT', `readFileLimited path: expected a non-empty string, found ${JSON.stringify(path) ?? typeof path}`);
  }
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RnnkitError('E_ARGUMENT', `readFileLimited maxBytes: expected a non-negative integer, found ${String(maxBytes)}`);
  }
}

function describeKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Refuses (E_MODEL_FILE) anything that is not a regular file of at most maxBytes. */
function checkStat(path: string, st: fs.Stats, maxBytes: number): void {
  if (!st.isFile()) throw new RnnkitError('E_MODEL_FILE', `${path}: expected a regular file, found ${describeKind(st)}`);
  if (st.size > maxBytes) {
    throw new RnnkitError('E_MODEL_FILE', `${path}: file is ${st.size} bytes; expected at most ${maxBytes} (maxBytes)`);
  }
}

/**
 * The contents of the regular file at `path` in a fresh Uint8Array, refusing (E_MODEL_FILE) a file larger
 * than `maxBytes` or anything that is not a regular file before reading it; E_IO when it cannot be read.
 */
export async function readFileLimited(path: string, maxBytes: number): Promise<Uint8Array> {
  checkReadArgs(path, maxBytes);
  let st: fs.Stats;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw readError(path, e);
  }
  checkStat(path, st, maxBytes);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(path, 'r');
    const opened = await handle.stat(); // the path may name another file by now
    checkStat(path, opened, maxBytes);
    const size = opened.size;
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(out, done, size - done, done);
      if (bytesRead === 0) break; // shrank while reading
      done += bytesRead;
    }
    return done === size ? out : out.slice(0, done);
  } catch (e) {
    if (e instanceof RnnkitError) throw e;
    throw readError(path, e);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The synchronous twin of `readFileLimited`. */
export function readFileLimitedSync(path: string, maxBytes: number): Uint8Array {
  checkReadArgs(path, maxBytes);
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  checkStat(path, st, maxBytes);
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r');
    const opened = fs.fstatSync(fd); // the path may name another file by now
    checkStat(path, opened, maxBytes);
    const size = opened.size;
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, out, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? out : out.slice(0, done);
  } catch (e) {
    if (e instanceof RnnkitError) throw e;
    throw readError(path, e);
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* nothing left to do */ }
  }
}
