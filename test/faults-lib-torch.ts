// pytorch_model.bin files written by hand for the fault tests: a zip holding a data.pkl of one
// tensor over one storage, as torch.save writes them (the reader's own tests are in torchbin.test.ts).
import { deflateRawSync } from 'node:zlib';

const u16 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const bytesOf = (...parts: (Uint8Array | number[] | string)[]): Uint8Array =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))));

/** data.pkl of `{name: tensor(size) over FloatStorage "0" of numel elements}`, as torch.save writes it. */
export function onePickle(name: string, numel: number, size: number[]): Uint8Array {
  const str = (s: string) => bytesOf('X', u32(Buffer.byteLength(s)), s);
  const int = (n: number) => (n < 256 ? [0x4b, n] : [0x4a, ...u32(n)]);
  const tuple = (xs: number[]) => bytesOf('(', ...xs.map(int), 't');
  const stride = size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));
  return bytesOf(
    [0x80, 2],
    'ccollections\nOrderedDict\n',
    [0x71, 0],
    ')R',
    str(name),
    'ctorch._utils\n_rebuild_tensor_v2\n',
    '((',
    str('storage'),
    'ctorch\nFloatStorage\n',
    str('0'),
    str('cpu'),
    int(numel),
    'tQ',
    int(0),
    tuple(size),
    tuple(stride),
    [0x89],
    [0x68, 0],
    ')R',
    'tRs.',
  );
}

/** A zip of deflated entries (CRCs are not checked by the reader), below 4 GB (no zip64). */
export function zip(entries: [string, Uint8Array | { deflated: Uint8Array; size: number }][]): Uint8Array {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, entry] of entries) {
    // An entry may come deflated already (from a stream: data too large to hold at once).
    const [body, size] =
      entry instanceof Uint8Array ? [deflateRawSync(entry), entry.length] : [entry.deflated, entry.size];
    const common = bytesOf(
      u16(20),
      u16(0),
      u16(8),
      u16(0),
      u16(0),
      u32(0),
      u32(body.length),
      u32(size),
      u16(name.length),
      u16(0),
    );
    const local = bytesOf(u32(0x04034b50), common, name, body);
    central.push(bytesOf(u32(0x02014b50), u16(20), common, u16(0), u16(0), u16(0), u32(0), u32(offset), name));
    locals.push(local);
    offset += local.length;
  }
  const dir = bytesOf(...central);
  return bytesOf(
    ...locals,
    dir,
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(entries.length),
    u16(entries.length),
    u32(dir.length),
    u32(offset),
    u16(0),
  );
}
