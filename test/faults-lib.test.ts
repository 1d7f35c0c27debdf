// Faults of issue 25 that live below the command line: divergence seen on validation, outputs that
// are not the command's own, decompression bombs in pytorch_model.bin, config sizes, binary corpora,
// fill-mask's top-k, a bad BERT_LAB_LOG and texts emptied by cleaning. Each test fails without the
// check it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onePickle, zip } from './torch-files.js';
import { cli, cliArgs, needsShared, repoRoot, shared, tinyPretrain, withTemp } from './shared.js';

const tiny = path.join(repoRoot, 'models/bert-lab-tiny');
const clsDir = shared('fixtures/parity/tiny-bert-cls');
const tweets = shared('data/disaster-tweets/train.csv');

test('case 1: a blow-up that only validation sees stops the run; nothing non-finite is saved', needsShared, () =>
  withTemp(async (dir) => {
    // One step of 300 rows at lr 1e30: the training loss of that step is finite (measured before the
    // update), the weights after it are not usable, and validation alone can tell.
    const out = path.join(dir, 'run');
    const args = ['--data', tweets, '--model', tiny, '--out', out, '--limit', '300', '--batch-size', '300'];
    const r = cli('train', ...args, '--epochs', '3', '--lr', '1e30', '--backend', 'wasm');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /training diverged at epoch 1: (on the validation rows, the model's logits hold NaN or Inf for \d+ of 60 rows|the weights hold NaN or Inf).*likely cause: --lr 1e\+30 too high/,
    );
    assert.doesNotMatch(r.stdout, /Saved the best model/);
    assert.ok(!existsSync(path.join(out, 'best')), 'no best/ from a diverged epoch');
    if (existsSync(path.join(out, 'stats.json')))
      assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'stats.json'), 'utf8')), [], 'no epoch recorded');

    // The library: evaluate refuses logits that overflow (finite weights, 3e38 in the head).
    const tf = await import('@tensorflow/tfjs');
    const { initBackend } = await import('../src/backend/init.js');
    await initBackend('wasm', () => {});
    const { BertForSequenceClassification } = await import('../src/model/bert.js');
    const { evaluate, NonFiniteOutputError } = await import('../src/training/train.js');
    const model = await BertForSequenceClassification.fromPretrained(clsDir, { log: () => {} });
    const data = { inputIds: [[2, 5, 6, 3]], attentionMask: [[1, 1, 1, 1]], tokenTypeIds: [[0, 0, 0, 0]], labels: [1] };
    assert.ok(Number.isFinite(evaluate(model, data, 1).loss));
    const head = model.p.vars.get('classifier.weight')!;
    head.assign(tf.fill(head.shape, 3e38));
    assert.throws(
      () => evaluate(model, data, 1),
      (e: unknown) =>
        e instanceof NonFiniteOutputError &&
        /the model's logits hold NaN or Inf for 1 of 1 rows \(the first is row 0\)/.test(e.message),
    );
    // Saving refuses non-finite weights, names the tensor and leaves the folder as it was.
    head.assign(tf.fill(head.shape, Number.NEGATIVE_INFINITY));
    const saved = path.join(dir, 'saved');
    await assert.rejects(
      model.save(saved),
      /saved: not saved: tensor "classifier\.weight" holds -Infinity at element 0; .*the folder is left as it was/,
    );
    assert.ok(!existsSync(saved));
    model.dispose();
  }),
);

