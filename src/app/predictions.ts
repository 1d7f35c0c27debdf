// Predictions for a CSV with a fine-tuned model, read as the model was trained (its cleaning and
// columns from training_args.json), written atomically as `id,target`; an output is replaced only
// when it is bert-lab's own earlier file, unchanged since (a SHA-256 mark beside it).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import type { CleanMode } from '../text/clean.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { readCsv, unlabelledFromFrame, type Padding } from '../data/data.js';
import { encodeForModel, LAB_COLUMNS, PREPARE_DEFAULTS, type Columns } from '../data/prepare.js';
import { predict } from '../training/train.js';
import { readTrainingArgs } from '../training/run-dir.js';
import { writeFileAtomic } from '../io/atomic.js';
import { log as diagnostics, report, type LogFn } from '../io/log.js';
import { checkOutput, type OutputInput } from '../io/outputs.js';
import { checkVocabulary } from './classifier.js';

/** How a fine-tuned model reads data: cleaning and columns. */
export interface ReadSettings {
  clean: CleanMode;
  columns: Columns;
  /** How each class id is written in the data (the lab's 0/1), when it differs from the class name. */
  labelValues?: string[];
}

/**
 * The cleaning and columns to read data for `modelDir` with: those given, else those it was
 * trained with (its training_args.json), else the lab's. Says which were taken from the model.
 */
export async function readSettingsFor(
  modelDir: string,
  given: { clean?: CleanMode; columns?: Partial<Columns> },
  log: LogFn = report,
): Promise<ReadSettings> {
  const saved = existsSync(modelDir) ? await readTrainingArgs(modelDir) : undefined;
  const cols = given.columns ?? {};
  const out: ReadSettings = {
    clean: given.clean ?? (saved?.clean as CleanMode | undefined) ?? PREPARE_DEFAULTS.clean,
    columns: {
      text: cols.text ?? saved?.text_column ?? LAB_COLUMNS.text,
      label: cols.label ?? saved?.label_column ?? LAB_COLUMNS.label,
      pair: cols.pair ?? saved?.pair_column,
      id: cols.id ?? saved?.id_column ?? LAB_COLUMNS.id,
    },
    labelValues: saved?.label_values,
  };
  if (saved) {
    const taken = [
      given.clean === undefined && saved.clean ? `cleaning "${out.clean}"` : '',
      cols.text === undefined && saved.text_column ? `text column "${out.columns.text}"` : '',
      cols.pair === undefined && saved.pair_column ? `pair column "${out.columns.pair}"` : '',
    ].filter(Boolean);
    if (taken.length)
      log(
        `Reading the data as the model was trained (${path.join(modelDir, 'training_args.json')}): ${taken.join(', ')}`,
      );
  }
  return out;
}

export interface PredictOptions {
  columns?: Partial<Columns>;
  /** The cleaning; default: the model's own (training_args.json), else the lab's. */
  clean?: CleanMode;
  batchSize?: number;
  /** 'longest' pads each batch to its own longest row (same predictions, less work). */
  padding?: Padding;
  /** The prediction's column (default: the label column the model was trained on, else target). */
  targetCol?: string;
  /** Also write each class's probability, a column per class name. */
  probabilities?: boolean;
  log?: (s: string) => void;
  /** Where warnings go (duplicate ids); default: stderr. */
  warn?: (s: string) => void;
  /** Predict with a model whose checkpoint lacks some weights (random ones): refused by default. */
  allowUntrained?: boolean;
  /**
   * Replace an earlier predictions file of bert-lab at `outFile` (default true, so a notebook cell
   * runs again; the command line asks for --overwrite). Any other file there is never replaced.
   */
  overwrite?: boolean;
  /** How the output is named in messages (default --out; the lab's is --submission). */
  option?: string;
  /** Other paths the output must not be nor lie inside (e.g. the run's folders), beside the data and the model. */
  inputs?: OutputInput[];
  /** How an earlier output at `outFile` is recognised (default: `isOwnPredictions`). */
  own?: (file: string) => Promise<boolean>;
}

/**
 * Beside every predictions file, a record of its SHA-256: a file at `--out` is replaced only when it
 * is still exactly what bert-lab wrote there. A header test would take Kaggle's sample_submission.csv
 * (the same `id,target` header and ids as test.csv) for an earlier output, and a file edited since
 * would be lost.
 */
