// Reading labelled text data (CSV -> Frame -> plain arrays), the train/validation split and batch
// order. The CSV is streamed: the header is checked before any data row is read, a row limit stops
// the read, and memory follows the rows kept, not the file's size. Frame is the small column table
// the notebooks and showTable use (shape, columns, column(name).values, index, values).
import { isUtf8 } from 'node:buffer';
import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { mixSeed, rng, shuffle } from '../nn/random.js';

/** One parsed CSV record with the 1-based line its first field starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

type ParserMode = 'fieldStart' | 'unquoted' | 'quoted' | 'quote' | 'afterQuote' | 'cr';

const DELIMITER_RE = /[,\r\n]/g;

/**
 * RFC 4180 parser fed in pieces: quoted fields, "" escapes, CR/LF/CRLF line ends, line breaks
 * inside quotes, any of them split across two pieces. Blank lines are skipped (as pandas does). A
 * quote inside an unquoted field is kept literally. `push` returns the records completed so far.
 */
export class CsvParser {
  private mode: ParserMode = 'fieldStart';
  private fields: string[] = [];
  private field = '';
  private fieldStarted = false; // distinguishes an empty line from a record of one empty field
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  private quotedCr = false; // a CR inside quotes ended the last piece: a LF next is the same line end
  private first = true;
  // Given to push/end: each record as it completes, before the next one is parsed (true stops).
  private onRecord: ((r: CsvRecord) => boolean | void) | undefined;
  private stopped = false;

  constructor(private readonly file = 'CSV') {}

