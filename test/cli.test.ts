// The `bert-lab` commands end to end, on the lab's real data and the parity checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { assertClose, needsShared, repoRoot, shared, cli, cliArgs, tinyTrain, transformersPython } from './shared.js';

const bertBase = shared('models/bert-base-uncased');
const tweets = shared('data/disaster-tweets/train.csv');

test("encode prints the lab tweet's ids; --pair adds a second segment", needsShared, () => {
  const r = cli('encode', '--model', bertBase, '--text', 'deeds reason earthquake may allah forgive us');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.input_ids, [101, 15616, 3114, 8372, 2089, 16455, 9641, 2149, 102]);
  assert.deepEqual(out.tokens, ['[CLS]', 'deeds', 'reason', 'earthquake', 'may', 'allah', 'forgive', 'us', '[SEP]']);
  assert.deepEqual(out.attention_mask, new Array(9).fill(1));
  const p = JSON.parse(cli('encode', '--model', bertBase, '--text', 'a fire', '--pair', 'in the forest').stdout);
  assert.deepEqual(p.token_type_ids, [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(p.tokens, ['[CLS]', 'a', 'fire', '[SEP]', 'in', 'the', 'forest', '[SEP]']);
});

test('forward prints the PyTorch outputs for both parity checkpoints', needsShared, () => {
  const expected = JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8'));
  const cls = cli(
    'forward',
    '--model',
    shared('fixtures/parity/tiny-bert-cls'),
    '--inputs',
    shared('fixtures/parity/expected.json'),
  );
  assert.equal(cls.code, 0, cls.stderr);
  const a = JSON.parse(cls.stdout);
  assertClose(a.last_hidden_state.flat(2), expected.last_hidden_state.values, 'last_hidden_state');
  assertClose(a.pooler_output.flat(), expected.pooler_output.values, 'pooler_output');
  assertClose(a.logits.flat(), expected.logits.values, 'logits');
  const pt = cli(
    'forward',
    '--model',
    shared('fixtures/parity/tiny-bert-pretraining'),
    '--inputs',
    shared('fixtures/parity/expected.json'),
  );
  assert.equal(pt.code, 0, pt.stderr);
  const b = JSON.parse(pt.stdout);
  assertClose(b.nsp_logits.flat(), expected.nsp_logits.values, 'nsp_logits');
  assertClose(
    b.mlm_logits.flatMap((row: number[][]) => row.map((v) => v.slice(0, 8))).flat(),
    expected.mlm_logits_first_8_vocab.values,
    'mlm_logits',
  );
  assert.equal(b.logits, undefined);
});

test("train --dry-run prints the lab's data-preparation facts", needsShared, () => {
  const r = cli('train', '--data', tweets, '--model', bertBase, '--out', path.join(os.tmpdir(), 'unused'), '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  for (const line of [
    'Max sentence length: 45',
    '6,090 training samples',
    '1,523 validation samples',
    'deeds reason earthquake may allah forgive us',
  ]) {
    assert.ok(r.stdout.includes(line), `missing "${line}" in:\n${r.stdout}`);
  }
  assert.ok(!existsSync(path.join(os.tmpdir(), 'unused')), 'a dry run writes nothing');
});

