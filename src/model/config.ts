// BERT configuration as Hugging Face's `BertConfig` reads and writes it (config.json).
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withAtomicFile } from '../io/atomic.js';
import { isRecord, show, where } from '../io/validate.js';

export interface BertConfig {
  model_type: 'bert';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  pad_token_id: number;
  position_embedding_type: string;
  architectures?: string[];
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
  num_labels?: number;
  problem_type?: string;
  classifier_dropout?: number | null;
  [extra: string]: unknown;
}

/** Hugging Face's BertConfig defaults (those of `bert-base-uncased`). */
export const BERT_DEFAULTS: Readonly<Omit<BertConfig, 'model_type'>> = Object.freeze({
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
});

/**
 * Activations accepted in `hidden_act`, with Hugging Face's meaning: `gelu` is the exact erf form;
 * `gelu_new`, `gelu_pytorch_tanh` and `gelu_fast` are the tanh approximation; `swish` is `silu`.
 */
export const SUPPORTED_ACTIVATIONS = [
  'gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'gelu_fast',
  'relu',
  'silu',
  'swish',
  'tanh',
] as const;
export type BertActivation = (typeof SUPPORTED_ACTIVATIONS)[number];

/** transformers' problem types for a classification head; each has its own loss (see BertForSequenceClassification.loss). */
const PROBLEM_TYPES = ['regression', 'single_label_classification', 'multi_label_classification'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Check = (v: unknown) => boolean;
const positiveInt: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const nonNegativeInt: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const probability: Check = (v) => typeof v === 'number' && v >= 0 && v < 1;
const positiveFinite: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v > 0;

const NUMERIC_FIELDS: [keyof typeof BERT_DEFAULTS, Check, string][] = [
  ['vocab_size', positiveInt, 'a positive integer'],
  ['hidden_size', positiveInt, 'a positive integer'],
  ['num_hidden_layers', positiveInt, 'a positive integer'],
  ['num_attention_heads', positiveInt, 'a positive integer'],
  ['intermediate_size', positiveInt, 'a positive integer'],
  ['hidden_dropout_prob', probability, 'a number in [0, 1)'],
  ['attention_probs_dropout_prob', probability, 'a number in [0, 1)'],
  ['max_position_embeddings', positiveInt, 'a positive integer'],
  ['type_vocab_size', positiveInt, 'a positive integer'],
  ['initializer_range', positiveFinite, 'a positive number'],
  ['layer_norm_eps', positiveFinite, 'a positive number'],
  ['pad_token_id', nonNegativeInt, 'a non-negative integer'],
];

/**
 * Validates a parsed config.json and fills Hugging Face's defaults for missing fields.
 * Unknown fields are kept as they are so that writing the config back loses nothing.
 * `file` is only used in error messages.
 */
export function parseConfig(json: unknown, file: string): BertConfig {
  const bad = (what: string): never => {
    throw new ConfigError(`${where(file)}: ${what}`);
  };
  if (!isRecord(json)) bad(`expected a JSON object, got ${Array.isArray(json) ? 'an array' : show(json)}`);
  const src = json as Record<string, unknown>;

  if (src.model_type === undefined) {
    // Configs written before transformers 2.x have no model_type; accept them when nothing says otherwise.
    const arch = src.architectures;
    if (Array.isArray(arch) && arch.some((a) => typeof a !== 'string' || !a.startsWith('Bert'))) {
      bad(`model_type is missing and architectures ${show(arch)} are not BERT: bert-lab loads model_type "bert"`);
    }
  } else if (src.model_type !== 'bert') {
    bad(`model_type ${show(src.model_type)} is not supported: bert-lab loads model_type "bert"`);
  }

  const cfg: BertConfig = { ...BERT_DEFAULTS, ...src, model_type: 'bert' } as BertConfig;
  // JSON has no undefined, but callers may pass objects built in code.
  for (const k of Object.keys(cfg)) if (cfg[k] === undefined) delete cfg[k];

  for (const [field, ok, what] of NUMERIC_FIELDS) {
    if (!ok(cfg[field])) bad(`field "${field}" must be ${what}, got ${show(cfg[field])}`);
  }
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    bad(`hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`);
  }
  if (cfg.pad_token_id >= cfg.vocab_size)
    bad(`pad_token_id ${cfg.pad_token_id} is not below vocab_size ${cfg.vocab_size}`);
  if (typeof cfg.hidden_act !== 'string' || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(cfg.hidden_act)) {
    bad(`hidden_act ${show(cfg.hidden_act)} is not supported (supported: ${SUPPORTED_ACTIVATIONS.join(', ')})`);
  }
  if (cfg.position_embedding_type !== 'absolute') {
    bad(`position_embedding_type ${show(cfg.position_embedding_type)} is not supported: only "absolute" is`);
  }
  if (
    cfg.architectures !== undefined &&
    (!Array.isArray(cfg.architectures) || cfg.architectures.some((a) => typeof a !== 'string'))
  ) {
    bad(`field "architectures" must be an array of strings, got ${show(cfg.architectures)}`);
  }
  if (cfg.classifier_dropout !== undefined && cfg.classifier_dropout !== null && !probability(cfg.classifier_dropout)) {
    bad(`field "classifier_dropout" must be null or a number in [0, 1), got ${show(cfg.classifier_dropout)}`);
  }
  if (
    cfg.problem_type !== undefined &&
    cfg.problem_type !== null &&
    !(PROBLEM_TYPES as readonly string[]).includes(cfg.problem_type)
  ) {
    bad(`problem_type ${show(cfg.problem_type)} is not one of ${PROBLEM_TYPES.join(', ')}`);
  }
  checkLabelCount(cfg, bad);
  checkModelSize(cfg, bad);
  normalizeLabels(cfg, bad);
  return cfg;
}

