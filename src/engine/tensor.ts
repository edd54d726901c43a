// Symbolic tensors and the Graph that records the ops applied to them.
//
// Every Tensor has a static shape and dtype known while the graph is built, so shape and dtype
// mistakes are thrown here, with the op's name, instead of surfacing later as an opaque
// onnxruntime error. One recorded Node is exactly one ONNX node; autodiff.ts appends the backward
// nodes to the same Graph, and onnx.ts serialises whatever part of it a function needs.

import { halfToFloat32 } from "./half.js";

/**
 * int32 is there for the GPU: onnxruntime's WebGPU provider computes on int32 but has no int64
 * arithmetic, casts or comparisons (those nodes fall back to the CPU).
 */
export type DType = "float32" | "float16" | "int64" | "int32" | "bool" | "uint8";

export type HostData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** A concrete tensor on the host: what goes into and comes out of a compiled graph. */
export class HostTensor {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: HostData,
  ) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new Error(
        `HostTensor: ${dtype} data has ${data.length} elements but shape [${shape}] needs ${n}`,
      );
    }
  }

  static float32(data: ArrayLike<number>, shape: readonly number[]): HostTensor {
    return new HostTensor("float32", shape, data instanceof Float32Array ? data : Float32Array.from(data));
  }

  static int64(data: ArrayLike<number | bigint>, shape: readonly number[]): HostTensor {
    const out = new BigInt64Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i]!);
    return new HostTensor("int64", shape, out);
  }

  static int32(data: ArrayLike<number>, shape: readonly number[]): HostTensor {
    return new HostTensor("int32", shape, Int32Array.from(data));
  }

  static zeros(shape: readonly number[], dtype: DType = "float32"): HostTensor {
    return new HostTensor(dtype, shape, allocate(dtype, sizeOf(shape)));
  }

  get size(): number {
    return this.data.length;
  }

  /** The data as float32 (a view when it already is). */
  toFloat32(): Float32Array {
    if (this.data instanceof Float32Array) return this.data;
    if (this.data instanceof BigInt64Array) return Float32Array.from(this.data, (v) => Number(v));
    if (this.dtype === "float16") return halfToFloat32(this.data as Uint16Array);
    return Float32Array.from(this.data as Uint8Array | Int32Array);
  }
}

export function allocate(dtype: DType, n: number): HostData {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "float16":
      return new Uint16Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "int32":
      return new Int32Array(n);
    case "bool":
    case "uint8":
      return new Uint8Array(n);
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16";
}

export type Attr =
  | { kind: "int"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "float"; value: number }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "string"; value: string };

export const attr = {
  int: (value: number): Attr => ({ kind: "int", value }),
  ints: (value: readonly number[]): Attr => ({ kind: "ints", value }),
  float: (value: number): Attr => ({ kind: "float", value }),
  floats: (value: readonly number[]): Attr => ({ kind: "floats", value }),
  string: (value: string): Attr => ({ kind: "string", value }),
};

export class Node {
  constructor(
    readonly id: number,
    readonly op: string,
    /** `null` marks an omitted optional ONNX input. */
    readonly inputs: readonly (Tensor | null)[],
    readonly attrs: Readonly<Record<string, Attr>>,
    readonly outputs: readonly Tensor[],
    /** When true, autodiff treats the node as a constant (see `detach`). */
    readonly stopGradient: boolean,
  ) {}
}

export type TensorKind = "input" | "constant" | "op";

export class Tensor {
  /** Set by Graph.addNode for op outputs. */
  producer: Node | null = null;
  outputIndex = 0;
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly kind: TensorKind,
    /** Graph inputs and named constants keep their name in the ONNX file. */
    readonly name: string | null = null,
    /** Constant (initializer) data. */
    readonly value: HostTensor | null = null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  toString(): string {
    return `${this.name ?? `t${this.id}`}:${this.dtype}[${this.shape.join(",")}]`;
  }
}

export interface OutputSpec {
  shape: readonly number[];
  dtype: DType;
}

export class Graph {
  private nextId = 0;
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly constants: Tensor[] = [];
  private readonly names = new Set<string>();
  private readonly scalarCache = new Map<string, Tensor>();

  /** A placeholder fed at run time (data, trainable parameters, optimiser state). */
  input(name: string, shape: readonly number[], dtype: DType = "float32"): Tensor {
    this.claimName(name);
    checkShape(shape, `input ${name}`);
    const t = new Tensor(this, this.nextId++, [...shape], dtype, "input", name);
    this.inputs.push(t);
    return t;
  }

  /** A constant baked into the model as an initializer (frozen weights, index tables). */
  constant(value: HostTensor, name?: string): Tensor {
    if (name !== undefined) this.claimName(name);
    const t = new Tensor(this, this.nextId++, [...value.shape], value.dtype, "constant", name ?? null, value);
    this.constants.push(t);
    return t;
  }

  /** A shape-[] constant, shared between all users of the same value and dtype. */
  scalar(value: number, dtype: DType = "float32"): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? "-0" : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      const data = allocate(dtype, 1);
      if (dtype === "int64") (data as BigInt64Array)[0] = BigInt(value);
      else if (dtype === "float16") throw new Error("scalar: float16 scalars are not supported yet");
      else (data as Float32Array | Uint8Array)[0] = value;
      t = this.constant(new HostTensor(dtype, [], data));
      this.scalarCache.set(key, t);
    }
    return t;
  }

  /** A constant int64 vector (shapes, axes, pads, indices). */
  int64s(values: readonly number[]): Tensor {
    return this.constant(HostTensor.int64(values, [values.length]));
  }

  addNode(
    op: string,
    inputs: readonly (Tensor | null)[],
    attrs: Record<string, Attr>,
    outputs: readonly OutputSpec[],
    options: { stopGradient?: boolean } = {},
  ): Tensor[] {
    for (const t of inputs) {
      if (t && t.graph !== this) throw new Error(`${op}: input ${t} belongs to another graph`);
    }
    const outs = outputs.map((o) => {
      checkShape(o.shape, op);
      return new Tensor(this, this.nextId++, [...o.shape], o.dtype, "op");
    });
    const node = new Node(this.nextId++, op, inputs, attrs, outs, options.stopGradient ?? false);
    outs.forEach((t, i) => {
      t.producer = node;
      t.outputIndex = i;
    });
    this.nodes.push(node);
    return outs;
  }

  private claimName(name: string): void {
    if (this.names.has(name)) throw new Error(`graph already has a tensor named "${name}"`);
    if (/^t\d+$/.test(name)) throw new Error(`tensor name "${name}" is reserved for unnamed tensors`);
    this.names.add(name);
  }
}

function checkShape(shape: readonly number[], where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${where}: invalid shape [${shape}]`);
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
