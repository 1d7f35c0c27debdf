import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  splitSentences,
  tokenizeDocuments,
  makeNspPairs,
  maskTokens,
  buildExamples,
  specialIdsFor,
  IGNORE_INDEX,
  type SpecialIds,
} from '../src/data/pretrain-data.js';
import { rng } from '../src/nn/random.js';
import { SPECIAL_TOKENS, trainWordPiece } from '../src/text/wordpiece.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { loadCorpus } from '../src/data/corpus.js';

const SPECIAL: SpecialIds = { pad: 0, cls: 2, sep: 3, mask: 4, vocabSize: 30000 };

test('splitSentences: terminal punctuation before a capital, abbreviations and initials kept', () => {
  assert.deepEqual(
    splitSentences(
      'Mr. Smith went to Washington, D.C. on Monday. He met Dr. J. R. Jones of the U.S. Navy! "Really?" she asked. "Yes." Then it was 3.5 p.m. and e.g. late... OK',
    ),
    [
      'Mr. Smith went to Washington, D.C. on Monday.',
      'He met Dr. J. R. Jones of the U.S. Navy!',
      '"Really?" she asked.',
      '"Yes."',
      'Then it was 3.5 p.m. and e.g. late...',
      'OK',
    ],
  );
  // Blank lines always end a sentence; single line breaks are spaces.
  assert.deepEqual(splitSentences('A title\n\nFirst line\ncontinues here. Second (one).\r\n\r\n\n'), [
    'A title',
    'First line continues here.',
    'Second (one).',
  ]);
  assert.deepEqual(splitSentences('  '), []);
  assert.deepEqual(splitSentences('lower case after period. still one? yes'), [
    'lower case after period. still one? yes',
  ]);
});

test('maskTokens: HF collator proportions on 200k tokens, specials never touched', () => {
  const rand = rng(1234);
  const ids: number[] = [];
  for (let i = 0; i < 200_000; i++) {
    if (i % 50 === 0) ids.push(SPECIAL.cls);
    else if (i % 50 === 49) ids.push(SPECIAL.sep);
    else if (i % 97 === 0) ids.push(SPECIAL.pad);
    else ids.push(5 + Math.floor(rand() * (SPECIAL.vocabSize - 5)));
  }
  const { inputIds, labels } = maskTokens(ids, SPECIAL, rng(99));
  assert.equal(inputIds.length, ids.length);
  let eligible = 0,
    chosen = 0,
    masked = 0,
    random = 0,
    kept = 0;
  for (let i = 0; i < ids.length; i++) {
    const special = ids[i] === SPECIAL.cls || ids[i] === SPECIAL.sep || ids[i] === SPECIAL.pad;
    if (special) {
      assert.equal(labels[i], IGNORE_INDEX, `special at ${i} labelled`);
      assert.equal(inputIds[i], ids[i], `special at ${i} changed`);
      continue;
    }
    eligible++;
    if (labels[i] === IGNORE_INDEX) {
      assert.equal(inputIds[i], ids[i], `unchosen position ${i} changed`);
      continue;
    }
    assert.equal(labels[i], ids[i], 'label is the original id');
    chosen++;
    if (inputIds[i] === SPECIAL.mask) masked++;
    else if (inputIds[i] === ids[i]) kept++;
    else random++;
    assert.ok(inputIds[i]! >= 0 && inputIds[i]! < SPECIAL.vocabSize);
  }
  const near = (x: number, want: number, tol: number, what: string): void =>
    assert.ok(Math.abs(x - want) <= tol, `${what}: ${(x * 100).toFixed(2)}% vs ${(want * 100).toFixed(1)}%`);
  near(chosen / eligible, 0.15, 0.005, 'chosen');
  near(masked / chosen, 0.8, 0.01, '[MASK]');
  near(random / chosen, 0.1, 0.01, 'random');
  near(kept / chosen, 0.1, 0.01, 'unchanged');
  // Other probabilities, and input already holding [MASK] is left alone.
  const all = maskTokens([5, 6, 7, SPECIAL.mask], SPECIAL, rng(1), { mlmProbability: 1 });
  assert.deepEqual(all.labels, [5, 6, 7, IGNORE_INDEX]);
  const none = maskTokens([5, 6, 7], SPECIAL, rng(1), { mlmProbability: 0 });
  assert.deepEqual(none, { inputIds: [5, 6, 7], labels: [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX] });
  assert.throws(() => maskTokens([5], SPECIAL, rng(1), { mlmProbability: 1.5 }), /mlmProbability/);
});

