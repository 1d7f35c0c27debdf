// Combines cross-validation runs of bench/cv.ts into one table, folds x levers, with the TF-IDF
// baseline beside, and adds what the saved validation probabilities give for free:
//   - "BERT + TF-IDF, average": the mean of the two models' P(class 1), a fixed rule chosen before
//     any score was seen (nothing is fitted, so nothing is selected on the rows scored);
//   - "BERT + TF-IDF, weighted": w * BERT + (1 - w) * TF-IDF with w (0 to 1 by 0.05) chosen by log
//     loss on the OTHER folds' validation rows, which all lie in this fold's training rows: the weight
//     never sees this fold's labels (those other folds' models did train on this fold's rows, a mild
//     dependence that nested cross-validation would remove at five times the cost).
// Runs with --only-folds are compared on the folds they hold; each lever's difference to the first
// run is given fold by fold (paired, so the folds' own difficulty cancels) with its mean ± sd.
//
//   node --import tsx bench/cv-report.ts --run shipped=/work/cv-runs/shipped-s42 [--run NAME=DIR ...]
//     [--json bench/results/cv-NAME.json]
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/index.js';
import { foldFile, meanSdOf, scoreProb1, type FoldResult, type Scores } from './cv-common.js';

interface Run {
  name: string;
  dir: string;
  settings: Record<string, unknown> & { folds: number; seed: number; data_sha256: string };
  folds: Map<number, FoldResult>;
}

const WEIGHTS = Array.from({ length: 21 }, (_, i) => i / 20);

function logLoss(labels: readonly number[], p: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p[i]!));
    s -= labels[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return s / labels.length;
}

const mix = (w: number, a: readonly number[], b: readonly number[]) => a.map((x, i) => w * x + (1 - w) * b[i]!);

/** The weight of BERT in the average, chosen on the other folds' rows (see the top of the file). */
function crossFitWeight(run: Run, fold: number): number {
  const labels: number[] = [];
  const bert: number[] = [];
  const tfidf: number[] = [];
  for (const [f, r] of run.folds) {
    if (f === fold || !r.tfidf) continue;
    labels.push(...r.val_labels);
    bert.push(...r.bert.prob1);
    tfidf.push(...r.tfidf.prob1);
  }
  if (!labels.length) return 0.5;
  let best = 0.5,
    bestLoss = Infinity;
  for (const w of WEIGHTS) {
    const l = logLoss(labels, mix(w, bert, tfidf));
    if (l < bestLoss - 1e-12) {
      bestLoss = l;
      best = w;
    }
  }
  return best;
}

async function readRun(spec: string): Promise<Run> {
  const eq = spec.indexOf('=');
  if (eq < 1) throw new Error(`--run ${spec}: give NAME=DIR`);
  const name = spec.slice(0, eq);
  const dir = path.resolve(spec.slice(eq + 1));
  const cv = path.join(dir, 'cv.json');
  if (!existsSync(cv)) throw new Error(`--run ${spec}: ${cv} is missing; not a bench/cv.ts folder`);
  const settings = JSON.parse(await readFile(cv, 'utf8')) as Run['settings'];
  const folds = new Map<number, FoldResult>();
  for (let f = 0; f < settings.folds; f++) {
    const file = foldFile(dir, f);
    if (existsSync(file)) folds.set(f, JSON.parse(await readFile(file, 'utf8')) as FoldResult);
  }
  if (!folds.size) throw new Error(`--run ${spec}: no finished fold in ${dir}`);
  return { name, dir, settings, folds };
}

interface Row {
  lever: string;
  run: string;
  folds: Record<number, Scores>;
  weights?: Record<number, number>;
}

function leverRows(run: Run): Row[] {
  const of = (get: (r: FoldResult, f: number) => Scores | undefined) =>
    Object.fromEntries([...run.folds].flatMap(([f, r]) => (get(r, f) ? [[f, get(r, f)!]] : [])));
  const rows: Row[] = [
    { lever: `BERT (${run.name})`, run: run.name, folds: of((r) => ({ accuracy: r.bert.accuracy, f1: r.bert.f1 })) },
  ];
  if ([...run.folds.values()].every((r) => r.tfidf)) {
    rows.push({
      lever: `BERT (${run.name}) + TF-IDF, average`,
      run: run.name,
      folds: of((r) => scoreProb1(r.val_labels, mix(0.5, r.bert.prob1, r.tfidf!.prob1))),
    });
    const weights = Object.fromEntries([...run.folds.keys()].map((f) => [f, crossFitWeight(run, f)]));
    rows.push({
      lever: `BERT (${run.name}) + TF-IDF, weighted`,
      run: run.name,
      folds: of((r, f) => scoreProb1(r.val_labels, mix(weights[f]!, r.bert.prob1, r.tfidf!.prob1))),
      weights,
    });
  }
  return rows;
}

