// Notebook 01, after "## Validation report": BERT beside a bag-of-words baseline on the same split.
//
// Markdown cell above it:
//   ## Does BERT beat a bag of words?
//
//   The classic baseline: TF-IDF over word unigrams and bigrams (sublinear term frequency) and an
//   L2-regularised logistic regression, scikit-learn's `TfidfVectorizer(ngram_range=(1, 2),
//   sublinear_tf=True)` + `LogisticRegression(C=1.0)`. It sees the same cleaned tweets and the same
//   training/validation split as BERT, and knows nothing about word order beyond pairs of words.
//
// Uses from earlier cells: lab, prep, run, showTable, plot.
const pick = <T>(xs: T[], idx: number[]) => idx.map((i) => xs[i]);
// A bag of words has no segments: a pair is joined to its text.
const bowTexts = prep.cleaned.map((t, i) => (prep.cleanedPairs ? `${t} ${prep.cleanedPairs[i]}` : t));
const bow = lab.runBaseline(
  pick(bowTexts, prep.trainIdx),
  pick(prep.data.labels, prep.trainIdx),
  pick(bowTexts, prep.valIdx),
  pick(prep.data.labels, prep.valIdx),
  { labelNames: prep.data.labelNames },
);
const binary = prep.data.labelNames.length === 2;
const positive = prep.data.labelNames[1];
const f1Name = binary ? `F1 (class ${positive})` : 'macro F1';
const bertF1 = binary
  ? (run.report[positive] as { 'f1-score': number })['f1-score']
  : run.report['macro avg']['f1-score'];
const bowF1 = binary ? bow.positiveF1! : bow.macroF1;
showTable(
  [
    { model: 'TF-IDF + logistic regression', accuracy: bow.accuracy.toFixed(4), [f1Name]: bowF1.toFixed(4) },
    { model: 'fine-tuned BERT', accuracy: run.report.accuracy.toFixed(4), [f1Name]: bertF1.toFixed(4) },
  ],
  { index: false, caption: `Validation split (${prep.valIdx.length.toLocaleString('en-US')} texts)` },
);
console.log(
  `Baseline: ${bow.vocabularySize.toLocaleString('en-US')} n-grams, fitted and scored in ${bow.seconds.toFixed(1)} s.`,
);
console.log(
  run.report.accuracy >= bow.accuracy
    ? `BERT is ${((run.report.accuracy - bow.accuracy) * 100).toFixed(1)} points of accuracy above the bag of words.`
    : `BERT is ${((bow.accuracy - run.report.accuracy) * 100).toFixed(1)} points of accuracy below the bag of words: more pre-training or a recipe that fits the model is needed.`,
);
plot({
  data: [
    { type: 'bar', name: 'accuracy', x: ['bag of words', 'BERT'], y: [bow.accuracy, run.report.accuracy] },
    { type: 'bar', name: f1Name, x: ['bag of words', 'BERT'], y: [bowF1, bertF1] },
  ],
  layout: {
    title: { text: 'BERT vs bag of words (validation)' },
    barmode: 'group',
    height: 340,
    yaxis: { range: [0, 1] },
  },
});