// Synthetic documents whose token ids are unique positions, so every token tells its document and
// place: docOf[id], posOf[id].
function syntheticDocs(nDocs: number, seed: number): { docs: number[][][]; docOf: number[]; posOf: number[] } {
  const rand = rng(seed);
  const docs: number[][][] = [];
  const docOf: number[] = [];
  const posOf: number[] = [];
  let next = 5;
  for (let d = 0; d < nDocs; d++) {
    const sentences: number[][] = [];
    const nSent = 20 + Math.floor(rand() * 60);
    let pos = 0;
    for (let s = 0; s < nSent; s++) {
      const len = 3 + Math.floor(rand() * 18);
      const sent: number[] = [];
      for (let k = 0; k < len; k++) {
        sent.push(next);
        docOf[next] = d;
        posOf[next] = pos++;
        next++;
      }
      sentences.push(sent);
    }
    docs.push(sentences);
  }
  return { docs, docOf, posOf };
}

test('makeNspPairs: balanced, random B from another document, actual B follows A, lengths fit', () => {
  const { docs, docOf, posOf } = syntheticDocs(300, 7);
  const maxLen = 64;
  const pairs = makeNspPairs(docs, maxLen, rng(42));
  assert.ok(pairs.length > 2000, `${pairs.length} pairs`);
  let randomNext = 0;
  let short = 0;
  for (const p of pairs) {
    assert.ok(p.a.length >= 1 && p.b.length >= 1, 'both segments non-empty');
    assert.ok(p.a.length + p.b.length <= maxLen - 3, 'fits with [CLS] A [SEP] B [SEP]');
    if (p.a.length + p.b.length < (maxLen - 3) / 2) short++;
    const docA = docOf[p.a[0]!]!;
    assert.ok(
      p.a.every((t) => docOf[t] === docA),
      'A from one document',
    );
    // Within a segment tokens are consecutive text (truncation only cuts the ends).
    for (const seg of [p.a, p.b])
      for (let k = 1; k < seg.length; k++) assert.equal(posOf[seg[k]!], posOf[seg[k - 1]!]! + 1);
    const docB = docOf[p.b[0]!]!;
    assert.ok(
      p.b.every((t) => docOf[t] === docB),
      'B from one document',
    );
    if (p.isRandomNext) {
      randomNext++;
      assert.notEqual(docB, docA, 'random next segment comes from another document');
    } else {
      assert.equal(docB, docA, 'actual next segment is from the same document');
      assert.ok(posOf[p.b[0]!]! > posOf[p.a[p.a.length - 1]!]!, 'actual next segment follows A');
    }
  }
  const share = randomNext / pairs.length;
  assert.ok(Math.abs(share - 0.5) <= 0.03, `random-next share ${share.toFixed(3)}`);
  assert.ok(short > 0, 'short sequences occur (shortSeqProb 0.1)');
  // Deterministic for a seed.
  assert.deepEqual(makeNspPairs(docs, maxLen, rng(42)), pairs);
  assert.notDeepEqual(makeNspPairs(docs, maxLen, rng(43)), pairs);
  // A document whose single sentence is longer than the budget is truncated, never overflows.
  const long = makeNspPairs([[Array.from({ length: 500 }, (_, i) => 10 + i)], [[7, 8, 9]]], 32, rng(1));
  assert.ok(long.every((p) => p.a.length + p.b.length <= 29 && p.a.length > 0 && p.b.length > 0));
  // Documents of long single sentences: the original rule makes every pair random-next; the
  // default here still gives about half actual-next pairs (B = the following sentence, or the
  // tail of the document's last sentence).
  const longDocs = Array.from({ length: 400 }, (_, d) =>
    Array.from({ length: 1 + (d % 3) }, (_, s) => Array.from({ length: 40 }, (_, k) => 5 + d * 1000 + s * 100 + k)),
  );
  const strict = makeNspPairs(longDocs, 32, rng(3), { singleSentenceRandom: true });
  assert.ok(strict.every((p) => p.isRandomNext));
  const balanced = makeNspPairs(longDocs, 32, rng(3));
  const share2 = balanced.filter((p) => p.isRandomNext).length / balanced.length;
  assert.ok(Math.abs(share2 - 0.5) <= 0.05, `single-sentence chunks: random share ${share2.toFixed(3)}`);
  for (const p of balanced.filter((q) => !q.isRandomNext)) {
    const docOfId = (t: number): number => Math.floor((t - 5) / 1000);
    assert.equal(docOfId(p.b[0]!), docOfId(p.a[0]!));
    assert.ok(p.b[0]! > p.a[p.a.length - 1]!, 'B continues A');
    assert.ok(p.a.length + p.b.length <= 29);
  }
  assert.throws(() => makeNspPairs([[[5, 6]]], 32, rng(1)), /at least 2 non-empty documents/);
  assert.throws(() => makeNspPairs(docs, 4, rng(1)), /maxLen must be an integer >= 5/);
});

