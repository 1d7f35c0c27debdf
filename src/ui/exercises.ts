// The notebooks' exercises: for each, a check that tells a student whether the answer is right and,
// when it is not, what is wrong with it and where to look. A check prints one verdict and returns
// it; it never throws, so "Run All" goes on past an exercise not done yet.
import { parameterCount, presetConfig, PRESETS } from '../model/presets.js';
import { maskingStats } from '../data/masking-stats.js';
import type { PretrainExample, SpecialIds } from '../data/pretrain-data.js';

/** Every exercise: its number (as the notebooks' "Exercise N" headings give it), notebook and topic. */
export const EXERCISES = {
  flatAccuracy: { number: 1, notebook: '01', title: 'write flat_accuracy' },
  maxLength: { number: 2, notebook: '01', title: 'maximum length 16 instead of 45' },
  highLr: { number: 3, notebook: '01', title: 'predict what lr = 1e-2 does, then run it' },
  freezeEncoder: { number: 4, notebook: '01', title: 'freeze the encoder and compare' },
  threshold: { number: 5, notebook: '01', title: 'the F1-optimal threshold' },
  maskingRates: { number: 6, notebook: '02', title: 'measure the masking rates' },
  parameterCount: { number: 7, notebook: '02', title: "count bert-base's parameters" },
  lrPick: { number: 8, notebook: '03', title: 'read the learning-rate range test' },
  meanSd: { number: 9, notebook: '03', title: 'mean ± sd by hand' },
  seedComparison: { number: 10, notebook: '03', title: 'two settings, several seeds' },
} as const;

export type ExerciseId = keyof typeof EXERCISES;

/** A check's verdict. `answered` is false while the exercise cell still holds its placeholder. */
export interface CheckResult {
  exercise: ExerciseId;
  number: number;
  ok: boolean;
  answered: boolean;
  message: string;
}

/** Where verdicts are printed (a notebook cell's output); tests may swap it to read them. */
let printVerdict: (line: string, result: CheckResult) => void = (line) => console.log(line);
export function setVerdictPrinter(f: (line: string, result: CheckResult) => void): void {
  printVerdict = f;
}

function verdict(exercise: ExerciseId, ok: boolean, message: string, answered = true): CheckResult {
  const { number } = EXERCISES[exercise];
  return { exercise, number, ok: ok && answered, answered, message };
}

/** Prints a verdict as one line; the check cells' value is nothing, so the cell shows only the line. */
function show(r: CheckResult): void {
  const head = !r.answered ? 'not answered yet' : r.ok ? 'right' : 'not yet';
  const mark = !r.answered ? '…' : r.ok ? '✔' : '✘';
  printVerdict(`${mark} Exercise ${r.number}: ${head}. ${r.message}`, r);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
const argmax = (row: readonly number[]) => row.reduce((b, v, j) => (v > row[b] ? j : b), 0);
const argmin = (row: readonly number[]) => row.reduce((b, v, j) => (v < row[b] ? j : b), 0);
const isNumber = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);

// ---------------------------------------------------------------------------------------------
// Exercise 1: flat_accuracy

// The first case has three classes with one label in the middle: there a count, the error rate and an
// argmin each give a value of their own, so the message can say which mistake it was.
const FLAT_CASES: { logits: number[][]; labels: number[] }[] = [
  {
    logits: [
      [1, 2, 3],
      [3, 2, 1],
      [0, 5, 1],
    ],
    labels: [1, 0, 1],
  },
  {
    logits: [
      [0.1, 2.0],
      [3.0, -1.0],
      [0.5, 0.4],
      [-2.0, 1.0],
    ],
    labels: [1, 0, 1, 1],
  },
  {
    logits: [
      [1, 2, 3],
      [3, 2, 1],
      [0, 5, 0],
    ],
    labels: [2, 0, 0],
  },
  { logits: [[1.5, -0.5]], labels: [1] },
  {
    logits: [
      [-1, 1],
      [2, 1],
    ],
    labels: [1, 0],
  },
];

/**
 * Exercise 1: the manual's `flat_accuracy(preds, labels)`, the share of rows whose largest logit is
 * at the true label. `fn` is called on small cases with known answers.
 *
 * Example: `checkFlatAccuracy(flatAccuracy)`
 */
