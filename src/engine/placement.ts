// Which nodes of a graph an execution provider cannot run itself. onnxruntime quietly gives such
// nodes to the CPU, with a copy each way: on the WebGPU provider a LogSoftmax or an int64 Add
// costs two trips through host memory per step. `fallbackNodes` names them, by trying each kind
// of node alone in a session that forbids CPU fallback (`udeg doctor`, test/engine/webgpu.test.ts).
import { buildModel, encodeModel, neededNodes } from "./onnx.js";
import { type ExecutionProvider, runsWithoutFallback } from "./runtime.js";
import { Graph, type Node, type Tensor } from "./tensor.js";

export interface Placement {
  ep: ExecutionProvider;
  /** Nodes of the graph (those the outputs need). */
  nodes: number;
  /** Nodes that would run on the CPU, by op type. */
  fallback: { op: string; count: number }[];
  /** Total of `fallback`. */
  fallbackNodes: number;
}

/** A node alone: its constant inputs stay constants, the others become graph inputs. */
function singleNodeModel(node: Node): Uint8Array {
  const g = new Graph();
  const inputs: Tensor[] = [];
  const args = node.inputs.map((t, i) => {
    if (!t) return null;
    if (t.kind === "constant") return g.constant(t.value!);
    const x = g.input(`in${i}`, t.shape, t.dtype);
    inputs.push(x);
    return x;
  });
  const outs = g.addNode(
    node.op,
    args,
    { ...node.attrs },
    node.outputs.map((t) => ({ shape: t.shape, dtype: t.dtype })),
  );
  return encodeModel(buildModel(inputs, outs));
}

/** What decides whether a node has a kernel: op, attributes, input kinds, dtypes and ranks. */
function signature(node: Node): string {
  const ins = node.inputs.map((t) => (t ? `${t.kind === "constant" ? "c" : "v"}${t.dtype}${t.rank}` : "-"));
  return `${node.op}|${JSON.stringify(node.attrs)}|${ins.join(",")}`;
}

/** The nodes `outputs` need that `ep` would leave to the CPU. */
export async function fallbackNodes(outputs: readonly Tensor[], ep: ExecutionProvider): Promise<Placement> {
  const nodes = neededNodes(outputs);
  const verdict = new Map<string, boolean>();
  const fallback = new Map<string, number>();
  // Nodes computed from constants only are folded away at session creation: they run nowhere.
  const folded = new Set<Tensor>();
  const fixed = (t: Tensor | null) => !t || t.kind === "constant" || folded.has(t);
  for (const node of nodes) {
    if (node.inputs.every(fixed)) {
      for (const t of node.outputs) folded.add(t);
      continue;
    }
    const key = signature(node);
    let ok = verdict.get(key);
    if (ok === undefined) {
      ok = await runsWithoutFallback(singleNodeModel(node), ep);
      verdict.set(key, ok);
    }
    if (!ok) fallback.set(node.op, (fallback.get(node.op) ?? 0) + 1);
  }
  const list = [...fallback].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count);
  return { ep, nodes: nodes.length, fallback: list, fallbackNodes: list.reduce((a, b) => a + b.count, 0) };
}
