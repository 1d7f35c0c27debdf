import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  readCsv,
  parseCsv,
  CsvParser,
  Frame,
  labelledFromFrame,
  unlabelledFromFrame,
  splitIndices,
  batches,
  sortLabelNames,
  unpaddedLength,
  batchWidth,
  groupedBatches,
  groupByLength,
  lengthSortedBatches,
} from '../src/data/data.js';
import { checkEncodingFits, encodingBytes, readLabelled } from '../src/data/prepare.js';
import { rng, shuffle, mixSeed } from '../src/nn/random.js';
import { needsShared, shared } from './shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bert-lab-data-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
function csv(name: string, content: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, content, 'utf8');
  return f;
}

test('readCsv: quotes, "" escapes, line breaks in quotes, BOM, emoji, CRLF, blank cells', async () => {
  const f = csv(
    'tricky.csv',
    '\uFEFFid,keyword,text,target\r\n1,,"Fire, ""big"" one\nsecond line 🔥",1\r\n\r\n2,flood,plain text,0\r\n3,,"",1\n',
  );
  const df = await readCsv(f);
  assert.deepEqual(df.shape, [3, 4]);
  assert.deepEqual(df.columns, ['id', 'keyword', 'text', 'target']);
  assert.deepEqual(df.dtypes, ['int32', 'string', 'string', 'int32']);
  assert.deepEqual(df.column('text').values, ['Fire, "big" one\nsecond line 🔥', 'plain text', '']);
  assert.deepEqual(df.column('keyword').values, ['', 'flood', '']);
  assert.deepEqual(df.column('id').values, [1, 2, 3]);
});

test('readCsv: numeric columns with blanks become float32 with NaN', async () => {
  const df = await readCsv(csv('num.csv', 'a,b\n1,0.5\n,2\n'));
  assert.deepEqual(df.dtypes, ['float32', 'float32']);
  assert.ok(Number.isNaN((df.column('a').values as number[])[1]));
  const big = await readCsv(csv('big.csv', 'id,n\n1234567890123456789,3000000000\n2,1\n'));
  assert.deepEqual(big.dtypes, ['string', 'float32']);
  assert.deepEqual(big.column('id').values, ['1234567890123456789', '2']);
});

test('parseCsv reports the line a record starts on', () => {
  const recs = parseCsv('h1,h2\n"a\nb",c\nd,e\n');
  assert.deepEqual(
    recs.map((r) => r.line),
    [1, 2, 4],
  );
  assert.deepEqual(recs[1]!.fields, ['a\nb', 'c']);
  assert.deepEqual(parseCsv('x\n\n\n').length, 1);
  assert.deepEqual(
    parseCsv('a,"b"\r"c",d').map((r) => r.fields),
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
  );
});

test('parseCsv: quotes, doubled quotes, line breaks in quotes, CRLF, BOM', () => {
  const text = '\uFEFFid,text,target\r\n1,"Hello, ""world""",0\r\n2,"two\nlines",1\n3,,0\n4,plain "inner" quote,1\n';
  assert.deepEqual(
    parseCsv(text).map((r) => r.fields),
    [
      ['id', 'text', 'target'],
      ['1', 'Hello, "world"', '0'],
      ['2', 'two\nlines', '1'],
      ['3', '', '0'],
      ['4', 'plain "inner" quote', '1'],
    ],
  );
  assert.deepEqual(
    parseCsv('a,b').map((r) => r.fields),
    [['a', 'b']],
  );
  assert.throws(() => parseCsv('a,b\n1,"open\n2,3\n', 'x.csv'), /x\.csv: line 2: quoted field is never closed/);
});

