import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { normalizeBert, preTokenizeBert, trainWordPiece, SPECIAL_TOKENS } from '../src/text/wordpiece.js';
import { BertTokenizer, bertTokenizerJson, parseVocab } from '../src/text/tokenizer.js';
import { loadCorpus } from '../src/data/corpus.js';
import { splitSentences } from '../src/data/pretrain-data.js';
import { needsShared, shared } from './shared.js';

// A from-scratch greedy longest-match-first WordPiece over vocab.txt lines, written independently
// of src/text/wordpiece.ts (BERT's original tokenization.py algorithm), used as the reference below.
function referenceWordPiece(vocabTxt: string, words: string[]): string[] {
  const vocab = new Set(vocabTxt.split('\n').filter((l) => l.length > 0));
  const out: string[] = [];
  for (const word of words) {
    const cps = Array.from(word);
    if (cps.length > 100) {
      out.push('[UNK]');
      continue;
    }
    const pieces: string[] = [];
    let bad = false;
    for (let start = 0; start < cps.length && !bad;) {
      let end = cps.length;
      let cur: string | null = null;
      for (; end > start; end--) {
        const s = (start > 0 ? '##' : '') + cps.slice(start, end).join('');
        if (vocab.has(s)) {
          cur = s;
          break;
        }
      }
      if (cur === null) bad = true;
      else {
        pieces.push(cur);
        start = end;
      }
    }
    if (bad) out.push('[UNK]');
    else out.push(...pieces);
  }
  return out;
}

// The decoder's clean-up of spaces before punctuation, as transformers' clean_up_tokenization.
const cleanUp = (s: string): string =>
  s
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");

test('normalizeBert: clean text, CJK spacing, accents, lowercase', () => {
  assert.equal(normalizeBert('Héllo\tWORLD\u0000\u200b!'), 'hello world!');
  assert.equal(normalizeBert('Naïve Café'), 'naive cafe');
  assert.equal(normalizeBert('東京 tower'), ' 東  京  tower');
  assert.equal(normalizeBert('a\r\nb\u00a0c'), 'a  b c');
  assert.equal(normalizeBert('Ünïcödé', { lowercase: false }), 'Ünïcödé');
  assert.equal(normalizeBert('\ufffdok'), 'ok');
});

test('preTokenizeBert: whitespace removed, each punctuation char its own word', () => {
  assert.deepEqual(preTokenizeBert("don't stop... $5+3=8 — well"), [
    'don',
    "'",
    't',
    'stop',
    '.',
    '.',
    '.',
    '$',
    '5',
    '+',
    '3',
    '=',
    '8',
    '—',
    'well',
  ]);
  assert.deepEqual(preTokenizeBert('  '), []);
});

test('trainWordPiece: specials first, alphabet and ## forms, then merges by frequency', () => {
  const texts = ['hug hug hug hug pug pug bun bun bun hugs', 'pun pun'];
  const vocab = trainWordPiece(texts, { vocabSize: 100, minFrequency: 2 });
  assert.deepEqual(vocab.slice(0, 5), [...SPECIAL_TOKENS]);
  // Alphabet by code point, then ## forms of characters seen after a word's first character.
  assert.deepEqual(vocab.slice(5, 12), ['b', 'g', 'h', 'n', 'p', 's', 'u']);
  assert.deepEqual(vocab.slice(12, 16), ['##g', '##n', '##s', '##u']);
  // Pair counts: ##u ##g = 4+2+1 = 7 (hug x4, pug x2, hugs), ##u ##n = 3+2 = 5, h ##u = 5.
  assert.equal(vocab[16], '##ug');
  assert.equal(new Set(vocab).size, vocab.length, 'no duplicates');
  // minFrequency stops merging before vocabSize: "hugs" occurs once, so "##ugs" is never formed.
  assert.ok(!vocab.includes('hugs') && !vocab.includes('##ugs'));
  assert.ok(vocab.length < 100);
  const big = trainWordPiece(texts, { vocabSize: 100, minFrequency: 1 });
  assert.ok(big.includes('hugs'));
  // vocabSize is respected exactly when there are enough merges.
  assert.equal(trainWordPiece(texts, { vocabSize: 18, minFrequency: 1 }).length, 18);
  // limitAlphabet keeps the most frequent characters.
  const small = trainWordPiece(['aaaa bbb cc d'], { vocabSize: 20, limitAlphabet: 2, minFrequency: 1 });
  assert.deepEqual(small.slice(5, 7), ['a', 'b']);
  assert.ok(!small.includes('c') && !small.includes('d'));
});

