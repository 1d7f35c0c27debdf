// The model a run fine-tunes: the one asked for, else bert-base-uncased from the Hub, else the
// model this package ships (no network needed); a checkpoint with a new head for the labels, or a
// preset shape with random weights; its tokenizer checked against its embedding table.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import type { LoadOptions } from '../model/pretrained.js';
import { PREPARE_DEFAULTS } from '../data/prepare.js';
import { HubError, resolveModel } from '../io/hub.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { readConfig } from '../model/config.js';
import { presetConfig, presetHubId } from '../model/presets.js';

/** The small BERT pre-trained by this project and shipped with it: the default when the Hub cannot be reached. */
export const BUNDLED_MODEL = path.join(PACKAGE_ROOT, 'models/bert-lab-mini');

/**
 * The main job's model: the one asked for; else bert-base-uncased from the Hub or its cache; else
 * the bundled model. Says which and why.
 */
export async function defaultModel(
  asked: string | undefined,
  log: (s: string) => void,
): Promise<{ dir: string; why: string }> {
  if (asked) return { dir: await resolveModel(presetHubId(asked), { log }), why: `--model ${asked}` };
  try {
    return { dir: await resolveModel('bert-base-uncased', { log }), why: "the lab's model, bert-base-uncased" };
  } catch (e) {
    if (!(e instanceof HubError) || !existsSync(path.join(BUNDLED_MODEL, 'config.json'))) throw e;
    return {
      dir: BUNDLED_MODEL,
      why: `bert-base-uncased is unavailable (${e.message.split(' (')[0]}), so the bundled pre-trained model is used`,
    };
  }
}

/**
 * Refuses a tokenizer whose ids run past the model's embedding table: found here, by name, rather
 * than as an index error inside the first forward pass.
 */
export function checkVocabulary(tok: BertTokenizer, config: { vocab_size: number }, dir: string): void {
  if (tok.vocabSize > config.vocab_size)
    throw new Error(
      `${dir}: the tokenizer has ${tok.vocabSize.toLocaleString('en-US')} tokens but config.json's vocab_size is ` +
        `${config.vocab_size.toLocaleString('en-US')}: ids from ${config.vocab_size} up have no embedding; use the tokenizer ` +
        'the model was trained with (tokenizer.json, vocab.txt of its folder)',
    );
}

export interface ModelChoice {
  model: BertForSequenceClassification;
  tokenizer: BertTokenizer;
  /** Where the weights came from (a folder, or a preset with random weights) and why, for the log. */
  source: string;
  why: string;
}

/**
 * The classifier to fine-tune: a checkpoint (directory or Hub id) with a new head for `labels`, or,
 * with `randomInit`, a preset shape initialised at random that uses the checkpoint's tokenizer.
 *
 * Args:
 *   nameOrDir: a model directory, a Hub id or a preset name (bert-mini).
 *   labels: the class names in id order (e.g. `prep.data.labelNames`).
 *   opts: `randomInit` (a preset), `seed`, `log`.
 *
 * Example: `const choice = await loadClassifier('bert-base-uncased', prep.data.labelNames);`
 */
export async function loadClassifier(
  nameOrDir: string,
  labels: string[],
  opts: { randomInit?: string; seed?: number; log?: (s: string) => void } = {},
): Promise<ModelChoice> {
  const id = presetHubId(nameOrDir);
  const dir = await resolveModel(id, { log: opts.log });
  const tokenizer = await BertTokenizer.fromDir(dir);
  if (opts.randomInit) {
    const base = existsSync(path.join(dir, 'config.json')) ? await readConfig(dir) : undefined;
    const cfg = presetConfig(opts.randomInit, {
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: base?.max_position_embeddings ?? 512,
      pad_token_id: tokenizer.padId,
    });
    const model = new BertForSequenceClassification(cfg, labels);
    model.initWeights(opts.seed ?? PREPARE_DEFAULTS.seed);
    return {
      model,
      tokenizer,
      source: `${opts.randomInit} preset, random init`,
      why: `--random-init ${opts.randomInit} with the tokenizer of ${nameOrDir}`,
    };
  }
  const load: LoadOptions = { labels, seed: opts.seed, log: opts.log };
  checkVocabulary(tokenizer, await readConfig(dir), dir);
  const model = await BertForSequenceClassification.fromPretrained(dir, load);
  return { model, tokenizer, source: dir, why: `checkpoint ${nameOrDir}` };
}
