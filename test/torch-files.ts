// torch.save files written by hand, so the reader is tested without Python: a pickle of a state
// dict (protocol 2, as torch.save writes it) and a zip of its entries (torchbin.test.ts, the fault
// tests of faults-lib*.test.ts).
import { deflateRawSync } from 'node:zlib';

const enc = new TextEncoder();
export const cat = (...parts: (Uint8Array | number[] | string)[]): Uint8Array => {
  const bufs = parts.map((p) =>
    typeof p === 'string' ? enc.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p),
  );
  const out = new Uint8Array(bufs.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of bufs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
};
export const u16 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff];
export const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
export const str = (s: string): Uint8Array => cat('X', u32(enc.encode(s).length), s);
/** BININT1 below 256, else BININT (storages of millions of elements). */
export const int = (n: number): number[] => (n < 256 ? [0x4b, n] : [0x4a, ...u32(n)]);
export const glob = (m: string, n: string): string => `c${m}\n${n}\n`;

/** Pickle of `OrderedDict(name -> tensor)` as torch.save writes it (protocol 2). */
export function stateDictPickle(
  tensors: {
    name: string;
    storage: string;
    key: string;
    numel: number;
    offset: number;
    size: number[];
    stride: number[];
  }[],
): Uint8Array {
  const tuple = (xs: number[]): Uint8Array => cat('(', ...xs.map(int), 't');
  const parts: Uint8Array[] = [cat([0x80, 2], glob('collections', 'OrderedDict'), [0x71, 0], ')R(')];
  for (const t of tensors) {
    parts.push(
      cat(
        str(t.name),
        glob('torch._utils', '_rebuild_tensor_v2'),
        '((',
        str('storage'),
        glob('torch', t.storage),
        str(t.key),
        str('cpu'),
        int(t.numel),
        'tQ',
        int(t.offset),
        tuple(t.size),
        tuple(t.stride),
        [0x89],
        [0x68, 0],
        ')R',
        'tR',
      ),
    );
  }
  parts.push(cat('u.'));
  return cat(...parts);
}

/** An entry's bytes, or bytes deflated already with their inflated size (data too large to hold at once). */
export type ZipData = Uint8Array | { deflated: Uint8Array; size: number };

/**
 * A zip of stored (or deflated) entries, enough for the reader (CRCs are not checked). An entry's
 * third field deflates it; its fourth, when given, is the uncompressed size its directory record
 * declares through a zip64 extra field (as torch writes for entries past 4 GB).
 */
export function zip(entries: [string, ZipData, boolean?, bigint?][]): Uint8Array {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, entry, deflate, size64] of entries) {
    const given = !(entry instanceof Uint8Array);
    const body = given ? entry.deflated : deflate ? new Uint8Array(deflateRawSync(entry)) : entry;
    const size = given ? entry.size : entry.length;
    const method = given || deflate ? 8 : 0;
    const common = cat(
      u16(20),
      u16(0),
      u16(method),
      u16(0),
      u16(0),
      u32(0),
      u32(body.length),
      u32(size),
      u16(enc.encode(name).length),
      u16(0),
    );
    const local = cat(u32(0x04034b50), common, name, body);
    if (size64 === undefined)
      central.push(cat(u32(0x02014b50), u16(20), common, u16(0), u16(0), u16(0), u32(0), u32(offset), name));
    else {
      const extra = new Uint8Array(12);
      const ev = new DataView(extra.buffer);
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 8, true);
      ev.setBigUint64(4, size64, true);
      const c = cat(common);
      new DataView(c.buffer).setUint32(18, 0xffffffff, true); // uncompressed size: in the zip64 field
      new DataView(c.buffer).setUint16(24, extra.length, true);
      central.push(cat(u32(0x02014b50), u16(20), c, u16(0), u16(0), u16(0), u32(0), u32(offset), name, extra));
    }
    locals.push(local);
    offset += local.length;
  }
  const dir = cat(...central);
  return cat(
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

/** data.pkl of `{name: tensor(size)}` over FloatStorage "0" of `numel` elements, contiguous. */
export function onePickle(name: string, numel: number, size: number[]): Uint8Array {
  const stride = size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));
  return stateDictPickle([{ name, storage: 'FloatStorage', key: '0', numel, offset: 0, size, stride }]);
}
