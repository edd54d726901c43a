// The exported model in onnxruntime-web: WebGPU when the browser has an adapter and the session
// builds, wasm (threaded when the page is cross-origin isolated) otherwise. Split exports run the
// encoder once per image and the decoder per set of clicks; a single-graph export runs whole.
//
// onnxruntime-web comes in two builds, loaded on demand: the WebGPU one (its wasm is the 26 MB
// asyncify build) only where there is an adapter, else the plain wasm one (14 MB), which starts
// about three times faster. Their .wasm/.mjs files come from /ort/ (`udeg serve`).
import type * as OrtWeb from "onnxruntime-web";
import type { PlanarImage } from "../../src/io/planar-image.js";
import type { ViewerMeta } from "../../src/serve/meta.js";
import {
  type Click,
  type EncodedImage,
  encoderInput,
  InteractiveModel,
  type InteractiveResult,
} from "../../src/udeg/interactive.js";
import { NO_POSTPROCESS } from "../../src/udeg/postprocess.js";
import { restorePrediction, type UdegPrediction } from "../../src/udeg/prediction.js";
import { EMBEDDING_OUTPUTS, TrustJudge, trustFeature } from "../../src/udeg/trust.js";

export type Backend = "webgpu" | "wasm";

export type Progress = (text: string, fraction?: number) => void;

type Ort = typeof OrtWeb;

async function loadOrt(backend: Backend): Promise<Ort> {
  const ort: Ort =
    backend === "webgpu" ? await import("onnxruntime-web/webgpu") : await import("onnxruntime-web/wasm");
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated
    ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1))
    : 1;
  ort.env.logLevel = "error";
  return ort;
}

async function download(url: string, label: string, progress: Progress): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${label}: the server answered ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get("Content-Length") ?? 0);
  if (!res.body || !total) return new Uint8Array(await res.arrayBuffer());
  const out = new Uint8Array(total);
  const reader = res.body.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value, got);
    got += value.length;
    progress(`Downloading ${label}: ${mb(got)} / ${mb(total)} MB`, got / total);
  }
  return got === total ? out : out.subarray(0, got);
}

function mb(n: number): string {
  return (n / 2 ** 20).toFixed(1);
}

interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  description?: string;
}

/**
 * The browser's WebGPU adapter, described, or null without one. A software adapter (SwiftShader,
 * llvmpipe, a "fallback" adapter) computes right but slowly, and the page says so.
 */
