import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  WeightsError,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  parseSafetensors,
  readSafetensors,
  readSafetensorsWithMetadata,
  writeSafetensors,
  type TensorData,
} from '../src/io/safetensors.js';
import { expectError as expectErrorIn, needsShared, shared } from './shared.js';

const FILE = '/x/model.safetensors';

/** Builds a safetensors file from a raw header (anything JSON-able) and a data section. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: string): Uint8Array {
  const h = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function expectError(buf: Uint8Array, pattern: RegExp): void {
  expectErrorIn(
    () => parseSafetensors(buf, FILE),
    WeightsError,
    /^model\.safetensors \(\/x\/model\.safetensors\): /,
    pattern,
  );
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'bert-lab-st-'));
}

test('reads the parity fixtures and writes them back byte for byte', needsShared, async () => {
  const dir = await tempDir();
  try {
    for (const name of ['tiny-bert-cls', 'tiny-bert-pretraining']) {
      const file = shared('fixtures/parity', name, 'model.safetensors');
      const { tensors, metadata } = await readSafetensorsWithMetadata(file);
      assert.deepEqual(metadata, { format: 'pt' });
      const emb = tensors.get('bert.embeddings.word_embeddings.weight');
      assert.ok(emb);
      assert.deepEqual(emb.shape, [512, 32]);
      assert.equal(emb.data.length, 512 * 32);
      // The in-memory parser agrees with the streaming reader.
      const parsed = parseSafetensors(await readFile(file), file).tensors;
      assert.deepEqual([...parsed.keys()], [...tensors.keys()]);
      assert.deepEqual(parsed.get('bert.pooler.dense.weight'), tensors.get('bert.pooler.dense.weight'));
      const out = path.join(dir, `${name}.safetensors`);
      await writeSafetensors(out, tensors);
      assert.deepEqual(await readFile(out), await readFile(file));
    }
    assert.equal((await readSafetensors(shared('fixtures/parity/tiny-bert-cls/model.safetensors'))).size, 41);
    assert.ok(
      (await readSafetensors(shared('fixtures/parity/tiny-bert-pretraining/model.safetensors'))).has(
        'bert.embeddings.LayerNorm.gamma',
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('F16 encoding is round-to-nearest-even over every half value', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = float16BitsToFloat32(h);
    const exp = (h >> 10) & 0x1f;
    if (exp === 0x1f && h & 0x3ff) {
      assert.ok(Number.isNaN(v));
      assert.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(v))));
      continue;
    }
    assert.equal(float32ToFloat16Bits(v), h, `round trip of 0x${h.toString(16)}`);
    // Midpoint to the next half value up (same sign) rounds to whichever of the two is even.
    if ((h & 0x7fff) < 0x7bff + 1 && exp !== 0x1f) {
      const next = h + 1;
      const w = float16BitsToFloat32(next);
      if (!Number.isFinite(w)) continue;
      const mid = Math.fround((v + w) / 2);
      assert.equal(mid, (v + w) / 2, 'midpoint is exact in float32');
      assert.equal(
        float32ToFloat16Bits(mid),
        h & 1 ? next : h,
        `tie between 0x${h.toString(16)} and 0x${next.toString(16)}`,
      );
      const above = Math.fround(mid + Math.abs(mid) * 2 ** -20);
      const below = Math.fround(mid - Math.abs(mid) * 2 ** -20);
      if (h < 0x8000 && mid !== 0) {
        assert.equal(float32ToFloat16Bits(above), next);
        assert.equal(float32ToFloat16Bits(below), h);
      }
    }
  }
  assert.equal(float32ToFloat16Bits(65504), 0x7bff);
  assert.equal(float32ToFloat16Bits(65519), 0x7bff);
  assert.equal(float32ToFloat16Bits(65520), 0x7c00, 'ties past the largest finite half overflow to inf');
  assert.equal(float32ToFloat16Bits(1e6), 0x7c00);
  assert.equal(float32ToFloat16Bits(-1e6), 0xfc00);
  assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to zero');
  assert.equal(float32ToFloat16Bits(Math.fround(2 ** -25 * 1.0001)), 0x0001);
  assert.equal(float32ToFloat16Bits(2 ** -30), 0x0000);
  assert.equal(float32ToFloat16Bits(-(2 ** -30)), 0x8000);
  assert.equal(float32ToFloat16Bits(1e-45), 0x0000, 'float32 subnormal');
  assert.equal(float32ToFloat16Bits(1 / 3), 0x3555);
  assert.equal(float32ToFloat16Bits(-0), 0x8000);
  assert.equal(float32ToFloat16Bits(Infinity), 0x7c00);
  assert.equal(float32ToFloat16Bits(NaN) & 0x7e00, 0x7e00);
});

test('writes and reads F16, decodes BF16, converts I64/I32/BOOL buffers, filters', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'model.safetensors');
    const values = [0, 1, -2.5, 1 / 3, 65519, 1e6, 1e-8, 2 ** -24];
    const tensors = new Map<string, TensorData>([
      ['b', { shape: [2, 4], data: new Float32Array(values) }],
      ['a', { shape: [], data: new Float32Array([7]) }],
      ['empty', { shape: [0, 3], data: new Float32Array(0) }],
    ]);
    await writeSafetensors(file, tensors, { dtype: 'F16', metadata: { format: 'pt', note: 'x' } });
    const raw = await readFile(file);
    const headerLen = Number(raw.readBigUInt64LE(0));
    assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');
    const header = JSON.parse(raw.subarray(8, 8 + headerLen).toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(header), ['a', 'b', 'empty', '__metadata__']);
    assert.deepEqual(header.b, { dtype: 'F16', shape: [2, 4], data_offsets: [2, 18] });
    const back = await readSafetensorsWithMetadata(file);
    assert.deepEqual(back.metadata, { format: 'pt', note: 'x' });
    assert.deepEqual(back.tensors.get('a'), { shape: [], data: new Float32Array([7]) });
    assert.deepEqual(back.tensors.get('empty'), { shape: [0, 3], data: new Float32Array(0) });
    const expected = values.map((v) => float16BitsToFloat32(float32ToFloat16Bits(v)));
    assert.deepEqual([...(back.tensors.get('b') as TensorData).data], expected);
    assert.deepEqual(expected.slice(4, 7), [65504, Infinity, 0]);
    assert.deepEqual(await readdir(dir), ['model.safetensors'], 'no temp file left behind');

    // BF16 (top half of float32) and the integer buffers old checkpoints carry.
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([0n, 1n, 511n, -3n]).buffer);
    const i32 = new Uint8Array(new Int32Array([5, -6]).buffer);
    const bool = new Uint8Array([1, 0, 1]);
    const data = new Uint8Array([...bf16, ...i64, ...i32, ...bool]);
    const buf = build(
      {
        w: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] },
        'bert.embeddings.position_ids': { dtype: 'I64', shape: [1, 4], data_offsets: [8, 40] },
        n: { dtype: 'I32', shape: [2], data_offsets: [40, 48] },
        m: { dtype: 'BOOL', shape: [3], data_offsets: [48, 51] },
      },
      data,
    );
    const { tensors: t } = parseSafetensors(buf, FILE);
    assert.deepEqual([...(t.get('w') as TensorData).data], [1, -3, Infinity, 2 ** -133]);
    assert.deepEqual(t.get('bert.embeddings.position_ids'), { shape: [1, 4], data: new Float32Array([0, 1, 511, -3]) });
    assert.deepEqual([...(t.get('n') as TensorData).data], [5, -6]);
    assert.deepEqual([...(t.get('m') as TensorData).data], [1, 0, 1]);
    const filtered = parseSafetensors(buf, FILE, { filter: (_name, dtype) => dtype === 'BF16' }).tensors;
    assert.deepEqual([...filtered.keys()], ['w']);
    // Unaligned data section (header length not a multiple of 4) still decodes.
    const odd = build(
      { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } },
      f32bytes([1.5, -2]),
      '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} ',
    );
    assert.deepEqual([...(parseSafetensors(odd, FILE).tensors.get('x') as TensorData).data], [1.5, -2]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('malformed files give errors naming the file, the tensor and the problem', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const d8 = f32bytes([1, 2]);
  expectError(new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length/);
  expectError(build({ x: ok }, d8).subarray(0, 20), /header length \d+ runs past the end of the file/);
  expectError(build(null, d8, '{"x": oops}'), /header is not valid UTF-8 JSON/);
  expectError(build([1, 2]), /header is an array, expected a JSON object/);
  expectError(build({ __metadata__: { format: 3 } }), /"__metadata__" field "format" is number, expected a string/);
  expectError(build({ x: 5 }), /tensor "x": header entry is number/);
  expectError(build({ x: { shape: [2], data_offsets: [0, 8] } }, d8), /tensor "x": "dtype" is missing/);
  expectError(
    build({ x: { ...ok, dtype: 'F8_E4M3', shape: [8] } }, d8),
    /tensor "x": dtype "F8_E4M3" is not supported \(supported: F32, F16, BF16/,
  );
  expectError(build({ x: { ...ok, dtype: 'Q4' } }, d8), /tensor "x": dtype "Q4" is not a known safetensors dtype/);
  expectError(build({ x: { ...ok, shape: [-2] } }, d8), /tensor "x": shape \[-2\] must hold non-negative integers/);
  expectError(build({ x: { ...ok, shape: [1.5] } }, d8), /tensor "x": shape \[1\.5\] must hold/);
  expectError(build({ x: { ...ok, shape: undefined } }, d8), /tensor "x": "shape" is missing/);
  expectError(build({ x: { ...ok, data_offsets: [0] } }, d8), /tensor "x": "data_offsets" must be \[begin, end\]/);
  expectError(
    build({ x: { ...ok, data_offsets: [8, 0] } }, d8),
    /tensor "x": data_offsets \[8, 0\]: begin is after end/,
  );
  expectError(
    build({ x: { ...ok, data_offsets: [0, 16], shape: [4] } }, d8),
    /tensor "x": data_offsets \[0, 16\] run past the 8-byte data section/,
  );
  expectError(
    build({ x: { ...ok, shape: [3] } }, d8),
    /tensor "x": data_offsets \[0, 8\] hold 8 bytes but F32 shape \[3\] needs 12/,
  );
  expectError(
    build({ x: ok, y: { ...ok, shape: [1], data_offsets: [4, 8] } }, f32bytes([1, 2])),
    /tensor "y": data_offsets \[4, 8\] overlap the previous tensor/,
  );
  expectError(
    build({ x: { ...ok, shape: [1], data_offsets: [4, 8] } }, d8),
    /tensor "x": data_offsets \[4, 8\] leave a gap/,
  );
  expectError(build({ x: ok }, f32bytes([1, 2, 3])), /tensors cover 8 bytes of the 12-byte data section/);
});

test('writeSafetensors refuses bad tensors and leaves nothing behind', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'model.safetensors');
    await writeFile(file, 'previous');
    await assert.rejects(
      writeSafetensors(file, new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]])),
      /model\.safetensors \(.*\): tensor "w": data has 3 values but shape \[2, 2\] needs 4/,
    );
    assert.equal(await readFile(file, 'utf8'), 'previous', 'a failed write keeps the old file');
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
    await assert.rejects(
      writeSafetensors(path.join(dir, 'missing', 'm.safetensors'), new Map()),
      /m\.safetensors \(.*\): cannot write/,
    );
    await assert.rejects(readSafetensors(path.join(dir, 'nope.safetensors')), /nope\.safetensors \(.*\): cannot open/);
    await writeFile(file, new Uint8Array(3));
    await assert.rejects(readSafetensors(file), /file is 3 bytes, shorter than the 8-byte header length/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
