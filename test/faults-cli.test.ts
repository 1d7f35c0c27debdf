// Faults of the command line and the run folder (issue 25, second pass): outputs that are inputs or
// files the command did not write, folders that are not runs, conflicting options, errno messages,
// duplicate ids, a reader meeting a swap a killed run left half done. Each test names its case and
// fails without the check it describes; none trains (the runs are in faults-cli.slow.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cli, cliArgs, needsShared, repoRoot, shared, withTmpfs } from './shared.js';

const tweets = shared('data/disaster-tweets/train.csv');
const tiny = path.join(repoRoot, 'models/bert-lab-tiny');

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-faults-cli-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `train` on the first 300 tweets with the tiny model, into `out`: options after it are added. */
const train = (out: string, ...extra: string[]) =>
  cli('train', '--data', tweets, '--model', tiny, '--limit', '300', '--out', out, '--backend', 'wasm', ...extra);

/** A CSV of `ids` (id,text), one tweet-like text each. */
async function idsCsv(file: string, ids: string[]): Promise<string> {
  await writeFile(
    file,
    'id,text\n' + ids.map((id, i) => `${id},forest fire number ${i} near the town`).join('\n') + '\n',
  );
  return file;
}

/** `predict` with a copy of the tiny model (its classifier head random: --allow-untrained). */
const predict = (model: string, data: string, out: string, ...extra: string[]) =>
  cli('predict', '--model', model, '--data', data, '--out', out, '--allow-untrained', '--backend', 'wasm', ...extra);

