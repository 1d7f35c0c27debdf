// Reading labelled text data (CSV -> danfojs DataFrame -> plain arrays), the train/validation split
// and batch order. danfojs' own readCSV is the browser build under Node (it tries XMLHttpRequest on a
// path), so CSV parsing is done here and the DataFrame is built from the parsed rows.
import * as dfd from 'danfojs';
import type { DataFrame } from 'danfojs';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { mixSeed, rng, shuffle } from '../nn/random.js';

export type { DataFrame };

/** One parsed CSV record with the 1-based line its first field starts on. */
export interface CsvRecord { fields: string[]; line: number }

/**
 * RFC 4180 parser: quoted fields, "" escapes, CR/LF/CRLF line ends, line breaks inside quotes.
 * Blank lines are skipped (as pandas does). A quote inside an unquoted field is kept literally.
 */
export function parseCsv(text: string, file = 'CSV'): CsvRecord[] {
  const records: CsvRecord[] = [];
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let fieldStarted = false; // distinguishes an empty line from a record of one empty field
  const endRecord = (): void => {
    if (fieldStarted || fields.length > 0) {
      fields.push(field);
      records.push({ fields, line: recordLine });
    }
    fields = [];
    field = '';
    fieldStarted = false;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"' && field === '') {
      // A quote opens a quoted field only at the very start of a field.
      const startLine = line;
      fieldStarted = true;
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`${file}: line ${startLine}: quoted field is never closed`);
        const d = s[i]!;
        if (d === '"') {
          if (s[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        if (d === '\n' || (d === '\r' && s[i + 1] !== '\n')) line++;
        field += d;
        i++;
      }
      // After the closing quote only a delimiter or a line end may follow.
      const n = s[i];
      if (n !== undefined && n !== ',' && n !== '\n' && n !== '\r') {
        throw new Error(`${file}: line ${line}: unexpected character ${JSON.stringify(n)} after a closing quote`);
      }
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      fieldStarted = true;
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && s[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += c;
    fieldStarted = true;
    i++;
  }
  endRecord();
  return records;
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;

/** Offset of the first byte that does not continue a valid UTF-8 sequence, -1 when there is none. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k]! & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** The bytes as UTF-8 text; other encodings are refused with the line and byte, not replaced by U+FFFD silently. */
function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < Math.max(at, 0); i++) if (bytes[i] === 0x0a) line++;
    const where = at >= 0 ? `line ${line}: byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at offset ${at}` : 'a byte sequence';
    throw new Error(`${file}: ${where} is not UTF-8 (the file is in another encoding, e.g. Windows-1252 or Latin-1): save it as UTF-8, e.g. iconv -f WINDOWS-1252 -t UTF-8 ${path.basename(file)} > utf8.csv`);
  }
}

/**
 * Reads a CSV file into a danfojs DataFrame. Column types: a column whose cells are all int32
 * integers is 'int32'; all numbers (or integers with blanks, which become NaN) -> 'float32';
 * anything else, and integers too large for a double, -> 'string' with blank cells kept as ''.
 * Errors name the file and line.
 */
