// Reader for PyTorch `pytorch_model.bin` state dicts, without Python and without running any code
// from the file. Both torch.save formats are read:
//   - the zip format (torch >= 1.6): `<name>/data.pkl` plus one `<name>/data/<key>` entry per storage;
//   - the legacy format (older checkpoints): pickles of a magic number, protocol and sys info, then
//     the state dict, then the storage keys, then each storage as an int64 element count and raw bytes.
// The pickle is read by a small interpreter that knows only the opcodes and the handful of globals
// torch uses for a state dict; any other global is refused, so a malicious file cannot execute code.
import type { FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { constants as bufferConstants } from 'node:buffer';
import {
  DTYPE_SIZE,
  WeightsError,
  decodeToFloat32,
  openWeights,
  readExactly,
  type SafetensorsReadDtype,
  type TensorData,
} from './safetensors.js';
import { failWith } from './validate.js';

/** torch storage classes and the dtype of their elements. */
const STORAGE_DTYPES: Readonly<Record<string, SafetensorsReadDtype>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** Largest tensor materialized (a Float32Array limit), so a crafted size fails cleanly. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

class PyGlobal {
  constructor(readonly name: string) {}
}

class StorageRef {
  constructor(
    readonly dtype: SafetensorsReadDtype,
    readonly key: string,
    readonly viewOffset = 0,
    readonly viewSize?: number,
    /** Elements the pickle says the storage holds: checked against its zip entry before reading it. */
    readonly numel?: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

class Mark {}

type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyValue, PyValue>
  | PyGlobal
  | StorageRef
  | TensorRef;
type StackItem = PyValue | Mark;

const fail: (file: string, what: string) => never = failWith(WeightsError);
const MAX_ENTRY_BYTES = Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER);

function kindOf(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'tuple/list';
  if (v instanceof Map) return 'dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyGlobal) return `global ${v.name}`;
  if (v instanceof StorageRef) return 'storage';
  if (v instanceof TensorRef) return 'tensor';
  return typeof v;
}

function toInt(v: PyValue, file: string, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    fail(file, `pickle: ${what} is ${kindOf(v)}, expected an integer`);
  return n;
}

function toIntTuple(v: PyValue, file: string, what: string): number[] {
  if (!Array.isArray(v)) fail(file, `pickle: ${what} is ${kindOf(v)}, expected a tuple of integers`);
  return v.map((x) => toInt(x, file, what));
}

/**
 * Interprets one pickle starting at `pos`. `persistentLoad` resolves BINPERSID references (storages).
 * Returns the unpickled value and the position after its STOP opcode.
 */
function unpickle(
  buf: Uint8Array,
  pos: number,
  file: string,
  persistentLoad: (pid: PyValue) => PyValue,
): { value: PyValue; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const need = (n: number): void => {
    if (pos + n > buf.length) fail(file, 'pickle: data ends in the middle of an opcode (truncated file?)');
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = Number(view.getBigUint64(pos, true));
    pos += 8;
    return v;
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) fail(file, 'pickle: unterminated text argument (truncated file?)');
    const s = utf8.decode(buf.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      fail(file, 'pickle: stack underflow');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail(file, 'pickle: stack underflow');
    const v = stack[stack.length - 1];
    if (v instanceof Mark) fail(file, 'pickle: unexpected mark');
    return v;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail(file, 'pickle: no mark on the stack');
    const items = stack.splice(m);
    return items as PyValue[];
  };
  const push = (v: StackItem): void => {
    stack.push(v);
  };
  const setItems = (dict: PyValue, items: PyValue[]): void => {
    if (!(dict instanceof Map)) fail(file, `pickle: SETITEM on ${kindOf(dict)}`);
    if (items.length % 2) fail(file, 'pickle: odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const appendItems = (list: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(list)) fail(file, `pickle: APPEND on ${kindOf(list)}`);
    list.push(...items);
  };
  const global = (module: string, name: string): PyGlobal => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      fail(
        file,
        `pickle: refusing global ${full}: only a plain state dict of tensors is read (never code); re-save the weights as model.safetensors`,
      );
    }
    return new PyGlobal(full);
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) fail(file, `pickle: cannot call ${kindOf(fn)}`);
    if (!Array.isArray(args)) fail(file, `pickle: arguments of ${fn.name} are ${kindOf(args)}, expected a tuple`);
    switch (fn.name) {
      case 'collections.OrderedDict':
        if (args.length !== 0) fail(file, 'pickle: OrderedDict built from arguments is not supported');
        return new Map();
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef))
          fail(file, `pickle: ${fn.name} got ${kindOf(storage as PyValue)} instead of a storage`);
        const shape = toIntTuple(size as PyValue, file, 'tensor size');
        const strides = toIntTuple(stride as PyValue, file, 'tensor stride');
        if (strides.length !== shape.length)
          fail(
            file,
            `pickle: tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`,
          );
        return new TensorRef(storage, toInt(offset as PyValue, file, 'storage offset'), shape, strides);
      }
      case 'torch._utils._rebuild_parameter':
        return args[0] ?? null;
      default:
        fail(file, `pickle: ${fn.name} cannot be called`);
    }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        u64();
        break; // FRAME: framing is only a hint for buffered readers
      case 0x2e: {
        // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x30:
        pop();
        break; // POP
      case 0x32:
        push(top());
        break; // DUP
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(u16());
        break; // BININT2
      case 0x4a: {
        // BININT
        need(4);
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = bytes(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x49: {
        // INT (text)
        const s = line();
        push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58:
        push(utf8.decode(bytes(u32())));
        break; // BINUNICODE
      case 0x8c:
        push(utf8.decode(bytes(u8())));
        break; // SHORT_BINUNICODE
      case 0x8d:
        push(utf8.decode(bytes(u64())));
        break; // BINUNICODE8
      case 0x54:
        push(utf8.decode(bytes(u32())));
        break; // BINSTRING (py2 str; ASCII keys in practice)
      case 0x55:
        push(utf8.decode(bytes(u8())));
        break; // SHORT_BINSTRING
      case 0x42:
        push(bytes(u32()).slice());
        break; // BINBYTES
      case 0x43:
        push(bytes(u8()).slice());
        break; // SHORT_BINBYTES
      case 0x29:
        push([]);
        break; // EMPTY_TUPLE
      case 0x5d:
        push([]);
        break; // EMPTY_LIST
      case 0x7d:
        push(new Map());
        break; // EMPTY_DICT
      case 0x74:
        push(popMark());
        break; // TUPLE
      case 0x6c:
        push(popMark());
        break; // LIST
      case 0x85:
        push([pop()]);
        break; // TUPLE1
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x64: {
        // DICT
        const d = new Map<PyValue, PyValue>();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x70:
        memo.set(Number.parseInt(line(), 10), top());
        break; // PUT
      case 0x68:
      case 0x6a:
      case 0x67: {
        // BINGET, LONG_BINGET, GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(idx)) fail(file, `pickle: memo entry ${idx} read before it was written`);
        push(memo.get(idx) as PyValue);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail(file, 'pickle: STACK_GLOBAL needs two strings');
        push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        push(reduce(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); torch state dicts only need OrderedDict
        const args = pop();
        push(reduce(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: state applied to an object; a state dict's `_metadata` attribute is not needed
        pop();
        const obj = top();
        if (!(obj instanceof Map) && !(obj instanceof TensorRef)) fail(file, `pickle: BUILD on ${kindOf(obj)}`);
        break;
      }
      case 0x51:
        push(persistentLoad(pop()));
        break; // BINPERSID
      default:
        fail(
          file,
          `pickle: opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1} is not supported in a state dict`,
        );
    }
  }
}

/** `('storage', <storage class>, key, location, numel[, view_metadata])` → StorageRef. */
function storageFromPid(pid: PyValue, file: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
    fail(file, `pickle: persistent id ${kindOf(pid)} is not a torch storage`);
  const cls = pid[1];
  if (!(cls instanceof PyGlobal)) fail(file, `pickle: storage type is ${kindOf(cls)}`);
  const dtype = STORAGE_DTYPES[cls.name.replace(/^torch\./, '')];
  if (!dtype) fail(file, `pickle: storage type ${cls.name} is not supported`);
  const key = pid[2];
  if (typeof key !== 'string' || !/^[\w.-]+$/.test(key))
    fail(file, `pickle: storage key ${JSON.stringify(String(key))} is invalid`);
  // Legacy files may reference a view of a larger storage: (view_key, offset, size).
  const viewMeta = pid[5];
  if (Array.isArray(viewMeta)) {
    return new StorageRef(
      dtype,
      key,
      toInt(viewMeta[1] ?? null, file, 'storage view offset'),
      toInt(viewMeta[2] ?? null, file, 'storage view size'),
    );
  }
  return new StorageRef(dtype, key, 0, undefined, toInt(pid[4] ?? null, file, `storage ${key} element count`));
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Reads the zip central directory (with zip64 records, which torch writes for large files). */
async function zipEntries(fh: FileHandle, size: number, file: string): Promise<Map<string, ZipEntry>> {
  const tailLen = Math.min(size, 22 + 65535 + 20);
  const tail = await readExactly(fh, tailLen, size - tailLen, file, 'the zip directory');
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(file, 'zip end-of-directory record not found: truncated or not a torch.save file');
  let count = tv.getUint16(eocd + 10, true);
  let dirSize = tv.getUint32(eocd + 12, true);
  let dirOffset = tv.getUint32(eocd + 16, true);
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64At = Number(tv.getBigUint64(eocd - 20 + 8, true));
    const z64 = new DataView((await readExactly(fh, 56, z64At, file, 'the zip64 directory')).buffer);
    if (z64.getUint32(0, true) !== 0x06064b50) fail(file, 'zip64 end-of-directory record is corrupt');
    count = Number(z64.getBigUint64(32, true));
    dirSize = Number(z64.getBigUint64(40, true));
    dirOffset = Number(z64.getBigUint64(48, true));
  }
  if (dirOffset + dirSize > size) fail(file, 'zip directory runs past the end of the file (truncated?)');
  const dir = await readExactly(fh, dirSize, dirOffset, file, 'the zip directory');
  const dv = new DataView(dir.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dv.getUint32(p, true) !== 0x02014b50) fail(file, `zip directory entry ${i} is corrupt`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let fileSize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > dir.length)
      fail(file, `zip directory entry ${i} runs past the end of the directory: the file is corrupt`);
    const name = new TextDecoder().decode(dir.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extra field: the 64-bit values present are those whose 32-bit field is 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (fileSize === 0xffffffff) {
          fileSize = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (localOffset === 0xffffffff) {
          localOffset = Number(dv.getBigUint64(q, true));
          q += 8;
        }
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size: fileSize, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** A zip64 size as text: exact up to 2^53, beyond it the power of two (a double cannot say more). */
const byteCount = (n: number) => (n <= Number.MAX_SAFE_INTEGER ? String(n) : `about 2^${Math.log2(n).toFixed(1)}`);

async function zipRead(fh: FileHandle, entry: ZipEntry, fileSize: number, file: string): Promise<Uint8Array> {
  const local = new DataView((await readExactly(fh, 30, entry.localOffset, file, `zip entry ${entry.name}`)).buffer);
  if (local.getUint32(0, true) !== 0x04034b50) fail(file, `zip entry ${entry.name}: local header is corrupt`);
  const start = entry.localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
  if (start + entry.compressedSize > fileSize)
    fail(file, `zip entry ${entry.name} runs past the end of the file (truncated?)`);
  // zip64 sizes run to 2^64: one past what a buffer can hold is a corrupt entry, not an allocation to try.
  if (entry.size > MAX_ENTRY_BYTES || entry.compressedSize > MAX_ENTRY_BYTES)
    fail(
      file,
      `zip entry ${entry.name} declares ${byteCount(entry.size)} bytes (${byteCount(entry.compressedSize)} compressed), more than one buffer holds (${MAX_ENTRY_BYTES}): the file is corrupt or crafted`,
    );
  const raw = await readExactly(fh, entry.compressedSize, start, file, `zip entry ${entry.name}`);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    let out: Buffer;
    try {
      // Bounded by the declared size, so a crafted entry cannot inflate without limit.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    } catch (e) {
      fail(file, `zip entry ${entry.name}: cannot inflate: ${(e as Error).message}`);
    }
    if (out.byteLength !== entry.size)
      fail(file, `zip entry ${entry.name}: inflates to ${out.byteLength} bytes, the directory says ${entry.size}`);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  fail(file, `zip entry ${entry.name}: compression method ${entry.method} is not supported`);
}

/** Gathers a (possibly strided, offset) tensor out of its storage into a contiguous float32 array. */
function gather(name: string, t: TensorRef, storage: Float32Array, file: string): TensorData {
  const count = t.size.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS)
    fail(file, `tensor "${name}": size ${JSON.stringify(t.size)} has more elements than one array can hold`);
  if (t.size.some((d) => d < 0) || t.stride.some((s) => s < 0) || t.offset < 0) {
    fail(file, `tensor "${name}": negative size, stride or offset`);
  }
  if (count > 0) {
    const last = t.offset + t.size.reduce((acc, d, i) => acc + (d - 1) * t.stride[i], 0);
    if (last >= storage.length) {
      fail(
        file,
        `tensor "${name}": size ${JSON.stringify(t.size)}, stride ${JSON.stringify(t.stride)} and offset ${t.offset} reach element ${last} of a ${storage.length}-element storage`,
      );
    }
  }
  const out = new Float32Array(count);
  let contiguous = true;
  for (let i = t.size.length - 1, s = 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== s) contiguous = false;
    s *= t.size[i];
  }
  if (contiguous) {
    out.set(storage.subarray(t.offset, t.offset + count));
  } else {
    const rank = t.size.length;
    const idx = new Array<number>(rank).fill(0);
    let src = t.offset;
    for (let i = 0; i < count; i++) {
      out[i] = storage[src];
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]++;
        src += t.stride[d];
        if (idx[d] < t.size[d]) break;
        src -= t.stride[d] * t.size[d];
        idx[d] = 0;
      }
    }
  }
  return { shape: [...t.size], data: out };
}

function stateDictEntries(value: PyValue, file: string): [string, TensorRef][] {
  if (!(value instanceof Map))
    fail(file, `the pickle holds ${kindOf(value)}, expected a state dict (a dict of tensors)`);
  const out: [string, TensorRef][] = [];
  for (const [k, v] of value) {
    if (typeof k !== 'string') fail(file, `state dict key ${kindOf(k)} is not a string`);
    if (!(v instanceof TensorRef))
      fail(
        file,
        `tensor "${k}": value is ${kindOf(v)}, expected a tensor (is this a full training checkpoint rather than a state dict?)`,
      );
    out.push([k, v]);
  }
  return out;
}

export interface TorchReadOptions {
  /** Return false to skip a tensor. */
  filter?: (name: string, shape: readonly number[]) => boolean;
}

function decodeStorage(bytes: Uint8Array, dtype: SafetensorsReadDtype, key: string, file: string): Float32Array {
  const size = DTYPE_SIZE[dtype];
  if (bytes.length % size)
    fail(file, `storage ${key}: ${bytes.length} bytes is not a whole number of ${dtype} elements`);
  return decodeToFloat32(bytes, dtype, bytes.length / size);
}

async function readZipFormat(
  fh: FileHandle,
  size: number,
  file: string,
  opts: TorchReadOptions,
): Promise<Map<string, TensorData>> {
  const entries = await zipEntries(fh, size, file);
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (!pkl) fail(file, 'no data.pkl in the zip: not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const pickle = await zipRead(fh, entries.get(pkl) as ZipEntry, size, file);
  const { value } = unpickle(pickle, 0, file, (pid) => storageFromPid(pid, file));
  const storages = new Map<string, Float32Array>();
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of stateDictEntries(value, file)) {
    if (opts.filter && !opts.filter(name, t.size)) continue;
    let data = storages.get(t.storage.key);
    if (!data) {
      const entry = entries.get(`${prefix}data/${t.storage.key}`);
      if (!entry) fail(file, `tensor "${name}": storage ${prefix}data/${t.storage.key} is missing from the zip`);
      // Checked before inflating: an entry far larger than its storage would otherwise take its size in memory.
      const want = t.storage.numel === undefined ? undefined : t.storage.numel * DTYPE_SIZE[t.storage.dtype];
      if (want !== undefined && entry.size !== want)
        fail(
          file,
          `zip entry ${entry.name} holds ${entry.size} bytes, but its storage is ${t.storage.numel} ${t.storage.dtype} elements (${want} bytes): the file is corrupt or crafted`,
        );
      data = decodeStorage(await zipRead(fh, entry, size, file), t.storage.dtype, t.storage.key, file);
      storages.set(t.storage.key, data);
    }
    tensors.set(name, gather(name, t, data, file));
  }
  return tensors;
}

async function readLegacyFormat(
  fh: FileHandle,
  size: number,
  file: string,
  opts: TorchReadOptions,
): Promise<Map<string, TensorData>> {
  // The legacy stream has no index, so it is read whole; such checkpoints predate very large models.
  const buf = await readExactly(fh, size, 0, file, 'the file');
  const refuse = (): never => fail(file, 'pickle: unexpected persistent id in the legacy header');
  const magic = unpickle(buf, 0, file, refuse);
  if (magic.value !== 0x1950a86a20f9469cfc6cn)
    fail(file, 'not a PyTorch file: neither a zip archive nor a legacy torch.save stream');
  const protocol = unpickle(buf, magic.end, file, refuse);
  if (protocol.value !== 1001)
    fail(file, `legacy torch.save protocol ${String(protocol.value)} is not supported (expected 1001)`);
  const sysInfo = unpickle(buf, protocol.end, file, refuse);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false)
    fail(file, 'big-endian checkpoints are not supported');
  const main = unpickle(buf, sysInfo.end, file, (pid) => storageFromPid(pid, file));
  const keys = unpickle(buf, main.end, file, refuse);
  if (!Array.isArray(keys.value)) fail(file, 'legacy storage key list is missing');
  // Storages follow in key order, each as an int64 element count then the raw data.
  const dtypes = new Map<string, SafetensorsReadDtype>();
  const collect = (v: PyValue): void => {
    if (v instanceof TensorRef) dtypes.set(v.storage.key, v.storage.dtype);
    else if (v instanceof Map) for (const x of v.values()) collect(x);
  };
  collect(main.value);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const raw = new Map<string, Float32Array>();
  let pos = keys.end;
  for (const k of keys.value) {
    const key = String(k);
    if (pos + 8 > buf.length) fail(file, `storage ${key}: file ends before its data (truncated?)`);
    const numel = Number(dv.getBigInt64(pos, true));
    pos += 8;
    const dtype = dtypes.get(key);
    if (!dtype) fail(file, `storage ${key} is not used by any tensor of the state dict`);
    const bytes = numel * DTYPE_SIZE[dtype];
    if (numel < 0 || pos + bytes > buf.length)
      fail(file, `storage ${key}: ${bytes} bytes run past the end of the file (truncated?)`);
    raw.set(key, decodeToFloat32(buf.subarray(pos, pos + bytes), dtype, numel));
    pos += bytes;
  }
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of stateDictEntries(main.value, file)) {
    if (opts.filter && !opts.filter(name, t.size)) continue;
    let data = raw.get(t.storage.key);
    if (!data) fail(file, `tensor "${name}": storage ${t.storage.key} is missing from the file`);
    if (t.storage.viewSize !== undefined)
      data = data.subarray(t.storage.viewOffset, t.storage.viewOffset + t.storage.viewSize);
    tensors.set(name, gather(name, t, data, file));
  }
  return tensors;
}

/**
 * Reads a PyTorch state dict (`pytorch_model.bin`) into float32 tensors, in the file's order.
 * Only tensors are read: a file whose pickle names anything but torch's tensor-rebuilding
 * functions and storage types is refused with a WeightsError, never executed.
 */
export async function readTorchBin(file: string, opts: TorchReadOptions = {}): Promise<Map<string, TensorData>> {
  const fh = await openWeights(file);
  try {
    const size = (await fh.stat()).size;
    if (size < 4) fail(file, `file is ${size} bytes: not a PyTorch checkpoint`);
    const head = await readExactly(fh, 4, 0, file, 'the file signature');
    try {
      if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)
        return await readZipFormat(fh, size, file, opts);
      if (head[0] === 0x80) return await readLegacyFormat(fh, size, file, opts);
    } catch (e) {
      // A pickle whose objects contain themselves recurses without end while its values are walked.
      if (e instanceof RangeError && /call stack/.test(e.message))
        fail(file, 'pickle: objects nested too deep or containing themselves: the file is corrupt or crafted');
      throw e;
    }
    if (head[0] === 0x1f && head[1] === 0x8b) fail(file, 'gzip/tar torch checkpoints (torch < 0.4) are not supported');
    fail(file, 'not a PyTorch checkpoint: neither a zip archive nor a pickle');
  } finally {
    await fh.close();
  }
}
