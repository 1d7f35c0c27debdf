// The exercises' checks: a right answer passes, a placeholder is "not answered yet", and each kind of
// wrong answer gets a message that says what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkFlatAccuracy,
  checkFreezeEncoder,
  checkHighLr,
  checkLrPick,
  checkMaskingRates,
  checkMaxLength,
  checkMeanSd,
  checkParameterCount,
  checkSeedComparison,
  checkThreshold,
  setVerdictPrinter,
  type CheckResult,
} from '../src/ui/exercises.js';
import { buildExamples, makeNspPairs, specialIdsFor, IGNORE_INDEX } from '../src/data/pretrain-data.js';
import { rng } from '../src/nn/random.js';

// The checks print their verdict and return nothing (a cell shows only the line); the printer
// hands each verdict here too.
const printed: string[] = [];
const results: CheckResult[] = [];
setVerdictPrinter((l, r) => {
  printed.push(l);
  results.push(r);
});
const last = () => results.at(-1)!;

const right = (_: void) => {
  const r = last();
  assert.ok(r.ok && r.answered, `expected right, got: ${r.message}`);
  assert.match(printed.at(-1)!, new RegExp(`^✔ Exercise ${r.number}: right\\.`));
};
const wrong = (_: void, why: RegExp) => {
  const r = last();
  assert.ok(!r.ok && r.answered, `expected a wrong answer, got ok=${r.ok} answered=${r.answered}: ${r.message}`);
  assert.match(r.message, why);
  assert.match(printed.at(-1)!, new RegExp(`^✘ Exercise ${r.number}: not yet\\.`));
};
const unanswered = (_: void) => {
  const r = last();
  assert.ok(!r.ok && !r.answered, `expected "not answered yet": ${r.message}`);
  assert.match(printed.at(-1)!, new RegExp(`^… Exercise ${r.number}: not answered yet\\.`));
};
const argmax = (r: number[]) => r.indexOf(Math.max(...r));

test('exercise 1, flat_accuracy: the manual function passes; a count, the error rate, argmin, a placeholder do not', () => {
  right(checkFlatAccuracy((logits, labels) => logits.filter((r, i) => argmax(r) === labels[i]).length / labels.length));
  wrong(
    checkFlatAccuracy((logits, labels) => logits.filter((r, i) => argmax(r) === labels[i]).length),
    /number of correct rows; divide/,
  );
  wrong(
    checkFlatAccuracy((logits, labels) => logits.filter((r, i) => argmax(r) !== labels[i]).length / labels.length),
    /share of wrong rows/,
  );
  wrong(
    checkFlatAccuracy(
      (logits, labels) => logits.filter((r, i) => r.indexOf(Math.min(...r)) === labels[i]).length / labels.length,
    ),
    /largest logit \(argmax\), not the smallest/,
  );
  wrong(
    checkFlatAccuracy(() => 0.5),
    /returned 0\.5, the right value is 0\.6667/,
  );
  unanswered(checkFlatAccuracy(() => NaN));
  unanswered(
    checkFlatAccuracy(() => {
      throw new Error('not written yet');
    }),
  );
  unanswered(checkFlatAccuracy(undefined));
});

test('exercise 2, max length 16: the count with [CLS]/[SEP] and "faster" pass; counting pieces only is named', () => {
  // A stand-in tokenizer: one id per word plus [CLS] and [SEP].
  const tok = { encode: (t: string) => ({ ids: [101, ...t.split(' ').map(() => 7), 102] }) };
  const words = (n: number) => Array.from({ length: n }, () => 'w').join(' ');
  const texts = [words(3), words(14), words(15), words(20), words(40)]; // 5, 16, 17, 22, 42 tokens
  right(checkMaxLength({ truncated: 3, faster: true }, tok, texts));
  wrong(checkMaxLength({ truncated: 2, faster: true }, tok, texts), /without \[CLS\] and \[SEP\]/);
  wrong(checkMaxLength({ truncated: 3, faster: false }, tok, texts), /faster at 16/);
  wrong(checkMaxLength({ truncated: 0.6, faster: true }, tok, texts), /number of tweets, not a share/);
  unanswered(checkMaxLength({}, tok, texts));
});