function judgeFlatAccuracy(fn: ((logits: number[][], labels: number[]) => number) | undefined): CheckResult {
  const id = 'flatAccuracy';
  if (typeof fn !== 'function') return verdict(id, false, 'Write the function flatAccuracy in the cell above.', false);
  for (const c of FLAT_CASES) {
    const right = c.labels.filter((y, i) => argmax(c.logits[i]) === y).length;
    const want = right / c.labels.length;
    let got: unknown;
    try {
      got = fn(
        c.logits.map((r) => [...r]),
        [...c.labels],
      );
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/not written|todo|your code/i.test(msg))
        return verdict(id, false, 'Replace the placeholder in flatAccuracy with your code.', false);
      return verdict(id, false, `flatAccuracy threw "${msg}" for logits ${JSON.stringify(c.logits)}.`);
    }
    if (got === undefined || (typeof got === 'number' && Number.isNaN(got) && c === FLAT_CASES[0]))
      return verdict(id, false, 'flatAccuracy returns nothing yet: write its body in the cell above.', false);
    if (!isNumber(got))
      return verdict(
        id,
        false,
        `flatAccuracy must return a number (a share between 0 and 1), it returned ${String(got)}.`,
      );
    if (close(got, want, 1e-9)) continue;
    const wrongAt = `For logits ${JSON.stringify(c.logits)} and labels ${JSON.stringify(c.labels)} it returned ${got}, the right value is ${want.toFixed(4)}`;
    if (close(got, right, 1e-9) && right !== want)
      return verdict(id, false, `${wrongAt}: that is the number of correct rows; divide by the number of rows.`);
    if (close(got, 1 - want, 1e-9))
      return verdict(
        id,
        false,
        `${wrongAt}: that is the share of wrong rows; count the rows where prediction === label.`,
      );
    const byMin = c.labels.filter((y, i) => argmin(c.logits[i]) === y).length / c.labels.length;
    if (close(got, byMin, 1e-9))
      return verdict(
        id,
        false,
        `${wrongAt}: the prediction is the class with the largest logit (argmax), not the smallest.`,
      );
    return verdict(
      id,
      false,
      `${wrongAt}. Hint: for each row take the index of its largest logit, compare it with the label, and return the share of matches.`,
    );
  }
  return verdict(
    id,
    true,
    'flatAccuracy gives the share of rows whose largest logit is the true label, as the manual.',
  );
}