const fmt = (m: { mean: number; sd: number }) =>
  Number.isFinite(m.sd) ? `${m.mean.toFixed(4)} ± ${m.sd.toFixed(4)}` : m.mean.toFixed(4);

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: { run: { type: 'string', multiple: true }, json: { type: 'string' } },
    strict: true,
  });
  if (!v.run?.length)
    throw new Error('usage: node --import tsx bench/cv-report.ts --run NAME=DIR [--run NAME=DIR ...] [--json FILE]');
  const runs = await Promise.all(v.run.map(readRun));
  const ref = runs[0]!;
  for (const r of runs.slice(1)) {
    for (const k of ['folds', 'seed', 'data_sha256'] as const)
      if (r.settings[k] !== ref.settings[k])
        throw new Error(
          `--run ${r.name}: its ${k} (${r.settings[k]}) differs from ${ref.name}'s (${ref.settings[k]}); the folds are not the same`,
        );
  }
  const k = ref.settings.folds;
  const rows: Row[] = [];
  const first = [...ref.folds.values()][0]!;
  if (first.tfidf)
    rows.push({
      lever: 'TF-IDF + logistic regression',
      run: ref.name,
      folds: Object.fromEntries([...ref.folds].map(([f, r]) => [f, { accuracy: r.tfidf!.accuracy, f1: r.tfidf!.f1 }])),
    });
  for (const r of runs) rows.push(...leverRows(r));
  const refRow = rows.find((r) => r.lever === `BERT (${ref.name})`)!;
  const header = [
    'lever',
    ...Array.from({ length: k }, (_, f) => `fold ${f}`),
    'mean ± sd accuracy',
    'mean ± sd F1',
    'Δ vs BERT (' + ref.name + '), paired: accuracy / F1',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  const out = [];
  for (const row of rows) {
    const fs = Object.keys(row.folds).map(Number);
    const acc = meanSdOf(fs.map((f) => row.folds[f]!.accuracy));
    const f1 = meanSdOf(fs.map((f) => row.folds[f]!.f1));
    const common = fs.filter((f) => refRow.folds[f]);
    const dAcc = meanSdOf(common.map((f) => row.folds[f]!.accuracy - refRow.folds[f]!.accuracy));
    const dF1 = meanSdOf(common.map((f) => row.folds[f]!.f1 - refRow.folds[f]!.f1));
    const cells = Array.from({ length: k }, (_, f) =>
      row.folds[f] ? `${row.folds[f]!.accuracy.toFixed(4)} / ${row.folds[f]!.f1.toFixed(4)}` : '',
    );
    const delta = row === refRow ? '' : `${fmt(dAcc)} / ${fmt(dF1)} (${common.length} folds)`;
    lines.push(`| ${row.lever} | ${cells.join(' | ')} | ${fmt(acc)} | ${fmt(f1)} | ${delta} |`);
    out.push({
      lever: row.lever,
      run: row.run,
      folds: row.folds,
      ...(row.weights && { bert_weight_by_fold: row.weights }),
      accuracy: acc,
      f1,
      paired_delta_vs_reference: row === refRow ? undefined : { folds: common, accuracy: dAcc, f1: dF1 },
    });
  }
  // How optimistic the lab's "best epoch" is inside CV: its accuracy against the last epoch's.
  const optimism = runs.map((r) => {
    const d = [...r.folds.values()].map(
      (f) =>
        Math.max(...f.bert.epochs.map((e) => e.valAccuracy)) - f.bert.epochs[f.bert.epochs.length - 1]!.valAccuracy,
    );
    return { run: r.name, best_minus_last_epoch_accuracy: meanSdOf(d) };
  });
  console.log(lines.join('\n'));
  for (const o of optimism)
    console.log(
      `${o.run}: best epoch (chosen on the scored rows) minus last epoch, accuracy: ${fmt(o.best_minus_last_epoch_accuracy)}`,
    );
  if (v.json) {
    const result = {
      protocol:
        'stratified k-fold CV on train.csv (lab cleaning); BERT scored at its last epoch; accuracy and F1 of class 1 per fold; sd is the sample sd over folds',
      runs: runs.map((r) => ({ name: r.name, dir: r.dir, settings: r.settings, folds_done: [...r.folds.keys()] })),
      rows: out,
      best_epoch_optimism: optimism,
      table: lines.join('\n'),
    };
    await writeFileAtomic(path.resolve(v.json), JSON.stringify(result, null, 2) + '\n');
  }
}

main().catch((e: unknown) => {
  console.error(`cv-report: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