test('readCsv: clear errors', async () => {
  await assert.rejects(readCsv(path.join(dir, 'nope.csv')), /nope\.csv: file not found/);
  await assert.rejects(readCsv(csv('empty.csv', '\uFEFF \n')), /empty\.csv: file is empty/);
  await assert.rejects(
    readCsv(csv('open.csv', 'a,b\n1,"never closed\n')),
    /open\.csv: line 2: quoted field is never closed/,
  );
  await assert.rejects(
    readCsv(csv('count.csv', 'a,b\n1,2\n"x\ny",2,3\n')),
    /count\.csv: line 3 \(data row 2\): expected 2 fields \(a,b\), found 3/,
  );
  await assert.rejects(readCsv(csv('dup.csv', 'a,a\n1,2\n')), /column name "a" appears twice/);
  await assert.rejects(readCsv(csv('nohead.csv', ',\n1,2\n')), /header row has no column names/);
  await assert.rejects(
    readCsv(csv('junk.csv', 'a,b\n"x"y,2\n')),
    /junk\.csv: line 2: unexpected character "y" after a closing quote/,
  );
  const headerOnly = await readCsv(csv('head.csv', 'a,b\n'));
  assert.deepEqual(headerOnly.shape, [0, 2]);
});

test('CsvParser: the same records whatever the pieces the text arrives in', () => {
  const text =
    '\uFEFFid,text,target\r\n1,"Hello, ""world""\r\nagain",0\r\n\r\n2,"two\nlines",1\r3,,0\n4,plain "inner" quote,1\n5,"",1';
  const whole = parseCsv(text);
  assert.equal(whole.length, 6);
  assert.deepEqual(whole[1], { fields: ['1', 'Hello, "world"\r\nagain', '0'], line: 2 });
  assert.deepEqual(
    whole.map((r) => r.line),
    [1, 2, 5, 7, 8, 9],
  );
  for (let a = 0; a <= text.length; a++)
    for (const b of [a, a + 1, a + 2, a + 5]) {
      const p = new CsvParser('x.csv');
      const got = [...p.push(text.slice(0, a)), ...p.push(text.slice(a, b)), ...p.push(text.slice(b)), ...p.end()];
      assert.deepEqual(got, whole, `pieces cut at ${a} and ${b}`);
    }
});

test('Frame: shape, columns, column(name).values, index and values (what the notebooks and showTable use)', async () => {
  const df = await readCsv(csv('frame.csv', 'id,keyword,text,target\n1,,fire,1\n2,flood,"a\nb",0\n3,,x,1\n'));
  assert.deepEqual(df.shape, [3, 4]);
  assert.deepEqual(df.columns, ['id', 'keyword', 'text', 'target']);
  assert.deepEqual(df.column('target').values.map(Number), [1, 0, 1]);
  assert.deepEqual(df.column('keyword'), { name: 'keyword', dtype: 'string', values: ['', 'flood', ''] });
  assert.deepEqual(df.index, [0, 1, 2]);
  assert.deepEqual(df.values[1], [2, 'flood', 'a\nb', 0]);
  assert.deepEqual(df.head(1).values, [[1, '', 'fire', 1]]);
  assert.deepEqual(df.head(1).dtypes, df.dtypes);
  assert.deepEqual(df.toRecords()[0], { id: 1, keyword: '', text: 'fire', target: 1 });
  assert.throws(() => df.column('tweet'), /no column "tweet"; available columns: id, keyword, text, target/);
  assert.deepEqual(new Frame({ a: [1, 2], b: [0.5, 1], c: ['x', 1] }).dtypes, ['int32', 'float32', 'string']);
  assert.throws(() => new Frame({ a: [1, 2], b: [1] }), /column "b" has 1 values, "a" has 2/);
  assert.deepEqual(new Frame({}).shape, [0, 0]);
});

/** A CSV of `rows` data rows (about 100 bytes each) whose last line is `tail`. */
function bigCsv(name: string, rows: number, tail: string): string {
  const lines = ['id,keyword,location,text,target'];
  for (let i = 1; i <= rows; i++)
    lines.push(`${i},fire,"Somewhere, far",Forest fire near La Ronge Sask. Canada number ${i} of many,${i % 2}`);
  lines.push(tail);
  return csv(name, lines.join('\n') + '\n');
}

