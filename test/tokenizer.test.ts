import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BertTokenizer, parseVocab } from '../src/text/tokenizer.js';
import { cleanText } from '../src/text/clean.js';
import { readCsv, labelledFromFrame } from '../src/data/data.js';
import { rng, shuffle } from '../src/nn/random.js';
import { needsShared, shared } from './shared.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'bert-lab-tok-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// A tiny vocabulary so that padding and truncation can be checked without ../shared.
const TINY = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'fire', '##s', ',', '.'];
const tiny = BertTokenizer.fromVocab(TINY, {}, 16);
const ids = (s: string): number[] => s.split(' ').map((t) => TINY.indexOf(t));

test('tiny vocabulary: specials, tokenize, encode', () => {
  assert.deepEqual(
    [tiny.padId, tiny.unkId, tiny.clsId, tiny.sepId, tiny.maskId, tiny.vocabSize, tiny.modelMaxLength],
    [0, 1, 2, 3, 4, 16, 16],
  );
  assert.deepEqual(tiny.tokenize('Fires, A x.'), ['fire', '##s', ',', 'a', '[UNK]', '.']);
  assert.deepEqual(tiny.encode('a b', 'c'), {
    ids: [2, 5, 6, 3, 7, 3],
    tokens: ['[CLS]', 'a', 'b', '[SEP]', 'c', '[SEP]'],
    typeIds: [0, 0, 0, 0, 1, 1],
  });
  assert.deepEqual(tiny.convertTokensToIds(['fire', 'nope']), [12, 1]);
  assert.deepEqual(tiny.convertIdsToTokens([12, 13]), ['fire', '##s']);
  assert.throws(() => tiny.convertIdsToTokens([99]), /id 99 at position 0 is outside the vocabulary \(0\.\.15\)/);
});

test('padding: longest (default), max_length, none; masks and type ids', () => {
  const e = tiny.encodeBatch(['a b c', 'd'], { pairs: ['e', 'f g'] });
  assert.deepEqual(e.inputIds, [
    [2, 5, 6, 7, 3, 9, 3],
    [2, 8, 3, 10, 11, 3, 0],
  ]);
  assert.deepEqual(e.attentionMask, [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 0],
  ]);
  assert.deepEqual(e.tokenTypeIds, [
    [0, 0, 0, 0, 0, 1, 1],
    [0, 0, 0, 1, 1, 1, 0],
  ]);
  const m = tiny.encodeBatch(['a', 'b c'], { padding: 'max_length', maxLength: 6 });
  assert.deepEqual(m.inputIds, [
    [2, 5, 3, 0, 0, 0],
    [2, 6, 7, 3, 0, 0],
  ]);
  assert.deepEqual(m.attentionMask, [
    [1, 1, 1, 0, 0, 0],
    [1, 1, 1, 1, 0, 0],
  ]);
  const n = tiny.encodeBatch(['a', 'b c'], { padding: 'none' });
  assert.deepEqual(n.inputIds, [
    [2, 5, 3],
    [2, 6, 7, 3],
  ]);
  assert.deepEqual(tiny.encodeBatch([]), { inputIds: [], attentionMask: [], tokenTypeIds: [] });
});

test('truncation: single texts and the pair strategies', () => {
  assert.deepEqual(tiny.encodeBatch(['a b c d e'], { maxLength: 4, truncation: true }).inputIds, [[2, 5, 6, 3]]);
  // longest_first, room 8 - 3 = 5: 7 + 2 -> 3 + 2 (only the longer is cut); 7 + 3 -> 3 + 2.
  const lf = (a: string, b: string, max: number): number[] =>
    tiny.encodeBatch([a], { pairs: [b], maxLength: max, truncation: 'longest_first' }).inputIds[0]!;
  assert.deepEqual(lf('a b c d e f g', 'a b', 8), [2, ...ids('a b c'), 3, ...ids('a b'), 3]);
  assert.deepEqual(lf('a b c d e f g', 'a b c', 8), [2, ...ids('a b c'), 3, ...ids('a b'), 3]);
  // A tie with an odd budget: the second sequence keeps the extra token (Rust tokenizers).
  assert.deepEqual(lf('a b c d', 'e f g a', 8), [2, ...ids('a b'), 3, ...ids('e f g'), 3]);
  const only = (s: 'only_first' | 'only_second', max: number): number[] =>
    tiny.encodeBatch(['a b c d'], { pairs: ['e f g'], maxLength: max, truncation: s }).inputIds[0]!;
  assert.deepEqual(only('only_first', 8), [2, ...ids('a b'), 3, ...ids('e f g'), 3]);
  assert.deepEqual(only('only_second', 8), [2, ...ids('a b c d'), 3, ...ids('e'), 3]);
  assert.throws(() => only('only_second', 6), /the first sequence alone \(4 tokens\) exceeds the room of 3/);
  assert.throws(
    () => tiny.encodeBatch(['a b'], { maxLength: 1, truncation: true }),
    /leaves no room for the 2 special tokens/,
  );
});