  push(piece: string, onRecord?: (r: CsvRecord) => boolean | void): CsvRecord[] {
    const out: CsvRecord[] = [];
    this.onRecord = onRecord;
    let s = piece;
    if (this.first && s.length > 0) {
      this.first = false;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    let i = 0;
    const n = s.length;
    while (i < n) {
      switch (this.mode) {
        case 'cr':
          // A CR ended the last record; a LF right after it belongs to the same line end.
          if (s.charCodeAt(i) === 10) i++;
          this.mode = 'fieldStart';
          break;
        case 'fieldStart':
          if (s.charCodeAt(i) === 34) {
            this.mode = 'quoted';
            this.fieldStarted = true;
            this.quoteLine = this.line;
            i++;
            break;
          }
          this.mode = 'unquoted';
        // falls through
        case 'unquoted': {
          DELIMITER_RE.lastIndex = i;
          const m = DELIMITER_RE.exec(s);
          const j = m ? m.index : n;
          if (j > i) {
            this.field += s.slice(i, j);
            this.fieldStarted = true;
          }
          if (!m) return out;
          i = this.delimiter(s, j, out);
          if (this.stopped) return out;
          break;
        }
        case 'quoted': {
          const j = s.indexOf('"', i);
          const end = j < 0 ? n : j;
          this.countLines(s, i, end);
          this.field += s.slice(i, end);
          if (j < 0) return out;
          i = j + 1;
          this.mode = 'quote';
          break;
        }
        case 'quote':
          // A quote inside a quoted field: doubled ("") it is a literal quote, else it closes the field.
          if (s.charCodeAt(i) === 34) {
            this.field += '"';
            this.mode = 'quoted';
            i++;
          } else this.mode = 'afterQuote';
          break;
        case 'afterQuote': {
          const c = s[i];
          if (c !== ',' && c !== '\n' && c !== '\r')
            throw new Error(
              `${this.file}: line ${this.line}: unexpected character ${JSON.stringify(c)} after a closing quote`,
            );
          i = this.delimiter(s, i, out);
          if (this.stopped) return out;
          break;
        }
      }
    }
    return out;
  }

  /** The last record, once the input is over. */
  end(onRecord?: (r: CsvRecord) => boolean | void): CsvRecord[] {
    this.onRecord = onRecord;
    if (this.mode === 'quoted') throw new Error(`${this.file}: line ${this.quoteLine}: quoted field is never closed`);
    const out: CsvRecord[] = [];
    this.endRecord(out);
    this.mode = 'fieldStart';
    return out;
  }

  /** Handles the delimiter or line end at s[j]; returns the position after it. */
  private delimiter(s: string, j: number, out: CsvRecord[]): number {
    const c = s.charCodeAt(j);
    if (c === 44) {
      this.fields.push(this.field);
      this.field = '';
      this.fieldStarted = true;
      this.mode = 'fieldStart';
      return j + 1;
    }
    this.endRecord(out);
    this.line++;
    this.recordLine = this.line;
    this.mode = c === 13 ? 'cr' : 'fieldStart';
    return j + 1;
  }

  private endRecord(out: CsvRecord[]): void {
    if (this.fieldStarted || this.fields.length > 0) {
      this.fields.push(this.field);
      const r = { fields: this.fields, line: this.recordLine };
      if (!this.onRecord) out.push(r);
      else if (this.onRecord(r) === true) this.stopped = true;
    }
    this.fields = [];
    this.field = '';
    this.fieldStarted = false;
  }

  /** Line breaks inside a quoted field (CRLF, LF or a lone CR each count once), for later line numbers. */
  private countLines(s: string, from: number, to: number): void {
    for (let k = from; k < to; k++) {
      const c = s.charCodeAt(k);
      if (c === 10) {
        if (!this.quotedCr) this.line++;
        this.quotedCr = false;
      } else if (c === 13) {
        this.line++;
        this.quotedCr = true;
      } else this.quotedCr = false;
    }
  }
}

/** Parses a whole CSV text (see CsvParser). */
export function parseCsv(text: string, file = 'CSV'): CsvRecord[] {
  const p = new CsvParser(file);
  return p.push(text).concat(p.end());
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;

/** A cell of a Frame: numbers for numeric columns (NaN where blank), strings otherwise. */
export type Cell = string | number;
export type Dtype = 'int32' | 'float32' | 'string';

/** One column of a Frame. */
export interface Column {
  readonly name: string;
  readonly dtype: Dtype;
  readonly values: Cell[];
}

/**
 * A small column table: what readCsv returns and showTable draws.
 *
 *   df.shape             [rows, columns]
 *   df.columns           the column names, in file order
 *   df.dtypes            'int32' | 'float32' | 'string' per column
 *   df.column(name)      { name, dtype, values } (an unknown name throws, listing the columns)
 *   df.index, df.values  row numbers and rows (row-major), as showTable reads a frame
 *   df.head(n)           the first n rows as a Frame
 *   df.toRecords()       rows as objects keyed by column name
 *
 * Example: `const df = await readCsv('data/train.csv'); df.column('target').values.map(Number)`
 */
export class Frame {
  readonly columns: string[];
  readonly dtypes: Dtype[];
  private readonly data: Cell[][];

  /**
   * From columns of equal length; dtypes are inferred from the values (all integers -> 'int32',
   * all numbers -> 'float32', else 'string') unless given.
   * Example: `new Frame({ text: ['a', 'b'], target: [1, 0] })`
   */
  constructor(columns: Record<string, Cell[]>, dtypes?: Dtype[]) {
    this.columns = Object.keys(columns);
    this.data = this.columns.map((c) => columns[c]);
    const n = this.data[0]?.length ?? 0;
    this.data.forEach((v, j) => {
      if (v.length !== n)
        throw new Error(`Frame: column "${this.columns[j]}" has ${v.length} values, "${this.columns[0]}" has ${n}`);
    });
    if (dtypes && dtypes.length !== this.columns.length)
      throw new Error(`Frame: ${dtypes.length} dtypes for ${this.columns.length} columns`);
    this.dtypes =
      dtypes ??
      this.data.map((v) =>
        v.every((x) => typeof x === 'number')
          ? v.every((x) => Number.isInteger(x))
            ? 'int32'
            : 'float32'
          : 'string',
      );
  }

  get shape(): [number, number] {
    return [this.data[0]?.length ?? 0, this.columns.length];
  }

  column(name: string): Column {
    const j = this.columns.indexOf(name);
    if (j < 0) throw new Error(`no column "${name}"; available columns: ${this.columns.join(', ')}`);
    return { name, dtype: this.dtypes[j], values: this.data[j] };
  }

  get index(): number[] {
    return Array.from({ length: this.shape[0] }, (_, i) => i);
  }

  get values(): Cell[][] {
    return this.index.map((i) => this.data.map((c) => c[i]));
  }

  head(n = 5): Frame {
    return new Frame(Object.fromEntries(this.columns.map((c, j) => [c, this.data[j].slice(0, n)])), this.dtypes);
  }

  toRecords(): Record<string, Cell>[] {
    return this.index.map((i) => Object.fromEntries(this.columns.map((c, j) => [c, this.data[j][i]])));
  }
}

/** Offset of the first byte that does not continue a valid UTF-8 sequence, -1 when there is none. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** Where the last complete UTF-8 sequence of `b` ends: a sequence cut by the end of a read is left for the next. */
function utf8Boundary(b: Uint8Array): number {
  let k = b.length - 1;
  while (k >= 0 && k > b.length - 4 && (b[k] & 0xc0) === 0x80) k--;
  if (k < 0 || b[k] < 0xc0) return b.length;
  const need = b[k] >= 0xf0 ? 4 : b[k] >= 0xe0 ? 3 : 2;
  return b.length - k < need ? k : b.length;
}

/** The message for bytes that are not UTF-8: the line, the byte and its offset in the file. */
async function notUtf8(file: string): Promise<Error> {
  // Only on the error path: the file is scanned again in pieces (a sequence may span two).
  let line = 1;
  let offset = 0;
  let carry = new Uint8Array(0);
  let where = 'a byte sequence';
  const at = (b: Uint8Array, k: number) => `line ${line}: byte 0x${b[k].toString(16).padStart(2, '0')} at offset ${offset + k}`;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = new Uint8Array(carry.length + (chunk as Buffer).length);
    b.set(carry);
    b.set(chunk as Buffer, carry.length);
    const end = utf8Boundary(b);
    const bad = firstInvalidUtf8(b.subarray(0, end));
    for (let i = 0; i < (bad >= 0 ? bad : end); i++) if (b[i] === 0x0a) line++;
    if (bad >= 0) {
      where = at(b, bad);
      carry = new Uint8Array(0);
      break;
    }
    offset += end;
    carry = b.slice(end);
  }
  // A sequence the end of the file cuts short.
  if (carry.length) where = at(carry, 0);
  return new Error(
    `${file}: ${where} is not UTF-8 (the file is in another encoding, e.g. Windows-1252 or Latin-1): save it as UTF-8, e.g. iconv -f WINDOWS-1252 -t UTF-8 ${path.basename(file)} > utf8.csv`,
  );
}

export interface ReadCsvOptions {
  /** Data rows to read at most (the first ones); the rest of the file is not read. 0 reads the header only. */
  limit?: number;
  /** Columns the header must have: a missing one is refused before any data row is read. */
  required?: readonly string[];
}

/** Checks the header's names (present, unique) and the required columns; returns the trimmed names. */
function headerColumns(header: CsvRecord | undefined, file: string, required: readonly string[]): string[] {
  if (!header) throw new Error(`${file}: no header row`);
  const columns = header.fields.map((h) => h.trim());
  if (columns.every((c) => c === '')) throw new Error(`${file}: line ${header.line}: header row has no column names`);
  const seen = new Map<string, number>();
  columns.forEach((c, j) => {
    if (c === '') throw new Error(`${file}: line ${header.line}: column ${j + 1} of the header has no name`);
    if (seen.has(c))
      throw new Error(
        `${file}: line ${header.line}: column name "${c}" appears twice (columns ${seen.get(c)! + 1} and ${j + 1})`,
      );
    seen.set(c, j);
  });
  const missing = required.filter((c) => !seen.has(c));
  if (missing.length)
    throw new Error(
      `${file}: no column ${missing.map((c) => `"${c}"`).join(', ')}; available columns: ${columns.join(', ')}`,
    );
  return columns;
}

/** Types a column of raw cells (see readCsv). */
function typedColumn(raw: string[]): { dtype: Dtype; values: Cell[] } {
  const filled = raw.filter((v) => v.trim() !== '');
  const numeric = filled.length > 0 && filled.every((v) => NUMBER_RE.test(v.trim()));
  // Integers past 2^53 (e.g. tweet ids) would lose digits as numbers, so they stay strings.
  const unsafe = numeric && filled.some((v) => INT_RE.test(v.trim()) && !Number.isSafeInteger(Number(v)));
  if (!numeric || unsafe) return { dtype: 'string', values: raw };
  const ints =
    filled.length === raw.length && filled.every((v) => INT_RE.test(v.trim()) && Math.abs(Number(v)) < 2 ** 31);
  return { dtype: ints ? 'int32' : 'float32', values: raw.map((v) => (v.trim() === '' ? NaN : Number(v))) };
}

/**
 * Reads a CSV file into a Frame, streamed: the header is checked first (names present and unique,
 * `opts.required` columns there), rows are read up to `opts.limit`, and the file is read no
 * further than needed. Column types: a column whose cells are all int32 integers is 'int32'; all
 * numbers (or integers with blanks, which become NaN) -> 'float32'; anything else, and integers
 * too large for a double, -> 'string' with blank cells kept as ''. Errors name the file and line.
 *
 * Example: `const df = await readCsv('data/train.csv', { required: ['text', 'target'], limit: 300 })`
 */
export async function readCsv(file: string, opts: ReadCsvOptions = {}): Promise<Frame> {
  const limit = opts.limit ?? Infinity;
  if (!(limit >= 0) || (limit !== Infinity && !Number.isInteger(limit)))
    throw new Error(`readCsv: limit must be a non-negative integer, got ${opts.limit}`);
  if (!existsSync(file)) throw new Error(`${file}: file not found`);
  if (!statSync(file).isFile()) throw new Error(`${file}: not a file`);
  const parser = new CsvParser(file);
  let carry: Buffer = Buffer.alloc(0); // the start of a UTF-8 sequence the last piece cut
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let columns: string[] | undefined;
  let raw: string[][] = [];
  let rows = 0;
  let blank = true; // only white space so far: an empty file, not a header without names
  // Called for each record as soon as it is complete, so the header is checked before the next line is parsed.
  const take = (r: CsvRecord): boolean => {
    if (!columns) {
      if (blank && r.fields.length === 1 && r.fields[0].trim() === '') return false;
      columns = headerColumns(r, file, opts.required ?? []);
      raw = columns.map(() => []);
      return rows >= limit;
    }
    if (r.fields.length !== columns.length)
      throw new Error(
        `${file}: line ${r.line} (data row ${rows + 1}): expected ${columns.length} fields (${columns.join(',')}), found ${r.fields.length}`,
      );
    for (let j = 0; j < columns.length; j++) raw[j].push(r.fields[j]);
    return ++rows >= limit;
  };
  try {
    let done = false;
    for await (const chunk of stream) {
      const bytes = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      const end = utf8Boundary(bytes);
      carry = Buffer.from(bytes.subarray(end));
      const piece = bytes.subarray(0, end);
      if (!isUtf8(piece)) throw await notUtf8(file);
      const text = piece.toString('utf8');
      if (blank && text.trim() !== '') blank = false; // trim() drops a BOM too
      parser.push(text, take);
      if (columns && rows >= limit) {
        done = true;
        break;
      }
    }
    if (!done) {
      if (carry.length) throw await notUtf8(file);
      parser.end(take);
    }
  } finally {
    stream.destroy();
  }
  if (!columns) throw new Error(blank ? `${file}: file is empty` : `${file}: no header row`);
  const typed = raw.map(typedColumn);
  return new Frame(
    Object.fromEntries(columns.map((c, j) => [c, typed[j].values])),
    typed.map((t) => t.dtype),
  );
}

export interface LabelledData {
  texts: string[];
  pairs?: string[];
  labels: number[];
  labelNames: string[];
  ids: string[];
}

export interface LabelledColumns {
  text: string;
  label: string;
  pair?: string;
  id?: string;
}

function columnValues(df: Frame, name: string, file: string): Cell[] {
  if (!df.columns.includes(name)) {
    throw new Error(`${file}: no column "${name}"; available columns: ${df.columns.join(', ')}`);
  }
  return df.column(name).values;
}

const isBlank = (v: Cell | null | undefined): boolean =>
  v === null ||
  v === undefined ||
  (typeof v === 'number' && Number.isNaN(v)) ||
  (typeof v === 'string' && v.trim() === '');

/** Text cells: blanks become '' (an empty text is valid input), numbers their decimal string. */
function textValues(df: Frame, name: string, file: string): string[] {
  return columnValues(df, name, file).map((v) => (isBlank(v) ? '' : String(v)));
}

function idValues(df: Frame, name: string | undefined, file: string): string[] {
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
export function labelledFromFrame(
  df: Frame,
  cols: LabelledColumns,
  file: string,
  labelNames?: string[],
): LabelledData {
  const n = df.shape[0];
  if (n === 0) throw new Error(`${file}: no data rows`);
  const texts = textValues(df, cols.text, file);
  const pairs = cols.pair !== undefined ? textValues(df, cols.pair, file) : undefined;
  // Training needs no ids (they only name rows in messages): a missing id column falls back to row numbers.
  const idCol = cols.id !== undefined && df.columns.includes(cols.id) ? cols.id : undefined;
  const ids = idValues(df, idCol, file);
  const rowName = (i: number): string =>
    `data row ${i + 1} (1-based, header excluded${idCol !== undefined ? `; ${idCol} ${ids[i]}` : ''})`;
  const raw = columnValues(df, cols.label, file).map((v, i) => {
    if (isBlank(v)) throw new Error(`${file}: blank label in column "${cols.label}" at ${rowName(i)}`);
    return String(v).trim();
  });

  let names: string[];
  let labels: number[];
  if (labelNames !== undefined) {
    if (labelNames.length < 2) throw new Error(`labelNames must list at least 2 classes, got ${labelNames.length}`);
    if (new Set(labelNames).size !== labelNames.length)
      throw new Error(`labelNames has duplicates: ${labelNames.join(', ')}`);
    names = [...labelNames];
    const index = new Map(names.map((nm, k) => [nm, k]));
    labels = raw.map((v, i) => {
      const k = index.get(v);
      if (k !== undefined) return k;
      if (/^\d+$/.test(v) && Number(v) < names.length) return Number(v);
      throw new Error(
        `${file}: label "${v}" in column "${cols.label}" at ${rowName(i)} is not one of the classes: ${names.join(', ')}`,
      );
    });
  } else {
    names = sortLabelNames(raw);
    if (names.length < 2) {
      throw new Error(
        `${file}: column "${cols.label}" has a single class ("${names[0]}"); classification needs at least 2`,
      );
    }
    // 0/1 beside yes/no is two spellings of the classes, not four classes: said rather than guessed.
    const numeric = names.filter((nm) => NUMBER_RE.test(nm));
    if (numeric.length > 0 && numeric.length < names.length) {
      const words = names.filter((nm) => !NUMBER_RE.test(nm));
      const first = raw.findIndex((v) => v === words[0]);
      throw new Error(
        `${file}: column "${cols.label}" mixes numbers (${numeric.slice(0, 4).join(', ')}) and words (${words.slice(0, 4).join(', ')}), e.g. "${words[0]}" at ${rowName(first)}: write every label the same way (e.g. 0/1 everywhere)`,
      );
    }
    const index = new Map(names.map((nm, k) => [nm, k]));
    labels = raw.map((v) => index.get(v)!);
  }
  const out: LabelledData = { texts, labels, labelNames: names, ids };
  if (pairs) out.pairs = pairs;
  return out;
}

/** Texts (and pairs, ids) of a frame without labels, e.g. Kaggle's test.csv. */
export function unlabelledFromFrame(
  df: Frame,
  cols: { text: string; pair?: string; id?: string },
  file: string,
): { texts: string[]; pairs?: string[]; ids: string[] } {
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
  if (padding === 'max_length') return attentionMask[idx[0]].length;
  let w = 1;
  for (const i of idx) w = Math.max(w, unpaddedLength(attentionMask[i]));
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
    return groupedBatches(order, (i) => lengths[i], batchSize, rand);
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
  const order = Array.from({ length: lengths.length }, (_, i) => i).sort((a, b) => lengths[b] - lengths[a]);
  const out: number[][] = [];
  for (let s = 0; s < order.length; s += batchSize) out.push(order.slice(s, s + batchSize));
  return out;
}