// Issue 25 case 2: a 200 MB CSV was parsed whole (4.6 GB, killed) before --limit or the header applied.
test('readCsv streams: a limit reads only the rows it needs, a missing column is refused from the header', async () => {
  // 12 MB with a broken last line: only a read that goes to the end meets it.
  const f = bigCsv('big.csv', 120_000, '120001,fire,"never closed');
  const t0 = performance.now();
  const df = await readCsv(f, { limit: 300 });
  const limited = performance.now() - t0;
  assert.deepEqual(df.shape, [300, 5]);
  assert.equal(df.column('id').values[299], 300);
  assert.equal(df.column('location').values[0], 'Somewhere, far');
  const t1 = performance.now();
  await assert.rejects(readCsv(f), /big\.csv: line 120002: quoted field is never closed/);
  const whole = performance.now() - t1;
  assert.ok(limited < whole, `limit 300 took ${limited.toFixed(0)} ms, the whole file ${whole.toFixed(0)} ms`);
  await assert.rejects(
    readCsv(f, { required: ['text', 'tweet', 'label'], limit: 300 }),
    /big\.csv: no column "tweet", "label"; available columns: id, keyword, location, text, target/,
  );
  // A broken second line is never reached when the header already fails.
  const bad = csv('bad-row.csv', 'id,text\n1,"x"y\n');
  await assert.rejects(readCsv(bad, { required: ['target'] }), /bad-row\.csv: no column "target"/);
  await assert.rejects(readCsv(bad), /line 2: unexpected character "y" after a closing quote/);
  assert.deepEqual((await readCsv(bad, { limit: 0 })).shape, [0, 2]);
  await assert.rejects(readCsv(bad, { limit: -1 }), /limit must be a non-negative integer, got -1/);
});

test('readCsv: characters cut by the 1 MB reads come out whole; a sequence cut by the end of the file is refused', async () => {
  // Rows of 2-, 3- and 4-byte characters over 3 MB: the reads' ends fall inside some of them.
  const text = 'id,text,n\n' + Array.from({ length: 120_000 }, (_, i) => `${i},"🔥€é ${i}\n""x""",${i % 3}`).join('\n');
  const f = csv('multibyte.csv', text);
  assert.ok(Buffer.byteLength(text) > 3 * 2 ** 20);
  const df = await readCsv(f);
  const whole = parseCsv(text).slice(1);
  assert.deepEqual(df.shape, [120_000, 3]);
  assert.deepEqual(
    df.column('text').values,
    whole.map((r) => r.fields[1]),
  );
  const cut = path.join(dir, 'cut.csv');
  writeFileSync(cut, Buffer.concat([Buffer.from('a,b\n1,', 'utf8'), Buffer.from('🔥', 'utf8').subarray(0, 2)]));
  await assert.rejects(readCsv(cut), /cut\.csv: line 2: byte 0xf0 at offset 6 is not UTF-8/);
});

test('readLabelled: columns checked in the header, only the first rows read', async () => {
  const f = bigCsv('labelled.csv', 5_000, '5001,fire,here,"broken"x,1');
  const d = await readLabelled(f, { text: 'text', label: 'target', id: 'id' }, undefined, 10);
  assert.equal(d.texts.length, 10);
  assert.deepEqual(d.labels.slice(0, 3), [1, 0, 1]);
  assert.deepEqual(d.ids.slice(0, 2), ['1', '2']);
  await assert.rejects(
    readLabelled(f, { text: 'text', label: 'label', pair: 'ctx' }),
    /labelled\.csv: no column "label", "ctx"; available columns: id, keyword, location, text, target/,
  );
  await assert.rejects(readLabelled(f, { text: 'text', label: 'target' }), /line 5002: unexpected character "x"/);
});

test('readCsv: bytes that are not UTF-8 are refused with their line and offset, also past the first MB', async () => {
  const head =
    'id,text\n' + Array.from({ length: 40_000 }, (_, i) => `${i},caf\u00e9 number ${i} in the list`).join('\n');
  const bytes = Buffer.concat([Buffer.from(head + '\n40000,caf', 'utf8'), Buffer.from([0xe9]), Buffer.from('\n')]);
  assert.ok(bytes.length > 1 << 20);
  const f = path.join(dir, 'latin1.csv');
  writeFileSync(f, bytes);
  await assert.rejects(
    readCsv(f),
    new RegExp(`latin1\\.csv: line 40002: byte 0xe9 at offset ${bytes.length - 2} is not UTF-8.*iconv`),
  );
  assert.equal((await readCsv(f, { limit: 5 })).shape[0], 5, 'the bad byte past the limit is never read');
});