test('exercise 3, lr = 1e-2: the prediction is judged against the run; before the run it waits', () => {
  const valLabels = [0, 0, 0, 1, 1]; // majority 0.6
  const collapsed = [{ trainLoss: 0.69, valAccuracy: 0.6, trainSeconds: 10 }];
  right(checkHighLr('majority class', { lr: 1e-2, stats: collapsed, valLabels }));
  wrong(checkHighLr('higher', { lr: 1e-2, stats: collapsed, valLabels }), /The answer is 'majority class'/);
  unanswered(checkHighLr('higher', { lr: 1e-4, stats: collapsed, valLabels }));
  unanswered(checkHighLr(undefined, { lr: 1e-2, stats: collapsed, valLabels }));
  right(checkHighLr('majority class', { lr: 1e-2, stats: [], valLabels }));
  wrong(checkHighLr('nothing' as 'higher', { lr: 1e-2, stats: collapsed, valLabels }), /must be one of/);
});

test('exercise 4, freeze the encoder: the statement must match the two runs; an unfrozen second run is named', () => {
  const full = [{ trainLoss: 0.4, valAccuracy: 0.8, trainSeconds: 100 }];
  const frozen = [{ trainLoss: 0.6, valAccuracy: 0.7, trainSeconds: 30 }];
  right(checkFreezeEncoder({ faster: true, accuracy: 'lower' }, full, frozen));
  wrong(checkFreezeEncoder({ faster: true, accuracy: 'about the same' }, full, frozen), /accuracy is 'lower'/);
  wrong(checkFreezeEncoder({ faster: false, accuracy: 'lower' }, full, frozen), /frozen run is faster/);
  wrong(
    checkFreezeEncoder({ faster: true, accuracy: 'lower' }, full, [{ ...frozen[0], trainSeconds: 98 }]),
    /was the encoder frozen\?/,
  );
  unanswered(checkFreezeEncoder({ faster: true, accuracy: 'lower' }, full, undefined));
  unanswered(checkFreezeEncoder({ faster: true, accuracy: 'lower' }, full, full));
});

test('exercise 5, threshold: any threshold of (nearly) the best F1 passes, 0.5 here does not', () => {
  const labels = [0, 0, 0, 1, 1, 1, 0, 1];
  const p1 = [0.1, 0.2, 0.35, 0.3, 0.4, 0.45, 0.6, 0.9];
  const probs = p1.map((p) => [1 - p, p]);
  right(checkThreshold(0.3, labels, probs)); // predicts 1 from 0.3: tp 4, fp 2 -> F1 0.8
  right(checkThreshold(0.28, labels, p1)); // the same rows predicted positive
  wrong(checkThreshold(0.5, labels, probs), /F1 is 0\.3333, the best possible is 0\.8000/);
  wrong(checkThreshold(7, labels, probs), /between 0 and 1/);
  unanswered(checkThreshold(undefined, labels, probs));
});

test('exercise 6, masking rates: measured shares pass; percentages and shares of the wrong whole are named', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 200 }, (_, i) => `w${i}`)];
  const special = specialIdsFor(vocab);
  const r = rng(3);
  const docs = Array.from({ length: 40 }, () =>
    Array.from({ length: 6 }, () => Array.from({ length: 8 }, () => 5 + Math.floor(r() * 200))),
  );
  const examples = buildExamples(makeNspPairs(docs, 64, r), special, 64, r);
  // The student's way: count outcomes from the examples.
  let cand = 0,
    chosen = 0,
    mask = 0,
    same = 0;
  for (const ex of examples)
    ex.inputIds.forEach((id, i) => {
      if (ex.attentionMask[i] === 0 || id === special.cls || id === special.sep) return;
      cand++;
      if (ex.mlmLabels[i] === IGNORE_INDEX) return;
      chosen++;
      if (id === special.mask) mask++;
      else if (id === ex.mlmLabels[i]) same++;
    });
  const answer = {
    chosen: chosen / cand,
    mask: mask / chosen,
    random: (chosen - mask - same) / chosen,
    unchanged: same / chosen,
  };
  right(checkMaskingRates(answer, examples, special));
  wrong(checkMaskingRates({ ...answer, mask: 100 * answer.mask }, examples, special), /percentage/);
  wrong(checkMaskingRates({ ...answer, mask: mask / cand }, examples, special), /divide by the chosen positions/);
  wrong(
    checkMaskingRates({ ...answer, unchanged: 0.1 }, examples, special),
    /unchanged: inputIds\[i\] === mlmLabels\[i\]/,
  );
  unanswered(checkMaskingRates({}, examples, special));
});

