import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STOP_WORDS, cleanText, decodeHtmlEntities, type CleanMode } from '../src/text/clean.js';
import { readCsv, labelledFromFrame } from '../src/data/data.js';
import { needsShared, shared } from './shared.js';

test("NLTK's 179 English stop words, apostrophe forms included", () => {
  assert.equal(STOP_WORDS.size, 179);
  for (const w of ["don't", "you're", "should've", "mightn't", 'ain', 'ma', 'o', 'y', 'i'])
    assert.ok(STOP_WORDS.has(w), w);
  assert.ok(!STOP_WORDS.has('us'));
});

test('lab mode: the first tweet as in the notebook', () => {
  assert.equal(
    cleanText('Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all'),
    'deeds reason earthquake may allah forgive us',
  );
});

test("lab mode keeps the notebook's URL quirk", () => {
  // ':' and '/' become spaces before http\S+ runs: 'http' + space is not matched, 'https' is;
  // the '.' in t.co is deleted afterwards, giving 'tco'.
  assert.equal(cleanText('fire http://t.co/AbC12'), 'fire http tco abc');
  assert.equal(cleanText('fire https://t.co/AbC12'), 'fire tco abc');
});

test('lab mode: entities, tags, apostrophes, kept punctuation', () => {
  assert.equal(cleanText('Fire &amp; smoke'), 'fire amp smoke');
  assert.equal(cleanText('<b>Flood</b> warning'), 'b flood b warning');
  // "don't" splits into stop words 'don' and 't'.
  assert.equal(cleanText("I'm sure they don't know"), 'sure know');
  assert.equal(cleanText('Fire, really?! ¿Qué?'), 'fire, really ¿qu');
  assert.equal(cleanText('Forest fire 🔥🔥 near La Ronge'), 'forest fire near la ronge');
  assert.equal(cleanText('line\nbreak\ttab'), 'line break tab');
  assert.equal(cleanText(''), '');
});

test('improved mode removes URLs, tags and entities first', () => {
  assert.equal(cleanText('Fire &amp; smoke http://t.co/AbC12 <b>now</b>', 'improved'), 'fire smoke');
  assert.equal(cleanText('see www.example.com/x ok', 'improved'), 'see ok');
  assert.equal(cleanText('i <3 you', 'improved'), '');
  assert.equal(decodeHtmlEntities('a &lt;b&gt; &#39;c&#x27; &quot;d&quot; &unknown;'), 'a <b> \'c\' "d" &unknown;');
});

test('none mode returns the text unchanged; unknown mode fails', () => {
  assert.equal(cleanText('  Keep THIS http://x  ', 'none'), '  Keep THIS http://x  ');
  assert.throws(() => cleanText('x', 'fancy' as CleanMode), /unknown mode "fancy"/);
});

test('first row of train.csv', needsShared, async () => {
  const file = shared('data/disaster-tweets/train.csv');
  const d = labelledFromFrame(await readCsv(file), { text: 'text', label: 'target' }, file);
  assert.equal(cleanText(d.texts[0]!), 'deeds reason earthquake may allah forgive us');
});
