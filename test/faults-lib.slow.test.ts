// Slow faults of issue 25 below the command line: the pytorch_model.bin decompression bomb at its
// reported size (a 1 MB file whose storage inflates to 1 GiB), read in a child process whose peak
// memory is measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createDeflateRaw } from 'node:zlib';
import { onePickle, zip } from './torch-files.js';
import { repoRoot, withTemp } from './shared.js';

/** `bytes` zero bytes, deflated as a stream (never held whole). */
async function deflatedZeros(bytes: number): Promise<Uint8Array> {
  const z = createDeflateRaw({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((resolve) => z.on('end', resolve));
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!z.write(left >= chunk.length ? chunk : chunk.subarray(0, left)))
      await new Promise((resolve) => z.once('drain', resolve));
  }
  z.end();
  await done;
  return new Uint8Array(Buffer.concat(parts));
}

test('case 5: a 1 MB pytorch_model.bin whose storage inflates to 1 GiB is refused at once, in little memory', () =>
  withTemp(async (dir) => {
    const file = path.join(dir, 'pytorch_model.bin');
    const numel = 2 ** 28; // 268 M floats, 1 GiB, behind a [4, 4] tensor
    await writeFile(
      file,
      zip([
        ['archive/data.pkl', onePickle('bert.embeddings.word_embeddings.weight', numel, [4, 4])],
        ['archive/data/0', { deflated: await deflatedZeros(numel * 4), size: numel * 4 }],
      ]),
    );
    assert.ok(statSync(file).size < 1.1e6, `the file is ${statSync(file).size} bytes`);
    const script =
      `import { readTorchBin } from ${JSON.stringify(path.join(repoRoot, 'src/io/torchbin.ts'))};` +
      `const t0 = performance.now();` +
      `const r = await readTorchBin(${JSON.stringify(file)}).then(() => 'read', (e) => e.message);` +
      `console.log(JSON.stringify({ r, ms: performance.now() - t0, rssMB: process.resourceUsage().maxRSS / 1024 }));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    const { r, ms, rssMB } = JSON.parse(child.stdout.trim().split('\n').pop()!);
    assert.match(
      r,
      /tensor "bert\.embeddings\.word_embeddings\.weight": its storage archive\/data\/0 holds 268,435,456 F32 elements, but the tensors that use it reach only 16: refused before inflating/,
    );
    assert.ok(rssMB < 400, `peak RSS ${rssMB.toFixed(0)} MB`);
    assert.ok(ms < 2000, `refused after ${ms.toFixed(0)} ms`);
  }));
