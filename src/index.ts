// The public API of bert-lab: what programs and the notebooks import. The layers below (see the
// README's module table) stay importable by path, but only these names are kept stable.
//
// Example:
//   import { initBackend, BertTokenizer, loadClassifier, prepareData, trainAndSave } from 'bert-lab';
//   await initBackend();
//   const { model, tokenizer } = await loadClassifier('bert-base-uncased', ['0', '1']);
//   const prep = await prepareData('data/train.csv', tokenizer, { maxLen: 64 });
//   await trainAndSave({ model, tokenizer, source: 'bert-base-uncased', why: '' }, prep, 'runs/tweets');

// Messages: diagnostics to stderr by level (BERT_LAB_LOG), results to stdout.
export { log, report, createLogger, parseLogLevel, type Logger, type LogLevel, type LogFn } from './io/log.js';

// Backend: pick the fastest tfjs backend that loads (and the native kernels for wasm).
export { initBackend, type BackendChoice } from './backend/init.js';
export { checkMemory, WASM_HEAP_BYTES } from './backend/wasm.js';

// Building blocks: the optimizer and its schedule.
export { AdamW, linearSchedule, gradNorm, clipCoef, type AdamWOptions } from './nn/optim.js';
export { rng } from './nn/random.js';
export { variableGrads } from './nn/tape.js';
export { pca, type Pca } from './nn/pca.js';

// Files: checkpoints and the Hugging Face Hub.
export { resolveModel, HubError, type ResolveOptions } from './io/hub.js';
export { readSafetensors, writeSafetensors, WeightsError, type TensorData } from './io/safetensors.js';
export { readModelWeights, WEIGHT_FILES } from './io/weights.js';
export { writeFileAtomic } from './io/atomic.js';

// Models.
export {
  BertModel,
  BertForSequenceClassification,
  BertForPreTraining,
  type BertOutput,
  type ForwardOptions,
} from './model/bert.js';
export { loadAuto, type AnyBert } from './model/auto.js';
export { toInputs, type BertInputs, type BertArrays } from './model/inputs.js';
export type { Architecture, LoadOptions } from './model/pretrained.js';
export { parseConfig, readConfig, writeConfig, ConfigError, BERT_DEFAULTS, type BertConfig } from './model/config.js';
export { PRESETS, presetConfig, presetHubId, parameterCount, type Preset } from './model/presets.js';

// Text.
export { BertTokenizer, type Encoded, type EncodeOptions } from './text/tokenizer.js';
export { cleanText, CLEAN_MODES, STOP_WORDS, LAB_CLEAN_RULES, type CleanMode } from './text/clean.js';
export { trainWordPiece, type WordPieceTrainOptions } from './text/wordpiece.js';

// Data.
export {
  readCsv,
  parseCsv,
  CsvParser,
  Frame,
  labelledFromFrame,
  splitIndices,
  batches,
  unpaddedLength,
  type LabelledData,
  type Cell,
  type Column,
  type ReadCsvOptions,
} from './data/data.js';
export {
  loadCorpus,
  corpusStats,
  BUILTIN_CORPORA,
  loadSpamCorpus,
  type Document,
  type CorpusInfo,
  type CorpusStats,
} from './data/corpus.js';
export {
  splitSentences,
  tokenizeDocuments,
  makeNspPairs,
  maskTokens,
  buildExamples,
  specialIdsFor,
  IGNORE_INDEX,
  type PretrainExample,
  type SpecialIds,
  type NspPair,
  type MaskOptions,
} from './data/pretrain-data.js';
export { maskOutcomes, maskingStats, type MaskOutcome, type MaskingStats } from './data/masking-stats.js';
export { stratifiedKFold, type Fold } from './data/folds.js';

