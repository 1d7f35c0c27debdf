// A small ONNX graph builder: nodes get unique names from the module path that made them (as
// torch.onnx.export names them, e.g. /bert/encoder/layer.0/attention/self/MatMul), weights
// become initializers under their checkpoint names, and with `quantize` a MatMul weight is
// stored as int8 with per-channel scales behind a DequantizeLinear node.
import {
  DataType,
  rawBytes,
  type Attribute,
  type DataTypeId,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js';
import { quantizeInt8 } from './quantize.js';

export interface BuilderOptions {
  /** Store MatMul weights and embedding tables as int8 with per-channel float scales. */
  quantize?: boolean;
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly consts = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly opts: BuilderOptions = {},
  ) {}

  private unique(base: string): string {
    let n = base,
      i = 1;
    while (this.used.has(n)) n = `${base}_${i++}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: DataTypeId, shape: (number | string)[]): string {
    this.used.add(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  /** Declares `value` a graph output called `name` (through an Identity when it is named otherwise). */
  output(value: string, name: string, elemType: DataTypeId, shape: (number | string)[]): void {
    if (value !== name)
      this.nodes.push({ opType: 'Identity', name: this.unique(`/${name}/Identity`), inputs: [value], outputs: [name] });
    this.outputs.push({ name, elemType, shape });
  }

  /**
   * Adds a node and returns its first output's name. `path` is the module path, e.g.
   * '/bert/encoder/layer.0/attention/self'.
   */
  op(path: string, opType: string, inputs: string[], attributes: Attribute[] = [], outputs = 1): string {
    const name = this.unique(`${path}/${opType}`);
    const outs = Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ opType, name, inputs, outputs: outs, attributes });
    return outs[0];
  }

  /** A float32 initializer under `name` (a checkpoint name when it is a weight). */
  float(name: string, data: Float32Array, dims: number[]): string {
    return this.tensor(name, DataType.FLOAT, dims, rawBytes(data));
  }

  /** A small constant (shapes, axes, scalars), shared between the nodes that use the same one. */
  constant(values: number[], dtype: 'int64' | 'float32', dims: number[] = [values.length]): string {
    const key = `${dtype}:${dims.join('x')}:${values.join(',')}`;
    const have = this.consts.get(key);
    if (have) return have;
    const raw =
      dtype === 'int64'
        ? rawBytes(BigInt64Array.from(values.map((v) => BigInt(v))))
        : rawBytes(Float32Array.from(values));
    const name = this.tensor(
      this.unique(`const_${dtype}_${this.consts.size}`),
      dtype === 'int64' ? DataType.INT64 : DataType.FLOAT,
      dims,
      raw,
    );
    this.consts.set(key, name);
    return name;
  }

  /**
   * A weight [rows, cols] as a float tensor value. With `quantize`, stored as int8 with a scale
   * per column (axis 1, for a MatMul weight held [in, out]) or per row (axis 0, an embedding
   * table) and dequantized by a DequantizeLinear node.
   */
  matrix(path: string, name: string, data: Float32Array, rows: number, cols: number, axis: 0 | 1): string {
    if (!this.opts.quantize) return this.float(name, data, [rows, cols]);
    const { q, scales } = quantizeInt8(data, rows, cols, axis);
    const qName = this.tensor(`${name}_quantized`, DataType.INT8, [rows, cols], rawBytes(q));
    const sName = this.float(`${name}_scale`, scales, [axis === 1 ? cols : rows]);
    const zName = this.tensor(
      `${name}_zero_point`,
      DataType.INT8,
      [axis === 1 ? cols : rows],
      new Uint8Array(axis === 1 ? cols : rows),
    );
    return this.op(path, 'DequantizeLinear', [qName, sName, zName], [{ name: 'axis', int: axis }]);
  }

  /**
   * Rows `ids` (int64, any shape) of an embedding table [rows, cols] -> [...ids.shape, cols].
   * Quantized, the int8 rows and their scales are gathered before dequantizing, so a lookup
   * touches only the rows it needs. `quantizable` false keeps a small table (token types) in float.
   */
  embedding(
    path: string,
    name: string,
    data: Float32Array,
    rows: number,
    cols: number,
    ids: string,
    quantizable = true,
  ): string {
    if (!this.opts.quantize || !quantizable)
      return this.op(path, 'Gather', [this.float(name, data, [rows, cols]), ids], [{ name: 'axis', int: 0 }]);
    const t = this.quantizedTable(name, data, rows, cols);
    const q = this.op(path, 'Gather', [t.q, ids], [{ name: 'axis', int: 0 }]);
    const s = this.op(path, 'Gather', [t.scale, ids], [{ name: 'axis', int: 0 }]);
    return this.op(path, 'Mul', [
      this.op(path, 'Cast', [q], [{ name: 'to', int: DataType.FLOAT }]),
      this.op(path, 'Unsqueeze', [s, this.constant([-1], 'int64')]),
    ]);
  }

  /** The whole table `name` given to `embedding` as a float value [rows, cols] (for a tied decoder). */
  table(path: string, name: string): string {
    const t = this.tables.get(name);
    if (!t) return name; // float: the initializer itself
    const rows = this.initializers.find((i) => i.name === t.scale)!.dims[0];
    const zero = this.tensor(`${name}_zero_point`, DataType.INT8, [rows], new Uint8Array(rows));
    return this.op(path, 'DequantizeLinear', [t.q, t.scale, zero], [{ name: 'axis', int: 0 }]);
  }

  private readonly tables = new Map<string, { q: string; scale: string }>();

  private quantizedTable(name: string, data: Float32Array, rows: number, cols: number) {
    const { q, scales } = quantizeInt8(data, rows, cols, 0);
    const t = {
      q: this.tensor(`${name}_quantized`, DataType.INT8, [rows, cols], rawBytes(q)),
      scale: this.float(`${name}_scale`, scales, [rows]),
    };
    this.tables.set(name, t);
    return t;
  }

  private tensor(name: string, dataType: DataTypeId, dims: number[], raw: Uint8Array): string {
    if (this.initializers.some((t) => t.name === name))
      throw new Error(`ONNX graph: initializer ${name} is defined twice`);
    this.used.add(name);
    this.initializers.push({ name, dataType, dims, raw });
    return name;
  }

  build(): GraphProto {
    return {
      name: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    };
  }
}
