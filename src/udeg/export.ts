// `udeg export`: a trained run as one standalone ONNX file, from a uint8 RGB image at the model
// size to mask logits, foreground probability, uncertainty and edge map. The same graph the
// library runs, so the file reproduces `udeg predict` (see test/udeg/export.test.ts).
//
// For interactive use (the web viewer, `udeg serve`) the same network is also written as two
// files, split where SAM's own ONNX export splits it: an encoder run once per image (embedding,
// dense edge prompt, edge map) and a decoder run per click, with a fixed number of point slots.

import { mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  and,
  buildModel,
  cast,
  encodeModel,
  float32ToHalf,
  Graph,
  HostTensor,
  less,
  mul,
  narrow,
  reduceMean,
  reshape,
  resizeBilinear,
  sub,
  type Tensor,
  transpose,
  unsqueeze,
  where,
} from "../engine/index.js";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.js";
import { embeddingSize } from "../sam/config.js";
import { ParamStore } from "../sam/params.js";
import { udegDecode, udegEncode, udegForward } from "./model.js";
import { type LoadedRun, loadRun } from "./predictor.js";
import { EMBEDDING_OUTPUTS } from "./trust.js";
import { FINE_DETAIL_NAMES, type WebModelMeta } from "./web-meta.js";

/** Point slots of the exported decoder; unused slots have label -1. */
export const MAX_POINTS = 16;

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

/** A ParamStore whose frozen weights are float16 initializers cast back to float32 in the graph. */
class HalfWeights extends ParamStore {
  override get(key: string, shape: readonly number[]): Tensor {
    const w = this.source.get(key);
    if (!w || w.size < 64) return super.get(key, shape);
    if (w.shape.join() !== shape.join()) return super.get(key, shape); // let the parent report it
    const h = float32ToHalf(w.toFloat32());
    return cast(this.graph.constant(new HostTensor("float16", w.shape, h), key), "float32");
  }
}

/** A run directory, or a run already loaded with loadRun (to export several files from one load). */
export type RunSource = string | LoadedRun;
type Run = Exclude<RunSource, string>;

const load = (source: RunSource): Run => (typeof source === "string" ? loadRun(source) : source);

function weightStore(g: Graph, run: Run, options: ExportOptions): ParamStore {
  return options.fp16 ? new HalfWeights(g, run.resolved.weights) : new ParamStore(g, run.resolved.weights);
}

/**
 * The image inputs: `image` uint8 [S, S, 3] (resized so the longest side is S, any padding) and
 * `image_size` float32 [2] (the resized height and width). Pixels outside the resized region
 * become the pixel mean, which the model normalises to exactly 0 as SAM pads; so callers need not
 * pad with a non-integer value a uint8 image cannot hold. Returns [1, 3, S, S] in 0-255.
 */
function imageInputs(g: Graph, run: Run): { inputs: Tensor[]; nchw: Tensor } {
  const { cfg } = run.resolved.model;
  const s = cfg.imageSize;
  const image = g.input("image", [s, s, 3], "uint8");
  const size = g.input("image_size", [2], "float32");
  const index = Float32Array.from({ length: s }, (_, i) => i);
  const rows = g.constant(HostTensor.float32(index, [s, 1]));
  const cols = g.constant(HostTensor.float32(index, [1, s]));
  const valid = and(less(rows, narrow(size, 0, 0, 1)), less(cols, narrow(size, 0, 1, 1))); // [S, S]
  const mean = g.constant(HostTensor.float32([...cfg.pixelMean], [1, 1, 3]));
  const filled = where(unsqueeze(valid, -1), cast(image, "float32"), mean);
  return { inputs: [image, size], nchw: transpose(reshape(filled, [1, s, s, 3]), [0, 3, 1, 2]) };
}