// Training.
export {
  fineTune,
  trainStep,
  batchLoss,
  evaluate,
  predict,
  batchTensors,
  formatTime,
  estimateTrainingBytes,
  LAB_TRAIN_CONFIG,
  TrainingStopped,
  type TrainConfig,
  type TrainHooks,
  type EpochStats,
  type StepInfo,
  type Evaluation,
  type LabelledBatchData,
} from './training/train.js';
export {
  optimizerStep,
  backward,
  clipGradNorm,
  applyGradients,
  Gradients,
  type StepOptions,
  type StepResult,
} from './training/step.js';
export {
  majorityBaseline,
  thresholdSweep,
  accuracyByGroup,
  confidentlyWrong,
  type MajorityBaseline,
  type ThresholdPoint,
  type GroupAccuracy,
  type Mistake,
} from './training/analysis.js';
export { tokenSaliency, type EncodedRow } from './training/saliency.js';
export {
  lrFind,
  steepestLr,
  LrFindStopped,
  LR_FIND_DEFAULTS,
  type LrFindOptions,
  type LrFindPoint,
  type LrFindResult,
} from './training/lr-find.js';
export { freeze, freezeEncoder, unfreeze } from './training/freeze.js';
export {
  exampleShowingAllOutcomes,
  predictExample,
  partlyMaskedWords,
  embeddingShare,
  readLossCurve,
  type LossCurve,
} from './training/pretrain-explain.js';
export { attentionOf, pooledVectors } from './training/inspect.js';
export {
  pretrain,
  adaptModel,
  PretrainStopped,
  type PretrainHooks,
  PRETRAIN_DEFAULTS,
  ADAPT_DEFAULTS,
  type AdaptOptions,
  type PretrainConfig,
  type PretrainResult,
  type PretrainPoint,
} from './training/pretrain.js';
export {
  readRecipe,
  modelRecipe,
  describeRecipe,
  RECIPE_FILE,
  type Recipe,
  type AdaptRecipe,
} from './training/recipe.js';
export {
  TRAINING_SETTINGS,
  resolveTraining,
  describeTraining,
  applyRecipe,
  type TrainingInput,
  type ResolvedTraining,
  type SettingSource,
} from './training/settings.js';
export {
  trainAndSave,
  readBestRecord,
  readTrainingArgs,
  BEST_RECORD,
  TRAINER_STATE,
  TRAINING_ARGS,
  type RunReport,
  type BestRecord,
  type TrainingArgs,
} from './training/run-dir.js';
export {
  runBaseline,
  runBaselineOnData,
  baselineSummary,
  TfidfVectorizer,
  LogisticRegression,
  type BaselineOptions,
  type BaselineResult,
  type BaselineSummary,
} from './training/baseline.js';
export {
  accuracy,
  confusionMatrix,
  classificationReport,
  formatClassificationReport,
  type ClassMetrics,
  type ClassificationReport,
} from './training/metrics.js';

// Display: tables, charts and progress bars for notebooks and terminals.
export {
  showTable,
  htmlTable,
  textTable,
  plot,
  plotHtml,
  resetPlotly,
  ProgressBar,
  type Figure,
  type PlotOptions,
} from './ui/display.js';
export { LiveChart, RunningMean, lineChartSvg, type Series, type ChartOptions } from './ui/live.js';
export { headViewFigure } from './ui/head-view.js';
export {
  EXERCISES,
  checkFlatAccuracy,
  checkMaxLength,
  checkHighLr,
  checkFreezeEncoder,
  checkThreshold,
  checkMaskingRates,
  checkParameterCount,
  checkLrPick,
  checkMeanSd,
  checkSeedComparison,
  type CheckResult,
  type ExerciseId,
  type HighLrPrediction,
  type ComparisonAnswer,
  type EpochLike,
  type SeededRun,
} from './ui/exercises.js';

// Data preparation: the lab's cells before training.
export {
  prepareData,
  readLabelled,
  limitRows,
  cleanAll,
  encodeForModel,
  maxTokenLength,
  subset,
  LAB_COLUMNS,
  LAB_LABEL_NAMES,
  PREPARE_DEFAULTS,
  type Columns,
  type PreparedData,
  type PrepareOptions,
  type PrepareSettings,
} from './data/prepare.js';

// The lab: the whole fine-tuning job in one call (runLab), or its steps, as the CLI and the notebooks run it.
export {
  runLab,
  defaultData,
  compareWithBaseline,
  headline,
  type LabOptions,
  type LabResult,
  type Comparison,
} from './app/lab.js';
export { loadClassifier, defaultModel, BUNDLED_MODEL, type ModelChoice } from './app/classifier.js';
export { predictCsv, readSettingsFor, type PredictOptions } from './app/predictions.js';
// Speed and memory: bf16 matrix products, whether a training run fits, the lab's time from one step.
export {
  setMatmulPrecision,
  matmulPrecision,
  bf16Available,
  type MatmulPrecision,
  type PrecisionStatus,
} from './backend/accel.js';
export { checkTrainingFits, planTrainingMemory, memoryLimitBytes } from './backend/memory.js';
export { projectLabSeconds } from './backend/estimate.js';

// Notebooks: their run of the lab (settings from the parameters cell) and training the interrupt stops.
export { LabRun, labFile, LAB_PARAMETERS, SETTINGS_CELL, type LabParameters } from './app/notebook-run.js';
export { interruptible, Interrupted, StaleSettings, type StopFlag } from './ui/notebook.js';
export { fillMask, type MaskGuess, type MaskPrediction } from './app/fillmask.js';
export { progressHooks } from './app/progress.js';
export { exportOnnx, type ExportOptions, type ExportResult } from './app/export-onnx.js';
export { compareOnnx } from './app/onnx-check.js';
export { runDoctor, formatDoctor, type DoctorReport, type DoctorOptions } from './app/doctor.js';
export {
  expandGrid,
  runName,
  runGrid,
  GridStopped,
  rangeTest,
  FULL_GRID,
  GRID_BASE,
  readResults,
  saveResult,
  summarizeResults,
  meanSd,
  formatMeanSd,
  type ExperimentGrid,
  type ExperimentSettings,
  type ExperimentResult,
  type ExperimentSummary,
  type BenchOptions,
} from './app/experiments.js';
