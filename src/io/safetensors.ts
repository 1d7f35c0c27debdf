// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length, a JSON header, then the raw little-endian tensor bytes.
//
// Everything read is converted to float32, since that is what the tfjs model computes in.
// Integer and boolean tensors (e.g. the I64 `bert.embeddings.position_ids` buffer some Hugging Face
// checkpoints carry) are converted too, exactly for |x| <= 2^24, so a checkpoint never fails to
// load because of such a buffer; pass `filter` to skip tensors that are not wanted at all.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { withAtomicFile, WriteError } from './atomic.js';
import { failWith, isRecord, where } from './validate.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
/** Every dtype the reader accepts (all converted to float32). */
export type SafetensorsReadDtype =
  SafetensorsDtype | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export interface TensorData {
  shape: number[];
  data: Float32Array;
}

/** Raised for any malformed or unsupported safetensors file; the message names the file and tensor. */
export class WeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsError';
  }
}

export interface ReadOptions {
  /** Return false to skip a tensor without decoding it (it is still validated). */
  filter?: (name: string, dtype: SafetensorsReadDtype, shape: readonly number[]) => boolean;
}

export interface WriteOptions {
  dtype?: 'F32' | 'F16';
  metadata?: Record<string, string>;
}

/** Bytes per element of each readable dtype. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsReadDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

// Dtypes the format defines that this reader refuses, so the error can say so rather than "unknown".
const KNOWN_UNSUPPORTED = new Set(['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64', 'C128']);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Upper bound on the JSON header, as the reference implementation uses, so a corrupt length can't exhaust memory. */
const MAX_HEADER = 100_000_000;

interface Entry {
  name: string;
  dtype: SafetensorsReadDtype;
  shape: number[];
  begin: number;
  end: number;
}

interface Header {
  entries: Entry[];
  metadata: Record<string, string>;
}

/** Throws a WeightsError naming the file (its name, then its path). */
const fail: (file: string, what: string) => never = failWith(WeightsError);

function failTensor(file: string, name: string, what: string): never {
  throw new WeightsError(`${where(file)}: tensor "${name}": ${what}`);
}

function readHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) fail(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    fail(
      file,
      `header length ${n} runs past the end of the file (${fileSize} bytes): not a safetensors file, or truncated`,
    );
  }
  if (n > BigInt(MAX_HEADER)) fail(file, `header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  return Number(n);
}

function parseHeader(headerBytes: Uint8Array, file: string, dataLength: number): Header {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isRecord(json))
    fail(file, `header is ${Array.isArray(json) ? 'an array' : typeof json}, expected a JSON object`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(raw)) fail(file, `"__metadata__" must be an object of strings`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') fail(file, `"__metadata__" field "${k}" is ${typeof v}, expected a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(name, raw, file, dataLength));
  }

  // The format requires the tensors to tile the data section exactly: no gaps, no overlap.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin < expected)
      failTensor(
        file,
        e.name,
        `data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${expected}`,
      );
    if (e.begin > expected)
      failTensor(
        file,
        e.name,
        `data_offsets [${e.begin}, ${e.end}] leave a gap: the previous tensor ends at ${expected}`,
      );
    expected = e.end;
  }
  if (expected !== dataLength) {
    fail(
      file,
      `tensors cover ${expected} bytes of the ${dataLength}-byte data section: file has trailing bytes or is truncated`,
    );
  }
  return { entries, metadata };
}

function parseEntry(name: string, raw: unknown, file: string, dataLength: number): Entry {
  if (!isRecord(raw))
    failTensor(
      file,
      name,
      `header entry is ${raw === null ? 'null' : typeof raw}, expected an object with dtype, shape and data_offsets`,
    );
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') failTensor(file, name, `"dtype" is missing or not a string`);
  if (!(dtype in DTYPE_SIZE)) {
    const why = KNOWN_UNSUPPORTED.has(dtype) ? 'is not supported' : 'is not a known safetensors dtype';
    failTensor(file, name, `dtype "${dtype}" ${why} (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape)) failTensor(file, name, `"shape" is missing or not an array`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      failTensor(file, name, `shape ${JSON.stringify(shape)} must hold non-negative integers`);
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) failTensor(file, name, `"data_offsets" must be [begin, end]`);
  const [begin, end] = offsets as unknown[];
  if (
    typeof begin !== 'number' ||
    typeof end !== 'number' ||
    !Number.isSafeInteger(begin) ||
    !Number.isSafeInteger(end) ||
    begin < 0 ||
    end < 0
  ) {
    failTensor(file, name, `data_offsets ${JSON.stringify(offsets)} must be non-negative integers`);
  }
  if (begin > end) failTensor(file, name, `data_offsets [${begin}, ${end}]: begin is after end`);
  if (end > dataLength)
    failTensor(
      file,
      name,
      `data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section (file truncated?)`,
    );
  const dt = dtype as SafetensorsReadDtype;
  const dims = shape as number[];
  const count = dims.reduce((a, b) => a * b, 1);
  const want = count * DTYPE_SIZE[dt];
  if (end - begin !== want) {
    failTensor(
      file,
      name,
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dt} shape [${dims.join(', ')}] needs ${want}`,
    );
  }
  return { name, dtype: dt, shape: [...dims], begin, end };
}

