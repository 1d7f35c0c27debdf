import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  loadCorpus,
  loadSpamCorpus,
  corpusStats,
  detokenizeBrown,
  emailToText,
  htmlToText,
  BUILTIN_CORPORA,
} from '../src/data/corpus.js';
import { needsShared, shared } from './shared.js';

test('loadCorpus: .txt files are split into documents at blank lines', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'corpus-test-'));
  try {
    const file = path.join(dir, 'notes.txt');
    await writeFile(file, 'First doc line one.\nLine two.\n\n  \nSecond doc.\r\n\r\nThird.\n');
    const docs = await loadCorpus(file);
    assert.deepEqual(docs, [
      { id: 'notes.txt#0', text: 'First doc line one.\nLine two.' },
      { id: 'notes.txt#1', text: 'Second doc.' },
      { id: 'notes.txt#2', text: 'Third.' },
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadCorpus: file.csv:column gives one document per non-empty cell, with clear errors', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'corpus-test-'));
  try {
    const file = path.join(dir, 'tweets.csv');
    await writeFile(file, 'id,text\n1,"Fire, fire!\nRun"\n2,\n3,calm day\n');
    const docs = await loadCorpus(`${file}:text`);
    assert.deepEqual(docs, [
      { id: 'tweets.csv#1', text: 'Fire, fire!\nRun' },
      { id: 'tweets.csv#3', text: 'calm day' },
    ]);
    await assert.rejects(loadCorpus(`${file}:body`), /tweets\.csv has no column "body" \(columns: id, text\)/);
    await assert.rejects(loadCorpus(file), /is a CSV file; name the text column/);
    await assert.rejects(loadCorpus(path.join(dir, 'missing.csv:text')), /missing\.csv does not exist/);
    await assert.rejects(loadCorpus('no-such-corpus'), /neither a built-in corpus \(sotu, moby-dick, brown\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('built-in corpora load with the expected sizes', async () => {
  const expected: Record<string, { documents: number; minWords: number }> = {
    sotu: { documents: 233, minWords: 1_700_000 },
    'moby-dick': { documents: 138, minWords: 200_000 },
    brown: { documents: 500, minWords: 1_000_000 },
  };
  for (const c of BUILTIN_CORPORA) {
    const docs = await loadCorpus(c.name);
    const stats = corpusStats(docs);
    const want = expected[c.name]!;
    assert.equal(stats.documents, want.documents, c.name);
    assert.ok(stats.words >= want.minWords, `${c.name}: ${stats.words} words`);
    assert.equal(new Set(docs.map((d) => d.id)).size, docs.length, `${c.name}: ids unique`);
    assert.ok(
      docs.every((d) => d.text.length > 0 && d.text === d.text.trim()),
      `${c.name}: trimmed, non-empty`,
    );
  }
  const moby = await loadCorpus('moby-dick');
  assert.equal(moby[2]!.id, 'moby-dick/chapter_1');
  assert.match(moby[2]!.text, /^CHAPTER 1\. Loomings\.\n\nCall me Ishmael\./);
  assert.equal((await loadCorpus('sotu')).length + moby.length, 233 + 138);
  await assert.rejects(
    loadCorpus('sotu+moby-dick'),
    /"sotu\+moby-dick" is neither .*: list several as separate names, --corpus a,b on the command line/,
  );
  const brown = await loadCorpus('brown');
  assert.match(
    brown[0]!.text,
    /^The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place\.\n\n/,
  );
  assert.ok(!brown.some((d) => /\b\w+\/(nn|vb|vbd|at|in|jj)\b/.test(d.text)), 'no POS tags left');
});

test('detokenizeBrown joins tagged tokens into text', () => {
  assert.equal(
    detokenizeBrown("He/pps said/vbd ``/`` yes/rb ,/, (/( maybe/rb )/) ''/'' ;/. $/$ 5/cd %/nn ./."),
    'He said "yes, (maybe)"; $5%.',
  );
});

test('emailToText: headers dropped, multipart text preferred, QP/base64/encoded words decoded', () => {
  const raw = [
    'From: a@b.c',
    'Subject: =?iso-8859-1?Q?Caf=E9_offer?=',
    'Content-Type: multipart/alternative;',
    '\tboundary="XX"',
    '',
    'preamble',
    '--XX',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<html><body><p>HTML &amp; version</p></body></html>',
    '--XX',
    'Content-Type: text/plain; charset="iso-8859-1"',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Price: =A35 for na=EFve folks, a long line that is soft=',
    ' wrapped.',
    '--XX--',
    '',
  ].join('\n');
  assert.equal(emailToText(raw), 'Café offer\n\nPrice: £5 for naïve folks, a long line that is soft wrapped.');
  const b64 = [
    'Subject: hi',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('héllo wörld').toString('base64'),
    '',
  ].join('\n');
  assert.equal(emailToText(b64), 'hi\n\nhéllo wörld');
  assert.equal(htmlToText('<style>x{}</style>a&nbsp;<b>b</b>&#233;&#x41;').replace(/\s+/g, ' ').trim(), 'a b éA');
});

test('loadSpamCorpus: 6,046 SpamAssassin messages as readable text with ham/spam labels', async () => {
  const spam = await loadSpamCorpus();
  assert.equal(spam.texts.length, 6046);
  assert.deepEqual(spam.labelNames, ['ham', 'spam']);
  assert.equal(spam.labels.filter((l) => l === 1).length, 500 + 1396);
  const spamOnly = await loadSpamCorpus({ groups: ['spam-1', 'spam-2'], maxChars: 100 });
  assert.ok(
    spamOnly.texts.length === 1896 && spamOnly.labels.every((l) => l === 1),
    'the spam groups are labelled spam',
  );
  const withHeaders = spam.texts.filter((t) => /^(Received|Return-Path|Delivered-To): /m.test(t.slice(0, 300))).length;
  assert.ok(withHeaders < 20, `${withHeaders} texts still start with mail headers`);
  const qp = spam.texts.filter((t) => /=3D|=20\n/.test(t)).length;
  assert.ok(qp < 20, `${qp} texts with undecoded quoted-printable`);
  const empty = spam.texts.filter((t) => t.trim().length < 10).length;
  assert.ok(empty < 10, `${empty} nearly empty texts`);
  const hard = await loadSpamCorpus({ groups: ['hard-ham-1'], maxChars: 500 });
  assert.equal(hard.texts.length, 250);
  assert.ok(hard.texts.every((t) => t.length <= 500));
  await assert.rejects(loadSpamCorpus({ groups: ['ham'] }), /unknown group "ham"/);
});

test('the lab tweets load as an unlabelled corpus', needsShared, async () => {
  const docs = await loadCorpus(`${shared('data/disaster-tweets/train.csv')}:text`);
  assert.equal(docs.length, 7613);
  assert.equal(docs[0]!.text, 'Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all');
});