test(
  'case 3: export refuses an --out that is not its own, holds the model, is inside it, or is a file',
  needsShared,
  () =>
    withTemp(async (dir) => {
      const { exportOnnx, EXPORT_MARKER } = await import('../src/app/export-onnx.js');
      const { initBackend } = await import('../src/backend/init.js');
      await initBackend('wasm', () => {});
      // A run folder holding the model and other work: export --model RUN/best --out RUN.
      const run = path.join(dir, 'run');
      const best = path.join(run, 'best');
      await mkdir(best, { recursive: true });
      for (const f of ['config.json', 'model.safetensors'])
        await writeFile(path.join(best, f), await readFile(path.join(clsDir, f)));
      await writeFile(path.join(run, 'stats.json'), '[]');
      await assert.rejects(
        exportOnnx(best, run),
        /--out .*run holds the model's own folder \(.*best\): .*pass a path outside it/,
      );
      await assert.rejects(exportOnnx(best, best), /--out .*best is the model's own folder/);
      await assert.rejects(exportOnnx(best, path.join(best, 'onnx')), /is inside the model's own folder/);
      const thesis = path.join(dir, 'thesis');
      await mkdir(thesis);
      await writeFile(path.join(thesis, 'ch1.txt'), 'years of work');
      await assert.rejects(
        exportOnnx(best, thesis),
        /--out .*thesis already holds files bert-lab export did not write \(ch1\.txt; no \.bert-lab-export\.json\): it is never replaced/,
      );
      const csv = path.join(dir, 'some.csv');
      await writeFile(csv, 'id,text\n');
      await assert.rejects(exportOnnx(best, csv), /--out .*some\.csv is a file, not a folder/);
      const link = path.join(dir, 'link');
      await symlink(path.join(dir, 'nowhere'), link);
      await assert.rejects(
        exportOnnx(best, link),
        /--out .*link is a symbolic link to .*nowhere, which does not exist/,
      );
      assert.equal(readFileSync(path.join(thesis, 'ch1.txt'), 'utf8'), 'years of work');
      assert.equal(readFileSync(csv, 'utf8'), 'id,text\n');
      assert.deepEqual(readdirSync(run).sort(), ['best', 'stats.json']);

      // Its own earlier export is replaced (the default), or refused with overwrite: false; a file
      // added beside it is never deleted.
      const onnx = path.join(dir, 'onnx');
      await exportOnnx(best, onnx);
      assert.deepEqual(JSON.parse(readFileSync(path.join(onnx, EXPORT_MARKER), 'utf8')).files, ['config.json', 'onnx']);
      await exportOnnx(best, onnx);
      await assert.rejects(
        exportOnnx(best, onnx, { overwrite: false }),
        /holds an earlier output of bert-lab export: pass --overwrite/,
      );
      await writeFile(path.join(onnx, 'notes.txt'), 'mine');
      await assert.rejects(exportOnnx(best, onnx), /files that bert-lab export did not write \(notes\.txt\)/);
    }),
);

test(
  'case 24 and 4: demo never suggests exporting into the model, and its --out replaces only its own site',
  needsShared,
  () =>
    withTemp(async (dir) => {
      const demo = (...args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/demo.ts'), ...args], {
          cwd: repoRoot,
          encoding: 'utf8',
        });
      const pt = demo('--model', 'models/bert-lab-tiny');
      assert.equal(pt.status, 1);
      assert.match(
        pt.stderr,
        /models\/bert-lab-tiny has no onnx\/model\.onnx: it is a model folder \(BertForPreTraining\)/,
      );
      assert.doesNotMatch(pt.stderr, /--out models\/bert-lab-tiny\b(?!-)/, 'no export into the model folder itself');

      const { exportOnnx } = await import('../src/app/export-onnx.js');
      const { initBackend } = await import('../src/backend/init.js');
      await initBackend('wasm', () => {});
      const { notAnExport, DEMO_MARKER } = await import('../scripts/demo.js');
      assert.match(
        notAnExport(clsDir),
        /export it to a new folder \(bert-lab export --model .*tiny-bert-cls --out .*tiny-bert-cls-onnx\)/,
      );
      const onnx = path.join(dir, 'onnx');
      await exportOnnx(tiny, onnx);

      const thesis = path.join(dir, 'thesis');
      await mkdir(thesis);
      await writeFile(path.join(thesis, 'ch1.txt'), 'years of work');
      const r = demo('--model', onnx, '--out', thesis);
      assert.equal(r.status, 1, r.stdout);
      assert.match(
        r.stderr,
        /--out .*thesis already holds files npm run demo did not write \(ch1\.txt; no \.bert-lab-demo\.json\)/,
      );
      assert.deepEqual(readdirSync(thesis), ['ch1.txt']);
      assert.match(demo('--model', onnx, '--out', onnx).stderr, /--out .*onnx is the model folder --model/);

      const site = path.join(dir, 'site');
      for (let i = 0; i < 2; i++) {
        const w = demo('--model', onnx, '--out', site);
        assert.equal(w.status, 0, w.stderr);
      }
      assert.ok(existsSync(path.join(site, DEMO_MARKER)) && existsSync(path.join(site, 'index.html')));
      await writeFile(path.join(site, 'CNAME'), 'example.org');
      const extra = demo('--model', onnx, '--out', site);
      assert.equal(extra.status, 1);
      assert.match(
        extra.stderr,
        /files that npm run demo did not write \(CNAME\): replacing the folder would delete them/,
      );
      assert.equal(readFileSync(path.join(site, 'CNAME'), 'utf8'), 'example.org');
    }),
);

test('case 5: a storage far larger than its tensor, or a huge data.pkl, is refused before inflating', () =>
  withTemp(async (dir) => {
    const { readTorchBin, MAX_PICKLE_BYTES } = await import('../src/io/torchbin.js');
    const file = path.join(dir, 'pytorch_model.bin');
    // 16 M floats (64 MB of zeros, 64 KB deflated) behind a [2, 2] tensor.
    await writeFile(
      file,
      zip([
        ['a/data.pkl', onePickle('w', 1 << 24, [2, 2])],
        ['a/data/0', new Uint8Array(4 << 24), true],
      ]),
    );
    assert.ok((await readFile(file)).length < 200_000);
    await assert.rejects(
      readTorchBin(file),
      /pytorch_model\.bin \(.*\): tensor "w": its storage a\/data\/0 holds 16,777,216 F32 elements, but the tensors that use it reach only 4: refused before inflating/,
    );
    // A storage a little larger than its views (a slice of a larger tensor saved as is) is still read.
    await writeFile(
      file,
      zip([
        ['a/data.pkl', onePickle('w', 1000, [2, 2])],
        ['a/data/0', new Uint8Array(4000), true],
      ]),
    );
    assert.deepEqual((await readTorchBin(file)).get('w')?.shape, [2, 2]);
    // A data.pkl declaring more than a state dict's pickle needs: refused from the directory.
    await writeFile(file, zip([['a/data.pkl', new Uint8Array(MAX_PICKLE_BYTES + 1), true]]));
    await assert.rejects(
      readTorchBin(file),
      /zip entry a\/data\.pkl declares 67108865 bytes, more than the 67108864 a state dict's pickle needs/,
    );
  }));

test(
  'case 6 and 20: config sizes are checked before allocating, naming the field and the machine memory',
  needsShared,
  () =>
    withTemp(async (dir) => {
      const { parseConfig, ConfigError } = await import('../src/model/config.js');
      const base = JSON.parse(readFileSync(path.join(tiny, 'config.json'), 'utf8'));
      const t0 = Date.now();
      assert.throws(
        () => parseConfig({ ...base, num_labels: 100_000_000 }, '/m/config.json'),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^config\.json \(\/m\/config\.json\): field "num_labels" is 100,000,000 without an id2label table: more than the 100,000 unnamed labels/.test(
            e.message,
          ),
      );
      assert.ok(Date.now() - t0 < 1000, 'refused at once');
      const gb = `${(os.totalmem() / 2 ** 30).toFixed(1)} GB`;
      assert.throws(
        () => parseConfig({ ...base, num_hidden_layers: 100_000 }, '/m/config.json'),
        new RegExp(
          `more than this machine's memory \\(${gb.replace('.', '\\.')}\\); most of it comes from field "num_hidden_layers" \\(100,000 layers x 198,272 numbers each`,
        ),
      );

      // The command line, which hung for minutes on the label table.
      const m = path.join(dir, 'labels');
      await mkdir(m);
      await writeFile(path.join(m, 'config.json'), JSON.stringify({ ...base, num_labels: 100_000_000 }));
      await writeFile(path.join(m, 'model.safetensors'), await readFile(path.join(tiny, 'model.safetensors')));
      const { cliWithin } = await import('./shared.js');
      const r = cliWithin(
        60_000,
        'forward',
        '--model',
        m,
        '--inputs',
        shared('fixtures/parity/expected.json'),
        '--backend',
        'wasm',
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /config\.json\): field "num_labels" is 100,000,000 without an id2label table/);

      // Under the wasm backend the limit is its heap, and the message says so beside the machine's memory.
      const { initBackend } = await import('../src/backend/init.js');
      await initBackend('wasm', () => {});
      const { BertForSequenceClassification } = await import('../src/model/bert.js');
      const model = new BertForSequenceClassification(
        parseConfig({ ...base, num_hidden_layers: 6000 }, path.join(m, 'config.json')),
      );
      assert.throws(
        () => model.loadWeights(new Map(), path.join(m, 'model.safetensors')),
        new RegExp(
          `more than the wasm backend's heap \\(4\\.0 GB; this machine has ${gb.replace('.', '\\.')}.*most of it comes from field "num_hidden_layers" \\(6,000 layers`,
        ),
      );
    }),
);