test('labelledFromFrame: numeric and string labels, sorted names, ids, pairs', () => {
  const df = new Frame({ id: [7, 8, 9], text: ['x', 'y', 'z'], ctx: ['p', 'q', 'r'], target: [1, 0, 1] });
  const d = labelledFromFrame(df, { text: 'text', label: 'target', id: 'id', pair: 'ctx' }, 'mem.csv');
  assert.deepEqual(d, {
    texts: ['x', 'y', 'z'],
    pairs: ['p', 'q', 'r'],
    labels: [1, 0, 1],
    labelNames: ['0', '1'],
    ids: ['7', '8', '9'],
  });
  const s = new Frame({ text: ['a', 'b', 'c', 'd'], label: ['pos', 'neg', 'neutral', 'neg'] });
  const ds = labelledFromFrame(s, { text: 'text', label: 'label' }, 'mem.csv');
  assert.deepEqual(ds.labelNames, ['neg', 'neutral', 'pos']);
  assert.deepEqual(ds.labels, [2, 0, 1, 0]);
  assert.deepEqual(ds.ids, ['0', '1', '2', '3']);
  assert.equal(ds.pairs, undefined);
  assert.deepEqual(sortLabelNames(['10', '2', '1']), ['1', '2', '10']);
});

test('labelledFromFrame: given labelNames map by name or by integer id', () => {
  const df = new Frame({ text: ['a', 'b', 'c'], target: [1, 0, 1] });
  const d = labelledFromFrame(df, { text: 'text', label: 'target' }, 'f.csv', ['not disaster', 'disaster']);
  assert.deepEqual(d.labels, [1, 0, 1]);
  assert.deepEqual(d.labelNames, ['not disaster', 'disaster']);
  const byName = new Frame({ text: ['a', 'b'], target: ['disaster', 'disaster'] });
  assert.deepEqual(
    labelledFromFrame(byName, { text: 'text', label: 'target' }, 'f.csv', ['not disaster', 'disaster']).labels,
    [1, 1],
  );
  assert.throws(
    () =>
      labelledFromFrame(new Frame({ text: ['a'], target: [5] }), { text: 'text', label: 'target' }, 'f.csv', [
        'a',
        'b',
      ]),
    /f\.csv: label "5" in column "target" at data row 1 \(1-based, header excluded\) is not one of the classes: a, b/,
  );
});

test('labelledFromFrame: clear errors', () => {
  const df = new Frame({ id: [1, 2, 3], text: ['a', 'b', 'c'], target: ['1', '', '0'] });
  assert.throws(
    () => labelledFromFrame(df, { text: 'tweet', label: 'target' }, 'f.csv'),
    /f\.csv: no column "tweet"; available columns: id, text, target/,
  );
  assert.throws(
    () => labelledFromFrame(df, { text: 'text', label: 'target', id: 'id' }, 'f.csv'),
    /f\.csv: blank label in column "target" at data row 2 \(1-based, header excluded; id 2\)/,
  );
  const one = new Frame({ text: ['a', 'b'], target: [1, 1] });
  assert.throws(() => labelledFromFrame(one, { text: 'text', label: 'target' }, 'f.csv'), /single class \("1"\)/);
});

test('unlabelledFromFrame', () => {
  const df = new Frame({ id: [3, 4], text: ['a', ''] });
  assert.deepEqual(unlabelledFromFrame(df, { text: 'text', id: 'id' }, 'f.csv'), { texts: ['a', ''], ids: ['3', '4'] });
  assert.throws(() => unlabelledFromFrame(df, { text: 'body' }, 'f.csv'), /no column "body"/);
});

test('splitIndices: sklearn sizes, disjoint, reproducible', () => {
  const s = splitIndices(7613, 0.2, 42);
  assert.equal(s.train.length, 6090);
  assert.equal(s.val.length, 1523);
  assert.deepEqual(
    [...s.train, ...s.val].sort((a, b) => a - b),
    Array.from({ length: 7613 }, (_, i) => i),
  );
  assert.deepEqual(splitIndices(7613, 0.2, 42), s);
  assert.notDeepEqual(splitIndices(7613, 0.2, 43).val, s.val);
  assert.equal(splitIndices(10, 0.3, 0).val.length, 3);
  assert.throws(() => splitIndices(10, 1, 0), /between 0 and 1/);
  assert.throws(() => splitIndices(1, 0.5, 0), /at least 2 rows/);
});