export async function readCsv(file: string): Promise<DataFrame> {
  if (!existsSync(file)) throw new Error(`${file}: file not found`);
  if (!statSync(file).isFile()) throw new Error(`${file}: not a file`);
  const text = decodeUtf8(await readFile(file), file);
  if (text.replace(/^\uFEFF/, '').trim() === '') throw new Error(`${file}: file is empty`);
  const records = parseCsv(text, file);
  const header = records[0];
  if (!header) throw new Error(`${file}: no header row`);
  const columns = header.fields.map((h) => h.trim());
  if (columns.every((c) => c === '')) throw new Error(`${file}: line ${header.line}: header row has no column names`);
  const seen = new Map<string, number>();
  columns.forEach((c, j) => {
    if (c === '') throw new Error(`${file}: line ${header.line}: column ${j + 1} of the header has no name`);
    if (seen.has(c)) throw new Error(`${file}: line ${header.line}: column name "${c}" appears twice (columns ${seen.get(c)! + 1} and ${j + 1})`);
    seen.set(c, j);
  });
  const rows = records.slice(1);
  rows.forEach((r, k) => {
    if (r.fields.length !== columns.length) {
      throw new Error(`${file}: line ${r.line} (data row ${k + 1}): expected ${columns.length} fields (${columns.join(',')}), found ${r.fields.length}`);
    }
  });

  const dtypes: string[] = [];
  const cols: (string | number)[][] = columns.map((_, j) => {
    const raw = rows.map((r) => r.fields[j]!);
    const filled = raw.filter((v) => v.trim() !== '');
    const numeric = filled.length > 0 && filled.every((v) => NUMBER_RE.test(v.trim()));
    // Integers past 2^53 (e.g. tweet ids) would lose digits as numbers, so they stay strings.
    const unsafe = numeric && filled.some((v) => INT_RE.test(v.trim()) && !Number.isSafeInteger(Number(v)));
    if (!numeric || unsafe) {
      dtypes.push('string');
      return raw;
    }
    const ints = filled.length === raw.length && filled.every((v) => INT_RE.test(v.trim()) && Math.abs(Number(v)) < 2 ** 31);
    dtypes.push(ints ? 'int32' : 'float32');
    return raw.map((v) => (v.trim() === '' ? NaN : Number(v)));
  });
  const data = rows.map((_, k) => cols.map((c) => c[k]!));
  // Built with explicit dtypes: danfojs' own inference looks at few values and mislabels columns.
  return new dfd.DataFrame(data, { columns, dtypes });
}

export interface LabelledData { texts: string[]; pairs?: string[]; labels: number[]; labelNames: string[]; ids: string[] }

type Cell = string | number | boolean | null | undefined;

function columnValues(df: DataFrame, name: string, file: string): Cell[] {
  if (!df.columns.includes(name)) {
    throw new Error(`${file}: no column "${name}"; available columns: ${df.columns.join(', ')}`);
  }
  return df.column(name).values as Cell[];
}

const isBlank = (v: Cell): boolean =>
  v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)) || (typeof v === 'string' && v.trim() === '');

/** Text cells: blanks become '' (an empty text is valid input), numbers their decimal string. */
function textValues(df: DataFrame, name: string, file: string): string[] {
  return columnValues(df, name, file).map((v) => (isBlank(v) ? '' : String(v)));
}

function idValues(df: DataFrame, name: string | undefined, file: string): string[] {
  if (name === undefined) return Array.from({ length: df.shape[0] }, (_, i) => String(i));
  return columnValues(df, name, file).map((v) => (isBlank(v) ? '' : String(v)));
}

