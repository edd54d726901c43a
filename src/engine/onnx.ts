// Serialise the part of a Graph that a function needs into an ONNX ModelProto (opset 17).
// Constants become initializers; past `externalThreshold` bytes they go to a side file as ONNX
// external data, which is how models over protobuf's 2 GB limit are stored.
import { closeSync, openSync, writeSync } from "node:fs";
import onnxProto from "onnx-proto";
import type { DType, Node, Tensor } from "./tensor.js";

const { onnx } = onnxProto;
export type ModelProto = InstanceType<typeof onnx.ModelProto>;

export const OPSET = 17;

const elemType: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};

export interface ExportOptions {
  /** Names of the graph outputs, in order (default out0, out1, ...). */
  outputNames?: readonly string[];
  graphName?: string;
  /** Key/value strings stored in the model's metadata_props. */
  metadata?: Readonly<Record<string, string>>;
  /** Total initializer bytes above which data moves to `externalDataFile` (default 1.5 GB). */
  externalThreshold?: number;
  /**
   * Where external data goes, as [directory, file name]; the model must then be loaded from a file
   * in that directory. Required when the threshold is passed.
   */
  externalData?: { dir: string; file: string };
}

export function tensorName(t: Tensor): string {
  if (t.name) return t.name;
  return t.kind === "constant" ? `c${t.id}` : `t${t.id}`;
}

/** Nodes needed to compute `outputs`, in topological (creation) order. */
export function neededNodes(outputs: readonly Tensor[]): Node[] {
  const seen = new Set<Node>();
  const stack = outputs.map((t) => t.producer).filter((n): n is Node => n !== null);
  while (stack.length) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const t of node.inputs) if (t?.producer && !seen.has(t.producer)) stack.push(t.producer);
  }
  return [...seen].sort((a, b) => a.id - b.id);
}

function valueInfo(name: string, t: Tensor) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: elemType[t.dtype],
        shape: { dim: t.shape.map((d) => ({ dimValue: d })) },
      },
    },
  });
}

function attributeProto(name: string, a: Node["attrs"][string]) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case "int":
      return onnx.AttributeProto.create({ name, type: T.INT, i: a.value });
    case "ints":
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.value] });
    case "float":
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.value });
    case "floats":
      return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...a.value] });
    case "string":
      return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.value) });
  }
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.value!.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Build the ModelProto computing `outputs` from `inputs` (in that order). */
export function buildModel(
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  options: ExportOptions = {},
): ModelProto {
  const nodes = neededNodes(outputs);
  const declared = new Set(inputs.map((t) => t.id));
  for (const t of inputs) {
    if (t.kind !== "input") throw new Error(`export: ${t} is not a graph input`);
  }
  const constants = new Map<number, Tensor>();
  const noteSource = (t: Tensor) => {
    if (t.kind === "constant") constants.set(t.id, t);
    else if (t.kind === "input" && !declared.has(t.id)) {
      throw new Error(`export: the outputs need input "${t.name}", which is not among the function's inputs`);
    }
  };
  for (const n of nodes) for (const t of n.inputs) if (t) noteSource(t);
  for (const t of outputs) noteSource(t);

  const outputNames = options.outputNames ?? outputs.map((_, i) => `out${i}`);
  if (outputNames.length !== outputs.length)
    throw new Error("export: outputNames and outputs differ in length");

  const nodeProtos = nodes.map((n) =>
    onnx.NodeProto.create({
      opType: n.op,
      name: `${n.op}_${n.id}`,
      input: n.inputs.map((t) => (t ? tensorName(t) : "")),
      output: n.outputs.map(tensorName),
      attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)),
    }),
  );
  // Outputs get their public names through Identity nodes; the runtime removes them.
  outputs.forEach((t, i) => {
    nodeProtos.push(
      onnx.NodeProto.create({
        opType: "Identity",
        name: `output_${i}`,
        input: [tensorName(t)],
        output: [outputNames[i]!],
      }),
    );
  });

  const initializer = externalise([...constants.values()], options);

  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: "udeg",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: OPSET }],
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: onnx.GraphProto.create({
      name: options.graphName ?? "udeg",
      node: nodeProtos,
      initializer,
      input: inputs.map((t) => valueInfo(tensorName(t), t)),
      output: outputs.map((t, i) => valueInfo(outputNames[i]!, t)),
    }),
  });
}

function externalise(constants: readonly Tensor[], options: ExportOptions) {
  const total = constants.reduce((s, t) => s + t.value!.data.byteLength, 0);
  const threshold = options.externalThreshold ?? 1.5 * 2 ** 30;
  const external = total > threshold;
  if (external && !options.externalData) {
    throw new Error(
      `export: ${(total / 2 ** 30).toFixed(2)} GB of weights need ONNX external data; pass externalData {dir, file}`,
    );
  }
  const fd = external ? openSync(`${options.externalData!.dir}/${options.externalData!.file}`, "w") : -1;
  let offset = 0;
  try {
    return constants.map((t) => {
      const base = { name: tensorName(t), dims: [...t.shape], dataType: elemType[t.dtype] };
      const bytes = bytesOf(t);
      // Small tensors stay inline even in external mode: the side file is for the big weights.
      if (!external || bytes.byteLength < 1024) return onnx.TensorProto.create({ ...base, rawData: bytes });
      writeSync(fd, bytes, 0, bytes.byteLength, offset);
      const entry = onnx.TensorProto.create({
        ...base,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: options.externalData!.file },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(bytes.byteLength) },
        ],
      });
      // Keep offsets aligned to 64 bytes, as onnx's own writer does, so the runtime can map them.
      offset += Math.ceil(bytes.byteLength / 64) * 64;
      return entry;
    });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}
