// One run per output folder: a lock file names the process that holds it, and the folder's
// interrupted directory swaps and stale temporaries (io/atomic.ts) are settled once the lock is held
// (by the run, or by a reader that finds the folder it asked for in the middle of a killed swap).
// Making the folder says why it cannot be made (read-only disk, a file or a dangling link on the way).
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = '.bert-lab.lock';

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
}

/** True when process `pid` runs on this machine (signal 0 only checks that it exists). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why making or writing in a folder failed, in words a user can act on (by errno name). */
const DIR_FAILURES: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
};

/**
 * Makes `dir` and its missing parents, or says in one sentence why it cannot, naming the path that
 * stops it: a file on the way, a dangling symbolic link, a read-only or full disk. (Node's recursive
 * mkdir reports ENOENT on a read-only file system and never returns under /proc.) `option` names
 * where the path came from (e.g. "--out"), for the message.
 *
 * Example: `await makeDir('runs/tweets', '--out')`
 */
async function makeDir(dir: string, option = ''): Promise<void> {
  const what = option ? `${option} ${dir}` : dir;
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    let link: string | undefined;
    try {
      if (lstatSync(at).isSymbolicLink()) link = readlinkSync(at);
      const st = statSync(at);
      if (!st.isDirectory())
        throw new Error(`${what} cannot be made: ${at} is a file, not a folder: pass a path whose parents are folders`);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!code) throw e;
      if (link !== undefined)
        throw new Error(
          `${what} cannot be made: ${at} is a symbolic link to ${link}, which does not exist: ` +
            `create ${link} first, or remove the link, or pass another path`,
        );
      if (code === 'ENOTDIR')
        throw new Error(`${what} cannot be made: a parent of ${at} is a file, not a folder: pass another path`);
      if (code !== 'ENOENT') throw new Error(`${what} cannot be made: ${at}: ${(e as Error).message}`);
    }
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST' && statSync(d).isDirectory()) continue; // made by another process meanwhile
      const why = DIR_FAILURES[code];
      throw new Error(
        `${what} cannot be made: ${why ? `${why} (${code}) at ${path.dirname(d)}` : (e as Error).message}: ` +
          'pass a folder on a disk you can write to',
        { cause: e },
      );
    }
  }
}

/**
 * Takes `dir`'s lock (creating `dir`), or says which process holds it. A lock left by a process that
 * no longer runs on this host is taken over. Returns the function that releases it (also run at exit).
 * `option` names where `dir` came from (e.g. "--out"), for the messages.
 *
 * Example: `const release = await lockDir('runs/tweets', 'bert-lab train'); try { ... } finally { await release(); }`
 */
export async function lockDir(dir: string, command: string, option = ''): Promise<() => Promise<void>> {
  await makeDir(dir, option);
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      const release = () => rmSync(file, { force: true });
      process.once('exit', release);
      // A promise, as the callers await it; removing the file is synchronous.
      return () => {
        process.removeListener('exit', release);
        release();
        return Promise.resolve();
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code !== 'EEXIST')
        throw new Error(
          `${file} cannot be created: ${DIR_FAILURES[code] ? `${DIR_FAILURES[code]} (${code})` : (e as Error).message}; ` +
            `${option ? `${option} ` : ''}${dir} must be a folder you can write to: pass another one`,
          { cause: e },
        );
    }
    let held: Partial<LockInfo> = {};
    try {
      held = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    } catch {
      // Empty or half-written: its writer died between creating and filling it.
    }
    const sameHost = held.host === undefined || held.host === os.hostname();
    if (typeof held.pid === 'number' && (!sameHost || alive(held.pid)))
      throw new Error(
        `${dir} is in use by process ${held.pid}${sameHost ? '' : ` on ${held.host}`} (${held.command ?? '?'}, started ${held.started ?? '?'}): ` +
          `wait for it to finish or stop it, or pass another --out; if it is no longer running, delete ${file}`,
      );
    await fs.rm(file, { force: true }); // stale: its process is gone
  }
  throw new Error(`${file}: another run took the lock at the same moment; try again`);
}

const TEMP = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]+$/;

/** The temporaries (io/atomic.ts names) among `entries` whose process no longer runs. */
function deadTemporaries(entries: string[]): { e: string; m: RegExpExecArray }[] {
  return entries
    .map((e) => ({ e, m: TEMP.exec(e) }))
    .filter((x): x is { e: string; m: RegExpExecArray } => x.m !== null && !alive(Number(x.m[3])));
}

/**
 * For a reader given `target` (e.g. OUT/best) that does not exist: when a killed run left it between
 * the two renames of its replacement, the swap is completed or undone as the run's own recovery
 * does (under the folder's lock), and what was done is returned. When that cannot be done here, the
 * error says what happened and how to finish it by hand. Returns [] when there is nothing to settle.
 *
 * Example: `for (const line of await settleInterruptedSwap('runs/tweets/best')) log(line)`
 */
export async function settleInterruptedSwap(target: string, command = 'bert-lab'): Promise<string[]> {
  const abs = path.resolve(target);
  const dir = path.dirname(abs);
  const name = path.basename(abs);
  if (existsSync(abs) || !existsSync(dir)) return [];
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  const left = deadTemporaries(entries).filter((x) => x.m[1] === name);
  const old = left.find((x) => x.m[2] === 'old');
  if (!old) return [];
  const fresh = left.find((x) => x.m[2] === 'tmp' && x.m[3] === old.m[3]);
  const from = path.join(dir, (fresh ?? old).e);
  const byHand =
    `${target} is missing: a run was stopped while replacing it, between its two renames; ` +
    `${fresh ? 'the complete new folder' : 'the previous folder'} is ${from}: rename it to ${name} ` +
    `(or run the training again in ${dir} with --resume or --overwrite, which does it)`;
  let release: (() => Promise<void>) | undefined;
  try {
    release = await lockDir(dir, `${command} (settling ${name})`);
  } catch (e) {
    throw new Error(`${byHand}; it cannot be done here: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await recoverSwaps(dir, name);
  } catch (e) {
    throw new Error(`${byHand}; it cannot be done here: ${(e as Error).message}`, { cause: e });
  } finally {
    await release();
  }
}

/**
 * Settles what a killed run left in `dir`: a directory swap interrupted between its two renames
 * (the target missing, the complete new folder `.NAME.tmp-*` and the previous `.NAME.old-*` beside
 * it) is finished with the new folder, or the previous one put back; every other temporary of a
 * process no longer running is removed. Call it while holding `dir`'s lock. `only` limits it to the
 * temporaries of that one entry (e.g. "best"). Returns what it did.
 */
export async function recoverSwaps(dir: string, only?: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const done: string[] = [];
  const dead = deadTemporaries(await fs.readdir(dir)).filter((x) => only === undefined || x.m[1] === only);
  for (const { e, m } of dead) {
    const target = path.join(dir, m[1]);
    if (m[2] !== 'old' || existsSync(target)) continue;
    // The old folder is only renamed away once the new one is complete: finish the swap with it.
    const fresh = dead.find((x) => x.m[1] === m[1] && x.m[2] === 'tmp' && x.m[3] === m[3]);
    const from = fresh ? path.join(dir, fresh.e) : path.join(dir, e);
    await fs.rename(from, target);
    done.push(
      `${target}: an interrupted replacement was ${fresh ? 'completed with the new folder' : 'undone (previous folder restored)'}`,
    );
  }
  for (const { e } of dead) {
    const p = path.join(dir, e);
    if (!existsSync(p)) continue;
    await fs.rm(p, { recursive: true, force: true });
    done.push(`${p}: a stale temporary removed`);
  }
  return done;
}