/** The pid of a process that has exited: temporaries named after it belong to nobody. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

test(
  'case 7: an output that is an input is refused even with --overwrite; a file predict did not write is never replaced',
  needsShared,
  () =>
    withDir(async (dir) => {
      const model = path.join(dir, 'model');
      await cp(tiny, model, { recursive: true });
      const config = readFileSync(path.join(model, 'config.json'), 'utf8');
      const data = await idsCsv(path.join(dir, 'test.csv'), ['1', '2', '3']);

      // predict --out MODEL/config.json (the repro): the model's own file, named with the option that gave it.
      const inModel = predict(model, data, path.join(model, 'config.json'));
      assert.equal(inModel.code, 1, inModel.stderr);
      assert.match(inModel.stderr, /--out .*model\/config\.json is inside the model folder --model \(.*model\)/);
      assert.equal(readFileSync(path.join(model, 'config.json'), 'utf8'), config, 'config.json unchanged');
      const same = predict(model, data, data, '--overwrite');
      assert.equal(same.code, 1);
      assert.match(same.stderr, /--out .*test\.csv is the input file --data/);

      // A file predict did not write (Kaggle's sample submission: same header and ids): never replaced.
      const sample = path.join(dir, 'sample_submission.csv');
      await writeFile(sample, 'id,target\n1,0\n2,0\n3,0\n');
      const r = predict(model, data, sample, '--overwrite');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /--out .*sample_submission\.csv already exists and is not an output of bert-lab predict/);
      assert.equal(readFileSync(sample, 'utf8'), 'id,target\n1,0\n2,0\n3,0\n');

      // Its own earlier output: replaced with --overwrite only; once edited by hand, it is the user's.
      const preds = path.join(dir, 'preds.csv');
      const first = predict(model, data, preds);
      assert.equal(first.code, 0, first.stderr);
      const again = predict(model, data, preds);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /holds an earlier output of bert-lab predict: pass --overwrite to replace it/);
      const replaced = predict(model, data, preds, '--overwrite');
      assert.equal(replaced.code, 0, replaced.stderr);
      await writeFile(preds, readFileSync(preds, 'utf8') + '4,1\n');
      const edited = predict(model, data, preds, '--overwrite');
      assert.equal(edited.code, 1);
      assert.match(edited.stderr, /is not an output of bert-lab predict/);
      assert.match(readFileSync(preds, 'utf8'), /4,1\n$/);

      // lab --submission train.csv: the training data, refused before any training, even with --overwrite.
      const trainCopy = path.join(dir, 'train.csv');
      await cp(tweets, trainCopy);
      const before = readFileSync(trainCopy);
      const lab = cli(
        'lab',
        '--data',
        trainCopy,
        '--test',
        data,
        '--submission',
        trainCopy,
        '--model',
        tiny,
        '--limit',
        '300',
        '--out',
        path.join(dir, 'lab'),
        '--backend',
        'wasm',
      );
      assert.equal(lab.code, 1, lab.stderr);
      assert.match(lab.stderr, /--submission .*train\.csv is the training data --data \(.*train\.csv\)/);
      assert.doesNotMatch(lab.stdout, /Epoch 1/);
      assert.ok(readFileSync(trainCopy).equals(before), 'train.csv unchanged');
      const intoTest = cli(
        'train',
        '--data',
        tweets,
        '--test',
        data,
        '--submission',
        data,
        '--model',
        tiny,
        '--out',
        path.join(dir, 'lab2'),
        '--dry-run',
      );
      assert.equal(intoTest.code, 1);
      assert.match(intoTest.stderr, /--submission .*test\.csv is the test file --test/);
    }),
);

test('case 8: --overwrite into a folder that is not a bert-lab run is refused and deletes nothing', needsShared, () =>
  withDir(async (dir) => {
    const thesis = path.join(dir, 'thesis');
    await mkdir(path.join(thesis, 'checkpoint'), { recursive: true });
    await mkdir(path.join(thesis, 'best'));
    await writeFile(path.join(thesis, 'checkpoint', 'thesis.txt'), 'three years of work');
    await writeFile(path.join(thesis, 'best', 'notes.md'), 'notes');
    // --overwrite as a run, --resume as a dry run (which makes the run's checks when given either).
    for (const [flag, dry] of [
      ['--overwrite', []],
      ['--resume', ['--dry-run']],
    ] as const) {
      const r = train(thesis, '--epochs', '1', flag, ...dry);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `--out .*thesis is not a bert-lab run \\(no \\.bert-lab-run nor best/bert_lab_best\\.json\\) and holds best, checkpoint: ${flag} reuses only a run's folder`,
        ),
      );
    }
    assert.equal(readFileSync(path.join(thesis, 'checkpoint', 'thesis.txt'), 'utf8'), 'three years of work');
    assert.deepEqual(readdirSync(thesis).sort(), ['best', 'checkpoint']);

    // A run's folder (marked) with a file the run did not write in checkpoint/: refused too.
    const run = path.join(dir, 'run');
    await mkdir(path.join(run, 'checkpoint'), { recursive: true });
    await writeFile(path.join(run, '.bert-lab-run'), '{}');
    await writeFile(path.join(run, 'checkpoint', 'state.json'), '{}');
    await writeFile(path.join(run, 'checkpoint', 'thesis.txt'), 'mine');
    const r = train(run, '--overwrite', '--dry-run');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run\/checkpoint holds files a run does not write \(thesis\.txt\)/);
  }),
);

test('case 12: an empty --limit= and stray words are refused, not ignored', async () => {
  // The two repros through the command line: exit 2 before any work.
  for (const [args, msg] of [
    [['train', '--data', tweets, '--model', tiny, '--out', 'x', '--limit=', '--dry-run'], /--limit needs a value/],
    [['train', '--data', tweets, '--model', tiny, '--out', 'x', 'stray', '--dry-run'], /unexpected argument "stray"/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  // The same parser, in process: an empty value given apart, a number without its option.
  const { parse, UsageError } = await import('../src/app/args.js');
  const opts = { limit: { type: 'string', help: '' }, out: { type: 'string', help: '' } } as const;
  assert.throws(
    () => parse(['--limit', '', '--out', 'x'], opts),
    (e) => e instanceof UsageError && /--limit needs a value/.test(e.message),
  );
  assert.throws(
    () => parse(['300', '--out', 'x'], opts),
    /unexpected argument "300" \(this command takes options only/,
  );
  assert.throws(() => parse(['ID', 'extra'], opts, 1), /unexpected argument "extra"/);
});

test('case 13: --resume with --overwrite is a conflict', () => {
  const r = cli('train', '--data', tweets, '--model', tiny, '--out', 'x', '--resume', '--overwrite');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--resume and --overwrite conflict: .*pass one/);
});

test('case 14: --val-split too large for the rows is said with the option, not splitIndices', needsShared, () => {
  const r = cli(
    'train',
    '--data',
    tweets,
    '--model',
    tiny,
    '--out',
    'x',
    '--limit',
    '300',
    '--val-split',
    '0.999',
    '--dry-run',
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /--val-split 0\.999 of 300 rows leaves all 300 to validation and no row to train on: pass a smaller --val-split/,
  );
  assert.doesNotMatch(r.stderr, /splitIndices|valFraction/);
});

test('case 15: an unknown --random-init fails the dry run; a failed run leaves no folder it made', needsShared, () =>
  withDir(async (dir) => {
    const out = path.join(dir, 'out');
    for (const extra of [['--dry-run'], []]) {
      const r = train(out, '--random-init', 'huge', ...extra);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--random-init huge is not a preset shape: use one of tiny, mini/);
      assert.ok(!existsSync(out), '--out not made');
    }
    // A run that fails once it holds --out (weights that cannot be read): the folder it made goes.
    const broken = path.join(dir, 'broken');
    await cp(tiny, broken, { recursive: true });
    await writeFile(path.join(broken, 'model.safetensors'), 'not safetensors');
    const r = cli('train', '--data', tweets, '--model', broken, '--limit', '300', '--out', out, '--backend', 'wasm');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /model\.safetensors/);
    assert.ok(!existsSync(out), `the failed run left ${out}`);
    // A folder that existed before is left, with what it held.
    await mkdir(out);
    const again = cli(
      'train',
      '--data',
      tweets,
      '--model',
      broken,
      '--limit',
      '300',
      '--out',
      out,
      '--backend',
      'wasm',
    );
    assert.equal(again.code, 1);
    assert.ok(existsSync(out));
  }),
);

test(
  'case 17: file-system failures are sentences naming the path and the fix, found before the work',
  needsShared,
  (t) =>
    withDir(async (dir) => {
      const model = path.join(dir, 'model');
      await cp(tiny, model, { recursive: true });
      const data = await idsCsv(path.join(dir, 'test.csv'), ['1', '2']);

      // predict --out DIR: before inference (no "Wrote"), not EISDIR on a temporary name.
      await mkdir(path.join(dir, 'folder'));
      const isDir = predict(model, data, path.join(dir, 'folder'));
      assert.equal(isDir.code, 1);
      assert.match(
        isDir.stderr,
        /--out .*folder is a folder, not a file \(EISDIR\): pass a file name, e\.g\. .*folder\/predictions\.csv/,
      );
      assert.doesNotMatch(isDir.stderr, /\.tmp-/);

      // A dangling symbolic link as --out: said as such for predict (the link is not replaced) and train.
      const link = path.join(dir, 'dangling');
      await symlink(path.join(dir, 'nowhere', 'x'), link);
      const p = predict(model, data, link);
      assert.equal(p.code, 1);
      assert.match(p.stderr, /--out .*dangling is a symbolic link to .*nowhere\/x, which does not exist/);
      const tr = train(link, '--epochs', '1');
      assert.equal(tr.code, 1);
      assert.match(tr.stderr, /--out .*dangling is a symbolic link to a folder that does not exist/);
      assert.doesNotMatch(tr.stderr + p.stderr, /ENOENT: no such file/);

      // HF_HUB_CACHE set to a file: named, with the fix.
      const hf = spawnSync(process.execPath, cliArgs(['download', 'bert-base-uncased']), {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: '/dev/null' },
      });
      assert.equal(hf.status, 2, hf.stderr);
      assert.match(hf.stderr, /HF_HUB_CACHE=\/dev\/null: is a file, not a folder: set HF_HUB_CACHE to a folder/);

      // pretrain on a read-only file system: EROFS in words, not ENOENT from a recursive mkdir.
      await withTmpfs(t, 'ro,size=1m', async (ro) => {
        for (const out of [path.join(ro, 'pt'), ro]) {
          const r = cli('pretrain', '--out', out, '--steps', '2', '--backend', 'wasm');
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /the file system is read-only \(EROFS\)/, r.stderr);
          assert.match(r.stderr, new RegExp(ro.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
          assert.doesNotMatch(r.stderr, /ENOENT/);
        }
      });
    }),
);

test('case 21: predict warns about repeated ids, with how many and the first', needsShared, () =>
  withDir(async (dir) => {
    const model = path.join(dir, 'model');
    await cp(tiny, model, { recursive: true });
    const data = await idsCsv(path.join(dir, 'dup.csv'), ['7', '8', '7', '9', '8', '7']);
    const r = predict(model, data, path.join(dir, 'p.csv'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Warning: .*dup\.csv: 3 row\(s\) repeat an id seen before \(first: id "7" in data rows 1 and 3\)/,
    );
    assert.equal(readFileSync(path.join(dir, 'p.csv'), 'utf8').trim().split('\n').length, 7, 'every row predicted');
    const unique = predict(model, await idsCsv(path.join(dir, 'u.csv'), ['1', '2']), path.join(dir, 'q.csv'));
    assert.doesNotMatch(unique.stderr, /repeat an id/);
  }),
);

test('case 23: a reader given OUT/best after a kill inside the swap completes or undoes it', needsShared, () =>
  withDir(async (dir) => {
    const data = path.join(dir, 'data.csv');
    await writeFile(data, 'id,text,target\n1,forest fire near the town,1\n2,what a lovely day,0\n');
    const dead = deadPid();
    // Killed between the two renames: the complete new folder and the previous one beside a missing best/.
    const out = path.join(dir, 'run');
    await mkdir(out);
    await cp(tiny, path.join(out, `.best.tmp-${dead}-aa11`), { recursive: true });
    await cp(tiny, path.join(out, `.best.old-${dead}-bb22`), { recursive: true });
    const r = cli('eval', '--model', path.join(out, 'best'), '--data', data, '--allow-untrained', '--backend', 'wasm');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Recovered: .*run\/best: an interrupted replacement was completed with the new folder/);
    assert.deepEqual(readdirSync(out).sort(), ['best']);
    assert.ok(JSON.parse(r.stdout).accuracy >= 0);

    // Only the previous folder left (the new one lost): put back, for predict as for eval.
    const out2 = path.join(dir, 'run2');
    await mkdir(out2);
    await cp(tiny, path.join(out2, `.best.old-${dead}-cc33`), { recursive: true });
    const p = predict(path.join(out2, 'best'), data, path.join(dir, 'p.csv'));
    assert.equal(p.code, 0, p.stderr);
    assert.match(
      p.stderr,
      /Recovered: .*run2\/best: an interrupted replacement was undone \(previous folder restored\)/,
    );
    assert.ok(existsSync(path.join(out2, 'best', 'config.json')));
    assert.equal(await readFile(path.join(dir, 'p.csv'), 'utf8').then((s) => s.split('\n')[0]), 'id,target');
  }),
);