/** Sorts label names numerically when all are numbers ('2' < '10'), else by code point. */
export function sortLabelNames(names: Iterable<string>): string[] {
  const uniq = [...new Set(names)];
  if (uniq.every((n) => NUMBER_RE.test(n))) return uniq.sort((a, b) => Number(a) - Number(b));
  return uniq.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Texts, labels and ids from a frame. Labels may be integers or strings. `labelNames` (e.g. a
 * model's id2label in id order) fixes the classes: a cell matching a name maps to its index,
 * otherwise an integer cell is taken as the class id. Without it, the classes are the sorted
 * distinct values and at least two are required. Rows are reported as "data row N" (1-based,
 * header excluded), with the id when the frame has the `id` column (ids are row numbers otherwise).
 */
export function labelledFromFrame(df: DataFrame, cols: { text: string; label: string; pair?: string; id?: string }, file: string, labelNames?: string[]): LabelledData {
  const n = df.shape[0];
  if (n === 0) throw new Error(`${file}: no data rows`);
  const texts = textValues(df, cols.text, file);
  const pairs = cols.pair !== undefined ? textValues(df, cols.pair, file) : undefined;
  // Training needs no ids (they only name rows in messages): a missing id column falls back to row numbers.
  const idCol = cols.id !== undefined && df.columns.includes(cols.id) ? cols.id : undefined;
  const ids = idValues(df, idCol, file);
  const rowName = (i: number): string => `data row ${i + 1} (1-based, header excluded${idCol !== undefined ? `; ${idCol} ${ids[i]}` : ''})`;
  const raw = columnValues(df, cols.label, file).map((v, i) => {
    if (isBlank(v)) throw new Error(`${file}: blank label in column "${cols.label}" at ${rowName(i)}`);
    return String(v).trim();
  });

  let names: string[];
  let labels: number[];
  if (labelNames !== undefined) {
    if (labelNames.length < 2) throw new Error(`labelNames must list at least 2 classes, got ${labelNames.length}`);
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`labelNames has duplicates: ${labelNames.join(', ')}`);
    names = [...labelNames];
    const index = new Map(names.map((nm, k) => [nm, k]));
    labels = raw.map((v, i) => {
      const k = index.get(v);
      if (k !== undefined) return k;
      if (/^\d+$/.test(v) && Number(v) < names.length) return Number(v);
      throw new Error(`${file}: label "${v}" in column "${cols.label}" at ${rowName(i)} is not one of the classes: ${names.join(', ')}`);
    });
  } else {
    names = sortLabelNames(raw);
    if (names.length < 2) {
      throw new Error(`${file}: column "${cols.label}" has a single class ("${names[0]}"); classification needs at least 2`);
    }
    // 0/1 beside yes/no is two spellings of the classes, not four classes: said rather than guessed.
    const numeric = names.filter((nm) => NUMBER_RE.test(nm));
    if (numeric.length > 0 && numeric.length < names.length) {
      const words = names.filter((nm) => !NUMBER_RE.test(nm));
      const first = raw.findIndex((v) => v === words[0]);
      throw new Error(`${file}: column "${cols.label}" mixes numbers (${numeric.slice(0, 4).join(', ')}) and words (${words.slice(0, 4).join(', ')}), e.g. "${words[0]}" at ${rowName(first)}: write every label the same way (e.g. 0/1 everywhere)`);
    }
    const index = new Map(names.map((nm, k) => [nm, k]));
    labels = raw.map((v) => index.get(v)!);
  }
  const out: LabelledData = { texts, labels, labelNames: names, ids };
  if (pairs) out.pairs = pairs;
  return out;
}

/** Texts (and pairs, ids) of a frame without labels, e.g. Kaggle's test.csv. */
export function unlabelledFromFrame(df: DataFrame, cols: { text: string; pair?: string; id?: string }, file: string): { texts: string[]; pairs?: string[]; ids: string[] } {
  if (df.shape[0] === 0) throw new Error(`${file}: no data rows`);
  const texts = textValues(df, cols.text, file);
  const ids = idValues(df, cols.id, file);
  if (cols.pair === undefined) return { texts, ids };
  return { texts, pairs: textValues(df, cols.pair, file), ids };
}

/**
 * Random train/validation split like scikit-learn's train_test_split(test_size=valFraction):
 * val gets ceil(n * valFraction) rows (7,613 * 0.2 -> 1,523), train the rest. Indices come in
 * shuffled order; the same seed gives the same split.
 */
export function splitIndices(n: number, valFraction: number, seed: number): { train: number[]; val: number[] } {
  if (!Number.isInteger(n) || n < 2) throw new Error(`splitIndices: need at least 2 rows, got ${n}`);
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`splitIndices: valFraction must be between 0 and 1 (exclusive), got ${valFraction}`);
  // The epsilon keeps 10 * 0.3 = 3.0000000000000004 from rounding up to 4.
  const nVal = Math.ceil(n * valFraction - 1e-9);
  if (nVal < 1 || nVal >= n) throw new Error(`splitIndices: valFraction ${valFraction} of ${n} rows leaves an empty split`);
  const perm = shuffle(Array.from({ length: n }, (_, i) => i), rng(seed));
  return { val: perm.slice(0, nVal), train: perm.slice(nVal) };
}

/**
 * How a batch of encoded rows becomes a rectangle. 'max_length': every batch keeps the width the
 * rows were encoded to (the lab's recipe); 'longest': each batch is cut to its own longest row, as
 * Hugging Face's DataCollatorWithPadding pads per batch. Rows are right-padded and the attention
 * mask hides the padding, so the outputs are the same and only the cost differs.
 */
export type Padding = 'max_length' | 'longest';

export const PADDINGS: readonly Padding[] = ['max_length', 'longest'];

