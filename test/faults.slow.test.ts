// Faults a careless or hostile user meets: runs into a used --out, diverging training, untrusted
// checkpoints, bad options and inputs. Each test fails without the check it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  needsShared,
  repoRoot,
  shared,
  cli,
  cliArgs,
  cliAsync,
  killWhen,
  tinyPretrain,
  tinyTrain,
  withTmpfs,
} from './shared.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';

const bertBase = shared('models/bert-base-uncased');
const tweets = shared('data/disaster-tweets/train.csv');
const tinyArgs = (out: string, ...extra: string[]) => tinyTrain(out, {}, ...extra);
const tinyRun = (out: string, ...extra: string[]) => cli(...tinyArgs(out, ...extra));
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-faults-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('case 1: a run into a used --out needs --overwrite and never replaces a better best/', needsShared, () =>
  withDir(async (dir) => {
    const out = path.join(dir, 'run');
    const first = tinyRun(out);
    assert.equal(first.code, 0, first.stderr);
    const record = path.join(out, 'best', 'bert_lab_best.json');
    const rec = readJson(record);
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, rec.best.valAccuracy);
    assert.equal(readJson(path.join(out, 'stats.json')).length, 1);

    const again = tinyRun(out);
    assert.notEqual(again.code, 0, 'a second run into the same --out is refused');
    assert.match(again.stderr, /already holds a previous run \(best\/: epoch 1, validation accuracy .*--overwrite/);

    // An existing best/ that scored higher on the same rows than any epoch can: it stays as it is.
    const weights = readFileSync(path.join(out, 'best', 'model.safetensors'));
    await writeFile(record, JSON.stringify({ ...rec, best: { ...rec.best, valAccuracy: 1 } }));
    const worse = tinyRun(out, '--overwrite', '--lr', '0');
    assert.equal(worse.code, 0, worse.stderr);
    assert.match(worse.stdout, /No epoch beat the existing best \(accuracy 1\.0000\)/);
    assert.ok(readFileSync(path.join(out, 'best', 'model.safetensors')).equals(weights), 'best/ weights unchanged');
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, 1, 'report.json describes best/');
    assert.equal(readJson(record).best.valAccuracy, 1);

    // Other validation rows: the scores do not compare, so this run's best replaces best/.
    const other = tinyRun(out, '--overwrite', '--limit', '320');
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /measured on other validation rows/);
    assert.equal(readJson(record).validation.rows, 64);
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, readJson(record).best.valAccuracy);
  }),
);

test(
  'case 2: divergence stops with its likely cause and saves nothing; a best below the majority class is said',
  needsShared,
  () =>
    withDir(async (dir) => {
      const high = tinyRun(path.join(dir, 'high'), '--lr', '1e3');
      assert.equal(high.code, 1);
      assert.match(
        high.stderr,
        /training diverged at epoch 1, step \d+: the mean loss of the last \d+ steps is .* above 3 x ln\(2\) = 0\.69 = 2\.08/,
      );
      assert.match(high.stderr, /--lr 1000 too high/);
      assert.ok(!existsSync(path.join(dir, 'high', 'best')), 'a diverged model is not saved as the best');

      // Rising sharply: a model that had learned (mean loss 0.2) and now does worse than guessing.
      const { DivergenceWatch } = await import('../src/training/train.js');
      const watch = new DivergenceWatch(2);
      const feed = (losses: number[]) => losses.map((l, i) => watch.push(l, 100, i + 1)).find((w) => w);
      assert.equal(feed([...Array(30).fill(0.2), ...Array(10).fill(0.6)]), undefined, 'below ln 2: not divergence');
      assert.match(
        feed(Array(10).fill(1.2)) ?? '',
        /the mean loss of the last 10 steps rose from 0\.2000 to 0\.72000, above an untrained model's ln\(2\) = 0\.69/,
      );
      // One hard batch in a window is not divergence; a model that never learned is judged by the 3 x ln 2 rule only.
      const fresh = new DivergenceWatch(2);
      assert.equal(
        [0.7, 0.7, 0.7, 5, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 1.5, 1.5]
          .map((l, i) => fresh.push(l, 100, i + 1))
          .find((w) => w),
        undefined,
      );

      const eps = tinyRun(path.join(dir, 'eps'), '--eps', '0');
      assert.equal(eps.code, 1);
      assert.match(eps.stderr, /training diverged: loss is NaN .*likely cause: --eps 0/);
      assert.doesNotMatch(eps.stderr, /--lr/);

      // lr 0 leaves the random init as it is; with seed 2 it scores 0.40 where always "0" scores 0.60.
      const flat = tinyRun(path.join(dir, 'flat'), '--lr', '0', '--seed', '2');
      assert.equal(flat.code, 0, flat.stderr);
      assert.match(
        flat.stdout,
        /Warning: the best validation accuracy 0\.4000 is below the majority-class rate 0\.6000/,
      );
    }),
);