/**
 * The most labels `num_labels` may ask for without an `id2label` table. Without one, the labels are
 * made up (LABEL_0, LABEL_1, ...) and built here, about 100 bytes each, before any other check: a
 * hundred million would take minutes and gigabytes. Real label sets this large come with their names.
 */
const MAX_UNNAMED_LABELS = 100_000;

/** num_labels alone (no id2label): refused when over MAX_UNNAMED_LABELS, before its table is built. */
function checkLabelCount(cfg: BertConfig, bad: (what: string) => never): void {
  const n = cfg.num_labels;
  if (cfg.id2label !== undefined || n === undefined || !positiveInt(n) || n <= MAX_UNNAMED_LABELS) return;
  bad(
    `field "num_labels" is ${n.toLocaleString('en-US')} without an id2label table: more than the ` +
      `${MAX_UNNAMED_LABELS.toLocaleString('en-US')} unnamed labels (LABEL_0, LABEL_1, ...) bert-lab makes up; ` +
      'fix num_labels, or name the labels in id2label',
  );
}

/**
 * The number of parameters a BERT of `cfg`'s sizes holds, by the config field that sets each part
 * (the largest first): embeddings, encoder layers, pooler, classification head. The pre-training
 * head, never larger than the embeddings, is left out.
 *
 * Example: `parameterBreakdown(cfg)[0]` is the part that makes a model too large, with its field.
 */
