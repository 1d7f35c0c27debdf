// What the cross-validation scripts share (bench/cv.ts runs the folds, bench/cv-report.ts combines
// runs): scores from class-1 probabilities, mean ± sd over folds, and the fold files' shape.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { classificationReport, type EpochStats } from '../src/index.js';

export interface Scores {
  accuracy: number;
  f1: number;
}

/** One fold of a run, as bench/cv.ts writes it to OUT/fold-K.json. */
export interface FoldResult {
  fold: number;
  train_rows: number;
  val_rows: number;
  /** Row numbers (0-based, in the CSV's order) of the validation rows, ascending. */
  val_idx: number[];
  val_labels: number[];
  bert: Scores & {
    epochs: EpochStats[];
    warmup_steps: number;
    seconds: number;
    /** P(class 1) of each validation row, in val_idx order. */
    prob1: number[];
  };
  tfidf?: Scores & { seconds: number; prob1: number[] };
}

/** Sample mean and sd (n - 1) of the folds' scores. */
export function meanSdOf(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : NaN;
  return { mean, sd };
}

/** Accuracy and F1 of class 1 of P(class 1) thresholded at 0.5 (argmax for two classes). */
export function scoreProb1(labels: readonly number[], prob1: readonly number[]): Scores {
  const pred = prob1.map((p) => (p > 0.5 ? 1 : 0));
  const r = classificationReport([...labels], pred, ['0', '1']);
  return { accuracy: r.accuracy, f1: (r['1'] as { 'f1-score': number })['f1-score'] };
}

/** JSON with object keys sorted, so two settings compare equal whatever order their keys were built in. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

export const foldFile = (out: string, f: number) => path.join(out, `fold-${f}.json`);

/** The finished folds of a run folder, in fold order; a missing fold is an error naming the file. */
export async function readFolds(dir: string, k: number): Promise<FoldResult[]> {
  const out: FoldResult[] = [];
  for (let f = 0; f < k; f++) {
    const file = foldFile(dir, f);
    if (!existsSync(file)) throw new Error(`${file}: missing; the run in ${dir} has not finished fold ${f}`);
    out.push(JSON.parse(await readFile(file, 'utf8')) as FoldResult);
  }
  return out;
}
