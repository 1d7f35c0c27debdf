import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildExamples,
  makeNspPairs,
  tokenizeDocuments,
  specialIdsFor,
  type SpecialIds,
} from '../src/data/pretrain-data.js';
import { maskOutcomes, maskingStats } from '../src/data/masking-stats.js';
import { loadCorpus } from '../src/data/corpus.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { rng } from '../src/nn/random.js';
import path from 'node:path';
import { repoRoot } from './shared.js';

const SPECIAL: SpecialIds = { pad: 0, cls: 2, sep: 3, mask: 4, vocabSize: 100 };

test('maskOutcomes reads each position back: special, kept, [MASK], random, unchanged', () => {
  const ex = {
    inputIds: [2, 10, 4, 57, 13, 3, 0],
    tokenTypeIds: [0, 0, 0, 0, 0, 0, 0],
    attentionMask: [1, 1, 1, 1, 1, 1, 0],
    mlmLabels: [-100, -100, 11, 12, 13, -100, -100],
    nspLabel: 1,
  };
  assert.deepEqual(maskOutcomes(ex, SPECIAL), [
    'special',
    'kept',
    '[MASK]',
    'random',
    'unchanged',
    'special',
    'special',
  ]);
  const s = maskingStats([ex], SPECIAL);
  assert.deepEqual([s.candidates, s.chosen, s.randomNextRate], [4, 3, 1]);
  assert.throws(() => maskOutcomes({ ...ex, mlmLabels: [1] }, SPECIAL), /mlmLabels has 1 positions but inputIds has 7/);
});

test('maskingStats on real text: 15 % chosen, 80/10/10, NSP about half random', async () => {
  const tok = await BertTokenizer.fromDir(path.join(repoRoot, 'models/bert-lab-tiny'));
  const special = specialIdsFor(tok.convertIdsToTokens(Array.from({ length: tok.vocabSize }, (_, i) => i)));
  const docs = (await loadCorpus('moby-dick')).slice(0, 60);
  const tokenized = tokenizeDocuments(docs, (t) => tok.convertTokensToIds(tok.tokenize(t)));
  const rand = rng(7);
  const examples = buildExamples(makeNspPairs(tokenized, 64, rand), special, 64, rand);
  const s = maskingStats(examples, special);
  assert.ok(s.chosen > 5000, `too few chosen positions to measure rates: ${s.chosen}`);
  // Binomial standard errors at these counts are well under the tolerances.
  assert.ok(Math.abs(s.chosenRate - 0.15) < 0.01, `chosen ${s.chosenRate}`);
  assert.ok(Math.abs(s.maskRate - 0.8) < 0.02, `[MASK] ${s.maskRate}`);
  assert.ok(Math.abs(s.randomRate - 0.1) < 0.015, `random ${s.randomRate}`);
  assert.ok(Math.abs(s.unchangedRate - 0.1) < 0.015, `unchanged ${s.unchangedRate}`);
  assert.ok(Math.abs(s.randomNextRate - 0.5) < 0.06, `NSP random-next ${s.randomNextRate} over ${s.examples}`);
});