test('no truncation: an over-long row is an error naming it', () => {
  assert.throws(
    () => tiny.encodeBatch(['a', 'a b c d e f g'], { maxLength: 5 }),
    /text 1 \(0-based\) is 9 tokens, longer than the maxLength 5; pass truncation/,
  );
  const long = Array.from({ length: 20 }, () => 'a').join(' ');
  assert.throws(
    () => tiny.encodeBatch([long]),
    /text 0 \(0-based\) is 22 tokens, longer than the maximum 16; pass truncation/,
  );
  assert.throws(
    () => tiny.encodeBatch(['a'], { maxLength: 17 }),
    /maxLength 17 is longer than the model's maximum of 16 positions/,
  );
  assert.throws(() => tiny.encodeBatch(['a', 'b'], { pairs: ['c'] }), /2 texts but 1 pairs/);
  assert.throws(() => tiny.encodeBatch(['a', 3 as unknown as string]), /text 1 is not a string \(got number\)/);
});

test('decode', () => {
  assert.equal(tiny.decode([2, 12, 13, 14, 5, 15, 3, 0]), '[CLS] fires, a. [SEP] [PAD]');
  assert.equal(tiny.decode([2, 12, 13, 14, 5, 15, 3, 0], true), 'fires, a.');
  assert.equal(tiny.decode([]), '');
});

test('loading errors', async () => {
  await assert.rejects(
    BertTokenizer.fromDir(path.join(tmp, 'missing')),
    /tokenizer directory .*missing does not exist/,
  );
  const empty = path.join(tmp, 'empty');
  mkdirSync(empty);
  await assert.rejects(BertTokenizer.fromDir(empty), /has neither tokenizer\.json nor vocab\.txt/);
  assert.throws(() => BertTokenizer.fromVocab(['a', 'b']), /vocabulary has no pad_token "\[PAD\]"/);
  assert.deepEqual(parseVocab('x\r\ny\n\nz\n'), ['x', 'y', '', 'z']);
});

const MODEL = shared('models/bert-base-uncased');