function commonMetadata(run: Run, options: ExportOptions, hasEdge: boolean): Record<string, string> {
  const { cfg, classes } = run.resolved.model;
  const s = cfg.imageSize;
  return {
    producer: "udeg export",
    model_size: String(s),
    input: `image: uint8 [${s}, ${s}, 3] RGB, the longest side resized to ${s} (PIL bilinear), any padding; image_size: float32 [2] = resized (height, width)`,
    pixel_mean: JSON.stringify(cfg.pixelMean),
    pixel_std: JSON.stringify(cfg.pixelStd),
    // How a file becomes the image above (src/data/input-rule.ts): 16-bit scaling, NIfTI window.
    input_rule: JSON.stringify(run.config.input),
    // The mask post-processing the run chose on its val part (postprocess.ts).
    postprocess: JSON.stringify(run.postprocess),
    // The trust flag's calibration (trust.ts), where the run has one.
    ...(run.trust ? { trust: JSON.stringify(run.trust) } : {}),
    classes: String(classes),
    class_channels: "background first: channel k of mask_logits/probability is class k",
    preset: run.config.preset,
    evidential: String(run.config.model.evidential),
    edge: String(hasEdge),
    weights: options.fp16 ? "float16" : "float32",
  };
}

/** Edge probability at the model size [1, 1, S, S] (zeros without the edge generator). */
function edgeMap(g: Graph, run: Run, edge: ReturnType<typeof udegEncode>["edge"]): Tensor {
  const s = run.resolved.model.cfg.imageSize;
  return edge
    ? resizeBilinear(narrow(edge.prob, 1, 1, 1), [s, s])
    : g.constant(HostTensor.zeros([1, 1, s, s]));
}

/** mask_logits, probability, foreground_probability, uncertainty of a segmentation head. */
function segOutputs(seg: ReturnType<typeof udegDecode>["seg"]): Tensor[] {
  return [seg.logits, seg.prob, sub(1, narrow(seg.prob, 1, 0, 1)), seg.uncertainty];
}
const SEG_OUTPUT_NAMES = ["mask_logits", "probability", "foreground_probability", "uncertainty"];
const SEG_OUTPUT_DOC =
  "mask_logits [1,K,S,S]; probability [1,K,S,S] (Dirichlet mean); foreground_probability [1,1,S,S]; uncertainty [1,1,S,S] (K/S)";

function writeModel(
  outPath: string,
  inputs: Tensor[],
  outputs: Tensor[],
  outputNames: string[],
  metadata: Record<string, string>,
): ExportInfo {
  mkdirSync(dirname(outPath), { recursive: true });
  const model = buildModel(inputs, outputs, {
    outputNames,
    metadata,
    externalData: { dir: dirname(outPath), file: `${basename(outPath)}.data` },
  });
  const bytes = encodeModel(model);
  writeFileAtomic(outPath, bytes);
  return {
    path: outPath,
    bytes: bytes.byteLength,
    inputs: inputs.map((t) => t.name!),
    outputs: outputNames,
    metadata,
  };
}

/** The whole network in one graph: image -> masks, probabilities, uncertainty, edge map. */
export function exportRun(source: RunSource, outPath: string, options: ExportOptions = {}): ExportInfo {
  const run = load(source);
  const g = new Graph();
  const { inputs, nchw } = imageInputs(g, run);
  const out = udegForward(weightStore(g, run, options), run.resolved.model, nchw);
  const metadata = {
    ...commonMetadata(run, options, !!out.edge),
    outputs: `${SEG_OUTPUT_DOC}; edge [1,1,S,S]; ${EMBEDDING_OUTPUTS.join(", ")} [1,C] (the trust flag's feature: trust.ts)`,
  };
  const e = out.embeddings;
  return writeModel(
    outPath,
    inputs,
    [...segOutputs(out.seg), edgeMap(g, run, out.edge), reduceMean(e, [2, 3]), reduceMean(mul(e, e), [2, 3])],
    [...SEG_OUTPUT_NAMES, "edge", ...EMBEDDING_OUTPUTS],
    metadata,
  );
}

