// The few ONNX protobuf messages an exported BERT needs (ModelProto, GraphProto, NodeProto,
// AttributeProto, TensorProto, ValueInfoProto and the types inside them), written straight to
// the protobuf wire format. Field numbers are those of onnx/onnx.proto; a hand-written encoder of
// these nine messages is smaller than a protobuf runtime plus the 800-line schema, and is read
// back by ONNX Runtime in the tests.

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

/** A tensor with its bytes in little-endian order (TensorProto.raw_data). */
export interface TensorProto {
  name: string;
  dataType: DataTypeId;
  dims: readonly number[];
  raw: Uint8Array;
}

export type Attribute =
  | { name: string; int: number }
  | { name: string; float: number }
  | { name: string; ints: readonly number[] }
  | { name: string; string: string }
  | { name: string; tensor: TensorProto };

export interface NodeProto {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly Attribute[];
  domain?: string;
}

/** A graph input or output: element type and shape, a string for a symbolic (dynamic) axis. */
export interface ValueInfoProto {
  name: string;
  elemType: DataTypeId;
  shape: readonly (number | string)[];
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetImports: readonly { domain: string; version: number }[];
  producerName: string;
  producerVersion?: string;
  docString?: string;
  graph: GraphProto;
  metadata?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Wire format: varints, length-delimited fields, fixed32 floats.

const WIRE_VARINT = 0,
  WIRE_LEN = 2,
  WIRE_FIXED32 = 5;
const utf8 = new TextEncoder();

/** Accumulates byte chunks; large tensors are referenced, not copied, until `finish`. */
class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Unsigned or negative int64 as a varint (negatives take ten bytes, two's complement). */
  varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`ONNX writer: ${v} is not an integer that int64 can hold exactly`);
    const out: number[] = [];
    if (v >= 0) {
      while (v > 0x7f) {
        out.push((v % 128) | 0x80);
        v = Math.floor(v / 128);
      }
      out.push(v);
    } else {
      let b = BigInt.asUintN(64, BigInt(v));
      while (b > 0x7fn) {
        out.push(Number(b & 0x7fn) | 0x80);
        b >>= 7n;
      }
      out.push(Number(b));
    }
    this.push(Uint8Array.from(out));
  }
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  int(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }
  float(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.push(b);
  }
  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }
  message(field: number, m: Writer): void {
    this.tag(field, WIRE_LEN);
    this.varint(m.length);
    for (const c of m.chunks) this.push(c);
  }
  packedInts(field: number, vs: readonly number[]): void {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    this.message(field, inner);
  }
  packedFloats(field: number, vs: readonly number[]): void {
    const b = new Uint8Array(4 * vs.length);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(4 * i, v, true));
    this.bytes(field, b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1,
  ATTR_INT = 2,
  ATTR_STRING = 3,
  ATTR_TENSOR = 4,
  ATTR_INTS = 7;

function tensor(t: TensorProto): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d); // dims (unpacked is valid for repeated int64)
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

function attribute(a: Attribute): Writer {
  const w = new Writer();
  w.string(1, a.name);
  if ('int' in a) {
    w.int(3, a.int);
    w.int(20, ATTR_INT);
  } else if ('float' in a) {
    w.float(2, a.float);
    w.int(20, ATTR_FLOAT);
  } else if ('ints' in a) {
    w.packedInts(8, a.ints);
    w.int(20, ATTR_INTS);
  } else if ('string' in a) {
    w.string(4, a.string);
    w.int(20, ATTR_STRING);
  } else {
    w.message(5, tensor(a.tensor));
    w.int(20, ATTR_TENSOR);
  }
  return w;
}

function node(n: NodeProto): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, attribute(a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfo(v: ValueInfoProto): Writer {
  const shape = new Writer();
  for (const d of v.shape) {
    const dim = new Writer();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Writer();
  tensorType.int(1, v.elemType);
  tensorType.message(2, shape);
  const type = new Writer();
  type.message(1, tensorType);
  const w = new Writer();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function graph(g: GraphProto): Writer {
  const w = new Writer();
  for (const n of g.nodes) w.message(1, node(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, tensor(t));
  for (const i of g.inputs) w.message(11, valueInfo(i));
  for (const o of g.outputs) w.message(12, valueInfo(o));
  return w;
}

/** Serialises a model to the bytes of a `.onnx` file. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, graph(m.graph));
  for (const o of m.opsetImports) {
    const op = new Writer();
    op.string(1, o.domain);
    op.int(2, o.version);
    w.message(8, op);
  }
  for (const [key, value] of Object.entries(m.metadata ?? {})) {
    const kv = new Writer();
    kv.string(1, key);
    kv.string(2, value);
    w.message(14, kv);
  }
  const bytes = w.finish();
  // protobuf's parsers refuse messages of 2 GiB or more; such models need external data files.
  if (bytes.length >= 2 ** 31)
    throw new Error(
      `ONNX model is ${(bytes.length / 2 ** 30).toFixed(2)} GiB, over protobuf's 2 GiB limit: export with --quantize, or a smaller model`,
    );
  return bytes;
}

/** The little-endian bytes of a typed array (all platforms Node runs BERT on are little-endian). */
export function rawBytes(a: Float32Array | Int32Array | Int8Array | Uint8Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