test('batches: sequential, per-epoch shuffles, partial last batch', () => {
  assert.deepEqual(batches(5, 2, { shuffle: false }), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(batches(3, 10, { shuffle: false }), [[0, 1, 2]]);
  assert.deepEqual(batches(0, 4, { shuffle: false }), []);
  const e0 = batches(100, 32, { shuffle: true, seed: 1, epoch: 0 });
  const e1 = batches(100, 32, { shuffle: true, seed: 1, epoch: 1 });
  assert.deepEqual(
    e0.map((b) => b.length),
    [32, 32, 32, 4],
  );
  assert.deepEqual(
    e0.flat().sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.notDeepEqual(e0, e1);
  assert.deepEqual(batches(100, 32, { shuffle: true, seed: 1, epoch: 1 }), e1);
  assert.throws(() => batches(10, 0, { shuffle: false }), /batchSize must be a positive integer/);
});

test('random: seeded, uniform-looking, Box–Muller normal', () => {
  const a = rng(7);
  const b = rng(7);
  const xs = Array.from({ length: 10000 }, () => a());
  assert.deepEqual(
    Array.from({ length: 10000 }, () => b()),
    xs,
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  const input = [1, 2, 3, 4, 5];
  const sh = shuffle(input, rng(1));
  assert.deepEqual(input, [1, 2, 3, 4, 5]);
  assert.deepEqual([...sh].sort(), input);
  assert.notEqual(mixSeed(1, 0), mixSeed(0, 1));
  assert.throws(() => rng(NaN), /not a finite number/);
});

test('disaster tweets: 7,613 training rows (3,271 positive), 3,263 test rows', needsShared, async () => {
  const trainFile = shared('data/disaster-tweets/train.csv');
  const train = labelledFromFrame(await readCsv(trainFile), { text: 'text', label: 'target', id: 'id' }, trainFile);
  assert.equal(train.texts.length, 7613);
  assert.equal(train.labels.filter((y) => y === 1).length, 3271);
  assert.deepEqual(train.labelNames, ['0', '1']);
  assert.equal(train.ids[0], '1');
  assert.ok(
    train.texts.some((t) => t.includes('\n')),
    'line breaks inside quoted tweets survive',
  );
  const testFile = shared('data/disaster-tweets/test.csv');
  const te = unlabelledFromFrame(await readCsv(testFile), { text: 'text', id: 'id' }, testFile);
  assert.equal(te.texts.length, 3263);
  assert.equal(te.texts[0], 'Just happened a terrible car crash');
});

test('unpaddedLength and batchWidth: a batch is as wide as its longest row under padding longest', () => {
  assert.equal(unpaddedLength([1, 1, 1, 0, 0]), 3);
  assert.equal(unpaddedLength([1, 1, 1, 1]), 4);
  assert.equal(unpaddedLength([0, 0]), 0);
  const masks = [
    [1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 0, 0],
    [1, 1, 1, 0, 0, 0],
  ];
  assert.equal(batchWidth(masks, [0, 2], 'longest'), 3);
  assert.equal(batchWidth(masks, [0, 1, 2], 'longest'), 4);
  assert.equal(batchWidth(masks, [0], 'max_length'), 6);
  assert.equal(batchWidth([[0, 0, 0]], [0], 'longest'), 1, 'an all-padding row still keeps one column');
  assert.throws(() => batchWidth(masks, [], 'longest'), /empty batch/);
});

// Lengths with a long tail, like texts: most short, a few long.
const tailLengths = (n: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(250 * r() ** 6));
};
const paddedCells = (bs: number[][], lengths: number[]) =>
  bs.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i]!)), 0);

