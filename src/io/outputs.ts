// The rule every command's output path follows: nothing a command did not make is ever deleted or
// overwritten. An output is checked before any work: an existing file or folder is replaced only
// when it is this command's own earlier output (recognised by a marker file the command writes into
// its folders, or a test the command gives), and only when asked; an output that is one of the
// command's inputs, holds one or lies inside one is refused whatever is asked. Failures of the file
// system are said in words (a dangling link, a file where a folder should be, a read-only or full
// disk), never as a bare errno.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/** An output refused before any work, with what to do instead. */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

/** An input the output must not overwrite: its path and what it is, for the message ("the model folder --model"). */
export interface OutputInput {
  path: string;
  what: string;
}

export interface CheckOutputOptions {
  /** What the command writes there: a folder (replaced as a whole) or a single file. */
  kind: 'folder' | 'file';
  /** How the output is named in messages: the option that gave it. Default '--out'. */
  option?: string;
  /** The command, for messages ("bert-lab export"). Default 'this command'. */
  command?: string;
  /**
   * For a folder: the file (e.g. '.bert-lab-export.json') the command writes into every folder it
   * makes (see `writeMarker`); a folder holding it is the command's own earlier output.
   */
  marker?: string;
  /**
   * Another way to recognise the command's own earlier output: a file's header, or the layout an
   * older version wrote before it had a marker. Called only on an existing path of the right kind.
   */
  own?: (out: string) => boolean | Promise<boolean>;
  /** Paths the output must not be, hold or lie inside (data, model folders), whatever `overwrite` says. */
  inputs?: readonly (string | OutputInput)[];
  /** Replace the command's own earlier output. Default false: it is refused, naming `overwriteOption`. */
  overwrite?: boolean;
  /** The option that sets `overwrite`, for messages. Default '--overwrite'. */
  overwriteOption?: string;
}

/** What `checkOutput` found: nothing there (or an empty folder), or the command's own earlier output. */
export interface OutputState {
  /** The output's absolute path (a symbolic link resolved). */
  path: string;
  state: 'new' | 'empty' | 'own';
}

/** Errno names said in words, for every message about a path. */
const FS_WORDS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links (a link loop?)',
  EMFILE: 'too many open files',
  EBUSY: 'in use',
};

/**
 * A file-system error `e` about `target` as a sentence a user can act on: the output option, the
 * path, the reason in words (the errno name in brackets) and `fix`; other errors are returned as
 * they are.
 *
 * Example: `catch (e) { throw describeFsError(e, out, '--out', 'pass a folder you can write to') }`
 */
export function describeFsError(e: unknown, target: string, option = '--out', fix = 'pass another path'): Error {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in FS_WORDS)) return e instanceof Error ? e : new Error(String(e));
  return new OutputError(`${option} ${target} cannot be written: ${FS_WORDS[code]} (${code}); ${fix}`);
}