test('case 10: a binary or non-UTF-8 corpus is refused, naming the file', () =>
  withTemp(async (dir) => {
    const { loadCorpus } = await import('../src/data/corpus.js');
    // Random bytes with no NUL: only the UTF-8 check can tell.
    let x = 12345;
    const noise = new Uint8Array(4096).map(() => ((x = (x * 1103515245 + 12345) >>> 0) % 255) + 1);
    const rand = path.join(dir, 'random.txt');
    await writeFile(rand, noise);
    await assert.rejects(
      loadCorpus(rand),
      /corpus: .*random\.txt: line \d+: byte 0x[0-9a-f]{2} at offset \d+ is not UTF-8/,
    );
    await assert.rejects(
      loadCorpus(process.execPath),
      /corpus: .* is a binary file, not text \(an executable \(ELF\)\)/,
    );
    const nul = path.join(dir, 'nul.txt');
    await writeFile(nul, 'a first document\n\nsecond\0 one\n');
    await assert.rejects(
      loadCorpus(nul),
      /corpus: .*nul\.txt is a binary file, not text \(a NUL byte at offset 24, line 3\)/,
    );
    const csv = path.join(dir, 'bin.csv');
    await writeFile(csv, Buffer.concat([Buffer.from('text\nfine\n'), Buffer.from([0xff, 0xfe, 0x0a])]));
    await assert.rejects(loadCorpus(`${csv}:text`), /bin\.csv: line 3: byte 0xff at offset 10 is not UTF-8/);
    const ok = path.join(dir, 'ok.txt');
    await writeFile(ok, 'café fire\n\nnaïve flood\n');
    assert.deepEqual(
      (await loadCorpus(ok)).map((d) => d.text),
      ['café fire', 'naïve flood'],
      'UTF-8 text is read',
    );

    // pretrain stops at once instead of training on the bytes.
    const r = cli('pretrain', '--out', path.join(dir, 'pt'), ...tinyPretrain({ corpus: process.execPath }));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /is a binary file, not text \(an executable \(ELF\)\)/);
    assert.doesNotMatch(r.stdout, /step 1\b/i);
  }));