async function webgpuAdapter(): Promise<{ label: string; software: boolean } | null> {
  type Adapter = { info?: AdapterInfo; isFallbackAdapter?: boolean };
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  if (!gpu) return null;
  try {
    const a = await gpu.requestAdapter();
    if (!a) return null;
    const info = a.info ?? {};
    const label =
      [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unnamed adapter";
    const software = a.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/i.test(label);
    return { label, software };
  } catch {
    return null;
  }
}

export class ViewerModel {
  /** The split export, through the library's InteractiveModel (the same code Node tests run). */
  private readonly split: InteractiveModel | null;
  /** Judges each image against the run's training images (null without a calibration). */
  private readonly trustJudge: TrustJudge | null;

  private constructor(
    private readonly ort: Ort,
    readonly meta: ViewerMeta,
    readonly backend: Backend,
    /** Why the backend is what it is ("no WebGPU adapter", ...). */
    readonly backendNote: string,
    private readonly sessions: Record<string, OrtWeb.InferenceSession>,
  ) {
    this.split =
      sessions.encoder && sessions.decoder
        ? new InteractiveModel(this.ort, sessions.encoder, sessions.decoder, meta)
        : null;
    this.trustJudge = meta.trust ? new TrustJudge(meta.trust) : null;
  }

  /** Split export: the encoder runs once per image, the decoder per set of clicks. */
  get interactive(): boolean {
    return this.split !== null;
  }

  /** Threads onnxruntime-web's wasm backend uses. */
  get threads(): number {
    return this.ort.env.wasm.numThreads ?? 1;
  }

  static async load(meta: ViewerMeta, progress: Progress, force?: Backend): Promise<ViewerModel> {
    const files = Object.entries(meta.files) as [string, string][];
    const bytes: Record<string, Uint8Array> = {};
    for (const [role, file] of files) bytes[role] = await download(`model/${file}`, file, progress);
    let backend: Backend = "wasm";
    let note = "";
    const adapter = force === "wasm" ? null : await webgpuAdapter();
    if (force === "wasm") note = "wasm requested";
    else if (adapter) {
      backend = "webgpu";
      note = adapter.software
        ? `WebGPU on a software adapter (${adapter.label}): right, but slower than wasm`
        : `WebGPU adapter: ${adapter.label}`;
    } else note = "no WebGPU adapter in this browser";
    const create = async (b: Backend) => {
      progress(`Loading onnxruntime-web (${b}) ...`);
      const ort = await loadOrt(b);
      const sessions: Record<string, OrtWeb.InferenceSession> = {};
      for (const [role] of files) {
        progress(`Preparing the ${role === "full" ? "model" : role} (${b}) ...`);
        sessions[role] = await ort.InferenceSession.create(bytes[role]!, {
          executionProviders: [b],
          graphOptimizationLevel: "all",
        });
      }
      return { ort, sessions };
    };
    let made: Awaited<ReturnType<typeof create>>;
    try {
      made = await create(backend);
    } catch (err) {
      if (backend !== "webgpu") throw err;
      note = `WebGPU failed (${(err as Error).message}); fell back to wasm`;
      backend = "wasm";
      made = await create(backend);
    }
    return new ViewerModel(made.ort, meta, backend, note, made.sessions);
  }

  /** The encoder, once per image (split export). */
  encode(image: PlanarImage): Promise<EncodedImage> {
    if (!this.split) throw new Error("this model is a single graph: no separate encoder");
    return this.split.encode(image);
  }

  /** The decoder with the latest meta.maxPoints clicks (split export). */
  decode(encoded: EncodedImage, clicks: readonly Click[]): Promise<InteractiveResult> {
    if (!this.split) throw new Error("this model is a single graph: no separate decoder");
    return this.split.decode(encoded, clicks.slice(-this.meta.maxPoints));
  }

  /** The single-graph export: everything in one run, as UdegPredictor.predict. */
  async runFull(image: PlanarImage): Promise<{ seg: UdegPrediction; ms: number }> {
    const session = this.sessions.full!;
    const s = this.meta.modelSize;
    const { hwc, info } = encoderInput(image, s);
    const feeds: Record<string, OrtWeb.Tensor> = { image: new this.ort.Tensor("uint8", hwc, [s, s, 3]) };
    if (session.inputNames.includes("image_size"))
      feeds.image_size = new this.ort.Tensor(
        "float32",
        Float32Array.of(info.resizedHeight, info.resizedWidth),
        [2],
      );
    // The trust feature's outputs, where the export has them and the run a calibration.
    const judged = this.trustJudge && session.outputNames.includes(EMBEDDING_OUTPUTS[0]);
    const t0 = performance.now();
    const out = await session.run(feeds, [
      "probability",
      "uncertainty",
      "edge",
      ...(judged ? EMBEDDING_OUTPUTS : []),
    ]);
    const ms = performance.now() - t0;
    const seg = restorePrediction(
      (await out.probability!.getData()) as Float32Array,
      (await out.uncertainty!.getData()) as Float32Array,
      this.meta.edge ? ((await out.edge!.getData()) as Float32Array) : null,
      this.meta.classes,
      info,
      this.meta.postprocess ?? NO_POSTPROCESS,
    );
    const trust = judged
      ? this.trustJudge!.judge(
          trustFeature(
            (await out[EMBEDDING_OUTPUTS[0]]!.getData()) as Float32Array,
            (await out[EMBEDDING_OUTPUTS[1]]!.getData()) as Float32Array,
          ),
        )
      : null;
    return { seg: { ...seg, trust }, ms };
  }
}
