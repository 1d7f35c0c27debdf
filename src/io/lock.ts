// One run per output folder: a lock file names the process that holds it, and the folder's
// interrupted directory swaps and stale temporaries (io/atomic.ts) are settled once the lock is held.
import { existsSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * Takes `dir`'s lock (creating `dir`), or says which process holds it. A lock left by a process that
 * no longer runs on this host is taken over. Returns the function that releases it (also run at exit).
 *
 * Example: `const release = await lockDir('runs/tweets', 'bert-lab train'); try { ... } finally { await release(); }`
 */
export async function lockDir(dir: string, command: string): Promise<() => Promise<void>> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      const release = () => rmSync(file, { force: true });
      process.once('exit', release);
      return async () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`${file}: cannot be created (${(e as Error).message})`);
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

/**
 * Settles what a killed run left in `dir`: a directory swap interrupted between its two renames
 * (the target missing, the complete new folder `.NAME.tmp-*` and the previous `.NAME.old-*` beside
 * it) is finished with the new folder, or the previous one put back; every other temporary of a
 * process no longer running is removed. Call it while holding `dir`'s lock. Returns what it did.
 */
export async function recoverSwaps(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const done: string[] = [];
  const entries = await fs.readdir(dir);
  const temp = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]+$/;
  const dead = entries
    .map((e) => ({ e, m: temp.exec(e) }))
    .filter((x): x is { e: string; m: RegExpExecArray } => x.m !== null && !alive(Number(x.m[3])));
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