test('trainWordPiece: deterministic and independent of document order', () => {
  const texts = ['The cat sat on the mat.', 'A dog sat on a log!', 'Cats and dogs, mats and logs.'];
  const v1 = trainWordPiece(texts, { vocabSize: 60, minFrequency: 1 });
  const v2 = trainWordPiece([...texts].reverse(), { vocabSize: 60, minFrequency: 1 });
  assert.deepEqual(v1, v2);
});

/** Token ids of `text` without [CLS]/[SEP], by the project's tokenizer over `vocab`. */
const encoderOf = (vocab: string[]) => {
  const tok = BertTokenizer.fromVocab(vocab);
  return {
    encode: (text: string) => tok.convertTokensToIds(tok.tokenize(text)),
    tokenize: (text: string) => tok.tokenize(text),
  };
};

test('a trained vocabulary saved by BertTokenizer loads in @huggingface/tokenizers and agrees with a reference WordPiece', async () => {
  const docs = await loadCorpus('moby-dick');
  const vocab = trainWordPiece(
    docs.map((d) => d.text),
    { vocabSize: 4000 },
  );
  assert.equal(vocab.length, 4000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wordpiece-test-'));
  try {
    await BertTokenizer.fromVocab(vocab, { model_max_length: 128 }).save(dir);
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, ['special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']);
    const vocabTxt = await readFile(path.join(dir, 'vocab.txt'), 'utf8');
    assert.deepEqual(parseVocab(vocabTxt), vocab);
    const json: unknown = JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(config.tokenizer_class, 'BertTokenizer');
    assert.equal(config.do_lower_case, true);
    assert.equal(config.model_max_length, 128);
    const stm = JSON.parse(await readFile(path.join(dir, 'special_tokens_map.json'), 'utf8')) as Record<string, string>;
    assert.equal(stm.mask_token, '[MASK]');

    const tok = new Tokenizer(json as object, config);
    const enc = encoderOf(vocab);
    // Single sequence: [CLS] ... [SEP] with the fresh ids 2 and 3.
    const one = tok.encode('Call me Ishmael.');
    assert.deepEqual(one.ids, [2, ...enc.encode('Call me Ishmael.'), 3]);
    // Pair: token types 0 for [CLS] A [SEP], 1 for B [SEP].
    const pair = tok.encode('Call me Ishmael.', { text_pair: 'Some years ago.', return_token_type_ids: true });
    const nA = enc.encode('Call me Ishmael.').length;
    const nB = enc.encode('Some years ago.').length;
    assert.equal(pair.ids[0], 2);
    assert.equal(pair.ids[nA + 1], 3);
    assert.equal(pair.ids[nA + nB + 2], 3);
    assert.deepEqual(pair.token_type_ids, [...Array(nA + 2).fill(0), ...Array(nB + 1).fill(1)]);

    const sentences = docs.flatMap((d) => splitSentences(d.text)).filter((_, i) => i % 7 === 0);
    const tricky = [
      'Ünïcödé façade — naïve “quotes” and 東京タワー!',
      'emoji 🐳 whale and a' + 'x'.repeat(120) + ' long word',
      "It's 3.5% of $1,000; isn't it?",
      'Tabs\tand\nnewlines\u0007 and zero\u200bwidth',
    ];
    let compared = 0;
    let roundTrips = 0;
    for (const s of [...tricky, ...sentences]) {
      const words = preTokenizeBert(normalizeBert(s));
      const reference = referenceWordPiece(vocabTxt, words);
      const hf = tok.tokenize(s);
      assert.deepEqual(hf, reference, `@huggingface/tokenizers vs reference on ${JSON.stringify(s)}`);
      assert.deepEqual(enc.tokenize(s), reference, `BertTokenizer vs reference on ${JSON.stringify(s)}`);
      compared++;
      if (!reference.includes('[UNK]') && words.length > 0) {
        const ids = tok.encode(s).ids;
        const decoded = tok.decode(ids, { skip_special_tokens: true });
        assert.equal(decoded, cleanUp(words.join(' ')), `round trip of ${JSON.stringify(s)}`);
        roundTrips++;
      }
    }
    assert.ok(compared > 1000 && roundTrips > 1000, `compared ${compared}, round trips ${roundTrips}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('vocabularies without specials, with a token twice or with unwritable tokens are refused', async () => {
  assert.throws(() => BertTokenizer.fromVocab(['a', 'b']), /vocabulary has no pad_token "\[PAD\]"/);
  assert.throws(
    () => BertTokenizer.fromVocab([...SPECIAL_TOKENS, 'a', 'a']),
    /token "a" appears twice \(ids 5 and 6\)/,
  );
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wordpiece-test-'));
  try {
    await assert.rejects(
      BertTokenizer.fromVocab([...SPECIAL_TOKENS, 'a\nb']).save(dir),
      /vocab\.txt: token 5 .* cannot be written as a line of vocab\.txt/,
    );
    assert.deepEqual(await readdir(dir), [], 'nothing written');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Python tokenizers, when installed, loads the files the same way', async (t) => {
  let hasPython = false;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import tokenizers'], { stdio: 'ignore' });
    hasPython = true;
  } catch {
    hasPython = false;
  }
  if (!hasPython) {
    t.skip('python3 with the tokenizers package is not installed on this machine');
    return;
  }
  const vocab = trainWordPiece(['The quick brown fox jumps over the lazy dog. Ünïcödé!'], {
    vocabSize: 80,
    minFrequency: 1,
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wordpiece-test-'));
  try {
    await BertTokenizer.fromVocab(vocab).save(dir);
    const text = 'The lazy fox, Ünïcödé!';
    const script = `import sys, json\nfrom tokenizers import Tokenizer\nt = Tokenizer.from_file(sys.argv[1])\nprint(json.dumps(t.encode(sys.argv[2]).ids))`;
    const out = execFileSync('/usr/bin/python3', ['-c', script, path.join(dir, 'tokenizer.json'), text], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), [2, ...encoderOf(vocab).encode(text), 3]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('on bert-base-uncased: same files as the real tokenizer.json and the lab tokenization', needsShared, async () => {
  const vocab = parseVocab(await readFile(shared('models/bert-base-uncased/vocab.txt'), 'utf8'));
  assert.equal(vocab.length, 30522);
  const real = JSON.parse(await readFile(shared('models/bert-base-uncased/tokenizer.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const ours = bertTokenizerJson(vocab) as Record<string, unknown>;
  for (const key of ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    assert.deepEqual(ours[key], real[key], `tokenizer.json ${key}`);
  }
  // The model section except the vocabulary itself: ../shared's tokenizer.json and vocab.txt differ
  // in one entry, and vocab.txt is what this vocabulary was read from.
  const { type, vocab: ourVocab, ...model } = ours.model as Record<string, unknown>;
  const { vocab: realVocab, ...realModel } = real.model as Record<string, unknown>;
  assert.equal(type, 'WordPiece');
  assert.deepEqual(model, realModel);
  assert.equal(Object.keys(ourVocab as object).length, Object.keys(realVocab as object).length);
  assert.equal((ourVocab as Record<string, number>)['[MASK]'], 103);
  const enc = encoderOf(vocab);
  // The fact ../shared/README.md gives for the first cleaned tweet.
  assert.deepEqual(
    enc.encode('deeds reason earthquake may allah forgive us'),
    [15616, 3114, 8372, 2089, 16455, 9641, 2149],
  );
  const tok = new Tokenizer(real, {});
  const s = 'Forest fire near La Ronge Sask. Canada — naïve résumé 🔥 #wildfires';
  assert.deepEqual(tok.encode(s).ids, [101, ...enc.encode(s), 102]);
});