/** lstat, or undefined when nothing is there; other errors (EACCES, ENOTDIR...) are thrown. */
async function lstatOrNone(p: string) {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** `p` with symbolic links resolved, for a path that may not exist yet: its nearest existing ancestor resolved. */
async function realish(p: string): Promise<string> {
  const rest: string[] = [];
  let at = path.resolve(p);
  for (;;) {
    try {
      return path.join(await fs.realpath(at), ...rest.reverse());
    } catch {
      const up = path.dirname(at);
      if (up === at) return path.resolve(p);
      rest.push(path.basename(at));
      at = up;
    }
  }
}

/** `inner` is `outer` or lies below it. */
function within(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Up to `n` entry names of a folder, for messages. */
function someOf(names: string[], n = 4): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, ... (${names.length})` : '');
}

/** The marker's record of a folder: the entries the command wrote, when it lists them. */
async function readMarker(file: string): Promise<{ files?: string[] } | undefined> {
  try {
    const json: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (typeof json !== 'object' || json === null) return {};
    const files = (json as { files?: unknown }).files;
    return Array.isArray(files) && files.every((f) => typeof f === 'string') ? { files } : {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return {}; // present but unreadable: still the command's mark
  }
}

/**
 * Checks an output path before any work, so a command never deletes or overwrites what it did not
 * make. Refused, with a message naming the path, the option and what to do:
 * - a path that is one of `inputs`, holds one, or lies inside one (even with `overwrite`);
 * - a file where a folder is written, or a folder where a file is (even with `overwrite`);
 * - an existing file, or a non-empty folder, that is not the command's own earlier output (no
 *   `marker`, `own` says no), even with `overwrite`; an own folder holding entries the command did
 *   not write (its marker lists them) is refused too, since replacing it would delete them;
 * - the command's own earlier output unless `overwrite`;
 * - a dangling symbolic link, a path under a file, a read-only, unwritable or full file system.
 *
 * Args:
 *   out: the output path as given.
 *   opts: kind ('folder' or 'file'), marker, own, inputs, overwrite, and the option and command
 *     names for messages (see CheckOutputOptions).
 *
 * Returns: the resolved path and what is there ('new', 'empty' or 'own').
 *
 * Example:
 *   await checkOutput(outDir, { kind: 'folder', marker: '.bert-lab-export.json', command: 'bert-lab export',
 *     inputs: [{ path: modelDir, what: 'the model folder --model' }], overwrite: true });
 *   await checkOutput('preds.csv', { kind: 'file', option: 'predict --out', inputs: ['data/test.csv'],
 *     own: (f) => firstLine(f) === 'id,target' });
 */
export async function checkOutput(out: string, opts: CheckOutputOptions): Promise<OutputState> {
  const option = opts.option ?? '--out';
  const command = opts.command ?? 'this command';
  const named = `${option} ${out}`;
  const refuse = (what: string): never => {
    throw new OutputError(`${named} ${what}`);
  };
  const abs = path.resolve(out);

  // A path under a file, or a link to nowhere: said before anything else is looked at.
  let st;
  try {
    st = await lstatOrNone(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      let up = path.dirname(abs);
      while (up !== path.dirname(up) && (await fs.lstat(up).catch(() => undefined))?.isDirectory() !== true)
        up = path.dirname(up);
      const file = path.relative(up, abs).split(path.sep)[0] ?? '';
      refuse(`cannot be made: ${path.join(up, file)} is a file, not a folder (ENOTDIR); pass a path in a folder`);
    }
    throw describeFsError(e, out, option);
  }
  if (st?.isSymbolicLink()) {
    const target = await fs.readlink(abs);
    if (!(await fs.stat(abs).catch(() => undefined)))
      refuse(
        `is a symbolic link to ${target}, which does not exist: make ${target} first, or pass another path (the link is left as it is)`,
      );
  }
  const real = await realish(abs);

  for (const input of opts.inputs ?? []) {
    const { path: p, what } = typeof input === 'string' ? { path: input, what: 'an input' } : input;
    const inReal = await realish(p);
    const inIsDir = (await fs.stat(inReal).catch(() => undefined))?.isDirectory() ?? false;
    if (inReal === real) refuse(`is ${what} (${p}): it would be overwritten; pass another path`);
    if (within(inReal, real))
      refuse(
        `holds ${what} (${p}): writing ${option} there would ${opts.kind === 'folder' ? 'delete' : 'overwrite'} it; pass a path outside it`,
      );
    if (inIsDir && within(real, inReal))
      refuse(`is inside ${what} (${p}): writing there would change it; pass a path outside it`);
  }

  const there = st ? await fs.stat(abs) : undefined;
  let state: OutputState['state'] = 'new';
  if (there && opts.kind === 'folder') {
    if (!there.isDirectory())
      refuse(
        `is a file, not a folder: ${command} writes a folder there and would replace the file; pass a new folder (the file is left as it is)`,
      );
    const entries = await fs.readdir(abs);
    if (entries.length === 0) state = 'empty';
    else {
      const mark = opts.marker ? await readMarker(path.join(abs, opts.marker)) : undefined;
      const own = mark !== undefined || ((await opts.own?.(abs)) ?? false);
      if (!own)
        refuse(
          `already holds files ${command} did not write (${someOf(entries)}${opts.marker ? `; no ${opts.marker}` : ''}): ` +
            `it is never replaced, even with ${opts.overwriteOption ?? '--overwrite'}; pass a new or empty folder`,
        );
      const foreign = mark?.files ? entries.filter((e) => e !== opts.marker && !mark.files!.includes(e)) : [];
      if (foreign.length)
        refuse(
          `holds an earlier output of ${command}, and beside it files that ${command} did not write (${someOf(foreign)}): ` +
            'replacing the folder would delete them; move them out, or pass another folder',
        );
      state = 'own';
    }
  } else if (there) {
    if (there.isDirectory())
      refuse(
        `is a folder, not a file (EISDIR): pass a file name, e.g. ${path.join(out, 'predictions.csv')} (the folder is left as it is)`,
      );
    if (!((await opts.own?.(abs)) ?? false))
      refuse(
        `already exists and is not an output of ${command}: it is never overwritten, even with ` +
          `${opts.overwriteOption ?? '--overwrite'}; pass a new file name`,
      );
    state = 'own';
  }
  if (state === 'own' && !opts.overwrite)
    refuse(
      `holds an earlier output of ${command}: pass ${opts.overwriteOption ?? '--overwrite'} to replace it, or another path`,
    );

  await checkWritable(abs, named);
  return { path: real, state };
}

/** The nearest existing folder at or above `p` can be written to, and its file system has room. */
async function checkWritable(p: string, named: string): Promise<void> {
  let dir = path.dirname(p);
  while (!(await fs.stat(dir).catch(() => undefined))) dir = path.dirname(dir);
  try {
    await fs.access(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const words = FS_WORDS[code] ?? (e as Error).message;
    throw new OutputError(`${named} cannot be written: ${dir}: ${words} (${code}); pass a folder you can write to`);
  }
  const fsStat = await fs.statfs(dir).catch(() => undefined);
  // A pseudo file system (/proc) has no blocks at all: only a real one with none free is full.
  if (fsStat && fsStat.blocks > 0 && fsStat.bavail === 0)
    throw new OutputError(
      `${named} cannot be written: no space left on the device that holds ${dir} (ENOSPC); free some space or pass another folder`,
    );
}

/**
 * Writes `marker` into `dir` (a folder the command is filling, before it is swapped in): the mark by
 * which `checkOutput` recognises the command's own output, with the entries it wrote, so a later
 * run replaces that folder and nothing else. Call it after the folder's other files are written.
 *
 * Args:
 *   dir: the folder being written.
 *   marker: its file name, e.g. '.bert-lab-export.json'.
 *   info: what to record beside the file list (the command, its source...).
 *
 * Example: `await writeMarker(tmp, '.bert-lab-export.json', { command: 'bert-lab export', model: modelDir })`
 */
export async function writeMarker(dir: string, marker: string, info: Record<string, unknown> = {}): Promise<void> {
  const files = (await fs.readdir(dir)).filter((f) => f !== marker).sort();
  const record = { ...info, written: new Date().toISOString(), files };
  await writeFileAtomic(path.join(dir, marker), JSON.stringify(record, null, 2) + '\n');
}