test('case 16: fill-mask top-k outside 1..vocabulary says so, naming --top-k and the vocabulary size', async () => {
  const { initBackend } = await import('../src/backend/init.js');
  await initBackend('wasm', () => {});
  const { BertForPreTraining } = await import('../src/model/bert.js');
  const { BertTokenizer } = await import('../src/text/tokenizer.js');
  const { fillMask } = await import('../src/app/fillmask.js');
  const model = await BertForPreTraining.fromPretrained(tiny, { log: () => {} });
  const tok = await BertTokenizer.fromDir(tiny);
  for (const k of [0, 1_000_000, 2.5])
    assert.throws(
      () => fillMask(model, tok, 'a [MASK] broke out', k),
      new RegExp(
        `^Error: top-k \\(--top-k\\) must be a whole number from 1 to the model's vocabulary size, 8,192 tokens, got ${k}$`,
      ),
    );
  assert.equal(fillMask(model, tok, 'a [MASK] broke out', 8192)[0].predictions.length, 8192);
  model.dispose();
});

test('case 18: BERT_LAB_LOG=loud is named with the allowed values, once, and the command runs', () => {
  const r = spawnSync(
    process.execPath,
    cliArgs(['fill-mask', '--model', tiny, '--text', 'a [MASK] broke out', '--top-k', '1', '--backend', 'wasm']),
    { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, BERT_LAB_LOG: 'loud' } },
  );
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('BERT_LAB_LOG'));
  assert.deepEqual(warnings, [
    '[bert-lab] warning: BERT_LAB_LOG: log level "loud" is not one of debug, info, warn, error, silent; using info (set BERT_LAB_LOG to one of them, or unset it)',
  ]);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.match(r.stdout, /\[MASK\] at position/);
});

test('case 22: training texts mostly emptied by cleaning are refused, naming how many and --clean', async () => {
  const { checkCleaned } = await import('../src/data/checks.js');
  const { cleanText } = await import('../src/text/clean.js');
  const texts = ['12345', '2020 911', '3.14', 'forest fire near la ronge'];
  const cleaned = texts.map((t) => cleanText(t, 'lab'));
  assert.throws(
    () => checkCleaned(cleaned, 'data/numbers.csv', 'lab', texts),
    /^Error: data\/numbers\.csv: 3 of 4 texts \(75%\) are empty after cleaning with --clean lab \(the first, data row 1, was "12345"\): .*pass --clean none \(it keeps them\), or check --text-col$/,
  );
  assert.throws(
    () => checkCleaned(['', ' '], 'x.csv', 'none', ['', ' ']),
    /x\.csv: all texts \(100%\) are empty .*the texts themselves are empty/,
  );
  // Half or fewer: kept, and their rows returned for the note.
  assert.deepEqual(checkCleaned(['', 'fire', '', 'flood'], 'x.csv', 'lab'), [0, 2]);
});
