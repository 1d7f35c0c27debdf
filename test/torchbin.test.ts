import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readTorchBin } from '../src/io/torchbin.js';
import { readModelWeights } from '../src/io/weights.js';
import { readSafetensors, writeSafetensors, WeightsError, type TensorData } from '../src/io/safetensors.js';
import { haveShared, shared, withTemp } from './shared.js';
import { cat, glob, int, stateDictPickle, str, u16, zip } from './torch-files.js';

const enc = new TextEncoder();
const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

test('reads a hand-made torch zip: contiguous, strided, shared and deflated storages', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'pytorch_model.bin');
    const pkl = stateDictPickle([
      { name: 'w', storage: 'FloatStorage', key: '0', numel: 6, offset: 0, size: [2, 3], stride: [3, 1] },
      { name: 'w.T', storage: 'FloatStorage', key: '0', numel: 6, offset: 0, size: [3, 2], stride: [1, 3] },
      { name: 'row1', storage: 'FloatStorage', key: '0', numel: 6, offset: 3, size: [3], stride: [1] },
      { name: 'ids', storage: 'LongStorage', key: '1', numel: 3, offset: 0, size: [1, 3], stride: [3, 1] },
    ]);
    const ids = new Uint8Array(new BigInt64Array([0n, 1n, 2n]).buffer);
    await writeFile(
      file,
      zip([
        ['archive/data.pkl', pkl],
        ['archive/data/0', f32([0, 1, 2, 3, 4, 5])],
        ['archive/data/1', ids, true],
        ['archive/version', enc.encode('3\n')],
      ]),
    );
    const t = await readTorchBin(file);
    assert.deepEqual([...t.keys()], ['w', 'w.T', 'row1', 'ids']);
    assert.deepEqual(t.get('w'), { shape: [2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) });
    assert.deepEqual(t.get('w.T'), { shape: [3, 2], data: new Float32Array([0, 3, 1, 4, 2, 5]) });
    assert.deepEqual(t.get('row1'), { shape: [3], data: new Float32Array([3, 4, 5]) });
    assert.deepEqual(t.get('ids'), { shape: [1, 3], data: new Float32Array([0, 1, 2]) });
    assert.deepEqual([...(await readTorchBin(file, { filter: (n) => n === 'ids' })).keys()], ['ids']);
  });
});