let f16Table: Float32Array | undefined;

// A 64K-entry table makes F16 decoding exact and fast; built on first use only.
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** Decodes `count` raw little-endian values of `dtype` to float32. `bytes` may be unaligned. */
export function decodeToFloat32(bytes: Uint8Array, dtype: SafetensorsReadDtype, count: number): Float32Array {
  if (bytes.byteLength < count * DTYPE_SIZE[dtype])
    throw new RangeError(`${count} ${dtype} values need ${count * DTYPE_SIZE[dtype]} bytes, got ${bytes.byteLength}`);
  const out = new Float32Array(count);
  if (dtype === 'F32' && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F16': {
      const t = halfTable();
      if (LITTLE_ENDIAN) {
        const h = new Uint16Array(bytes.slice().buffer, 0, count);
        for (let i = 0; i < count; i++) out[i] = t[h[i]];
      } else {
        for (let i = 0; i < count; i++) out[i] = t[view.getUint16(i * 2, true)];
      }
      break;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32, so widening is exact.
      const u = new Uint32Array(out.buffer);
      if (LITTLE_ENDIAN) {
        const h = new Uint16Array(bytes.slice().buffer, 0, count);
        for (let i = 0; i < count; i++) u[i] = h[i] << 16;
      } else {
        for (let i = 0; i < count; i++) u[i] = view.getUint16(i * 2, true) << 16;
      }
      break;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'U64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigUint64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i) ? 1 : 0;
      break;
  }
  return out;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parses a whole safetensors file already in memory. `file` is only used in error messages. */
export function parseSafetensors(
  buf: Uint8Array,
  file: string,
  opts: ReadOptions = {},
): { tensors: Map<string, TensorData>; metadata: Record<string, string> } {
  const n = readHeaderLength(buf.subarray(0, 8), buf.byteLength, file);
  const dataStart = 8 + n;
  const header = parseHeader(buf.subarray(8, dataStart), file, buf.byteLength - dataStart);
  const tensors = new Map<string, TensorData>();
  for (const e of header.entries) {
    if (opts.filter && !opts.filter(e.name, e.dtype, e.shape)) continue;
    const bytes = buf.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { shape: e.shape, data: decodeToFloat32(bytes, e.dtype, elementCount(e.shape)) });
  }
  return { tensors, metadata: header.metadata };
}

/** Reads exactly `length` bytes at `position`, failing with the file name at an early end. */
export async function readExactly(
  fh: FileHandle,
  length: number,
  position: number,
  file: string,
  what: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) fail(file, `unexpected end of file while reading ${what}`);
    done += bytesRead;
  }
  return out;
}

/**
 * Reads a safetensors file tensor by tensor (so files larger than one Node buffer load too) and
 * returns every tensor as float32, in header order.
 */
export async function readSafetensors(file: string, opts: ReadOptions = {}): Promise<Map<string, TensorData>> {
  return (await readSafetensorsWithMetadata(file, opts)).tensors;
}

/** Opens a weights file for reading; failure is a WeightsError naming the file. */
export async function openWeights(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    throw new WeightsError(`${where(file)}: cannot open: ${(e as Error).message}`);
  }
}

