// The output rule (src/io/outputs.ts): what a command may replace, what it never touches, and file
// system failures said in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkOutput, describeFsError, writeMarker, OutputError } from '../src/io/outputs.js';
import { withTemp } from './shared.js';

const MARK = '.tool.json';
const folder = { kind: 'folder', marker: MARK, command: 'tool' } as const;

test('a new or empty folder is free; a marked one is the command own, replaced only with overwrite', () =>
  withTemp(async (dir) => {
    const out = path.join(dir, 'out');
    assert.deepEqual(await checkOutput(out, folder), { path: out, state: 'new' });
    await mkdir(out);
    assert.equal((await checkOutput(out, folder)).state, 'empty');
    await writeFile(path.join(out, 'result.txt'), 'r');
    await writeMarker(out, MARK, { command: 'tool' });
    const record = JSON.parse(await readFile(path.join(out, MARK), 'utf8'));
    assert.deepEqual(record.files, ['result.txt']);
    assert.equal(record.command, 'tool');
    await assert.rejects(
      checkOutput(out, folder),
      (e: unknown) =>
        e instanceof OutputError &&
        e.message === `--out ${out} holds an earlier output of tool: pass --overwrite to replace it, or another path`,
    );
    assert.equal((await checkOutput(out, { ...folder, overwrite: true })).state, 'own');
    // A file the command did not write, beside its own: replacing the folder would delete it.
    await writeFile(path.join(out, 'notes.md'), 'mine');
    await assert.rejects(
      checkOutput(out, { ...folder, overwrite: true }),
      /files that tool did not write \(notes\.md\): replacing the folder would delete them/,
    );
  }));

test('anything else is never replaced, even with overwrite; a test of its own may recognise older outputs', () =>
  withTemp(async (dir) => {
    const out = path.join(dir, 'thesis');
    await mkdir(out);
    for (const f of ['a', 'b', 'c', 'd', 'e']) await writeFile(path.join(out, f), f);
    await assert.rejects(
      checkOutput(out, { ...folder, overwrite: true, option: '--site' }),
      new RegExp(
        `^OutputError: --site ${out} already holds files tool did not write \\(a, b, c, d, \\.\\.\\. \\(5\\); no \\.tool\\.json\\): it is never replaced, even with --overwrite`,
      ),
    );
    assert.equal((await checkOutput(out, { ...folder, overwrite: true, own: async () => true })).state, 'own');

    const csv = path.join(dir, 'preds.csv');
    await writeFile(csv, 'text,target\n');
    const file = { kind: 'file', command: 'predict', overwrite: true } as const;
    await assert.rejects(
      checkOutput(csv, file),
      /preds\.csv already exists and is not an output of predict: it is never overwritten/,
    );
    const ours = async (f: string) => (await readFile(f, 'utf8')).startsWith('id,target');
    await assert.rejects(checkOutput(csv, { ...file, own: ours }), /is not an output of predict/);
    await writeFile(csv, 'id,target\n1,0\n');
    assert.equal((await checkOutput(csv, { ...file, own: ours })).state, 'own');
    await assert.rejects(checkOutput(csv, { ...file, own: ours, overwrite: false }), /pass --overwrite to replace it/);
    await assert.rejects(checkOutput(dir, file), /is a folder, not a file \(EISDIR\): pass a file name, e\.g\. /);
    await assert.rejects(checkOutput(csv, folder), /preds\.csv is a file, not a folder: tool writes a folder there/);
  }));

test('an output that is, holds or lies inside an input is refused whatever is asked', () =>
  withTemp(async (dir) => {
    const model = path.join(dir, 'runs', 'best');
    await mkdir(model, { recursive: true });
    const data = path.join(dir, 'train.csv');
    await writeFile(data, 'text,target\n');
    const inputs = [
      { path: model, what: 'the model folder --model' },
      { path: data, what: 'the data file --data' },
    ];
    const opts = { ...folder, overwrite: true, own: () => true, inputs };
    await assert.rejects(
      checkOutput(model, opts),
      /best is the model folder --model \(.*best\): it would be overwritten/,
    );
    await assert.rejects(
      checkOutput(path.join(dir, 'runs'), opts),
      /runs holds the model folder --model .*would delete it/,
    );
    await assert.rejects(checkOutput(dir, opts), /holds the model folder --model/);
    await assert.rejects(checkOutput(path.join(model, 'onnx'), opts), /is inside the model folder --model/);
    await assert.rejects(
      checkOutput(data, { kind: 'file', inputs, overwrite: true, own: () => true }),
      /train\.csv is the data file --data/,
    );
    // Through a symbolic link too.
    const alias = path.join(dir, 'alias');
    await symlink(model, alias);
    await assert.rejects(checkOutput(alias, opts), /alias is the model folder --model/);
    // A sibling is fine.
    assert.equal((await checkOutput(path.join(dir, 'runs', 'onnx'), opts)).state, 'new');
  }));

test('file system failures in words: a dangling link, a path under a file, errno names', () =>
  withTemp(async (dir) => {
    const link = path.join(dir, 'link');
    await symlink(path.join(dir, 'gone'), link);
    await assert.rejects(
      checkOutput(link, folder),
      new RegExp(
        `--out ${link} is a symbolic link to ${dir}/gone, which does not exist: make .* first, or pass another path`,
      ),
    );
    const file = path.join(dir, 'f');
    await writeFile(file, 'x');
    await assert.rejects(
      checkOutput(path.join(file, 'sub', 'out'), folder),
      new RegExp(`cannot be made: ${file} is a file, not a folder \\(ENOTDIR\\); pass a path in a folder`),
    );
    for (const [code, words] of [
      ['ENOSPC', 'no space left on the device'],
      ['EROFS', 'the file system is read-only'],
      ['EISDIR', 'is a folder, not a file'],
    ])
      assert.equal(
        describeFsError(Object.assign(new Error('raw'), { code }), 'x.csv', '--out', 'pass another path').message,
        `--out x.csv cannot be written: ${words} (${code}); pass another path`,
      );
    const other = new Error('something else');
    assert.equal(describeFsError(other, 'x'), other);
  }));

test('a read-only or full file system is named before any work', (t) =>
  withTemp(async (dir) => {
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    const mount = (...o: string[]) =>
      spawnSync('mount', ['-t', 'tmpfs', '-o', o.join(','), 'tmpfs', mnt], { encoding: 'utf8' });
    const m = mount('size=64k');
    if (m.status !== 0)
      return t.skip(`cannot mount a tmpfs here (needs root): ${(m.stderr || String(m.error)).trim()}`);
    try {
      // Filled to the last block.
      await writeFile(path.join(mnt, 'filler'), Buffer.alloc(1 << 20)).catch(() => undefined);
      await assert.rejects(
        checkOutput(path.join(mnt, 'out'), folder),
        new RegExp(`--out ${mnt}/out cannot be written: no space left on the device that holds ${mnt} \\(ENOSPC\\)`),
      );
      spawnSync('mount', ['-o', 'remount,ro', mnt]);
      await assert.rejects(
        checkOutput(path.join(mnt, 'out'), folder),
        new RegExp(
          `--out ${mnt}/out cannot be written: ${mnt}: the file system is read-only \\(EROFS\\); pass a folder you can write to`,
        ),
      );
    } finally {
      spawnSync('umount', [mnt]);
    }
  }));
