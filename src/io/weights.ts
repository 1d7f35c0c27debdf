// A model directory's weights, whichever form they take: which file transformers would pick, the
// shard index of a sharded checkpoint, and one reader over all of them (safetensors or torch .bin).
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSafetensors, WeightsError, type TensorData } from './safetensors.js';
import { readTorchBin } from './torchbin.js';
import { failWith, isRecord } from './validate.js';

const fail: (file: string, what: string) => never = failWith(WeightsError);

/** Weight files a model directory may hold, in the order transformers prefers them. */
export const WEIGHT_FILES: readonly string[] = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
];

/**
 * The `weight_map` of a sharded checkpoint's `*.index.json`: tensor name -> shard file name. Shard
 * names must be plain file names in the index's own folder.
 */
export async function readShardIndex(file: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    fail(file, `cannot read the shard index: ${(e as Error).message}`);
  }
  const map = isRecord(json) ? json.weight_map : undefined;
  if (!isRecord(map)) fail(file, 'field "weight_map" is missing or not an object');
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard === '..') {
      fail(file, `tensor "${tensor}": shard ${JSON.stringify(shard)} is not a file name in this directory`);
    }
    out.set(tensor, shard);
  }
  return out;
}

/**
 * Reads a model directory's weights, whichever form they take: model.safetensors, sharded
 * safetensors (model.safetensors.index.json), pytorch_model.bin or sharded .bin files.
 * Returns the tensors (float32) and the file that was chosen.
 */
export async function readModelWeights(
  dir: string,
  opts: { filter?: (name: string) => boolean } = {},
): Promise<{ tensors: Map<string, TensorData>; file: string }> {
  let chosen: string | undefined;
  for (const name of WEIGHT_FILES) {
    try {
      await access(path.join(dir, name));
      chosen = path.join(dir, name);
      break;
    } catch {
      // not this one
    }
  }
  if (!chosen) throw new WeightsError(`${dir}: no weights found (looked for ${WEIGHT_FILES.join(', ')})`);
  const filter = opts.filter;
  const readOne = (f: string): Promise<Map<string, TensorData>> =>
    f.endsWith('.safetensors')
      ? readSafetensors(f, filter ? { filter: (n) => filter(n) } : {})
      : readTorchBin(f, filter ? { filter: (n) => filter(n) } : {});
  if (!chosen.endsWith('.index.json')) return { tensors: await readOne(chosen), file: chosen };

  const index = await readShardIndex(chosen);
  const tensors = new Map<string, TensorData>();
  for (const shard of new Set(index.values())) {
    for (const [k, v] of await readOne(path.join(dir, shard))) tensors.set(k, v);
  }
  for (const [tensor, shard] of index) {
    if (!tensors.has(tensor) && (!filter || filter(tensor)))
      fail(chosen, `tensor "${tensor}": listed in shard ${shard} but not found there`);
  }
  return { tensors, file: chosen };
}