/**
 * The network as an encoder (once per image) and a decoder (per set of clicks), plus meta.json,
 * in `outDir`; file names start with `prefix` ("" -> encoder.onnx, decoder.onnx, meta.json).
 */
export function exportWebModels(
  source: RunSource,
  outDir: string,
  options: ExportOptions & { prefix?: string; name?: string } = {},
): WebModelMeta & { infos: ExportInfo[] } {
  const run = load(source);
  const { cfg } = run.resolved.model;
  const o = run.resolved.model;
  const prefix = options.prefix ?? "";
  mkdirSync(outDir, { recursive: true });

  const ge = new Graph();
  const image = imageInputs(ge, run);
  const enc = udegEncode(weightStore(ge, run, options), o, image.nchw);
  const common = commonMetadata(run, options, !!enc.edge);
  // The fine path's image side travels from the encoder to the decoder like the embedding.
  const detailOut = enc.detail ? [enc.detail.full, enc.detail.half] : [];
  const encoderInfo = writeModel(
    join(outDir, `${prefix}encoder.onnx`),
    image.inputs,
    [enc.embeddings, enc.dense, edgeMap(ge, run, enc.edge), ...detailOut],
    ["image_embeddings", "dense_prompt", "edge", ...(enc.detail ? FINE_DETAIL_NAMES : [])],
    {
      ...common,
      role: "encoder",
      outputs: `image_embeddings [1,C,h,w]; dense_prompt [1,C,h,w]; edge [1,1,S,S]${enc.detail ? "; fine_full [1,c1,S,S]; fine_half [1,c2,S/2,S/2] (the fine path's image side, for the decoder)" : ""}`,
    },
  );

  const gd = new Graph();
  const [c, e] = [cfg.promptEmbedDim, embeddingSize(cfg)];
  const embeddings = gd.input("image_embeddings", [1, c, e, e], "float32");
  const dense = gd.input("dense_prompt", [1, c, e, e], "float32");
  const coords = gd.input("point_coords", [1, MAX_POINTS, 2], "float32");
  const labels = gd.input("point_labels", [1, MAX_POINTS], "float32");
  const detail = enc.detail
    ? {
        full: gd.input(FINE_DETAIL_NAMES[0], enc.detail.full.shape, "float32"),
        half: gd.input(FINE_DETAIL_NAMES[1], enc.detail.half.shape, "float32"),
      }
    : null;
  const dec = udegDecode(weightStore(gd, run, options), o, { embeddings, dense, detail }, { coords, labels });
  const decoderInfo = writeModel(
    join(outDir, `${prefix}decoder.onnx`),
    [embeddings, dense, ...(detail ? [detail.full, detail.half] : []), coords, labels],
    segOutputs(dec.seg),
    SEG_OUTPUT_NAMES,
    {
      ...common,
      role: "decoder",
      points: `point_coords [1,${MAX_POINTS},2] (x, y) in model-input pixels; point_labels [1,${MAX_POINTS}]: 1 positive, 0 negative, -1 empty slot`,
      outputs: SEG_OUTPUT_DOC,
    },
  );

  const meta: WebModelMeta = {
    format: "udeg-web/1",
    name: options.name ?? (typeof source === "string" ? basename(source) : "model"),
    modelSize: cfg.imageSize,
    pixelMean: [...cfg.pixelMean],
    pixelStd: [...cfg.pixelStd],
    input: run.config.input,
    postprocess: run.postprocess,
    ...(run.trust ? { trust: run.trust } : {}),
    classes: o.classes,
    preset: run.config.preset,
    evidential: run.config.model.evidential,
    edge: !!enc.edge,
    maxPoints: MAX_POINTS,
    files: { encoder: basename(encoderInfo.path), decoder: basename(decoderInfo.path) },
  };
  writeJsonAtomic(join(outDir, `${prefix}meta.json`), meta);
  return { ...meta, infos: [encoderInfo, decoderInfo] };
}
