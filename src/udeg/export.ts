// `udeg export`: a trained run as one standalone ONNX file, from a uint8 RGB image at the model
// size to mask logits, foreground probability, uncertainty and edge map. The same graph the
// library runs, so the file reproduces `udeg predict` (see test/udeg/export.test.ts).

import { basename, dirname } from "node:path";
import {
  buildModel,
  cast,
  encodeModel,
  Graph,
  HostTensor,
  narrow,
  reshape,
  resizeBilinear,
  sub,
  type Tensor,
  transpose,
} from "../engine/index.js";
import { writeFileAtomic } from "../io/atomic.js";
import { ParamStore } from "../sam/params.js";
import { udegForward } from "./model.js";
import { loadRun } from "./predictor.js";

export interface ExportOptions {
  /** Store weights as float16 (half the file; computed in float32 after a Cast). */
  fp16?: boolean;
}

export interface ExportInfo {
  path: string;
  bytes: number;
  inputs: string[];
  outputs: string[];
  metadata: Record<string, string>;
}

/** float32 -> IEEE half bits (round to nearest even), for fp16 weight storage. */
export function floatToHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  if (exp >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (exp <= 0) {
    if (exp < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is right
  return sign | half;
}

/** A ParamStore whose frozen weights are float16 initializers cast back to float32 in the graph. */
class HalfWeights extends ParamStore {
  override get(key: string, shape: readonly number[]): Tensor {
    const w = this.source.get(key);
    if (!w || w.size < 64) return super.get(key, shape);
    const f = w.toFloat32();
    const h = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) h[i] = floatToHalf(f[i]!);
    if (w.shape.join() !== shape.join()) return super.get(key, shape); // let the parent report it
    return cast(this.graph.constant(new HostTensor("float16", w.shape, h), key), "float32");
  }
}

export function exportRun(runDir: string, outPath: string, options: ExportOptions = {}): ExportInfo {
  const { config, resolved } = loadRun(runDir);
  const { cfg, classes } = resolved.model;
  const s = cfg.imageSize;
  const g = new Graph();
  const store = options.fp16 ? new HalfWeights(g, resolved.weights) : new ParamStore(g, resolved.weights);
  const image = g.input("image", [s, s, 3], "uint8");
  const nchw = transpose(reshape(cast(image, "float32"), [1, s, s, 3]), [0, 3, 1, 2]);
  const out = udegForward(store, resolved.model, nchw);
  const foreground = sub(1, narrow(out.seg.prob, 1, 0, 1));
  const edge = out.edge
    ? resizeBilinear(narrow(out.edge.prob, 1, 1, 1), [s, s])
    : g.constant(HostTensor.zeros([1, 1, s, s]));
  const outputs = [out.seg.logits, out.seg.prob, foreground, out.seg.uncertainty, edge];
  const outputNames = ["mask_logits", "probability", "foreground_probability", "uncertainty", "edge"];
  const metadata = {
    producer: "udeg export",
    model_size: String(s),
    input: `image: uint8 [${s}, ${s}, 3] RGB; resize the longest side to ${s} (PIL bilinear) and pad bottom/right with the pixel mean`,
    pixel_mean: JSON.stringify(cfg.pixelMean),
    pixel_std: JSON.stringify(cfg.pixelStd),
    classes: String(classes),
    class_channels: "background first: channel k of mask_logits/probability is class k",
    preset: config.preset,
    evidential: String(config.model.evidential),
    edge: String(!!out.edge),
    weights: options.fp16 ? "float16" : "float32",
    outputs:
      "mask_logits [1,K,S,S]; probability [1,K,S,S] (Dirichlet mean); foreground_probability [1,1,S,S]; uncertainty [1,1,S,S] (K/S); edge [1,1,S,S]",
  };
  const model = buildModel([image], outputs, {
    outputNames,
    metadata,
    externalData: { dir: dirname(outPath), file: `${basename(outPath)}.data` },
  });
  const bytes = encodeModel(model);
  writeFileAtomic(outPath, bytes);
  return { path: outPath, bytes: bytes.byteLength, inputs: ["image"], outputs: outputNames, metadata };
}