test('groupedBatches: mega-batches of 50 batches sorted longest first, batches shuffled, every example once', () => {
  const lengths = tailLengths(3333, 5);
  const order = shuffle(
    lengths.map((_, i) => i),
    rng(1),
  );
  const a = groupedBatches(order, (i) => lengths[i]!, 16, rng(2));
  assert.deepEqual(
    a.flat().sort((x, y) => x - y),
    lengths.map((_, i) => i),
    'a permutation',
  );
  assert.equal(a.filter((b) => b.length !== 16).length, 1, 'one partial batch (3333 = 208 x 16 + 5)');
  for (const b of a)
    for (let k = 1; k < b.length; k++)
      assert.ok(lengths[b[k - 1]!]! >= lengths[b[k]!]!, 'each batch sorted longest first');
  // Each batch comes from one mega-batch of 800 consecutive positions of the shuffled order.
  const pos = new Map(order.map((x, k) => [x, Math.floor(k / 800)]));
  for (const b of a) assert.equal(new Set(b.map((i) => pos.get(i))).size, 1);
  assert.deepEqual(
    groupedBatches(order, (i) => lengths[i]!, 16, rng(2)),
    a,
    'same seed, same batches',
  );
  assert.notDeepEqual(
    groupedBatches(order, (i) => lengths[i]!, 16, rng(3)).map((b) => b[0]),
    a.map((b) => b[0]),
    'another seed, another batch order',
  );
  assert.deepEqual(
    groupByLength(order, (i) => lengths[i]!, 16, rng(2)),
    a.flat(),
  );
  // The batches are not in length order (the waves HF's shuffle avoids).
  const widths = a.map((b) => lengths[b[0]!]!);
  assert.notDeepEqual(
    widths,
    [...widths].sort((x, y) => y - x),
  );
});

test('batches with lengths: grouped, seeded per epoch, and far less padding than random batches', () => {
  const lengths = tailLengths(2000, 9);
  const plain = batches(2000, 32, { shuffle: true, seed: 42, epoch: 1 });
  const grouped = batches(2000, 32, { shuffle: true, seed: 42, epoch: 1, lengths });
  assert.deepEqual(
    grouped.flat().sort((x, y) => x - y),
    plain.flat().sort((x, y) => x - y),
  );
  assert.deepEqual(batches(2000, 32, { shuffle: true, seed: 42, epoch: 1, lengths }), grouped, 'a rerun repeats');
  assert.notDeepEqual(
    batches(2000, 32, { shuffle: true, seed: 42, epoch: 2, lengths }),
    grouped,
    'another epoch differs',
  );
  const real = lengths.reduce((a, b) => a + b, 0);
  const fixed = 2000 * Math.max(...lengths);
  // Random batches each hold a long row now and then; grouped ones pad little.
  assert.ok(
    paddedCells(grouped, lengths) < 1.2 * real,
    `grouped: ${paddedCells(grouped, lengths)} cells for ${real} tokens`,
  );
  assert.ok(paddedCells(plain, lengths) > 2 * paddedCells(grouped, lengths));
  assert.ok(fixed > 3 * paddedCells(grouped, lengths));
  assert.throws(() => batches(3, 2, { shuffle: true, lengths: [1, 2] }), /3 rows but 2 lengths/);
});

test('lengthSortedBatches: longest first, ties in input order, every position once', () => {
  assert.deepEqual(lengthSortedBatches([3, 9, 3, 5, 9], 2), [[1, 4], [3, 0], [2]]);
  assert.deepEqual(lengthSortedBatches([], 4), []);
  assert.throws(() => lengthSortedBatches([1], 0), /positive integer/);
});

test('issue 25 case 2: encoding that cannot fit the heap stops at once, naming the file and the --limit that fits', () => {
  // Measured on the lab's tweets at width 45: 1,908 bytes a row at the peak of encoding.
  const est = encodingBytes(114_195, 45) / 114_195;
  assert.ok(est > 1908 && est < 1908 * 1.3, `estimate ${est.toFixed(0)} bytes a row vs 1,908 measured`);
  assert.doesNotThrow(() => checkEncodingFits(7613, 45, 'train.csv'));
  assert.throws(
    () => checkEncodingFits(1_000_000, 45, 'big.csv', 2 ** 30),
    (e: Error) => {
      const m =
        /^big\.csv: encoding 1,000,000 rows of 45 tokens needs about (\d+\.\d) GB, more than the 1\.0 GB left in this process's heap: pass --limit (\d+) \(about what fits\), or give Node more \(NODE_OPTIONS=--max-old-space-size=\d+\)$/.exec(
          e.message,
        );
      assert.ok(m, e.message);
      // The suggested limit fits.
      assert.ok(encodingBytes(Number(m[2]), 45) <= 2 ** 30);
      return true;
    },
  );
});