/** Length of a right-padded row without its padding: one past its last attended position. */
export function unpaddedLength(attentionMask: readonly number[]): number {
  for (let i = attentionMask.length - 1; i >= 0; i--) if (attentionMask[i] !== 0) return i + 1;
  return 0;
}

/**
 * The width of the batch `idx` under `padding`: the encoded width, or the longest row's unpadded
 * length (at least 1, so that a batch of empty rows still has a [CLS] position).
 */
export function batchWidth(attentionMask: readonly (readonly number[])[], idx: readonly number[], padding: Padding): number {
  if (idx.length === 0) throw new Error('batchWidth: empty batch');
  if (padding === 'max_length') return attentionMask[idx[0]!]!.length;
  let w = 1;
  for (const i of idx) w = Math.max(w, unpaddedLength(attentionMask[i]!));
  return w;
}

/**
 * Length-grouped batches (as Hugging Face's group_by_length): the examples, already shuffled, are
 * cut into mega-batches of 50 batches, each sorted longest first and cut into batches, so that a
 * batch holds rows of similar length and pads little; the batches are then shuffled so that
 * lengths do not come in waves. Only the last mega-batch can leave a partial batch.
 *
 * Example: groupedBatches(shuffled, (i) => lengths[i], 32, rng(seed))
 */
export function groupedBatches<T>(examples: T[], length: (e: T) => number, batchSize: number, rand: () => number): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`groupedBatches: batchSize must be a positive integer, got ${batchSize}`);
  const mega = batchSize * 50;
  const out: T[][] = [];
  for (let i = 0; i < examples.length; i += mega) {
    // Array.prototype.sort is stable, so equal lengths keep their shuffled order.
    const sorted = examples.slice(i, i + mega).sort((x, y) => length(y) - length(x));
    for (let j = 0; j < sorted.length; j += batchSize) out.push(sorted.slice(j, j + batchSize));
  }
  return shuffle(out, rand);
}

/** groupedBatches as one flat order, for loops that cut their own batches. */
export function groupByLength<T>(examples: T[], length: (e: T) => number, batchSize: number, rand: () => number): T[] {
  return groupedBatches(examples, length, batchSize, rand).flat();
}

export interface BatchOptions {
  shuffle: boolean;
  seed?: number;
  epoch?: number;
  /**
   * With shuffle: each row's length; batches are then grouped by length (groupedBatches) from the
   * same seeded order, so a rerun repeats them.
   */
  lengths?: readonly number[];
}

/**
 * Positions 0..n-1 in batches. With shuffle, the order is a permutation drawn from (seed, epoch),
 * so every epoch differs but a rerun repeats; without it, batches are sequential (validation).
 * The last partial batch is kept; a batchSize of n or more gives one batch of everything.
 */
export function batches(n: number, batchSize: number, opts: BatchOptions): number[][] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`batches: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be a positive integer, got ${batchSize}`);
  if (opts.lengths !== undefined && opts.lengths.length !== n) throw new Error(`batches: ${n} rows but ${opts.lengths.length} lengths`);
  let order = Array.from({ length: n }, (_, i) => i);
  const rand = rng(mixSeed(opts.seed ?? 0, opts.epoch ?? 0));
  if (opts.shuffle) order = shuffle(order, rand);
  if (opts.shuffle && opts.lengths) {
    const lengths = opts.lengths;
    return groupedBatches(order, (i) => lengths[i]!, batchSize, rand);
  }
  const out: number[][] = [];
  for (let s = 0; s < n; s += batchSize) out.push(order.slice(s, s + batchSize));
  return out;
}

/**
 * Batches for inference with per-batch padding: positions sorted longest first (stable, so ties
 * keep input order), cut into batches, so that each batch pads to little. Callers put results
 * back at the positions the batch lists, which restores the input order.
 */
export function lengthSortedBatches(lengths: readonly number[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`lengthSortedBatches: batchSize must be a positive integer, got ${batchSize}`);
  const order = Array.from({ length: lengths.length }, (_, i) => i).sort((a, b) => lengths[b]! - lengths[a]!);
  const out: number[][] = [];
  for (let s = 0; s < order.length; s += batchSize) out.push(order.slice(s, s + batchSize));
  return out;
}
