// Writes a model folder that transformers.js and ONNX Runtime load: config.json (with id2label
// and label2id), the tokenizer files, onnx/model.onnx and optionally onnx/model_quantized.onnx
// (int8 weights). The folder is built beside the target and swapped in at the end, so a failed
// export never leaves a half-written folder where a good one was.
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadAuto, type AnyBert } from '../model/auto.js';
import { writeConfig, type BertConfig } from '../model/config.js';
import { resolveModel } from '../io/hub.js';
import { replaceDir, writeFileAtomic } from '../io/atomic.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { bertToOnnx, taskOf, type OnnxTask } from '../model/onnx-graph.js';
import { encodeModel } from '../io/onnx/proto.js';

export interface ExportOptions {
  /** Also write onnx/model_quantized.onnx with int8 weights (about a quarter of the size). */
  quantize?: boolean;
  /**
   * The tokenizer to ship: a BertTokenizer or a directory holding tokenizer.json or vocab.txt.
   * Defaults to the model's own directory when `model` is a path.
   */
  tokenizer?: BertTokenizer | string;
  /** Progress messages. */
  log?: (msg: string) => void;
}

export interface ExportResult {
  /** The folder written. */
  dir: string;
  task: OnnxTask;
  /** Paths relative to `dir`, with their sizes in bytes. */
  files: { file: string; bytes: number }[];
}

// transformers.js picks the model class from architectures[0]; BertForPreTraining has no ONNX
// pipeline there, while the fill-mask graph is exactly BertForMaskedLM's.
const ARCHITECTURE: Record<OnnxTask, string> = {
  'text-classification': 'BertForSequenceClassification',
  'fill-mask': 'BertForMaskedLM',
  'feature-extraction': 'BertModel',
};

/**
 * Exports a bert-lab model to ONNX in the folder layout of transformers.js.
 *
 * Args:
 *   model: a model directory (or Hub id) saved by bert-lab or transformers, or a loaded model.
 *   outDir: the folder to write; replaced as a whole if it exists.
 *   opts: `quantize`, `tokenizer`, `log` (see ExportOptions).
 *
 * Example:
 *   await exportOnnx('runs/lab/best', 'runs/lab/onnx', { quantize: true });
 *   // runs/lab/onnx/{config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx, onnx/model_quantized.onnx}
 */
export async function exportOnnx(
  source: AnyBert | string,
  outDir: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const log = opts.log ?? (() => {});
  let owned: AnyBert | undefined;
  let tokenizer = opts.tokenizer;
  if (typeof source === 'string') {
    const dir = await resolveModel(source, { log });
    if (path.resolve(outDir) === dir)
      throw new Error(
        `the output folder ${outDir} is the model's own folder; export to a new folder (the export replaces --out as a whole)`,
      );
    owned = await loadAuto(dir, { log });
    const hasTokenizer = existsSync(path.join(dir, 'tokenizer.json')) || existsSync(path.join(dir, 'vocab.txt'));
    if (tokenizer === undefined && hasTokenizer) tokenizer = dir;
  }
  const model = owned ?? (source as AnyBert);
  try {
    const tok = typeof tokenizer === 'string' ? await BertTokenizer.fromDir(tokenizer) : tokenizer;
    if (tok && tok.vocabSize > model.config.vocab_size) {
      throw new Error(
        `the tokenizer has ${tok.vocabSize} tokens but the model's config.json has vocab_size ${model.config.vocab_size}: they do not belong together`,
      );
    }
    const task = taskOf(model);
    const dir = path.resolve(outDir);
    await replaceDir(dir, async (tmp) => {
      const config: BertConfig = { ...model.config, architectures: [ARCHITECTURE[task]] };
      await writeConfig(tmp, config);
      if (tok) await tok.save(tmp);
      else
        log(
          'note: no tokenizer (the model folder has no tokenizer.json or vocab.txt; pass one with --tokenizer DIR): ONNX Runtime can run the export, transformers.js pipelines cannot',
        );
      await mkdir(path.join(tmp, 'onnx'));
      log(`writing onnx/model.onnx (${model.architecture}, ${task})`);
      await writeFileAtomic(path.join(tmp, 'onnx', 'model.onnx'), encodeModel(bertToOnnx(model)));
      if (opts.quantize) {
        log('writing onnx/model_quantized.onnx (int8 weights)');
        await writeFileAtomic(
          path.join(tmp, 'onnx', 'model_quantized.onnx'),
          encodeModel(bertToOnnx(model, { quantize: true })),
        );
      }
    });
    const names = [
      'config.json',
      ...(tok ? ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'] : []),
      'onnx/model.onnx',
      ...(opts.quantize ? ['onnx/model_quantized.onnx'] : []),
    ];
    const files = await Promise.all(
      names.map(async (file) => ({ file, bytes: (await stat(path.join(dir, file))).size })),
    );
    return { dir, task, files };
  } finally {
    owned?.dispose();
  }
}