const parity = shared('fixtures/parity');

/** A copy of the parity classifier with `edit` applied to its config and weights. */
async function parityCopy(
  dir: string,
  name: string,
  edit: {
    config?: Record<string, unknown>;
    weights?: (w: Map<string, { shape: number[]; data: Float32Array }>) => void;
  },
): Promise<string> {
  const out = path.join(dir, name);
  await mkdir(out);
  const config = JSON.parse(await readFile(path.join(parity, 'tiny-bert-cls', 'config.json'), 'utf8'));
  await writeFile(path.join(out, 'config.json'), JSON.stringify({ ...config, ...edit.config }));
  const w = await readSafetensors(path.join(parity, 'tiny-bert-cls', 'model.safetensors'));
  edit.weights?.(w);
  await writeSafetensors(path.join(out, 'model.safetensors'), w);
  return out;
}

test('case 3: eval, predict and forward refuse untrained, non-finite or mismatched checkpoints', needsShared, () =>
  withDir(async (dir) => {
    const inputs = path.join(parity, 'expected.json');
    const nan = await parityCopy(dir, 'nan', {
      weights: (w) => {
        w.get('bert.encoder.layer.1.output.dense.weight')!.data[5] = NaN;
      },
    });
    const r = cli('forward', '--model', nan, '--inputs', inputs);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /model\.safetensors: tensor "bert\.encoder\.layer\.1\.output\.dense\.weight" holds NaN at element 5: the checkpoint is corrupt/,
    );

    for (const [layers, what] of [
      [3, /holds 2 encoder layers but config\.json declares num_hidden_layers 3: 1 layer\(s\) would be random/],
      [1, /holds 2 encoder layers but config\.json declares num_hidden_layers 1: 1 layer\(s\) would be dropped/],
    ] as const) {
      const m = await parityCopy(dir, `layers-${layers}`, { config: { num_hidden_layers: layers } });
      const f = cli('forward', '--model', m, '--inputs', inputs);
      assert.equal(f.code, 1, `num_hidden_layers ${layers}`);
      assert.match(f.stderr, what);
    }

    const headless = await parityCopy(dir, 'headless', {
      weights: (w) => {
        w.delete('classifier.weight');
        w.delete('classifier.bias');
      },
    });
    // A huge vocab_size beside a missing embedding: refused from the sizes, before any allocation.
    const huge = await parityCopy(dir, 'huge-vocab', {
      config: { vocab_size: 100_000_000 },
      weights: (w) => {
        w.delete('bert.embeddings.word_embeddings.weight');
      },
    });
    const hv = cli('forward', '--model', huge, '--inputs', inputs, '--allow-untrained');
    assert.equal(hv.code, 1, hv.stderr);
    assert.match(
      hv.stderr,
      /huge-vocab\/config\.json: its sizes \(vocab_size, hidden_size\) make "bert\.embeddings\.word_embeddings\.weight" \[100000000, 32\], 3,200,000,000 numbers.*more than one array holds; the checkpoint does not hold it/,
    );

    const h = cli('forward', '--model', headless, '--inputs', inputs);
    assert.equal(h.code, 1);
    assert.match(h.stderr, /no trained weights for classifier\.weight, classifier\.bias.*--allow-untrained/);
    const allowed = cli('forward', '--model', headless, '--inputs', inputs, '--allow-untrained');
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).logits.length, 3);

    // The bundled pre-trained model has no classifier head: predict refuses it, and eval too.
    const csv = path.join(dir, 'few.csv');
    await writeFile(csv, 'id,text,target\n1,forest fire near la ronge,1\n2,what a lovely day,0\n');
    const p = cli(
      'predict',
      '--model',
      path.join(repoRoot, 'models/bert-lab-tiny'),
      '--data',
      csv,
      '--out',
      path.join(dir, 'p.csv'),
    );
    assert.equal(p.code, 1);
    assert.match(p.stderr, /no trained weights for classifier\.weight/);
    assert.ok(!existsSync(path.join(dir, 'p.csv')));
    const e = cli('eval', '--model', path.join(repoRoot, 'models/bert-lab-tiny'), '--data', csv);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /no trained weights for classifier\.weight/);
    const ok = cli(
      'predict',
      '--model',
      path.join(repoRoot, 'models/bert-lab-tiny'),
      '--data',
      csv,
      '--out',
      path.join(dir, 'p.csv'),
      '--allow-untrained',
    );
    assert.equal(ok.code, 0, ok.stderr);
  }),
);