test('exercise 7, parameter count: the full formula passes; a missing pooler or position table is named', () => {
  const emb = (H: number) => (30522 + 512 + 2) * H + 2 * H;
  const full = (L: number, H: number) => emb(H) + L * (12 * H * H + 13 * H) + H * H + H;
  right(checkParameterCount(full));
  wrong(
    checkParameterCount((L, H) => full(L, H) - H * H - H),
    /exactly the pooler/,
  );
  wrong(
    checkParameterCount((L, H) => full(L, H) - 512 * H),
    /exactly the position embeddings/,
  );
  wrong(
    checkParameterCount((L, H) => full(L, H) - L * (H * H + H)),
    /four attention matrices/,
  );
  wrong(
    checkParameterCount(() => 110e6),
    /you get 110,000,000, the model has 109,482,240/,
  );
  unanswered(checkParameterCount(() => NaN));
});

test('exercise 8, reading the range test: the falling part passes, the minimum and the flat start do not', () => {
  const t = { points: [{ lr: 1e-6, smoothed: 0.7 }], steepest: 1e-4, minimum: 3e-3 };
  right(checkLrPick(1e-4, t));
  right(checkLrPick(5e-4, t));
  wrong(checkLrPick(3e-3, t), /too high/);
  wrong(checkLrPick(1e-6, t), /too low/);
  unanswered(checkLrPick(undefined, t));
});

test('exercise 9, mean ± sd: n - 1 passes; n, the variance and a wrong mean are named', () => {
  const xs = [0.79, 0.8, 0.81, 0.8];
  const m = 0.8;
  const ss = xs.reduce((a, v) => a + (v - m) ** 2, 0);
  right(checkMeanSd({ mean: m, sd: Math.sqrt(ss / 3) }, xs));
  wrong(checkMeanSd({ mean: m, sd: Math.sqrt(ss / 4) }, xs), /divides by n = 4; .* n - 1 = 3/);
  wrong(checkMeanSd({ mean: m, sd: ss / 3 }, xs), /variance/);
  wrong(checkMeanSd({ mean: 0.79, sd: Math.sqrt(ss / 3) }, xs), /the mean is 0\.800000/);
  unanswered(checkMeanSd({}, xs));
});

test('exercise 10, two settings over seeds: the conclusion must follow mean ± sd; one seed or three settings are named', () => {
  const row = (setting: string, seed: number, valAccuracy: number) => ({
    run: `m_${setting}_seed${seed}`,
    seed,
    valAccuracy,
  });
  const apart = [row('lr1e-4', 1, 0.8), row('lr1e-4', 2, 0.805), row('lr2e-5', 1, 0.75), row('lr2e-5', 2, 0.752)];
  right(checkSeedComparison('first', apart));
  wrong(checkSeedComparison('no clear difference', apart), /the first setting is better/);
  const noisy = [row('a', 1, 0.8), row('a', 2, 0.78), row('b', 1, 0.79), row('b', 2, 0.795)];
  right(checkSeedComparison('no clear difference', noisy));
  wrong(checkSeedComparison('second', noisy), /within the seeds' spread/);
  wrong(checkSeedComparison('first', [...noisy, row('c', 1, 0.7), row('c', 2, 0.7)]), /exactly two/);
  wrong(checkSeedComparison('first', [row('a', 1, 0.8), row('b', 1, 0.7)]), /one seed only/);
  unanswered(checkSeedComparison(undefined, noisy));
});