test('buildExamples: [CLS] A [SEP] B [SEP], segment ids, padding, masks, NSP labels', () => {
  const pairs = [
    { a: [10, 11, 12], b: [20, 21], isRandomNext: false },
    { a: [30], b: [40, 41, 42, 43], isRandomNext: true },
  ];
  const noMask = buildExamples(pairs, SPECIAL, 12, rng(1), { mlmProbability: 0 });
  assert.deepEqual(noMask[0], {
    inputIds: [2, 10, 11, 12, 3, 20, 21, 3, 0, 0, 0, 0],
    tokenTypeIds: [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
    attentionMask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    mlmLabels: Array(12).fill(IGNORE_INDEX),
    nspLabel: 0,
  });
  assert.deepEqual(noMask[1]!.tokenTypeIds, [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.equal(noMask[1]!.nspLabel, 1);

  const { docs } = syntheticDocs(50, 3);
  const maxLen = 48;
  const nsp = makeNspPairs(docs, maxLen, rng(5));
  const examples = buildExamples(nsp, SPECIAL, maxLen, rng(6));
  assert.equal(examples.length, nsp.length);
  let labelled = 0;
  examples.forEach((ex, k) => {
    const { a, b, isRandomNext } = nsp[k]!;
    const sep1 = a.length + 1;
    const n = a.length + b.length + 3;
    assert.equal(ex.nspLabel, isRandomNext ? 1 : 0);
    for (const arr of [ex.inputIds, ex.tokenTypeIds, ex.attentionMask, ex.mlmLabels]) assert.equal(arr.length, maxLen);
    const original = [SPECIAL.cls, ...a, SPECIAL.sep, ...b, SPECIAL.sep];
    for (let i = 0; i < maxLen; i++) {
      assert.equal(ex.attentionMask[i], i < n ? 1 : 0, `attention at ${i}`);
      assert.equal(ex.tokenTypeIds[i], i > sep1 && i < n ? 1 : 0, `token type at ${i}`);
      const isSpecial = i === 0 || i === sep1 || i === n - 1 || i >= n;
      if (isSpecial) {
        assert.equal(ex.mlmLabels[i], IGNORE_INDEX, `special/pad ${i} not predicted`);
        assert.equal(ex.inputIds[i], i < n ? original[i] : SPECIAL.pad, `special/pad ${i} unchanged`);
      } else if (ex.mlmLabels[i] === IGNORE_INDEX) {
        assert.equal(ex.inputIds[i], original[i]);
      } else {
        assert.equal(ex.mlmLabels[i], original[i]);
        labelled++;
      }
    }
  });
  assert.ok(labelled > 0);
  assert.throws(
    () => buildExamples([{ a: [1, 2, 3], b: [4, 5], isRandomNext: false }], SPECIAL, 7, rng(1)),
    /pair 0 needs 8 tokens .* maxLen is 7/,
  );
});

test('end to end on moby-dick with a trained vocabulary', async () => {
  const docs = (await loadCorpus('moby-dick')).slice(0, 40);
  const vocab = trainWordPiece(
    docs.map((d) => d.text),
    { vocabSize: 2000 },
  );
  const special = specialIdsFor(vocab);
  assert.deepEqual(special, { pad: 0, cls: 2, sep: 3, mask: 4, vocabSize: vocab.length });
  assert.equal(vocab.indexOf(SPECIAL_TOKENS[1]), 1);
  const tok = BertTokenizer.fromVocab(vocab);
  const ids = tokenizeDocuments(docs, (t) => tok.convertTokensToIds(tok.tokenize(t)));
  assert.equal(ids.length, docs.length);
  const maxLen = 128;
  const pairs = makeNspPairs(ids, maxLen, rng(1));
  const randomShare = pairs.filter((p) => p.isRandomNext).length / pairs.length;
  assert.ok(Math.abs(randomShare - 0.5) <= 0.05, `random-next share ${randomShare.toFixed(3)} on real text`);
  const examples = buildExamples(pairs, special, maxLen, rng(2));
  assert.ok(examples.length > 100);
  const predicted = examples.reduce((s, e) => s + e.mlmLabels.filter((l) => l !== IGNORE_INDEX).length, 0);
  const real = examples.reduce((s, e) => s + e.attentionMask.filter((m) => m === 1).length - 3, 0);
  assert.ok(Math.abs(predicted / real - 0.15) < 0.01, `predicted share ${(predicted / real).toFixed(3)}`);
  assert.throws(() => specialIdsFor(['a']), /no \[PAD\] token/);
});