test(
  'case 8: options, output paths, test file, encodings, labels and vocabulary fail before the first step',
  needsShared,
  () =>
    withDir(async (dir) => {
      const dry = (...extra: string[]) =>
        cli('train', '--data', tweets, '--model', bertBase, '--out', path.join(dir, 'out'), '--dry-run', ...extra);
      for (const [args, message] of [
        [['--lr', '-1'], /--lr must be a decimal number >= 0, got "-1"/],
        [['--lr', '0x10'], /--lr must be a decimal number >= 0, got "0x10"/],
        [
          ['--val-split', '1'],
          /--val-split is the share of rows kept for validation, between 0 and 1.*no row is left to train on/,
        ],
      ] as const) {
        const r = dry(...args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const file = path.join(dir, 'a-file');
      await writeFile(file, 'x');
      const f = cli('train', '--data', tweets, '--model', bertBase, '--out', file, '--dry-run');
      assert.equal(f.code, 1);
      assert.match(f.stderr, /--out .*a-file is a file, not a folder/);

      const latin1 = path.join(dir, 'latin1.csv');
      await writeFile(
        latin1,
        Buffer.concat([Buffer.from('text,target\nfine,0\ncaf'), Buffer.from([0xe9]), Buffer.from(' fire,1\n')]),
      );
      const enc = cli('train', '--data', latin1, '--model', bertBase, '--out', path.join(dir, 'o2'), '--dry-run');
      assert.equal(enc.code, 1);
      assert.match(enc.stderr, /latin1\.csv: line 3: byte 0xe9 at offset 22 is not UTF-8/);

      const mixed = path.join(dir, 'mixed.csv');
      await writeFile(mixed, 'text,target\na,0\nb,1\nc,yes\nd,no\n');
      const mx = cli('train', '--data', mixed, '--model', bertBase, '--out', path.join(dir, 'o3'), '--dry-run');
      assert.equal(mx.code, 1);
      assert.match(
        mx.stderr,
        /mixed\.csv: column "target" mixes numbers \(0, 1\) and words \(no, yes\), e\.g\. "no" at data row 4/,
      );

      // lab checks the test file's columns before training, not after it.
      const noId = path.join(dir, 'test-noid.csv');
      await writeFile(noId, 'text\nforest fire\n');
      const lab = cli(
        'lab',
        '--data',
        tweets,
        '--test',
        noId,
        '--model',
        bertBase,
        '--random-init',
        'tiny',
        '--limit',
        '300',
        '--out',
        path.join(dir, 'lab'),
      );
      assert.equal(lab.code, 1);
      assert.match(lab.stderr, /test-noid\.csv: no column "id"/);
      assert.doesNotMatch(lab.stdout, /Epoch 1/);

      const csv = path.join(dir, 'few.csv');
      await writeFile(csv, 'id,text,target\n1,forest fire near la ronge,1\n2,what a lovely day,0\n');
      const same = cli('predict', '--model', shared('fixtures/parity/tiny-bert-cls'), '--data', csv, '--out', csv);
      assert.equal(same.code, 1);
      assert.match(same.stderr, /--out .*few\.csv is the input file --data/);
      assert.equal(readFileSync(csv, 'utf8').split('\n')[0], 'id,text,target');

      // bert-base-uncased's 30,522-token tokenizer beside a 512-row embedding table.
      const big = path.join(dir, 'big-tokenizer');
      await cp(shared('fixtures/parity/tiny-bert-cls'), big, { recursive: true });
      for (const f of ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json'])
        await cp(path.join(bertBase, f), path.join(big, f));
      const v = cli('eval', '--model', big, '--data', csv);
      assert.equal(v.code, 1);
      assert.match(v.stderr, /the tokenizer has 30,522 tokens but config\.json's vocab_size is 512/);

      const warm = tinyRun(path.join(dir, 'warm'), '--warmup', '1000');
      assert.equal(warm.code, 0, warm.stderr);
      assert.match(warm.stdout, /Warning: --warmup 1000 steps is longer than the whole run \(8 steps\)/);
    }),
);

const pretrainArgs = (out: string, ...extra: string[]) =>
  cliArgs(['pretrain', '--out', out, ...tinyPretrain(), ...extra]);

const lossColumn = (out: string) =>
  readFileSync(path.join(out, 'loss.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').slice(0, 4).join(','));

test('case 6: a killed pre-training run resumes exactly (dropout masks too); a damaged state.json is named', () =>
  withDir(async (dir) => {
    const whole = path.join(dir, 'whole');
    const a = spawnSync(process.execPath, pretrainArgs(whole), { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);

    const cut = path.join(dir, 'cut');
    const state = path.join(cut, 'checkpoint', 'state.json');
    const killedAt = (await killWhen(pretrainArgs(cut), state, (s) => (s.step as number) >= 3)).step as number;
    assert.ok(killedAt >= 3 && killedAt < 12, `killed at step ${killedAt}`);
    const b = spawnSync(process.execPath, pretrainArgs(cut), { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`Resuming from .* at step ${killedAt} of 12`));
    // step, loss, MLM loss, NSP loss of every step: bit for bit those of the uninterrupted run.
    assert.deepEqual(lossColumn(cut), lossColumn(whole));

    const saved = JSON.parse(readFileSync(state, 'utf8'));
    for (const [edit, message] of [
      [
        { ...saved, step: 'abc' },
        /state\.json: "step" must be a non-negative integer, got "abc"; the checkpoint is damaged/,
      ],
      [{ ...saved, points: null }, /state\.json: "points" must list one entry per step \(12\), got null/],
    ] as const) {
      await writeFile(state, JSON.stringify(edit));
      const r = spawnSync(process.execPath, pretrainArgs(cut), { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, message);
    }
    await writeFile(state, '{"step": 3,');
    const r = spawnSync(process.execPath, pretrainArgs(cut), { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /state\.json: not valid JSON/);
  }));

test('case 7: train --resume after kill -9 gives the uninterrupted run bit for bit', needsShared, () =>
  withDir(async (dir) => {
    const run = (out: string, ...extra: string[]) => cliArgs(tinyTrain(out, { epochs: 3 }, ...extra));
    const whole = path.join(dir, 'whole');
    const a = spawnSync(process.execPath, run(whole), { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);
    assert.ok(!existsSync(path.join(whole, 'checkpoint')), 'a finished run leaves no checkpoint');

    const cut = path.join(dir, 'cut');
    const state = path.join(cut, 'checkpoint', 'state.json');
    const killedAfter = (await killWhen(run(cut), state, () => true)).epoch as number;
    assert.ok(killedAfter >= 1 && killedAfter < 3, `killed after epoch ${killedAfter}`);

    const refused = spawnSync(process.execPath, run(cut), { cwd: repoRoot, encoding: 'utf8' });
    assert.notEqual(refused.status, 0, 'a used --out needs --resume or --overwrite');
    const other = spawnSync(process.execPath, run(cut, '--resume', '--lr', '1e-4'), {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(other.status, 1);
    assert.match(
      other.stderr,
      /--resume: .*checkpoint was made with other settings \(lr: 0\.0005 there, 0\.0001 now\)/,
    );

    const b = spawnSync(process.execPath, run(cut, '--resume'), { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`Resuming after epoch ${killedAfter} of 3`));
    const losses = (out: string) =>
      readJson(path.join(out, 'stats.json')).map((s: { trainLoss: number; valLoss: number; valAccuracy: number }) => [
        s.trainLoss,
        s.valLoss,
        s.valAccuracy,
      ]);
    assert.deepEqual(losses(cut), losses(whole));
    assert.ok(
      readFileSync(path.join(cut, 'best', 'model.safetensors')).equals(
        readFileSync(path.join(whole, 'best', 'model.safetensors')),
      ),
      'best/ weights are bit-identical',
    );
    assert.deepEqual(readJson(path.join(cut, 'report.json')).report, readJson(path.join(whole, 'report.json')).report);
  }),
);

test('case 5: one run per --out (the second names the holder); an interrupted swap is recovered, temporaries removed', () =>
  withDir(async (dir) => {
    const { lockDir, recoverSwaps, LOCK_FILE } = await import('../src/io/lock.js');
    const out = path.join(dir, 'run');
    const release = await lockDir(out, 'bert-lab train');
    await assert.rejects(
      lockDir(out, 'bert-lab train'),
      new RegExp(`in use by process ${process.pid} \\(bert-lab train, started `),
    );
    await release();
    assert.ok(!existsSync(path.join(out, LOCK_FILE)));
    // A lock left by a process that is gone is taken over.
    await writeFile(
      path.join(out, LOCK_FILE),
      JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), command: 'x' }),
    );
    await (
      await lockDir(out, 'bert-lab train')
    )();

    // Killed between the two renames of a swap: best/ missing, the complete new folder and the old one beside it.
    const dead = 2 ** 22 + 4321;
    await mkdir(path.join(out, `.best.tmp-${dead}-aa11`));
    await writeFile(path.join(out, `.best.tmp-${dead}-aa11`, 'config.json'), '{"new":1}');
    await mkdir(path.join(out, `.best.old-${dead}-bb22`));
    await writeFile(path.join(out, `.best.old-${dead}-bb22`, 'config.json'), '{"old":1}');
    // Killed while undoing a swap whose new folder was lost: the old one comes back.
    await mkdir(path.join(out, `.checkpoint.old-${dead}-cc33`));
    await writeFile(path.join(out, `.checkpoint.old-${dead}-cc33`, 'state.json'), '{}');
    await writeFile(path.join(out, `.stats.json.tmp-${dead}-dd44`), 'half');
    // A temporary of a process still running (this one) is left alone.
    await writeFile(path.join(out, `.report.json.tmp-${process.pid}-ee55`), 'busy');
    const done = await recoverSwaps(out);
    assert.equal(readFileSync(path.join(out, 'best', 'config.json'), 'utf8'), '{"new":1}');
    assert.ok(existsSync(path.join(out, 'checkpoint', 'state.json')));
    assert.match(done.join('\n'), /completed with the new folder/);
    assert.match(done.join('\n'), /previous folder restored/);
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync(out).sort(), [`.report.json.tmp-${process.pid}-ee55`, 'best', 'checkpoint']);
  }));

// Temporaries and locks; the run's mark (.bert-lab-run) is meant to stay.
const hidden = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.') && f !== '.bert-lab-run');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

test('case 8: a full disk or a read-only --out is named and keeps the previous best/', needsShared, (t) =>
  withTmpfs(t, 'size=100m', async (mnt) => {
    const out = path.join(mnt, 'run');
    const first = tinyRun(out);
    assert.equal(first.code, 0, first.stderr);
    const before = sha(path.join(out, 'best', 'model.safetensors'));
    const report = readFileSync(path.join(out, 'report.json'), 'utf8');
    // Leave about 1 MB: the run's lock and stats fit, its checkpoint (weights and moments) does not.
    const free = Number(spawnSync('df', ['--output=avail', '-B1', mnt], { encoding: 'utf8' }).stdout.split('\n')[1]);
    await writeFile(path.join(mnt, 'filler'), Buffer.alloc(Math.max(0, free - (1 << 20))));
    const full = tinyRun(out, '--overwrite', '--seed', '7');
    assert.equal(full.code, 1, full.stderr);
    assert.match(
      full.stderr,
      /run\/(checkpoint|best) cannot be written: no space left on the device \(ENOSPC\); the previous folder there, if any, is kept whole/,
    );
    assert.equal(sha(path.join(out, 'best', 'model.safetensors')), before, 'best/ is unchanged');
    assert.equal(readFileSync(path.join(out, 'report.json'), 'utf8'), report, 'report.json still describes best/');
    assert.deepEqual(hidden(out), [], 'no temporary or lock is left behind');

    await rm(path.join(mnt, 'filler'));
    spawnSync('mount', ['-o', 'remount,ro', mnt]);
    const ro = tinyRun(out, '--overwrite');
    assert.equal(ro.code, 1, ro.stderr);
    assert.match(ro.stderr, /--out .*run cannot be written \(.*EROFS\): pass a folder you can write to/);
    assert.doesNotMatch(ro.stdout, /Epoch 1/);
    spawnSync('mount', ['-o', 'remount,rw', mnt]);
  }),
);

test(
  'case 9: a seeded run uses a fixed BLAS thread count, so a busy machine gives the same weights',
  needsShared,
  (t) =>
    withDir(async (dir) => {
      const cores = os.availableParallelism();
      // The default is what is tested, not a count given by the caller's environment.
      const given = process.env.BERT_LAB_NATIVE_THREADS;
      delete process.env.BERT_LAB_NATIVE_THREADS;
      t.after(() => {
        if (given !== undefined) process.env.BERT_LAB_NATIVE_THREADS = given;
      });
      const quiet = tinyRun(path.join(dir, 'quiet'));
      assert.equal(quiet.code, 0, quiet.stderr);
      // Every core busy: a count that followed the load would drop to 1 thread and sum in another order.
      const burners = Array.from({ length: cores }, () =>
        spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
      );
      try {
        await new Promise((r) => setTimeout(r, 1500));
        const busy = await cliAsync(...tinyArgs(path.join(dir, 'busy')));
        assert.equal(busy.code, 0, busy.stderr);
        if (/native kernels/.test(busy.stderr))
          assert.match(busy.stderr, new RegExp(`${cores} threads? \\(BERT_LAB_NATIVE_THREADS\\)`));
      } finally {
        for (const b of burners) b.kill('SIGKILL');
      }
      assert.equal(
        sha(path.join(dir, 'busy', 'best', 'model.safetensors')),
        sha(path.join(dir, 'quiet', 'best', 'model.safetensors')),
        'the same seed gives the same weights on a busy machine',
      );
    }),
);

test(
  'case 5: two runs started together into one --out: one trains, the other stops at once and names the holder',
  needsShared,
  () =>
    withDir(async (dir) => {
      const out = path.join(dir, 'run');
      const both = await Promise.all([
        cliAsync(...tinyArgs(out, '--overwrite')),
        cliAsync(...tinyArgs(out, '--overwrite')),
      ]);
      assert.deepEqual(both.map((r) => r.code).sort(), [0, 1], both.map((r) => r.stderr).join('\n'));
      assert.match(both.find((r) => r.code === 1)!.stderr, /in use by process \d+ \(bert-lab train, started /);
      assert.deepEqual(hidden(out), []);
    }),
);