/** Exercise FlatAccuracy's check, printed: see `judgeFlatAccuracy`. */
export function checkFlatAccuracy(...args: Parameters<typeof judgeFlatAccuracy>): void {
  show(judgeFlatAccuracy(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 2: maximum length 16

/** A tokenizer as this check uses it: `encode` adds [CLS] and [SEP], as the lab's does. */
interface Encoder {
  encode(text: string): { ids: number[] };
}

/**
 * Exercise 2: with `max_length` 16 instead of the longest tweet (45 tokens), how many tweets are cut,
 * and is an epoch faster? `texts` are the cleaned tweets the model is trained on.
 *
 * Example: `checkMaxLength({ truncated: 1234, faster: true }, tokenizer, cleaned)`
 */
function judgeMaxLength(
  answer: { truncated?: number; faster?: boolean } | undefined,
  tokenizer: Encoder,
  texts: readonly string[],
  maxLen = 16,
): CheckResult {
  const id = 'maxLength';
  if (!answer || (answer.truncated === undefined && answer.faster === undefined))
    return verdict(id, false, 'Fill in `truncated` (a number) and `faster` (true or false).', false);
  const lengths = texts.map((t) => tokenizer.encode(t).ids.length);
  const cut = lengths.filter((n) => n > maxLen).length;
  const cutWithoutSpecials = lengths.filter((n) => n - 2 > maxLen).length;
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const lost = lengths.reduce((a, n) => a + Math.max(0, n - maxLen), 0);
  const problems: string[] = [];
  if (!isNumber(answer.truncated)) problems.push('`truncated` must be a number of tweets');
  else if (answer.truncated !== cut) {
    if (answer.truncated === cutWithoutSpecials && cut !== cutWithoutSpecials)
      problems.push(
        `${answer.truncated} counts the WordPieces without [CLS] and [SEP]; max_length counts them too (a tweet of 15 pieces is 17 tokens)`,
      );
    else if (
      close(answer.truncated, cut / texts.length, 1e-9) ||
      close(answer.truncated, (100 * cut) / texts.length, 1e-6)
    )
      problems.push('`truncated` is a number of tweets, not a share');
    else
      problems.push(
        `${answer.truncated} tweets is not what the tokenizer gives; count the tweets whose encoding (with [CLS] and [SEP]) is longer than ${maxLen} tokens`,
      );
  }
  if (answer.faster !== true)
    problems.push(
      'an epoch is faster at 16: every layer processes 16 positions per tweet instead of 45 (and attention compares every pair of them)',
    );
  if (problems.length) return verdict(id, false, problems.join('; ') + '.');
  return verdict(
    id,
    true,
    `${cut} of ${texts.length} tweets (${pct(cut / texts.length)}) lose their end at ${maxLen} tokens, ${pct(lost / tokens)} of all tokens. ` +
      `Each step does about ${(45 / maxLen).toFixed(1)} times less work in the feed-forward layers and ${((45 / maxLen) ** 2).toFixed(0)} times less in the attention scores, ` +
      'so an epoch is much faster; whether accuracy drops depends on how much of the cut text mattered (run it and see).',
  );
}

/** Exercise MaxLength's check, printed: see `judgeMaxLength`. */
export function checkMaxLength(...args: Parameters<typeof judgeMaxLength>): void {
  show(judgeMaxLength(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 3: lr = 1e-2

/** An epoch's numbers as the training loop records them. */
export interface EpochLike {
  trainLoss: number;
  valAccuracy: number;
  trainSeconds: number;
}

/** The share of the most frequent label: what always answering that label scores. */
function majorityShare(labels: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  return Math.max(...counts.values()) / labels.length;
}

export type HighLrPrediction = 'higher' | 'about the same' | 'majority class';

/**
 * Exercise 3: a student predicts what fine-tuning with lr = 1e-2 (500 times the manual's 2e-5) does
 * to the validation accuracy, then runs it; the check reads the run.
 *
 * Args:
 *   prediction: 'higher', 'about the same', or 'majority class' (it falls to always answering the
 *     most frequent label).
 *   run: the learning rate the run used, its epochs' numbers, and the validation labels.
 *
 * Example: `checkHighLr('majority class', { lr: hp.lr, stats: trainingStats, valLabels: val.labels })`
 */
function judgeHighLr(
  prediction: HighLrPrediction | undefined,
  run: { lr: number; stats: readonly EpochLike[]; valLabels: readonly number[] },
): CheckResult {
  const id = 'highLr';
  const choices = ['higher', 'about the same', 'majority class'];
  if (prediction === undefined)
    return verdict(id, false, `Write your prediction first: ${choices.map((c) => `'${c}'`).join(', ')}.`, false);
  if (!choices.includes(prediction))
    return verdict(
      id,
      false,
      `The prediction must be one of ${choices.map((c) => `'${c}'`).join(', ')}, not '${prediction}'.`,
    );
  if (!close(run.lr, 1e-2, 1e-12))
    return verdict(
      id,
      false,
      `Prediction noted ('${prediction}'). Now set lr = 1e-2 in the parameters cell and run the cells from there (this run used lr ${run.lr}).`,
      false,
    );
  const majority = majorityShare(run.valLabels);
  if (run.stats.length === 0)
    return verdict(
      id,
      prediction === 'majority class',
      'No epoch finished: the loss blew up and training stopped, which is as bad as it gets: the model learned nothing. ' +
        (prediction === 'majority class' ? 'As you predicted.' : "The answer is 'majority class'."),
    );
  const best = Math.max(...run.stats.map((s) => s.valAccuracy));
  const lastLoss = run.stats.at(-1)!.trainLoss;
  const learnedNothing = best <= majority + 0.02;
  if (!learnedNothing)
    return verdict(
      id,
      prediction !== 'majority class',
      `This run still learned (best validation accuracy ${best.toFixed(4)}, majority class ${majority.toFixed(4)}): compare it with your run at the recipe's lr.`,
    );
  const why =
    `Best validation accuracy ${best.toFixed(4)}, the majority-class rate ${majority.toFixed(4)}; training loss ${lastLoss.toFixed(3)} ` +
    `(ln 2 = 0.693 is a coin toss). Steps this large throw the pre-trained weights far from where they were: the model forgets ` +
    'what it knew and ends up answering one class for every tweet.';
  return verdict(
    id,
    prediction === 'majority class',
    prediction === 'majority class' ? why : `${why} The answer is 'majority class'.`,
  );
}

/** Exercise HighLr's check, printed: see `judgeHighLr`. */
export function checkHighLr(...args: Parameters<typeof judgeHighLr>): void {
  show(judgeHighLr(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 4: freeze the encoder

export type ComparisonAnswer = 'higher' | 'about the same' | 'lower';

/**
 * Exercise 4: fine-tune once as usual and once with the encoder frozen (only the classifier head
 * learns), then say whether the frozen run was faster per epoch and how its accuracy compares.
 *
 * Args:
 *   answer: `faster` (per epoch) and `accuracy` ('higher', 'about the same' or 'lower', within 1 point is 'about the same').
 *   full: the epochs of the normal run; frozen: the epochs of the frozen run.
 *
 * Example: `checkFreezeEncoder({ faster: true, accuracy: 'lower' }, fullRun, trainingStats)`
 */
function judgeFreezeEncoder(
  answer: { faster?: boolean; accuracy?: ComparisonAnswer } | undefined,
  full: readonly EpochLike[] | undefined,
  frozen: readonly EpochLike[] | undefined,
): CheckResult {
  const id = 'freezeEncoder';
  if (!full?.length || !frozen?.length)
    return verdict(
      id,
      false,
      "Keep the normal run's statistics (`fullRun`), then freeze the encoder, re-run the training cell and run this cell.",
      false,
    );
  if (full === frozen)
    return verdict(
      id,
      false,
      'Both runs are the same array: keep the normal run in `fullRun` before re-running.',
      false,
    );
  if (!answer || (answer.faster === undefined && answer.accuracy === undefined))
    return verdict(
      id,
      false,
      "Fill in `faster` (true or false) and `accuracy` ('higher', 'about the same' or 'lower').",
      false,
    );
  const perEpoch = (s: readonly EpochLike[]) => s.reduce((a, e) => a + e.trainSeconds, 0) / s.length;
  const ratio = perEpoch(frozen) / perEpoch(full);
  const best = (s: readonly EpochLike[]) => Math.max(...s.map((e) => e.valAccuracy));
  const d = best(frozen) - best(full);
  const truth: ComparisonAnswer = d > 0.01 ? 'higher' : d < -0.01 ? 'lower' : 'about the same';
  if (ratio > 0.85)
    return verdict(
      id,
      false,
      `The second run took ${ratio.toFixed(2)} times as long per epoch as the first: was the encoder frozen? ` +
        'Call lab.freezeEncoder(model) right after the model is made, before the loop.',
    );
  const facts =
    `Frozen: ${ratio.toFixed(2)} times the time per epoch, best accuracy ${best(frozen).toFixed(4)} against ${best(full).toFixed(4)} ` +
    `(${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)} points)`;
  const problems: string[] = [];
  if (answer.faster !== true) problems.push('the frozen run is faster (no gradients through the encoder)');
  if (answer.accuracy !== truth) problems.push(`its accuracy is '${truth}', not '${answer.accuracy}'`);
  if (problems.length) return verdict(id, false, `${facts}: ${problems.join('; ')}.`);
  return verdict(
    id,
    true,
    `${facts}. Only the head learns: the [CLS] vector stays what pre-training made it, and a linear layer on it ` +
      'separates the classes less well than an encoder adapted to the task.',
  );
}

/** Exercise FreezeEncoder's check, printed: see `judgeFreezeEncoder`. */
export function checkFreezeEncoder(...args: Parameters<typeof judgeFreezeEncoder>): void {
  show(judgeFreezeEncoder(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 5: the F1-optimal threshold

/** F1 of class 1 when P(class 1) >= t is predicted positive. */
function f1At(labels: readonly number[], p: readonly number[], t: number): number {
  let tp = 0,
    fp = 0,
    fn = 0;
  p.forEach((v, i) => {
    const pos = v >= t;
    if (pos && labels[i] === 1) tp++;
    else if (pos) fp++;
    else if (labels[i] === 1) fn++;
  });
  return tp ? (2 * tp) / (2 * tp + fp + fn) : 0;
}

/**
 * Exercise 5: the decision threshold on P(class 1) that maximises F1 of class 1 on the validation
 * rows. Any threshold whose F1 is within 0.005 of the best possible counts as right.
 *
 * Args:
 *   threshold: the student's threshold (predict class 1 when its probability is at least this).
 *   labels: the validation labels (0/1); probabilities: per row, [P(0), P(1)] or P(1).
 *
 * Example: `checkThreshold(bestThreshold, val.labels, valEval.probabilities)`
 */
function judgeThreshold(
  threshold: number | undefined,
  labels: readonly number[],
  probabilities: readonly (number | readonly number[])[],
): CheckResult {
  const id = 'threshold';
  if (threshold === undefined || Number.isNaN(threshold))
    return verdict(id, false, 'Set `bestThreshold` to the threshold your code finds.', false);
  if (!isNumber(threshold) || threshold < 0 || threshold > 1)
    return verdict(id, false, `A threshold on a probability lies between 0 and 1; ${String(threshold)} does not.`);
  const p = probabilities.map((r) => (typeof r === 'number' ? r : r[1]));
  const candidates = [...new Set(p)].sort((a, b) => a - b);
  let best = { t: 0.5, f1: -1 };
  for (const t of candidates) {
    const f = f1At(labels, p, t);
    if (f > best.f1) best = { t, f1: f };
  }
  const mine = f1At(labels, p, threshold);
  const atHalf = f1At(labels, p, 0.5);
  if (mine >= best.f1 - 0.005)
    return verdict(
      id,
      true,
      `F1 ${mine.toFixed(4)} at ${threshold.toFixed(3)} (the best possible ${best.f1.toFixed(4)}; ${atHalf.toFixed(4)} at 0.5). ` +
        'Chosen on the validation rows, it flatters them: judge it on other data.',
    );
  return verdict(
    id,
    false,
    `At ${threshold.toFixed(3)} F1 is ${mine.toFixed(4)}, the best possible is ${best.f1.toFixed(4)}. ` +
      'Hint: compute F1 of class 1 at every threshold from 0.01 to 0.99 (predict 1 when P(1) >= t) and keep the best.',
  );
}

/** Exercise Threshold's check, printed: see `judgeThreshold`. */
export function checkThreshold(...args: Parameters<typeof judgeThreshold>): void {
  show(judgeThreshold(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 6: the masking rates

/**
 * Exercise 6: the masking rates measured on pre-training examples: the share of candidate positions
 * (not [CLS], [SEP] or padding) chosen, and of the chosen ones the shares replaced by [MASK], by a
 * random token, and left unchanged. Right within 0.001 of the measured values.
 *
 * Example: `checkMaskingRates({ chosen, mask, random, unchanged }, rateExamples, special)`
 */
function judgeMaskingRates(
  answer: { chosen?: number; mask?: number; random?: number; unchanged?: number } | undefined,
  examples: readonly PretrainExample[],
  special: SpecialIds,
): CheckResult {
  const id = 'maskingRates';
  const keys = ['chosen', 'mask', 'random', 'unchanged'] as const;
  if (!answer || keys.every((k) => answer[k] === undefined || Number.isNaN(answer[k])))
    return verdict(id, false, 'Compute `chosen`, `mask`, `random` and `unchanged` in the cell above.', false);
  const s = maskingStats(examples, special);
  const truth = { chosen: s.chosenRate, mask: s.maskRate, random: s.randomRate, unchanged: s.unchangedRate };
  const bert = { chosen: 0.15, mask: 0.8, random: 0.1, unchanged: 0.1 };
  const realPositions = examples.reduce((n, ex) => n + ex.attentionMask.reduce((a, m) => a + m, 0), 0);
  const problems: string[] = [];
  for (const k of keys) {
    const v = answer[k];
    if (!isNumber(v)) {
      problems.push(`\`${k}\` is missing`);
      continue;
    }
    if (close(v, truth[k], 1e-3)) continue;
    if (close(v / 100, truth[k], 1e-3)) problems.push(`\`${k}\` is a percentage; give a share (0.15, not 15)`);
    else if (k !== 'chosen' && close(v, truth[k] * s.chosenRate, 1e-3))
      problems.push(`\`${k}\` is a share of all candidate positions; divide by the chosen positions instead`);
    else if (k === 'chosen' && close(v, s.chosen / realPositions, 1e-3))
      problems.push('`chosen` divides by every real position; the candidates leave out [CLS] and [SEP]');
    else
      problems.push(
        `\`${k}\` = ${v.toFixed(4)}, measured ${truth[k].toFixed(4)}` +
          (k === 'chosen'
            ? ' (chosen: mlmLabels[i] !== IGNORE_INDEX; candidates: not [CLS], [SEP] or padding)'
            : k === 'mask'
              ? ' ([MASK]: inputIds[i] === special.mask)'
              : k === 'unchanged'
                ? ' (unchanged: inputIds[i] === mlmLabels[i])'
                : ' (random: chosen, neither [MASK] nor the original token)'),
      );
  }
  if (problems.length) return verdict(id, false, problems.join('; ') + '.');
  return verdict(
    id,
    true,
    `Over ${s.examples} examples: ${pct(truth.chosen)} chosen (BERT 15 %), of those ${pct(truth.mask)} [MASK], ` +
      `${pct(truth.random)} random, ${pct(truth.unchanged)} unchanged (BERT 80/10/10). ` +
      `A random draw that hits the original token counts as unchanged, so 'random' sits a hair below ${pct(bert.random)}.`,
  );
}

/** Exercise MaskingRates's check, printed: see `judgeMaskingRates`. */
export function checkMaskingRates(...args: Parameters<typeof judgeMaskingRates>): void {
  show(judgeMaskingRates(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 7: counting parameters

/**
 * Exercise 7: a formula for the parameters of a BERT encoder (word, position and segment embeddings
 * with their LayerNorm, L layers of attention and feed-forward, the pooler) as a function of the
 * layers L and hidden size H, with bert-base-uncased's vocabulary (30,522), 512 positions, 2
 * segments and a feed-forward layer 4H wide. Checked against every preset (bert-base: 109,482,240).
 *
 * Example: `checkParameterCount(bertParameters)`
 */
function judgeParameterCount(fn: ((layers: number, hidden: number) => number) | undefined): CheckResult {
  const id = 'parameterCount';
  if (typeof fn !== 'function')
    return verdict(id, false, 'Write the function bertParameters in the cell above.', false);
  const order = ['base', ...Object.keys(PRESETS).filter((k) => k !== 'base')];
  for (const name of order) {
    const p = PRESETS[name];
    const want = parameterCount(presetConfig(name));
    let got: unknown;
    try {
      got = fn(p.layers, p.hidden);
    } catch (e) {
      return verdict(id, false, `bertParameters(${p.layers}, ${p.hidden}) threw "${(e as Error).message}".`);
    }
    if (got === undefined || (Number.isNaN(got) && name === 'base'))
      return verdict(id, false, 'bertParameters returns nothing yet: write its body in the cell above.', false);
    if (!isNumber(got)) return verdict(id, false, `bertParameters must return a number, it returned ${String(got)}.`);
    if (got === want) continue;
    const H = p.hidden,
      L = p.layers;
    const d = want - got;
    const pieces: [number, string][] = [
      [H * H + H, 'the pooler (a dense layer H x H with its bias on [CLS])'],
      [512 * H, 'the position embeddings (512 x H)'],
      [2 * H, 'the segment (token type) embeddings (2 x H), or the embeddings LayerNorm (2H)'],
      [L * (H * H + H), 'one of the four attention matrices per layer (Q, K, V and the output, each H x H + H)'],
      [L * 4 * H, 'the two LayerNorms of each layer (2H each)'],
      [2 * H + L * 4 * H, 'the LayerNorms (2H each: one after the embeddings, two per layer)'],
      [L * (4 * H + 4 * H + H), 'the biases of the feed-forward layers'],
      [L * 4 * H * H, 'the feed-forward layer being 4H wide (H x 4H and 4H x H)'],
      [30522 * H, 'the word embeddings (30,522 x H)'],
    ];
    const hit = pieces.find(([n]) => n === Math.abs(d));
    return verdict(
      id,
      false,
      `For L=${L}, H=${H} (bert-${name === 'base' ? 'base' : name}) you get ${got.toLocaleString('en-US')}, the model has ` +
        `${want.toLocaleString('en-US')} (${d > 0 ? 'missing' : 'extra'}: ${Math.abs(d).toLocaleString('en-US')}).` +
        (hit
          ? ` That is exactly ${hit[1]}: ${d > 0 ? 'add' : 'remove'} it.`
          : ' Count each weight matrix and bias once.'),
    );
  }
  return verdict(
    id,
    true,
    'Your formula gives every size of the family: (V + 512 + 2) H + 2H for the embeddings, 12H² + 13H per layer, H² + H for the pooler. ' +
      'For bert-base that is 23.8 M in embeddings, 85.1 M in the 12 layers, 0.6 M in the pooler.',
  );
}

/** Exercise ParameterCount's check, printed: see `judgeParameterCount`. */
export function checkParameterCount(...args: Parameters<typeof judgeParameterCount>): void {
  show(judgeParameterCount(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 8: reading the range test

/**
 * Exercise 8: a learning rate read off the range test's curve. Right when it lies on the falling
 * part: at least a tenth of the steepest point and below the lowest point (at most a third of it, or
 * the steepest point itself when that is closer).
 *
 * Example: `checkLrPick(myLr, rangeTest)`
 */
function judgeLrPick(
  lr: number | undefined,
  test: { points: readonly { lr: number; smoothed: number }[]; steepest: number; minimum: number },
): CheckResult {
  const id = 'lrPick';
  if (lr === undefined || Number.isNaN(lr))
    return verdict(id, false, 'Set `myLr` to the learning rate you read off the curve.', false);
  if (!isNumber(lr) || lr <= 0) return verdict(id, false, `A learning rate is a positive number, not ${String(lr)}.`);
  if (!test.points.length || !isNumber(test.steepest))
    return verdict(id, false, 'The range test has no points: run its cell first.', false);
  const low = test.steepest / 10;
  const high = Math.max(test.minimum / 3, test.steepest);
  const e = (x: number) => x.toExponential(1);
  const where = `the steepest fall is at ${e(test.steepest)}, the lowest loss at ${e(test.minimum)}`;
  if (lr > high)
    return verdict(
      id,
      false,
      `${e(lr)} is too high: ${where}. At the lowest point the loss is about to blow up; ` +
        'a rate that trains for thousands of steps must sit well before it, about where the curve falls fastest.',
    );
  if (lr < low)
    return verdict(
      id,
      false,
      `${e(lr)} is too low: ${where}. There the loss has hardly started to fall; training would crawl.`,
    );
  return verdict(
    id,
    true,
    `${e(lr)} lies on the falling part of the curve (${where}). A full run then uses it as its peak, with warm-up and decay.`,
  );
}

/** Exercise LrPick's check, printed: see `judgeLrPick`. */
export function checkLrPick(...args: Parameters<typeof judgeLrPick>): void {
  show(judgeLrPick(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 9: mean ± sd

/**
 * Exercise 9: the mean and the sample standard deviation (n - 1) of a few runs' accuracies.
 *
 * Example: `checkMeanSd({ mean: m, sd: s }, accuracies)`
 */
function judgeMeanSd(answer: { mean?: number; sd?: number } | undefined, values: readonly number[]): CheckResult {
  const id = 'meanSd';
  if (!answer || (!isNumber(answer.mean) && !isNumber(answer.sd)))
    return verdict(id, false, 'Compute `mean` and `sd` in the cell above.', false);
  if (values.length < 2)
    return verdict(id, false, 'A standard deviation needs at least two runs: run the grid first.', false);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  const sd = Math.sqrt(ss / (n - 1));
  const tol = 1e-6;
  const problems: string[] = [];
  if (!isNumber(answer.mean) || !close(answer.mean, mean, tol))
    problems.push(`the mean is ${mean.toFixed(6)}, not ${String(answer.mean)} (the sum divided by the number of runs)`);
  if (!isNumber(answer.sd)) problems.push('`sd` is missing');
  else if (!close(answer.sd, sd, tol)) {
    if (close(answer.sd, Math.sqrt(ss / n), tol))
      problems.push(`sd divides by n = ${n}; the sample standard deviation divides by n - 1 = ${n - 1}`);
    else if (close(answer.sd, ss / (n - 1), tol) || close(answer.sd, ss / n, tol))
      problems.push('that is the variance; the standard deviation is its square root');
    else problems.push(`sd is ${sd.toFixed(6)}, not ${answer.sd}: sqrt(sum of (x - mean)² / (n - 1))`);
  }
  if (problems.length) return verdict(id, false, problems.join('; ') + '.');
  return verdict(
    id,
    true,
    `${mean.toFixed(4)} ± ${sd.toFixed(4)} over ${n} runs. With so few runs the sd itself is rough: ` +
      'two settings whose means differ by less than their sds have not been told apart.',
  );
}

/** Exercise MeanSd's check, printed: see `judgeMeanSd`. */
export function checkMeanSd(...args: Parameters<typeof judgeMeanSd>): void {
  show(judgeMeanSd(...args));
}

// ---------------------------------------------------------------------------------------------
// Exercise 10: two settings, several seeds

/** A finished grid run as this check reads it (the experiment bench's results rows). */
export interface SeededRun {
  /** The run's name, ending in `_seed<N>` (the bench's folder names). */
  run: string;
  seed: number;
  valAccuracy: number;
}

/**
 * Exercise 10: two settings compared over several seeds. The grid must hold exactly two combinations
 * of settings with at least two seeds each; the answer says which is better, or that the difference
 * is within the noise (no larger than the sum of their standard deviations).
 *
 * Args:
 *   answer: 'first' or 'second' (the better of the two settings, in the order of the results table),
 *     or 'no clear difference'.
 *   rows: the runs of the grid (`runGrid`'s result).
 *
 * Example: `checkSeedComparison('no clear difference', rows)`
 */
function judgeSeedComparison(
  answer: 'first' | 'second' | 'no clear difference' | undefined,
  rows: readonly SeededRun[],
): CheckResult {
  const id = 'seedComparison';
  const groups = new Map<string, number[]>();
  for (const r of rows) {
    const key = r.run.replace(/_seed-?\d+$/, '');
    groups.set(key, [...(groups.get(key) ?? []), r.valAccuracy]);
  }
  if (groups.size !== 2)
    return verdict(
      id,
      false,
      `The grid gave ${groups.size} combination(s) of settings; this exercise compares exactly two (one setting with two values, the rest fixed).`,
      groups.size > 2,
    );
  const [[a, xa], [b, xb]] = [...groups];
  const few = [...groups].filter(([, xs]) => xs.length < 2);
  if (few.length)
    return verdict(
      id,
      false,
      `${few.map(([k]) => k).join(' and ')}: one seed only; give each setting two seeds or more.`,
      true,
    );
  const stats = (xs: number[]) => {
    const m = xs.reduce((s, v) => s + v, 0) / xs.length;
    return { m, sd: Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1)) };
  };
  const [sa, sb] = [stats(xa), stats(xb)];
  const clear = Math.abs(sa.m - sb.m) > sa.sd + sb.sd;
  const truth = !clear ? 'no clear difference' : sa.m > sb.m ? 'first' : 'second';
  const facts =
    `first (${a}): ${sa.m.toFixed(4)} ± ${sa.sd.toFixed(4)}; second (${b}): ${sb.m.toFixed(4)} ± ${sb.sd.toFixed(4)}; ` +
    `difference ${Math.abs(sa.m - sb.m).toFixed(4)} against sd + sd = ${(sa.sd + sb.sd).toFixed(4)}`;
  if (answer === undefined) return verdict(id, false, `${facts}. Now write your conclusion.`, false);
  if (answer === truth)
    return verdict(
      id,
      true,
      `${facts}. ` +
        (clear
          ? 'The gap is larger than the seeds move the result: the setting matters here (more seeds would make it surer).'
          : 'The seeds move the result as much as the setting does: this grid cannot tell them apart.'),
    );
  return verdict(
    id,
    false,
    `${facts}. ` +
      (clear
        ? `The difference is larger than the seeds' spread: the ${truth} setting is better.`
        : 'The difference is within the seeds\' spread: one line "winning" here is noise.'),
  );
}

/** Exercise SeedComparison's check, printed: see `judgeSeedComparison`. */
export function checkSeedComparison(...args: Parameters<typeof judgeSeedComparison>): void {
  show(judgeSeedComparison(...args));
}