export function parameterBreakdown(cfg: BertConfig): { fields: string; count: number; detail: string }[] {
  const h = cfg.hidden_size,
    i = cfg.intermediate_size;
  const perLayer = 4 * h * h + 2 * h * i + 9 * h + i;
  // Called before the label fields are checked: a malformed one counts as the default 2.
  const labels = isRecord(cfg.id2label)
    ? Object.keys(cfg.id2label).length
    : positiveInt(cfg.num_labels)
      ? (cfg.num_labels as number)
      : 2;
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [
    { fields: 'vocab_size, hidden_size', count: cfg.vocab_size * h, detail: `${n(cfg.vocab_size)} x ${n(h)}` },
    {
      fields: 'max_position_embeddings, hidden_size',
      count: cfg.max_position_embeddings * h,
      detail: `${n(cfg.max_position_embeddings)} x ${n(h)}`,
    },
    {
      fields: 'type_vocab_size, hidden_size',
      count: cfg.type_vocab_size * h,
      detail: `${n(cfg.type_vocab_size)} x ${n(h)}`,
    },
    {
      fields: 'num_hidden_layers',
      count: cfg.num_hidden_layers * perLayer,
      detail: `${n(cfg.num_hidden_layers)} layers x ${n(perLayer)} numbers each (hidden_size ${n(h)}, intermediate_size ${n(i)})`,
    },
    { fields: 'hidden_size', count: h * h + h, detail: `the pooler, ${n(h)} x ${n(h)}` },
    { fields: 'num_labels, hidden_size', count: labels * (h + 1), detail: `${n(labels)} labels x ${n(h)}` },
  ];
  return parts.sort((a, b) => b.count - a.count);
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/**
 * Refuses sizes whose float32 weights alone exceed this machine's memory (os.totalmem): such a model
 * can never be built, and building it would take minutes before failing. Names the field to fix.
 */
function checkModelSize(cfg: BertConfig, bad: (what: string) => never): void {
  const parts = parameterBreakdown(cfg);
  const total = parts.reduce((a, p) => a + p.count, 0);
  const machine = os.totalmem();
  if (total * 4 <= machine) return;
  const top = parts[0];
  bad(
    `its sizes make a model of ${total.toLocaleString('en-US')} numbers, ${gib(total * 4)} as float32, more than ` +
      `this machine's memory (${gib(machine)}); most of it comes from field${top.fields.includes(',') ? 's' : ''} ` +
      `"${top.fields.split(', ').join('", "')}" (${top.detail}): fix ${top.fields.split(', ')[0]}`,
  );
}

function normalizeLabels(cfg: BertConfig, bad: (what: string) => never): void {
  const { num_labels: n } = cfg;
  if (n !== undefined && !positiveInt(n)) bad(`field "num_labels" must be a positive integer, got ${show(n)}`);

  if (cfg.id2label === undefined) {
    if (cfg.label2id !== undefined) bad('label2id is given without id2label');
    if (n === undefined) return;
    // As transformers does for num_labels alone: LABEL_0 ... LABEL_{n-1}.
    cfg.id2label = Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i), `LABEL_${i}`]));
  }
  if (!isRecord(cfg.id2label)) bad(`field "id2label" must be an object, got ${show(cfg.id2label)}`);
  const id2label: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.id2label)) {
    const id = /^\s*\d+\s*$/.test(k) ? Number(k) : NaN;
    if (!Number.isSafeInteger(id)) bad(`id2label key ${show(k)} is not a non-negative integer`);
    if (typeof v !== 'string') bad(`id2label[${show(k)}] must be a string, got ${show(v)}`);
    if (String(id) in id2label) bad(`id2label has id ${id} twice`);
    id2label[String(id)] = v;
  }
  const count = Object.keys(id2label).length;
  if (count === 0) bad('id2label is empty');
  for (let i = 0; i < count; i++) {
    if (!(String(i) in id2label)) bad(`id2label ids must be 0..${count - 1}, but ${i} is missing`);
  }
  if (n !== undefined && n !== count) bad(`num_labels ${n} disagrees with id2label, which has ${count} labels`);

  const inverse: Record<string, number> = {};
  for (const [id, label] of Object.entries(id2label)) {
    if (label in inverse) bad(`id2label gives label ${show(label)} to ids ${inverse[label]} and ${id}`);
    inverse[label] = Number(id);
  }
  if (cfg.label2id !== undefined) {
    if (!isRecord(cfg.label2id)) bad(`field "label2id" must be an object, got ${show(cfg.label2id)}`);
    const given = cfg.label2id as Record<string, unknown>;
    for (const [label, id] of Object.entries(given)) {
      if (inverse[label] !== id)
        bad(`label2id[${show(label)}] is ${show(id)} but id2label gives ${show(inverse[label])}`);
    }
    for (const label of Object.keys(inverse)) {
      if (!(label in given)) bad(`label2id has no entry for id2label's label ${show(label)}`);
    }
  }
  cfg.id2label = id2label;
  cfg.label2id = inverse;
  // num_labels is derived from id2label, as in transformers, and not stored twice.
  delete cfg.num_labels;
}

/** Reads and validates `DIR/config.json`. */
export async function readConfig(dir: string): Promise<BertConfig> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'not found' : `cannot read: ${err.message}`;
    throw new ConfigError(`${where(file)}: ${why}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where(file)}: not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(json, file);
}

// JSON.stringify enumerates integer-like keys ("0", "10", "2") numerically whatever the insertion
// order, so sorting like Python's sort_keys (as strings) needs a printer of its own.
function pretty(v: unknown, indent: string): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const inner = indent + '  ';
    return `[\n${v.map((x) => inner + pretty(x ?? null, inner)).join(',\n')}\n${indent}]`;
  }
  if (isRecord(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (keys.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${pretty(v[k], inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * Writes `DIR/config.json` atomically, validated first. Keys are sorted with 2-space indentation,
 * as transformers' `save_pretrained` writes them (`json.dumps(..., indent=2, sort_keys=True)`).
 */
export async function writeConfig(dir: string, cfg: BertConfig): Promise<void> {
  const file = path.join(dir, 'config.json');
  const checked = parseConfig(cfg, file);
  const text = pretty(checked, '') + '\n';
  try {
    await withAtomicFile(file, async (fh) => {
      await fh.writeFile(text);
    });
  } catch (e) {
    throw new ConfigError(`${where(file)}: cannot write: ${(e as Error).message}`);
  }
}