test('refuses code, and names the file and tensor when something is wrong', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'pytorch_model.bin');
    const check = async (bytes: Uint8Array, pattern: RegExp): Promise<void> => {
      await writeFile(file, bytes);
      await assert.rejects(readTorchBin(file), (e: unknown) => {
        assert.ok(e instanceof WeightsError, String(e));
        assert.match(e.message, /^pytorch_model\.bin \(.*pytorch_model\.bin\): /);
        assert.match(e.message, pattern);
        return true;
      });
    };
    const evil = cat([0x80, 2], glob('os', 'system'), str('touch pwned'), [0x85], 'R.');
    await check(evil, /pickle: refusing global os\.system: only a plain state dict of tensors is read \(never code\)/);
    await check(zip([['archive/data.pkl', evil]]), /refusing global os\.system/);
    const evil4 = cat([0x80, 4], [0x8c, 8], 'builtins', [0x8c, 4], 'eval', [0x93], '.');
    await check(zip([['a/data.pkl', evil4]]), /refusing global builtins\.eval/);
    const tensor = { name: 'w', storage: 'FloatStorage', key: '0', numel: 4, offset: 0, size: [2, 2], stride: [2, 1] };
    await check(
      zip([['a/data.pkl', stateDictPickle([tensor])]]),
      /tensor "w": storage a\/data\/0 is missing from the zip/,
    );
    await check(
      zip([
        ['a/data.pkl', stateDictPickle([{ ...tensor, size: [3, 2] }])],
        ['a/data/0', f32([1, 2, 3, 4])],
      ]),
      /tensor "w": size \[3,2\], stride \[2,1\] and offset 0 reach element 5 of a 4-element storage/,
    );
    await check(
      zip([['a/data.pkl', stateDictPickle([{ ...tensor, storage: 'ComplexFloatStorage' }])]]),
      /refusing global torch\.ComplexFloatStorage/,
    );
    await check(
      zip([['a/data.pkl', cat([0x80, 2], '}', str('step'), int(3), 's.')]]),
      /tensor "step": value is number, expected a tensor/,
    );
    await check(zip([['a/data.pkl', stateDictPickle([tensor]).subarray(0, 60)]]), /pickle: .*\(truncated file\?\)/);
    await check(zip([['a/other.txt', enc.encode('x')]]), /no data\.pkl in the zip: not a torch\.save file/);
    await check(zip([['a/data.pkl', evil]]).subarray(0, 40), /zip end-of-directory record not found/);
    await check(enc.encode('hello world'), /not a PyTorch checkpoint/);
    await check(
      zip([
        ['a/data.pkl', stateDictPickle([{ ...tensor, size: [255, 255, 255, 255], stride: [0, 0, 0, 0] }])],
        ['a/data/0', f32([1, 2, 3, 4])],
      ]),
      /tensor "w": size \[255,255,255,255\] has more elements than one array can hold/,
    );
    // A deflated entry that claims fewer bytes than it inflates to is refused, not inflated without bound.
    const bomb = zip([
      ['a/data.pkl', stateDictPickle([tensor])],
      ['a/data/0', new Uint8Array(1 << 20), true],
    ]);
    const dv = new DataView(bomb.buffer);
    const cd = dv.getUint32(bomb.length - 6, true);
    const second = cd + 46 + 'a/data.pkl'.length;
    dv.setUint32(second + 24, 16, true);
    await check(bomb, /zip entry a\/data\/0: cannot inflate/);
    // An honest entry of zeros far larger than its storage: refused from the sizes, before inflating.
    await check(
      zip([
        ['a/data.pkl', stateDictPickle([tensor])],
        ['a/data/0', new Uint8Array(64 << 20), true],
      ]),
      /zip entry a\/data\/0 holds 67108864 bytes, but its storage is 4 F32 elements \(16 bytes\)/,
    );
    // A zip64 size of 2^62 is refused from the directory, not tried as an allocation.
    await check(
      zip([['a/data.pkl', stateDictPickle([tensor]), false, 2n ** 62n]]),
      /zip entry a\/data\.pkl declares about 2\^62\.0 bytes \(146 compressed\), more than one buffer holds .*: the file is corrupt or crafted/,
    );
    // A legacy stream whose state dict contains itself: named, not "Maximum call stack size exceeded".
    const magic = [0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    await check(
      cat(
        [0x80, 2],
        magic,
        '.',
        [0x80, 2],
        'M',
        u16(1001),
        '.',
        [0x80, 2],
        '}.',
        [0x80, 2],
        '}',
        [0x71, 0],
        str('self'),
        [0x68, 0],
        's.',
        [0x80, 2],
        '].',
      ),
      /pickle: objects nested too deep or containing themselves: the file is corrupt or crafted/,
    );
  });
});

const SCRIPT = String.raw`
import json, struct, sys, collections
import numpy as np, torch
out, st = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
sd = collections.OrderedDict()
lin = torch.nn.Linear(5, 3)
for k, v in lin.state_dict().items(): sd['lin.' + k] = v
big = torch.randn(4, 6)
sd['t'] = big.t()
sd['narrow'] = big[1:3, 2:5]
sd['half'] = torch.randn(7).half()
sd['bf16'] = torch.randn(7).bfloat16()
sd['f64'] = torch.randn(3).double()
sd['position_ids'] = torch.arange(8).expand((1, -1))
sd['mask'] = torch.tensor([True, False, True])
sd['scalar'] = torch.tensor(2.5)
torch.save(sd, out + '/zip.bin')
torch.save(sd, out + '/legacy.bin', _use_new_zipfile_serialization=False)
json.dump({k: {'shape': list(v.shape), 'data': v.float().flatten().tolist()} for k, v in sd.items()}, open(out + '/expected.json', 'w'))
# The parity fixture as PyTorch weights, read with numpy (no safetensors module needed).
if st:
    b = open(st, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    sd2 = collections.OrderedDict()
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']
        sd2[k] = torch.from_numpy(np.frombuffer(b[8 + n + s:8 + n + e], dtype='<f4').copy()).reshape(v['shape'])
    torch.save(sd2, out + '/parity.bin')
`;

