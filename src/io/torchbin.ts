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

/** The pickle interpreter's state: the buffer and read position, the stack, its marks and the memo. */
class PickleMachine {
  readonly view: DataView;
  readonly utf8 = new TextDecoder('utf-8');
  readonly stack: StackItem[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, PyValue>();
  /** Set by STOP: the unpickled value. */
  result?: { value: PyValue };

  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly file: string,
    readonly persistentLoad: (pid: PyValue) => PyValue,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string): never {
    return fail(this.file, what);
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('pickle: data ends in the middle of an opcode (truncated file?)');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = Number(this.view.getBigUint64(this.pos, true));
    this.pos += 8;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A big-endian float64 (BINFLOAT). */
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  text(n: number): string {
    return this.utf8.decode(this.bytes(n));
  }
  /** A newline-terminated text argument (the protocol 0 opcodes). */
  line(): string {
    const nl = this.buf.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail('pickle: unterminated text argument (truncated file?)');
    const s = this.utf8.decode(this.buf.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
  pop(): PyValue {
    const { stack, marks } = this;
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      this.fail('pickle: stack underflow');
    return stack.pop() as PyValue;
  }
  top(): PyValue {
    if (this.stack.length === 0) this.fail('pickle: stack underflow');
    const v = this.stack[this.stack.length - 1];
    if (v instanceof Mark) this.fail('pickle: unexpected mark');
    return v;
  }
  popMark(): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('pickle: no mark on the stack');
    return this.stack.splice(m) as PyValue[];
  }
  push(v: StackItem): void {
    this.stack.push(v);
  }
  setItems(dict: PyValue, items: PyValue[]): void {
    if (!(dict instanceof Map)) this.fail(`pickle: SETITEM on ${kindOf(dict)}`);
    if (items.length % 2) this.fail('pickle: odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }
  appendItems(list: PyValue, items: PyValue[]): void {
    if (!Array.isArray(list)) this.fail(`pickle: APPEND on ${kindOf(list)}`);
    list.push(...items);
  }
  /** A global, only from ALLOWED_GLOBALS: anything else could run code. */
  global(module: string, name: string): PyGlobal {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full))
      this.fail(
        `pickle: refusing global ${full}: only a plain state dict of tensors is read (never code); re-save the weights as model.safetensors`,
      );
    return new PyGlobal(full);
  }
  /** A call of an allowed global: an empty OrderedDict, a tensor over a storage, or a parameter's tensor. */
  reduce(fn: PyValue, args: PyValue): PyValue {
    const file = this.file;
    if (!(fn instanceof PyGlobal)) this.fail(`pickle: cannot call ${kindOf(fn)}`);
    if (!Array.isArray(args)) this.fail(`pickle: arguments of ${fn.name} are ${kindOf(args)}, expected a tuple`);
    switch (fn.name) {
      case 'collections.OrderedDict':
        if (args.length !== 0) this.fail('pickle: OrderedDict built from arguments is not supported');
        return new Map();
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef))
          this.fail(`pickle: ${fn.name} got ${kindOf(storage)} instead of a storage`);
        const shape = toIntTuple(size, file, 'tensor size');
        const strides = toIntTuple(stride, file, 'tensor stride');
        if (strides.length !== shape.length)
          this.fail(
            `pickle: tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`,
          );
        return new TensorRef(storage, toInt(offset, file, 'storage offset'), shape, strides);
      }
      case 'torch._utils._rebuild_parameter':
        return args[0] ?? null;
      default:
        this.fail(`pickle: ${fn.name} cannot be called`);
    }
  }
}

/** One opcode's effect on the machine (`op` is the opcode byte, for handlers shared by several). */
type OpHandler = (m: PickleMachine, op: number) => void;

