// Writes a model folder that transformers.js and ONNX Runtime load: config.json (with id2label
// and label2id), the tokenizer files, onnx/model.onnx and optionally onnx/model_quantized.onnx
// (int8 weights). The folder is built beside the target and swapped in at the end, so a failed
// export never leaves a half-written folder where a good one was; it replaces only an earlier export
// (marked by EXPORT_MARKER), never a folder holding anything else.
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadAuto, type AnyBert } from '../model/auto.js';
import { writeConfig, type BertConfig } from '../model/config.js';
import { resolveModel } from '../io/hub.js';
import { replaceDir, writeFileAtomic } from '../io/atomic.js';
import { checkOutput, writeMarker, type OutputInput } from '../io/outputs.js';
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
  /**
   * Replace an earlier export in `outDir` (recognised by its EXPORT_MARKER). Default true, since an
   * export is rebuilt from its model whole; false refuses it. Anything else there is always refused.
   */
  overwrite?: boolean;
}

/** The file every export writes into its folder: what marks the folder as this command's to replace. */
export const EXPORT_MARKER = '.bert-lab-export.json';

/** The top-level entries an export writes (before EXPORT_MARKER existed, the only way to know one). */
const EXPORT_ENTRIES = new Set([
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'onnx',
]);

/** A folder an export written before EXPORT_MARKER existed: onnx/model.onnx and nothing an export does not write. */
async function olderExport(dir: string): Promise<boolean> {
  return existsSync(path.join(dir, 'onnx', 'model.onnx')) && (await readdir(dir)).every((e) => EXPORT_ENTRIES.has(e));
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
 *   outDir: the folder to write: a new or empty folder, or an earlier export (replaced as a whole).
 *     Refused before any work: a folder holding anything else, a file, the model's own folder, a
 *     folder holding it or inside it (io/outputs.ts checkOutput).
 *   opts: `quantize`, `tokenizer`, `log`, `overwrite` (see ExportOptions).
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
  // The folder checked, a symbolic link resolved: the link itself is not the command's to replace.
  let dir = path.resolve(outDir);
  const inputs: OutputInput[] =
    typeof tokenizer === 'string' ? [{ path: tokenizer, what: 'the tokenizer folder' }] : [];
  const check = () =>
    checkOutput(outDir, {
      kind: 'folder',
      command: 'bert-lab export',
      marker: EXPORT_MARKER,
      own: olderExport,
      inputs,
      overwrite: opts.overwrite ?? true,
    });
  if (typeof source === 'string') {
    const modelDir = await resolveModel(source, { log });
    inputs.push({ path: modelDir, what: "the model's own folder" });
    dir = (await check()).path;
    owned = await loadAuto(modelDir, { log });
    const hasTokenizer =
      existsSync(path.join(modelDir, 'tokenizer.json')) || existsSync(path.join(modelDir, 'vocab.txt'));
    if (tokenizer === undefined && hasTokenizer) tokenizer = modelDir;
  } else dir = (await check()).path;
  const model = owned ?? (source as AnyBert);
  try {
    const tok = typeof tokenizer === 'string' ? await BertTokenizer.fromDir(tokenizer) : tokenizer;
    if (tok && tok.vocabSize > model.config.vocab_size) {
      throw new Error(
        `the tokenizer has ${tok.vocabSize} tokens but the model's config.json has vocab_size ${model.config.vocab_size}: they do not belong together`,
      );
    }
    const task = taskOf(model);
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
      await writeMarker(tmp, EXPORT_MARKER, {
        command: 'bert-lab export',
        model: typeof source === 'string' ? source : model.architecture,
        task,
      });
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