test('reads what torch.save writes, zip and legacy formats, exactly', { timeout: 120_000 }, async (t) => {
  await withTemp(async (dir) => {
    const st = haveShared ? shared('fixtures/parity/tiny-bert-cls/model.safetensors') : '';
    // Debian's python3-torch lives in /usr/bin/python3; a python3 earlier on PATH may lack it.
    let ran = false;
    for (const py of ['python3', '/usr/bin/python3']) {
      try {
        execFileSync(py, ['-c', SCRIPT, dir, st], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
        ran = true;
        break;
      } catch (e) {
        const stderr = String((e as { stderr?: unknown }).stderr ?? '');
        if (!/No module named '(torch|numpy)'|ENOENT/.test(stderr + String(e))) throw e;
      }
    }
    if (!ran) {
      t.skip('python3 with torch not found (apt-get install -y python3-torch)');
      return;
    }
    const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as Record<
      string,
      { shape: number[]; data: number[] }
    >;
    for (const name of ['zip.bin', 'legacy.bin']) {
      const got = await readTorchBin(path.join(dir, name));
      assert.deepEqual([...got.keys()], Object.keys(expected), name);
      for (const [k, e] of Object.entries(expected)) {
        const t = got.get(k);
        assert.ok(t);
        assert.deepEqual(t.shape, e.shape, `${name} ${k} shape`);
        assert.deepEqual(t.data, new Float32Array(e.data), `${name} ${k} values`);
      }
    }
    if (haveShared) {
      const fromBin = await readTorchBin(path.join(dir, 'parity.bin'));
      const fromSt = await readSafetensors(st);
      assert.equal(fromBin.size, fromSt.size);
      for (const [k, v] of fromSt) assert.deepEqual(fromBin.get(k), v, k);
    }
  });
});

test('readModelWeights picks safetensors, sharded safetensors or pytorch_model.bin', async () => {
  await withTemp(async (dir) => {
    await assert.rejects(
      readModelWeights(dir),
      /no weights found \(looked for model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin/,
    );
    const pkl = stateDictPickle([
      { name: 'w', storage: 'FloatStorage', key: '0', numel: 2, offset: 0, size: [2], stride: [1] },
    ]);
    await writeFile(
      path.join(dir, 'pytorch_model.bin'),
      zip([
        ['m/data.pkl', pkl],
        ['m/data/0', f32([1, 2])],
      ]),
    );
    let r = await readModelWeights(dir);
    assert.equal(path.basename(r.file), 'pytorch_model.bin');
    assert.deepEqual(r.tensors.get('w'), { shape: [2], data: new Float32Array([1, 2]) });

    const t = (xs: number[]): TensorData => ({ shape: [xs.length], data: new Float32Array(xs) });
    await writeSafetensors(
      path.join(dir, 'model-00001-of-00002.safetensors'),
      new Map([
        ['a', t([1])],
        ['b', t([2, 3])],
      ]),
    );
    await writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), new Map([['c', t([4])]]));
    const index = {
      metadata: { total_size: 16 },
      weight_map: {
        a: 'model-00001-of-00002.safetensors',
        b: 'model-00001-of-00002.safetensors',
        c: 'model-00002-of-00002.safetensors',
      },
    };
    await writeFile(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    r = await readModelWeights(dir);
    assert.equal(path.basename(r.file), 'model.safetensors.index.json');
    assert.deepEqual([...r.tensors.keys()].sort(), ['a', 'b', 'c']);
    assert.deepEqual(r.tensors.get('c'), t([4]));
    assert.deepEqual([...(await readModelWeights(dir, { filter: (n) => n !== 'b' })).tensors.keys()].sort(), [
      'a',
      'c',
    ]);
    await writeFile(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { ...index.weight_map, d: 'model-00002-of-00002.safetensors' } }),
    );
    await assert.rejects(
      readModelWeights(dir),
      /model\.safetensors\.index\.json \(.*\): tensor "d": listed in shard model-00002-of-00002\.safetensors but not found there/,
    );
    await writeFile(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: '../x.safetensors' } }),
    );
    await assert.rejects(
      readModelWeights(dir),
      /tensor "a": shard "\.\.\/x\.safetensors" is not a file name in this directory/,
    );

    if (haveShared) {
      await copyFile(shared('fixtures/parity/tiny-bert-cls/model.safetensors'), path.join(dir, 'model.safetensors'));
      r = await readModelWeights(dir);
      assert.equal(path.basename(r.file), 'model.safetensors');
      assert.equal(r.tensors.size, 41);
    }
  });
});