/** LONG1's argument: little-endian two's complement, a number when it fits one exactly. */
function long1(m: PickleMachine): PyValue {
  const b = m.bytes(m.u8());
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A memo read: BINGET (1-byte index), LONG_BINGET (4 bytes) or GET (text). */
const memoGet: OpHandler = (m, op) => {
  const idx = op === 0x68 ? m.u8() : op === 0x6a ? m.u32() : Number.parseInt(m.line(), 10);
  if (!m.memo.has(idx)) m.fail(`pickle: memo entry ${idx} read before it was written`);
  m.push(m.memo.get(idx) as PyValue);
};

/** REDUCE, and NEWOBJ (cls.__new__(cls, *args)), which torch state dicts use only for OrderedDict. */
const call: OpHandler = (m) => {
  const args = m.pop();
  m.push(m.reduce(m.pop(), args));
};

/**
 * The opcodes a torch state dict uses (protocols 0 to 4), by byte. Any other opcode is refused: the
 * reader interprets data, it never needs what builds arbitrary objects.
 */
const OPCODES: ReadonlyMap<number, OpHandler> = new Map<number, OpHandler>([
  [0x80, (m) => void m.u8()], // PROTO
  [0x95, (m) => void m.u64()], // FRAME: framing is only a hint for buffered readers
  [0x2e, (m) => (m.result = { value: m.pop() })], // STOP
  [0x28, (m) => void m.marks.push(m.stack.length)], // MARK
  [0x31, (m) => void m.popMark()], // POP_MARK
  [0x30, (m) => void m.pop()], // POP
  [0x32, (m) => m.push(m.top())], // DUP
  [0x4e, (m) => m.push(null)], // NONE
  [0x88, (m) => m.push(true)], // NEWTRUE
  [0x89, (m) => m.push(false)], // NEWFALSE
  [0x4b, (m) => m.push(m.u8())], // BININT1
  [0x4d, (m) => m.push(m.u16())], // BININT2
  [0x4a, (m) => m.push(m.i32())], // BININT
  [0x8a, (m) => m.push(long1(m))], // LONG1
  [
    0x49, // INT (text): 01 and 00 are protocol 0's True and False
    (m) => {
      const s = m.line();
      m.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
    },
  ],
  [0x47, (m) => m.push(m.f64())], // BINFLOAT
  [0x58, (m) => m.push(m.text(m.u32()))], // BINUNICODE
  [0x8c, (m) => m.push(m.text(m.u8()))], // SHORT_BINUNICODE
  [0x8d, (m) => m.push(m.text(m.u64()))], // BINUNICODE8
  [0x54, (m) => m.push(m.text(m.u32()))], // BINSTRING (py2 str; ASCII keys in practice)
  [0x55, (m) => m.push(m.text(m.u8()))], // SHORT_BINSTRING
  [0x42, (m) => m.push(m.bytes(m.u32()).slice())], // BINBYTES
  [0x43, (m) => m.push(m.bytes(m.u8()).slice())], // SHORT_BINBYTES
  [0x29, (m) => m.push([])], // EMPTY_TUPLE
  [0x5d, (m) => m.push([])], // EMPTY_LIST
  [0x7d, (m) => m.push(new Map())], // EMPTY_DICT
  [0x74, (m) => m.push(m.popMark())], // TUPLE
  [0x6c, (m) => m.push(m.popMark())], // LIST
  [0x85, (m) => m.push([m.pop()])], // TUPLE1
  [
    0x86, // TUPLE2
    (m) => {
      const b = m.pop();
      m.push([m.pop(), b]);
    },
  ],
  [
    0x87, // TUPLE3
    (m) => {
      const c = m.pop();
      const b = m.pop();
      m.push([m.pop(), b, c]);
    },
  ],
  [
    0x64, // DICT
    (m) => {
      const d = new Map<PyValue, PyValue>();
      m.setItems(d, m.popMark());
      m.push(d);
    },
  ],
  [
    0x73, // SETITEM
    (m) => {
      const v = m.pop();
      const k = m.pop();
      m.setItems(m.top(), [k, v]);
    },
  ],
  [
    0x75, // SETITEMS
    (m) => {
      const items = m.popMark();
      m.setItems(m.top(), items);
    },
  ],
  [
    0x61, // APPEND
    (m) => {
      const v = m.pop();
      m.appendItems(m.top(), [v]);
    },
  ],
  [
    0x65, // APPENDS
    (m) => {
      const items = m.popMark();
      m.appendItems(m.top(), items);
    },
  ],
  [0x71, (m) => void m.memo.set(m.u8(), m.top())], // BINPUT
  [0x72, (m) => void m.memo.set(m.u32(), m.top())], // LONG_BINPUT
  [0x94, (m) => void m.memo.set(m.memo.size, m.top())], // MEMOIZE
  [0x70, (m) => void m.memo.set(Number.parseInt(m.line(), 10), m.top())], // PUT
  [0x68, memoGet], // BINGET
  [0x6a, memoGet], // LONG_BINGET
  [0x67, memoGet], // GET
  [
    0x63, // GLOBAL
    (m) => {
      const module = m.line();
      m.push(m.global(module, m.line()));
    },
  ],
  [
    0x93, // STACK_GLOBAL
    (m) => {
      const name = m.pop();
      const module = m.pop();
      if (typeof module !== 'string' || typeof name !== 'string')
        fail(m.file, 'pickle: STACK_GLOBAL needs two strings');
      m.push(m.global(module, name));
    },
  ],
  [0x52, call], // REDUCE
  [0x81, call], // NEWOBJ
  [
    0x62, // BUILD: state applied to an object; a state dict's `_metadata` attribute is not needed
    (m) => {
      m.pop();
      const obj = m.top();
      if (!(obj instanceof Map) && !(obj instanceof TensorRef)) m.fail(`pickle: BUILD on ${kindOf(obj)}`);
    },
  ],
  [0x51, (m) => m.push(m.persistentLoad(m.pop()))], // BINPERSID
]);

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
  const m = new PickleMachine(buf, pos, file, persistentLoad);
  while (!m.result) {
    const op = m.u8();
    const handler = OPCODES.get(op);
    if (!handler)
      fail(
        file,
        `pickle: opcode 0x${op.toString(16).padStart(2, '0')} at byte ${m.pos - 1} is not supported in a state dict`,
      );
    handler(m, op);
  }
  return { value: m.result.value, end: m.pos };
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

/**
 * The most a data.pkl may declare: a state dict's pickle holds about 100 bytes a tensor, so 64 MiB
 * is over half a million tensors; more is a crafted file that would inflate before any other check.
 */
export const MAX_PICKLE_BYTES = 64 * 2 ** 20;

/**
 * Elements a storage may hold beyond what its views reach: as many again, and at least 64 Ki (a
 * tensor saved from a slice of a larger one keeps the larger storage; twice the data is what such a
 * checkpoint costs at most, where a crafted one would cost thousands of times its size).
 */
function storageAllowance(reached: number): number {
  return 2 * reached + 2 ** 16;
}

/**
 * For each storage key, the elements its tensor views reach (one past the last element any of them
 * reads) and the tensor reaching furthest, from the pickle alone: a storage can be judged before it is read.
 */
function storageReach(tensors: [string, TensorRef][], file: string): Map<string, { elements: number; tensor: string }> {
  const reach = new Map<string, { elements: number; tensor: string }>();
  for (const [name, t] of tensors) {
    if (t.size.some((d) => d < 0) || t.stride.some((s) => s < 0) || t.offset < 0)
      fail(file, `tensor "${name}": negative size, stride or offset`);
    const elements = t.size.includes(0)
      ? 0
      : t.offset + t.size.reduce((acc, d, i) => acc + (d - 1) * t.stride[i], 0) + 1;
    const prev = reach.get(t.storage.key);
    if (!prev || elements > prev.elements) reach.set(t.storage.key, { elements, tensor: name });
  }
  return reach;
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
  const pklEntry = entries.get(pkl) as ZipEntry;
  // Checked before inflating: a pickle of a state dict is about 100 bytes a tensor (a size past what a
  // buffer holds is zipRead's to name).
  if (pklEntry.size > MAX_PICKLE_BYTES && pklEntry.size <= MAX_ENTRY_BYTES)
    fail(
      file,
      `zip entry ${pkl} declares ${byteCount(pklEntry.size)} bytes, more than the ${MAX_PICKLE_BYTES} a state dict's pickle ` +
        'needs (about 100 bytes a tensor): the file is corrupt or crafted',
    );
  const pickle = await zipRead(fh, pklEntry, size, file);
  const { value } = unpickle(pickle, 0, file, (pid) => storageFromPid(pid, file));
  const entriesOfDict = stateDictEntries(value, file);
  const reach = storageReach(entriesOfDict, file);
  const storages = new Map<string, Float32Array>();
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of entriesOfDict) {
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
      // A storage far larger than every view of it: a small file would inflate to gigabytes of unused data.
      const used = reach.get(t.storage.key) ?? { elements: 0, tensor: name };
      const held = t.storage.numel ?? entry.size / DTYPE_SIZE[t.storage.dtype];
      if (held > storageAllowance(used.elements))
        fail(
          file,
          `tensor "${used.tensor}": its storage ${entry.name} holds ${held.toLocaleString('en-US')} ${t.storage.dtype} elements, ` +
            `but the tensors that use it reach only ${used.elements.toLocaleString('en-US')}: refused before inflating ` +
            `(${byteCount(entry.size)} bytes from ${byteCount(entry.compressedSize)} in the file); the file is crafted, or was saved ` +
            'from a view of a larger tensor: re-save the weights as model.safetensors (or save tensor.clone())',
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