const predictionsMark = (file: string) =>
  path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.bert-lab.json`);
const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');

/** True when `file` is a predictions file bert-lab wrote and nobody changed since (its mark's hash). */
export async function isOwnPredictions(file: string): Promise<boolean> {
  try {
    const mark = JSON.parse(await readFile(predictionsMark(file), 'utf8')) as { sha256?: unknown };
    return typeof mark.sha256 === 'string' && mark.sha256 === sha256(await readFile(file));
  } catch {
    return false;
  }
}

/**
 * Checks before any work that `outFile` may take predictions: not the data, not in the model folder
 * nor any of `opts.inputs` (even with `overwrite`), not a folder, a dangling link or an unwritable
 * place, and, when it exists, an earlier predictions file of bert-lab (`isOwnPredictions`), replaced
 * only with `overwrite`.
 */
export async function checkPredictionsOut(
  outFile: string,
  inputs: OutputInput[],
  opts: { overwrite?: boolean; option?: string; command?: string; own?: (f: string) => Promise<boolean> } = {},
): Promise<void> {
  await checkOutput(outFile, {
    kind: 'file',
    option: opts.option ?? '--out',
    command: opts.command ?? 'bert-lab predict',
    inputs,
    own: opts.own ?? isOwnPredictions,
    overwrite: opts.overwrite,
  });
}

/** Says (once) when ids repeat: a submission expects each id once, and the rows are all kept. */
function warnDuplicateIds(ids: readonly string[], file: string, warn: (s: string) => void): void {
  const first = new Map<string, number>();
  let repeats = 0;
  let example: [string, number, number] | undefined;
  ids.forEach((id, i) => {
    const at = first.get(id);
    if (at === undefined) first.set(id, i);
    else {
      repeats++;
      example ??= [id, at, i];
    }
  });
  if (example)
    warn(
      `Warning: ${file}: ${repeats.toLocaleString('en-US')} row(s) repeat an id seen before (first: id ${JSON.stringify(example[0])} ` +
        `in data rows ${example[1] + 1} and ${example[2] + 1}); every row is predicted, so the output repeats those ids too ` +
        '(a Kaggle submission expects each id once: check --id-col, or remove the duplicate rows)',
    );
}

/** A CSV cell, quoted when it must be (RFC 4180). */
const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * Predicts a CSV and writes `id,target` atomically: the class as the training data wrote it (the
 * lab's 0/1, as Kaggle wants it), with `probabilities` a column per class name. Refuses an output
 * that is the input.
 *
 * Args:
 *   modelDir: a fine-tuned model directory (e.g. OUT/best).
 *   file: the CSV to predict; outFile: the submission to write.
 *   opts: columns, cleaning, batchSize, padding, targetCol, probabilities, log.
 *
 * Example: `await predictCsv('runs/tweets/best', 'data/test.csv', 'submission.csv');`
 */
export async function predictCsv(
  modelDir: string,
  file: string,
  outFile: string,
  opts: PredictOptions = {},
): Promise<{ ids: string[]; labels: string[]; texts: string[]; probabilities: number[][] }> {
  // Before any work (inference can take an hour): the output's place, then the data's columns.
  await checkPredictionsOut(
    outFile,
    [
      { path: file, what: 'the input file --data' },
      { path: modelDir, what: 'the model folder --model' },
      ...(opts.inputs ?? []),
    ],
    { ...opts, overwrite: opts.overwrite ?? true },
  );
  const how = await readSettingsFor(modelDir, { clean: opts.clean, columns: opts.columns }, opts.log ?? report);
  const cols = how.columns;
  const rows = unlabelledFromFrame(await readCsv(file), cols, file);
  warnDuplicateIds(rows.ids, file, opts.warn ?? diagnostics.warn);
  const model = await BertForSequenceClassification.fromPretrained(modelDir, {
    log: opts.log,
    strict: !opts.allowUntrained,
  });
  try {
    const tok = await BertTokenizer.fromDir(modelDir);
    checkVocabulary(tok, model.config, modelDir);
    const enc = encodeForModel(tok, rows.texts, rows.pairs, how.clean, model.config.max_position_embeddings);
    const { predictions, probabilities } = predict(model, enc, opts.batchSize ?? 32, opts.padding);
    const labels = predictions.map((p) => model.labels[p]);
    const written = predictions.map((p) => how.labelValues?.[p] ?? model.labels[p]);
    const target = opts.targetCol ?? cols.label;
    const head = [cols.id ?? 'id', target, ...(opts.probabilities ? model.labels.map((l) => `p(${l})`) : [])];
    const lines = [
      head.map(csvCell).join(','),
      ...rows.ids.map((id, i) =>
        [id, written[i], ...(opts.probabilities ? probabilities[i].map((p) => p.toFixed(6)) : [])]
          .map(csvCell)
          .join(','),
      ),
    ];
    const content = lines.join('\n') + '\n';
    await writeFileAtomic(outFile, content);
    const mark = {
      written_by: 'bert-lab',
      model: path.resolve(modelDir),
      data: path.resolve(file),
      sha256: sha256(content),
    };
    await writeFileAtomic(predictionsMark(outFile), JSON.stringify(mark, null, 2) + '\n');
    return { ids: rows.ids, labels, texts: rows.texts, probabilities };
  } finally {
    model.dispose();
  }
}