test("bert-base-uncased: the lab's first tweet", needsShared, async () => {
  const tok = await BertTokenizer.fromDir(MODEL);
  assert.deepEqual(
    [tok.vocabSize, tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId, tok.modelMaxLength],
    [30522, 0, 100, 101, 102, 103, 512],
  );
  const e = tok.encode('deeds reason earthquake may allah forgive us');
  assert.deepEqual(e.ids, [101, 15616, 3114, 8372, 2089, 16455, 9641, 2149, 102]);
  assert.equal(e.tokens.join(' '), '[CLS] deeds reason earthquake may allah forgive us [SEP]');
  const p = tok.encode('Is it a disaster?', 'Forest fire near La Ronge');
  assert.deepEqual(p.typeIds, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(p.tokens.join(' '), '[CLS] is it a disaster ? [SEP] forest fire near la ron ##ge [SEP]');
});

async function trainTexts(): Promise<string[]> {
  const file = shared('data/disaster-tweets/train.csv');
  return labelledFromFrame(await readCsv(file), { text: 'text', label: 'target' }, file).texts;
}

test('vocab.txt alone gives the same ids as tokenizer.json on 200 tweets', needsShared, async () => {
  const full = await BertTokenizer.fromDir(MODEL);
  const vocabOnly = path.join(tmp, 'vocab-only');
  mkdirSync(vocabOnly);
  copyFileSync(path.join(MODEL, 'vocab.txt'), path.join(vocabOnly, 'vocab.txt'));
  const fromVocab = await BertTokenizer.fromDir(vocabOnly);
  const sample = shuffle(await trainTexts(), rng(2024)).slice(0, 200);
  for (const [i, t] of sample.entries()) {
    assert.deepEqual(fromVocab.encode(t).ids, full.encode(t).ids, `tweet ${i}: ${t}`);
    assert.deepEqual(fromVocab.encode(cleanText(t)).ids, full.encode(cleanText(t)).ids, `cleaned tweet ${i}`);
  }
});

test('round trip: decode(encode(x)) for cleaned tweets', needsShared, async () => {
  const tok = await BertTokenizer.fromDir(MODEL);
  const sample = shuffle(await trainTexts(), rng(7))
    .slice(0, 200)
    .map((t) => cleanText(t));
  let unk = 0;
  for (const t of sample) {
    const e = tok.encode(t);
    if (e.ids.includes(tok.unkId)) {
      unk++;
      continue;
    }
    assert.equal(tok.decode(e.ids, true), t);
  }
  assert.ok(unk < 10, `${unk} tweets with [UNK]`);
});

test('save writes files transformers can load; reload gives the same ids', needsShared, async () => {
  const tok = await BertTokenizer.fromDir(MODEL);
  const out = path.join(tmp, 'saved');
  await tok.save(out);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'])
    assert.ok(existsSync(path.join(out, f)), f);
  // vocab.txt is written from the loaded tokenizer.json, whose vocabulary is the one in use. (The
  // shared copy's two files differ at id 14: '[LEIS]]' in tokenizer.json, '[LEIS]' in vocab.txt.)
  const allIds = Array.from({ length: tok.vocabSize }, (_, i) => i);
  assert.equal(readFileSync(path.join(out, 'vocab.txt'), 'utf8'), tok.convertIdsToTokens(allIds).join('\n') + '\n');
  assert.equal(parseVocab(readFileSync(path.join(out, 'vocab.txt'), 'utf8')).length, 30522);
  const cfg = JSON.parse(readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.tokenizer_class, 'BertTokenizer');
  assert.equal(cfg.do_lower_case, true);
  assert.equal(cfg.model_max_length, 512);
  const again = await BertTokenizer.fromDir(out);
  const text = 'Forest fire near La Ronge Sask. Canada 🔥 naïve';
  assert.deepEqual(again.encode(text), tok.encode(text));
  // A vocab-built tokenizer saves a tokenizer.json that loads to the same ids too.
  const tinyDir = path.join(tmp, 'tiny-saved');
  await tiny.save(tinyDir);
  assert.deepEqual((await BertTokenizer.fromDir(tinyDir)).encode('fires, a').ids, tiny.encode('fires, a').ids);
});

test('do_lower_case false in tokenizer_config overrides the saved normalizer', needsShared, async () => {
  const cased = path.join(tmp, 'cased');
  mkdirSync(cased);
  copyFileSync(path.join(MODEL, 'tokenizer.json'), path.join(cased, 'tokenizer.json'));
  writeFileSync(
    path.join(cased, 'tokenizer_config.json'),
    JSON.stringify({ do_lower_case: false, model_max_length: 128 }),
  );
  const tok = await BertTokenizer.fromDir(cased);
  assert.equal(tok.modelMaxLength, 128);
  assert.deepEqual(tok.tokenize('Fire'), ['[UNK]']);
});

test('lab data: cleaned tweets are at most 45 tokens with [CLS]/[SEP]', needsShared, async () => {
  const tok = await BertTokenizer.fromDir(MODEL);
  const texts = await trainTexts();
  const cleaned = texts.map((t) => cleanText(t));
  const t0 = performance.now();
  const enc = tok.encodeBatch(cleaned);
  const ms = performance.now() - t0;
  assert.equal(enc.inputIds.length, 7613);
  assert.equal(enc.inputIds[0]!.length, 45);
  assert.equal(Math.max(...enc.attentionMask.map((m) => m.reduce((s, x) => s + x, 0))), 45);
  assert.ok(ms < 20000, `tokenizing 7,613 tweets took ${ms.toFixed(0)} ms`);
});