/** Like readSafetensors, also returning the header's `__metadata__`. */
export async function readSafetensorsWithMetadata(
  file: string,
  opts: ReadOptions = {},
): Promise<{ tensors: Map<string, TensorData>; metadata: Record<string, string> }> {
  const fh = await openWeights(file);
  try {
    const size = (await fh.stat()).size;
    const first8 = size >= 8 ? await readExactly(fh, 8, 0, file, 'the header length') : new Uint8Array(0);
    const n = readHeaderLength(first8, size, file);
    const header = parseHeader(await readExactly(fh, n, 8, file, 'the header'), file, size - 8 - n);
    const dataStart = 8 + n;
    const tensors = new Map<string, TensorData>();
    for (const e of header.entries) {
      if (opts.filter && !opts.filter(e.name, e.dtype, e.shape)) continue;
      const bytes = await readExactly(fh, e.end - e.begin, dataStart + e.begin, file, `tensor "${e.name}"`);
      tensors.set(e.name, { shape: e.shape, data: decodeToFloat32(bytes, e.dtype, elementCount(e.shape)) });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 -> IEEE binary16 bits, rounding to nearest, ties to even; overflow gives ±inf, NaN stays NaN. */
export function float32ToFloat16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 : sign | 0x7c00;
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    let m = mant >>> 13;
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && m & 1)) m++;
    // A mantissa carry rolls into the exponent, and from the largest finite value into inf: both correct.
    return (sign | ((e << 10) + m)) & 0xffff;
  }
  // Subnormal half (or zero): the value is m * 2^-24 with m = full mantissa >> (14 - e).
  const shift = 14 - e;
  if (shift > 24) return sign;
  const full = mant | 0x800000;
  let m = Math.floor(full / 2 ** shift);
  const rest = full - m * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (rest > half || (rest === half && m & 1)) m++;
  return sign | m;
}

/** IEEE binary16 bits -> number (exact). */
export function float16BitsToFloat32(h: number): number {
  return halfTable()[h & 0xffff];
}

function encodeTensor(t: TensorData, dtype: 'F32' | 'F16'): Uint8Array {
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const out = new Uint8Array(t.data.length * 4);
    const v = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) v.setFloat32(i * 4, t.data[i], true);
    return out;
  }
  const out = new Uint8Array(t.data.length * 2);
  if (LITTLE_ENDIAN) {
    const h = new Uint16Array(out.buffer);
    for (let i = 0; i < t.data.length; i++) h[i] = float32ToFloat16Bits(t.data[i]);
  } else {
    const v = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) v.setUint16(i * 2, float32ToFloat16Bits(t.data[i]), true);
  }
  return out;
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/**
 * Writes tensors as safetensors, atomically (see io/atomic.ts).
 * Keys are sorted and the header is space-padded to a multiple of 8, as the Python library does,
 * so a float32 file is byte-identical to `safetensors.torch.save_file`'s for the same tensors.
 */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, TensorData>,
  opts: WriteOptions = {},
): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16')
    fail(file, `cannot write dtype "${String(dtype)}": only F32 and F16 are written`);
  const metadata = opts.metadata ?? { format: 'pt' };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(file, `metadata field "${k}" is ${typeof v}, expected a string`);
  }
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  let offset = 0;
  const size = DTYPE_SIZE[dtype];
  for (const name of names) {
    const t = tensors.get(name) as TensorData;
    if (name === '__metadata__' || name === '') failTensor(file, name, 'is a reserved or empty name');
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      failTensor(file, name, `shape ${JSON.stringify(t.shape)} must hold non-negative integers`);
    }
    if (!(t.data instanceof Float32Array)) failTensor(file, name, 'data must be a Float32Array');
    const count = elementCount(t.shape);
    if (t.data.length !== count)
      failTensor(file, name, `data has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${count}`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + count * size] };
    offset += count * size;
  }
  // The Rust serializer emits "__metadata__" after the tensors; matching it keeps files byte-identical.
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  let headerBytes = new TextEncoder().encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    headerBytes = new TextEncoder().encode(json);
  }
  const lengthBytes = new Uint8Array(8);
  new DataView(lengthBytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);

  try {
    await withAtomicFile(file, async (fh) => {
      await writeAll(fh, lengthBytes);
      await writeAll(fh, headerBytes);
      // One tensor at a time keeps peak memory at the model's own size.
      for (const name of names) await writeAll(fh, encodeTensor(tensors.get(name) as TensorData, dtype));
    });
  } catch (e) {
    // A full disk or a read-only folder is said by withAtomicFile; the folder swap above it names its output.
    if (e instanceof WeightsError || e instanceof WriteError) throw e;
    throw new WeightsError(`${where(file)}: cannot write: ${(e as Error).message}`);
  }
}
