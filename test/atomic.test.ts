// Atomic outputs (src/io/atomic.ts): a failed write leaves the previous file or directory as it was
// and no temporary files behind.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { replaceDir, withAtomicFile, writeFileAtomic } from '../src/io/atomic.js';
import { withTemp } from './shared.js';

test('writeFileAtomic: creates the folder, replaces the file, leaves no temporary file', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'sub', 'a.json');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, new TextEncoder().encode('two'));
    assert.equal(await fs.readFile(file, 'utf8'), 'two');
    assert.deepEqual(await fs.readdir(path.join(dir, 'sub')), ['a.json']);
  });
});

test('withAtomicFile: a failing writer keeps the old file; data is flushed before the rename', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'a.bin');
    await writeFileAtomic(file, 'old');
    await assert.rejects(
      withAtomicFile(file, async (fh) => {
        await fh.writeFile('half');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(await fs.readFile(file, 'utf8'), 'old');
    assert.deepEqual(await fs.readdir(dir), ['a.bin']);
    const order: string[] = [];
    const real = fs.rename;
    const rename = mock.method(fs, 'rename', async (from: string, to: string) => {
      order.push('rename');
      return real(from, to);
    });
    try {
      await withAtomicFile(file, async (fh) => {
        const sync = fh.sync.bind(fh);
        fh.sync = async () => {
          order.push('sync');
          await sync();
        };
        await fh.writeFile('newer');
        order.push('written');
      });
    } finally {
      rename.mock.restore();
    }
    assert.deepEqual(order, ['written', 'sync', 'rename']);
    assert.equal(await fs.readFile(file, 'utf8'), 'newer');
    await assert.rejects(
      withAtomicFile(path.join(dir, 'missing', 'x'), async () => {}),
      /ENOENT/,
    );
  });
});

test('replaceDir: swaps a directory, and puts the previous one back when the swap fails', async () => {
  await withTemp(async (dir) => {
    const target = path.join(dir, 'best');
    await replaceDir(target, async (tmp) => {
      await fs.writeFile(path.join(tmp, 'v'), '1');
    });
    await replaceDir(target, async (tmp) => {
      await fs.writeFile(path.join(tmp, 'v'), '2');
    });
    assert.equal(await fs.readFile(path.join(target, 'v'), 'utf8'), '2');
    assert.deepEqual(await fs.readdir(dir), ['best']);

    // A failure while filling: the previous directory is untouched.
    await assert.rejects(
      replaceDir(target, async () => {
        throw new Error('out of space');
      }),
      /out of space/,
    );
    assert.equal(await fs.readFile(path.join(target, 'v'), 'utf8'), '2');
    assert.deepEqual(await fs.readdir(dir), ['best']);

    // The second rename (new folder into place) fails: the previous directory comes back.
    const real = fs.rename;
    let calls = 0;
    const rename = mock.method(fs, 'rename', async (from: string, to: string) => {
      calls++;
      if (calls === 2)
        throw Object.assign(new Error(`EXDEV: cross-device link, rename '${from}' -> '${to}'`), { code: 'EXDEV' });
      return real(from, to);
    });
    try {
      await assert.rejects(
        replaceDir(target, async (tmp) => {
          await fs.writeFile(path.join(tmp, 'v'), '3');
        }),
        /EXDEV/,
      );
    } finally {
      rename.mock.restore();
    }
    assert.equal(calls, 3, 'moved aside, failed to move in, moved back');
    assert.equal(await fs.readFile(path.join(target, 'v'), 'utf8'), '2');
    assert.deepEqual(await fs.readdir(dir), ['best'], 'no hidden .old or .tmp folder left');
  });
});
