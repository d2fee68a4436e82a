// A small builder for ONNX graphs: named weights (initializers), constants and nodes with
// fresh value names, so that the model code reads as a sequence of operations.
import { endianness } from 'node:os';
import { TlcError } from '../util/errors.js';
import {
  AttributeType, DataType, type AttributeProto, type DataTypeCode, type GraphProto, type NodeProto, type TensorProto, type ValueInfo,
} from './onnx-proto.js';

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints }),
};

type ElementArray = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

const ELEMENT_TYPE = new Map<Function, DataTypeCode>([
  [Float32Array, DataType.FLOAT], [Int8Array, DataType.INT8], [Uint8Array, DataType.UINT8],
  [Int32Array, DataType.INT32], [BigInt64Array, DataType.INT64],
]);

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private prefix = '';

  constructor() {
    // raw_data is little-endian and typed arrays use the host's order
    if (endianness() !== 'LE') throw new TlcError('ONNX export: big-endian hosts are not supported');
  }

  /** Names of values and nodes made inside `fn` start with `scope/` (e.g. "layer.0/attn/"). */
  scoped<T>(scope: string, fn: () => T): T {
    const saved = this.prefix;
    this.prefix = `${saved}${scope}/`;
    try {
      return fn();
    } finally {
      this.prefix = saved;
    }
  }

  /** A value name not used before, from a hint (inside the current scope). */
  fresh(hint: string): string {
    return this.unique(this.prefix + hint);
  }

  private unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** Reserves the name of a graph input. */
  input(name: string): string {
    if (this.names.has(name)) throw new TlcError(`ONNX export: value name ${name} is used twice`);
    this.names.add(name);
    return name;
  }

  /** A named weight; its element type follows the array's. Returns its value name. */
  initializer(name: string, dims: number[], data: ElementArray): string {
    if (this.names.has(name)) throw new TlcError(`ONNX export: tensor name ${name} is used twice`);
    this.names.add(name);
    this.addInitializer(name, dims, data);
    return name;
  }

  private addInitializer(name: string, dims: number[], data: ElementArray): void {
    const dataType = ELEMENT_TYPE.get(data.constructor);
    if (dataType === undefined) throw new TlcError(`ONNX export: tensor ${name} has an unsupported element type`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new TlcError(`ONNX export: tensor ${name} has ${data.length} elements for shape [${dims.join(', ')}]`);
    this.initializers.push({ name, dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }

  /** A float32 constant: a scalar for a number, else a 1-D tensor. Equal constants are shared. */
  floats(values: number | number[]): string {
    return this.constant('f', values, (v) => Float32Array.from(v));
  }

  /** An int64 constant: a scalar for a number, else a 1-D tensor. Equal constants are shared. */
  int64s(values: number | number[]): string {
    return this.constant('i', values, (v) => BigInt64Array.from(v, (x) => BigInt(x)));
  }

  private constant(kind: string, values: number | number[], make: (v: number[]) => ElementArray): string {
    const list = typeof values === 'number' ? [values] : values;
    const key = `${kind}:${typeof values === 'number' ? 'scalar' : 'vector'}:${list.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.unique(`const_${kind}_${list.join('_').replace(/[^0-9a-zA-Z_.-]/g, 'm').slice(0, 40)}`);
    this.addInitializer(name, typeof values === 'number' ? [] : [list.length], make(list));
    this.constants.set(key, name);
    return name;
  }

  /** Adds a node; returns its output value names (`outputs` of them). An empty input name skips an optional input. */
  node(opType: string, inputs: string[], attributes: AttributeProto[] = [], options: { outputs?: number; domain?: string } = {}): string[] {
    const count = options.outputs ?? 1;
    const output: string[] = [];
    for (let k = 0; k < count; k++) output.push(this.fresh(count === 1 ? opType : `${opType}_out${k}`));
    const node: NodeProto = { input: inputs, output, name: this.fresh(`${opType}_node`), opType, attribute: attributes };
    if (options.domain) node.domain = options.domain;
    this.nodes.push(node);
    return output;
  }

  /** A node with one output. */
  op(opType: string, inputs: string[], attributes: AttributeProto[] = [], domain?: string): string {
    return this.node(opType, inputs, attributes, { domain })[0];
  }

  /** Gives a value a fixed name (a graph output) through an Identity node. */
  rename(value: string, name: string): string {
    if (this.names.has(name)) throw new TlcError(`ONNX export: value name ${name} is used twice`);
    this.names.add(name);
    this.nodes.push({ input: [value], output: [name], name: this.fresh('Identity_node'), opType: 'Identity', attribute: [] });
    return name;
  }

  build(name: string, inputs: ValueInfo[], outputs: ValueInfo[]): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs };
  }
}
