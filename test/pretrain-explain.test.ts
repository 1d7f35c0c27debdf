// Notebook 02's helpers: an example showing all three masking outcomes, partly masked words (none
// with whole-word masking), the embeddings' share of bert-base, the bundled model's loss curve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { specialIdsFor, buildExamples, makeNspPairs, tokenizeDocuments } from '../src/data/pretrain-data.js';
import { maskOutcomes } from '../src/data/masking-stats.js';
import { presetConfig } from '../src/model/presets.js';
import { rng } from '../src/nn/random.js';
import {
  embeddingShare,
  exampleShowingAllOutcomes,
  partlyMaskedWords,
  readLossCurve,
} from '../src/training/pretrain-explain.js';
import { repoRoot, withTemp } from './shared.js';

const MINI = path.join(repoRoot, 'models/bert-lab-mini');

test('notebook 02 helpers on the bundled model: outcomes, whole words, embeddings, the recorded curve', async () => {
  const tok = await BertTokenizer.fromDir(MINI);
  const vocab = tok.convertIdsToTokens([...Array(tok.vocabSize).keys()]);
  const special = specialIdsFor(vocab);
  const ids = (s: string) => tok.convertTokensToIds(tok.tokenize(s));
  const pair = { a: ids('the whale swam under the ship.'), b: ids('then the captain shouted.'), isRandomNext: false };
  const o = maskOutcomes(exampleShowingAllOutcomes(pair, special), special);
  for (const k of ['[MASK]', 'random', 'unchanged'] as const) assert.ok(o.includes(k), `${k} missing: ${o}`);
  // Words of several pieces: token-by-token masking leaves some partly chosen, whole-word masking none.
  const text = 'unbelievably overwhelmed firefighters extinguished smouldering wildfires near marshlands';
  const docs = tokenizeDocuments(
    Array.from({ length: 30 }, (_, i) => ({ id: String(i), text: `${text}. ${text} again. ${text} once more.` })),
    ids,
  );
  const examples = buildExamples(makeNspPairs(docs, 64, rng(1)), special, 64, rng(1));
  const cont = (id: number) => vocab[id]!.startsWith('##');
  assert.ok(partlyMaskedWords(examples, special, cont, false, rng(2)) > 0.05);
  assert.equal(partlyMaskedWords(examples, special, cont, true, rng(2)), 0);
  // bert-base: (30,522 + 512 + 2 + 2) x 768 of 109,482,240 parameters.
  assert.ok(Math.abs(embeddingShare(presetConfig('base')) - (31038 * 768) / 109482240) < 1e-12);
  const curve = readLossCurve(path.join(MINI, 'pretraining-loss.csv'));
  assert.equal(curve.step.length, 5000);
  assert.ok(curve.mlm[0]! > 9 && curve.mlm.at(-1)! < 6, 'the MLM loss falls from about ln 30,522');
  await withTemp(async (dir) => {
    const f = path.join(dir, 'loss.csv');
    writeFileSync(f, 'step,loss\n1,2\n');
    assert.throws(() => readLossCurve(f), /loss\.csv: no column "mlm_loss"/);
  });
});