test('bad input gives one clear error naming the file or column', needsShared, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-bad-'));
  try {
    const write = async (name: string, text: string) => {
      const f = path.join(dir, name);
      await writeFile(f, text);
      return f;
    };
    const run = (data: string, ...extra: string[]) =>
      cli('train', '--data', data, '--model', bertBase, '--out', path.join(dir, 'out'), '--dry-run', ...extra);
    const cases: [string, ReturnType<typeof cli>, RegExp][] = [
      ['missing file', run(path.join(dir, 'nope.csv')), /nope\.csv: file not found/],
      [
        'missing column',
        run(await write('cols.csv', 'id,tweet,target\n1,hello,0\n2,bye,1\n')),
        /cols\.csv: no column "text"; available columns: id, tweet, target/,
      ],
      ['empty CSV', run(await write('empty.csv', '')), /empty\.csv: file is empty/],
      [
        'blank label',
        run(await write('blank.csv', 'id,text,target\n1,hello,0\n2,bye,\n3,yo,1\n')),
        /blank\.csv.*row.*2|blank\.csv.*line 3/i,
      ],
      [
        'single class',
        run(await write('one.csv', 'id,text,target\n1,hello,0\n2,bye,0\n')),
        /one\.csv.*single class|one\.csv.*only one/i,
      ],
      ['bad option', run(tweets, '--epochs', 'two'), /--epochs must be an integer/],
      ['bad clean', run(tweets, '--clean', 'harsh'), /--clean must be one of lab, improved, none/],
      [
        'bad padding',
        run(tweets, '--padding', 'dynamic'),
        /--padding must be one of max_length, longest, got "dynamic"/,
      ],
    ];
    for (const [what, r, re] of cases) {
      assert.notEqual(r.code, 0, `${what}: should fail`);
      assert.match(r.stderr, re, `${what}: ${r.stderr}`);
      assert.ok(!/\n\s+at /.test(r.stderr), `${what}: no stack trace`);
    }
    // A text that is empty after cleaning is kept (as [CLS] [SEP]) and reported.
    const r = run(
      await write('emptytext.csv', 'id,text,target\n1,the and of,0\n2,fire in the forest,1\n3,calm day,0\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 text\(s\) are empty after cleaning \(rows 1\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  "a real run on the lab's data: loss falls, beats the majority class, best/ reloads and predicts the test set",
  needsShared,
  async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-run-'));
    try {
      // A small random-init BERT (no pretrained weights exist offline) on 2,000 tweets, 2 epochs.
      const r = cli(...tinyTrain(out, { limit: 2000, epochs: 2, batchSize: 16 }));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /======== Epoch 2 \/ 2 ========/);
      const stats = JSON.parse(await readFile(path.join(out, 'stats.json'), 'utf8')) as {
        trainLoss: number;
        valAccuracy: number;
      }[];
      assert.equal(stats.length, 2);
      assert.ok(stats[1].trainLoss < stats[0].trainLoss, `training loss falls: ${stats.map((s) => s.trainLoss)}`);
      assert.ok(readFileSync(path.join(out, 'stats.csv'), 'utf8').startsWith('epoch,train_loss,val_loss,val_accuracy'));
      const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
      const val = report.report;
      // The lab's classes by name, as a person reads them (config.json's id2label too).
      const [no, yes] = [val['not a disaster'], val['disaster']];
      const majority = Math.max(no.support, yes.support) / (no.support + yes.support);
      const config = JSON.parse(readFileSync(path.join(out, 'best', 'config.json'), 'utf8'));
      assert.deepEqual(config.id2label, { 0: 'not a disaster', 1: 'disaster' });
      // How the run was made, under Hugging Face's names; its TrainerState has Hugging Face's fields only.
      const args = JSON.parse(readFileSync(path.join(out, 'best', 'training_args.json'), 'utf8'));
      assert.equal(args.num_train_epochs, 2);
      assert.equal(args.per_device_train_batch_size, 16);
      assert.equal(args.clean, 'lab');
      assert.equal(args.text_column, 'text');
      assert.deepEqual(args.label_values, ['0', '1']);
      const state = JSON.parse(readFileSync(path.join(out, 'best', 'trainer_state.json'), 'utf8'));
      assert.equal(state.best_metric, report.best.valAccuracy);
      assert.ok(Array.isArray(state.log_history) && !('best' in state) && !('validation' in state));
      assert.ok(
        val.accuracy > majority,
        `validation accuracy ${val.accuracy} beats the majority class rate ${majority}`,
      );
      assert.equal(report.best.valAccuracy, Math.max(...stats.map((s) => s.valAccuracy)));
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt'])
        assert.ok(existsSync(path.join(out, 'best', f)), f);
      // Reloaded best/ gives the same labels as the report's evaluation.
      const ev = cli('eval', '--model', path.join(out, 'best'), '--data', tweets);
      assert.equal(ev.code, 0, ev.stderr);
      assert.ok(JSON.parse(ev.stdout).accuracy > 0.5);
      const sub = path.join(out, 'submission.csv');
      const p = cli(
        'predict',
        '--model',
        path.join(out, 'best'),
        '--data',
        shared('data/disaster-tweets/test.csv'),
        '--out',
        sub,
      );
      assert.equal(p.code, 0, p.stderr);
      const lines = readFileSync(sub, 'utf8').trim().split('\n');
      assert.equal(lines[0], 'id,target');
      assert.equal(lines.length - 1, 3263);
      assert.ok(lines.slice(1).every((l) => /^\d+,[01]$/.test(l)));
      const again = path.join(out, 'again.csv');
      cli(
        'predict',
        '--model',
        path.join(out, 'best'),
        '--data',
        shared('data/disaster-tweets/test.csv'),
        '--out',
        again,
      );
      assert.equal(
        readFileSync(again, 'utf8'),
        readFileSync(sub, 'utf8'),
        'the reloaded model predicts the same labels',
      );
      // --probabilities: a column per class name, each row summing to 1.
      const probs = path.join(out, 'probs.csv');
      const pp = cli(
        'predict',
        '--model',
        path.join(out, 'best'),
        '--data',
        shared('data/disaster-tweets/test.csv'),
        '--out',
        probs,
        '--probabilities',
      );
      assert.equal(pp.code, 0, pp.stderr);
      const rows = readFileSync(probs, 'utf8').trim().split('\n');
      assert.equal(rows[0], 'id,target,p(not a disaster),p(disaster)');
      for (const row of rows.slice(1, 50)) {
        const [, , a, b] = row.split(',');
        assert.ok(Math.abs(Number(a) + Number(b) - 1) < 1e-5, row);
      }
      // Each batch padded to its own longest row: the same labels, the same evaluation.
      const dyn = path.join(out, 'dynamic.csv');
      assert.equal(
        cli(
          'predict',
          '--model',
          path.join(out, 'best'),
          '--data',
          shared('data/disaster-tweets/test.csv'),
          '--out',
          dyn,
          '--padding',
          'longest',
        ).code,
        0,
      );
      assert.equal(readFileSync(dyn, 'utf8'), readFileSync(sub, 'utf8'), 'padding longest predicts the same labels');
      const evDyn = JSON.parse(
        cli('eval', '--model', path.join(out, 'best'), '--data', tweets, '--padding', 'longest').stdout,
      );
      assert.equal(evDyn.accuracy, JSON.parse(ev.stdout).accuracy);
      assertClose([evDyn.loss], [JSON.parse(ev.stdout).loss], 'eval loss', 1e-5);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test('train --padding longest --group-by-length runs and says how it batches', needsShared, async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-pad-'));
  try {
    const r = cli(...tinyTrain(out, { batchSize: 16 }, '--padding', 'longest', '--group-by-length'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Batches: each padded to its longest row; training batches grouped by length/);
    assert.ok(existsSync(path.join(out, 'best', 'model.safetensors')));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('each command has its own --help; train lists every training setting with its Hugging Face alias', () => {
  const top = cli('--help');
  assert.equal(top.code, 0, top.stderr);
  for (const c of ['lab', 'train', 'eval', 'predict', 'pretrain', 'export', 'doctor'])
    assert.match(top.stdout, new RegExp(`^  ${c} `, 'm'));
  const train = cli('train', '--help');
  assert.equal(train.code, 0, train.stderr);
  assert.doesNotMatch(train.stdout, /^ {2}pretrain /m, 'train --help is not the global help');
  for (const opt of [
    '--text-col',
    '--label-col',
    '--id-col',
    '--label-names',
    '--epochs VALUE',
    '(also --num-train-epochs)',
    '--lr VALUE',
    '(also --learning-rate)',
    '(also --per-device-train-batch-size)',
    '--warmup-ratio',
    '--eps VALUE',
    '--weight-decay',
    '--clip',
    '--val-split 0.2',
    '--split-seed 42',
    '--limit',
    '--clean lab',
    '--random-init',
    '--padding VALUE',
    '--group-by-length',
    '--patience',
    '--monitor',
  ])
    assert.ok(train.stdout.includes(opt), `train --help lacks "${opt}"`);
  const pre = cli('pretrain', '--help');
  for (const opt of [
    '--corpus sotu,brown,moby-dick',
    '--vocab-size 8192',
    '--accumulate 1',
    '--eval-fraction 0.05',
    '--checkpoint-every 100',
    '--whole-word',
  ])
    assert.ok(pre.stdout.includes(opt), `pretrain --help lacks "${opt}"`);
  assert.match(cli('predict', '--help').stdout, /--target-col VALUE/);
  const v = cli('--version');
  assert.equal(v.code, 0);
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('command-line mistakes: stray words, empty values, an option under both names', () => {
  for (const [args, msg] of [
    [['train', 'stray', '--out', 'x'], /unexpected argument "stray"/],
    [['train', '--limit=', '--out', 'x'], /--limit needs a value/],
    [
      ['train', '--lr', '1e-4', '--learning-rate', '2e-4', '--out', 'x'],
      /--lr and --learning-rate are the same option/,
    ],
    [['train', '--warmup', '3', '--warmup-ratio', '0.1', '--out', 'x', '--data', 'x.csv', '--model', 'x'], /not both/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});

test('train needs no id column; eval, predict and forward take preset names like bert-mini', needsShared, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-noid-'));
  try {
    const csv = path.join(dir, 'noid.csv');
    await writeFile(
      csv,
      'text,target\n' +
        Array.from({ length: 12 }, (_, i) => `"text number ${i} about ${i % 2 ? 'fire' : 'cats'}",${i % 2}`).join(
          '\n',
        ) +
        '\n',
    );
    const r = cli('train', '--data', csv, '--model', bertBase, '--out', path.join(dir, 'run'), '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Loaded 12 rows/);
    // Offline with an empty cache: the preset is looked up under its Hub id, not as a folder "bert-mini".
    const inputs = path.join(dir, 'inputs.json');
    await writeFile(inputs, JSON.stringify({ input_ids: [[101, 102]] }));
    for (const cmd of [
      ['eval', '--data', csv],
      ['predict', '--data', csv, '--out', path.join(dir, 'p.csv')],
      ['forward', '--inputs', inputs],
    ]) {
      const e = spawnSync(process.execPath, cliArgs([cmd[0], '--model', 'bert-mini', ...cmd.slice(1)]), {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: path.join(dir, 'empty-cache') },
      });
      assert.notEqual(e.status, 0);
      assert.match(e.stderr, /google\/bert_uncased_L-4_H-256_A-4/, `${cmd[0]}: ${e.stderr}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('issue 25 case 22: train refuses data whose texts the cleaning empties, naming --clean', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-empty-'));
  try {
    const csv = path.join(dir, 'numbers.csv');
    await writeFile(
      csv,
      'text,target\n' + Array.from({ length: 12 }, (_, i) => `${1000 + i},${i % 2}`).join('\n') + '\n',
    );
    const r = cli(
      'train',
      '--dry-run',
      '--data',
      csv,
      '--model',
      path.join(repoRoot, 'models/bert-lab-tiny'),
      '--out',
      path.join(dir, 'run'),
    );
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /numbers\.csv: all texts \(100%\) are empty after cleaning with --clean lab .*--clean none/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  '--metric-for-best-model f1 with --gradient-accumulation-steps: best/ is the best-F1 epoch, recorded as Hugging Face records it',
  needsShared,
  async (t) => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'bert-cli-f1-'));
    try {
      // 1,000 tweets: 800 to train, 100 batches of 8, 2 per optimizer step -> 50 steps per epoch.
      const r = cli(
        ...tinyTrain(
          out,
          { limit: 1000, epochs: 3, batchSize: 8 },
          '--metric-for-best-model',
          'f1',
          '--gradient-accumulation-steps',
          '2',
        ),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Gradient accumulation: 2 batches of 8 per optimizer step \(16 rows\)/);
      assert.match(r.stdout, /  F1: \d\.\d\d/);
      const stats = JSON.parse(readFileSync(path.join(out, 'stats.json'), 'utf8')) as {
        epoch: number;
        valF1: number;
      }[];
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
      const bestF1 = Math.max(...stats.map((s) => s.valF1));
      assert.ok(bestF1 > 0.3, `the model learns to find disasters (best F1 ${bestF1})`);
      assert.equal(report.best.valF1, bestF1, 'best/ holds the epoch of the highest validation F1');
      assert.equal(report.best.epoch, stats.find((s) => s.valF1 === bestF1)!.epoch);
      const f1 = report.report.disaster['f1-score'] as number;
      assert.ok(Math.abs(f1 - bestF1) < 1e-12, `the report's positive-class F1 ${f1} is the one chosen by`);
      assert.match(
        readFileSync(path.join(out, 'stats.csv'), 'utf8'),
        /^epoch,train_loss,val_loss,val_accuracy,val_f1,/,
      );
      const best = path.join(out, 'best');
      const args = JSON.parse(readFileSync(path.join(best, 'training_args.json'), 'utf8'));
      assert.equal(args.metric_for_best_model, 'f1');
      assert.equal(args.greater_is_better, true);
      assert.equal(args.gradient_accumulation_steps, 2);
      const state = JSON.parse(readFileSync(path.join(best, 'trainer_state.json'), 'utf8'));
      assert.equal(state.best_metric, bestF1);
      // The state when best/ was saved, as in a Hugging Face checkpoint folder: the steps so far.
      const steps = report.best.epoch * 50;
      assert.equal(state.max_steps, 150, 'optimizer steps, not batches');
      assert.equal(state.global_step, steps);
      assert.equal(state.best_global_step, steps);
      assert.ok(state.log_history.some((h: { eval_f1?: number }) => h.eval_f1 === bestF1));
      // Hugging Face's own reader, when transformers is installed: the file is a TrainerState.
      const hf = transformersPython();
      await t.test('transformers.TrainerState.load_from_json reads trainer_state.json', { skip: hf.why }, () => {
        const code = [
          'import json, sys',
          'from transformers import TrainerState',
          's = TrainerState.load_from_json(sys.argv[1])',
          'print(json.dumps({"best_metric": s.best_metric, "global_step": s.global_step, "max_steps": s.max_steps,',
          '  "best_global_step": s.best_global_step, "evals": len([h for h in s.log_history if "eval_f1" in h])}))',
        ].join('\n');
        const py = spawnSync(hf.python!, ['-c', code, path.join(best, 'trainer_state.json')], { encoding: 'utf8' });
        assert.equal(py.status, 0, py.stderr);
        const got = JSON.parse(py.stdout.trim().split('\n').pop()!);
        assert.deepEqual(got, {
          best_metric: bestF1,
          global_step: steps,
          max_steps: 150,
          best_global_step: steps,
          evals: report.best.epoch,
        });
      });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);
