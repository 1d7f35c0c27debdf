import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEGATIONS, STOP_WORDS, cleanText, decodeHtmlEntities, type CleanMode } from '../src/text/clean.js';
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

test("improved mode keeps negations: not, no, nor, never and the n't words, which the lab mode drops", () => {
  // The README's table.
  assert.equal(cleanText('This movie is not good', 'lab'), 'movie good');
  assert.equal(cleanText('This movie is not good', 'improved'), 'movie not good');
  assert.equal(cleanText('This movie is not good', 'none'), 'This movie is not good');
  assert.equal(cleanText("This movie isn't good", 'lab'), 'movie good');
  assert.equal(cleanText("This movie isn't good", 'improved'), "movie isn't good");
  assert.equal(cleanText('No way, nor this. Never!', 'improved'), 'no way, nor never');
  // Typographic apostrophes and capitals: the word as a lower-cased n't word with a straight apostrophe.
  assert.equal(cleanText("I DON’T think so, can’t say, WON'T go", 'improved'), "don't think so, can't say, won't go");
  for (const w of [
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "haven't",
    "hasn't",
    "hadn't",
    "can't",
    "couldn't",
    "won't",
    "wouldn't",
    "shouldn't",
    "mustn't",
    "ain't",
  ]) {
    assert.equal(cleanText(`fire ${w} spread`, 'improved'), `fire ${w} spread`, w);
    assert.ok(NEGATIONS.has(w), w);
  }
  // Other stop words still go; an n't inside a longer word is no negation word.
  assert.equal(cleanText("it's the fire, they're not here", 'improved'), 'fire, not');
  assert.equal(cleanText("Don'tcha know", 'improved'), 'tcha know');
  for (const w of ['not', 'no', 'nor']) assert.ok(STOP_WORDS.has(w), `${w} stays in the lab's list`);
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
