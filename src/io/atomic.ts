// Outputs are written through a temporary sibling and a rename, so a crash or a full disk never
// leaves a half-written file where a good one was. The data is flushed to disk (fsync) before the
// rename: otherwise a power loss can leave the new name pointing at an empty file.
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** A fresh hidden name beside `target`, unique across processes and calls. */
function tempName(target: string, kind: string): string {
  const abs = path.resolve(target);
  return path.join(
    path.dirname(abs),
    `.${path.basename(abs)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Why a write failed, in words, for the errors a user can act on. */
const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/** A write that failed for a reason the user can fix; `code` is the errno name, `cause` Node's error. */
export class WriteError extends Error {
  constructor(
    message: string,
    readonly code: string,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

/** `e` said in words with the output it concerns and what was kept, or `e` itself for other errors. */
function explain(e: unknown, target: string, kept: string): unknown {
  const cause = e instanceof WriteError ? e.cause : e;
  const code = (cause as NodeJS.ErrnoException).code;
  if (!code || !(code in WRITE_FAILURES)) return e;
  return new WriteError(`${target} cannot be written: ${WRITE_FAILURES[code]} (${code}); ${kept}`, code, cause);
}

/**
 * Writes `file` atomically: `write` fills a new temporary file through its handle, which is then
 * flushed and renamed over `file`. On any error the temporary file is removed and `file` is as before.
 *
 * Args:
 *   file: the output path, in a folder that exists (a missing folder is an error, not created).
 *   write: fills the file (e.g. `(fh) => fh.write(bytes)`).
 *
 * Example: `await withAtomicFile('out/model.safetensors', async (fh) => { await fh.write(header); })`
 */
export async function withAtomicFile(file: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = tempName(file, 'tmp');
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(tmp, 'wx');
    await write(fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw explain(e, file, 'the file there, if any, is unchanged');
  }
}

/**
 * Writes `content` to `file` atomically (see `withAtomicFile`), creating its folder if missing.
 *
 * Example: `await writeFileAtomic('runs/lab/stats.json', JSON.stringify(stats))`
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await withAtomicFile(file, async (fh) => {
    await fh.writeFile(content);
  });
}

/**
 * Replaces the directory `dir` as a whole: `fill` writes the new contents into a temporary sibling,
 * which then takes the place of `dir`. The previous `dir` stays complete until the new one is, and
 * if the swap itself fails the previous `dir` is put back, so a reader finds the old or the new
 * directory, never a mix, and never none after a failure.
 *
 * Args:
 *   dir: the directory to create or replace.
 *   fill: writes the new contents into the folder it is given.
 *
 * Example: `await replaceDir('runs/lab/best', async (tmp) => { await writeConfig(tmp, config); })`
 */
export async function replaceDir(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const target = path.resolve(dir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempName(target, 'tmp');
  const old = tempName(target, 'old');
  let moved = false;
  try {
    await fs.mkdir(tmp);
    await fill(tmp);
    try {
      await fs.rename(target, old);
      moved = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // no previous directory: nothing to keep
    }
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    if (moved) {
      try {
        await fs.rename(old, target);
      } catch (restore) {
        throw new Error(
          `${target}: could not be replaced (${(e as Error).message}), and the previous contents could not be ` +
            `put back (${(restore as Error).message}): they are in ${old}; rename that folder to ${path.basename(target)}`,
          { cause: e },
        );
      }
    }
    throw explain(e, target, 'the previous folder there, if any, is kept whole');
  }
  if (moved) await fs.rm(old, { recursive: true, force: true });
}
