// /model/meta.json, as `udeg serve` writes it and the web viewer reads it, and window.udegViewer,
// the page's handle for tests and benchmarks. Types only (importing only types), so the page's
// bundle (and its tsconfig, without Node's types) uses them as the Node side does.
import type { WebModelFacts } from "../udeg/web-meta.js";

/** meta.json: the split export's (udeg/web-meta.ts) or the single-graph form, and where it came from. */
export interface ViewerMeta extends WebModelFacts {
  /** File names under /model/: encoder + decoder (split export), or one full graph. */
  files: { encoder: string; decoder: string } | { full: string };
  /** Where the model came from (the run directory or the ONNX file), for the page's header. */
  source: string;
}

export type ViewerPhase =
  | "loading-model"
  | "model-error"
  | "ready"
  | "opening"
  | "encoding"
  | "decoding"
  | "done"
  | "error";

/** window.udegViewer.state(): what the page is doing and what it shows. */
export interface ViewerState {
  phase: ViewerPhase;
  /** The status line's text. */
  status: string;
  /** The model's sessions are ready. */
  modelLoaded: boolean;
  /** A mask is shown for the current image. */
  hasResult: boolean;
  backend: "webgpu" | "wasm" | null;
  /** Why that backend ("no WebGPU adapter in this browser", ...). */
  backendNote: string;
  /** Split export: clicks rerun the decoder only. */
  interactive: boolean;
  encoderMs: number | null;
  decoderMs: number | null;
  encoderRuns: number;
  decoderRuns: number;
  /** Increases each time a result (mask) is shown. */
  resultSeq: number;
  /** The error text the page shows, or null. */
  error: string | null;
  file: string | null;
  /** Current slice or frame (0-based) and how many the file has. */
  slice: number;
  slices: number;
  width: number;
  height: number;
  points: number;
  /** Foreground pixels of the current mask. */
  foreground: number;
  /** The current image's trust (0 to 1; udeg/trust.ts), null when the model has no calibration. */
  trust: number | null;
  /** The current image is unlike the training data: the page shows a warning over it. */
  flagged: boolean;
}

export interface BenchmarkResult {
  encoderMs: number[];
  decoderMs: number[];
  backend: string;
  threads: number;
}

/** window.udegViewer. */
export interface ViewerApi {
  state(): ViewerState;
  /** The current mask's class index per pixel, row-major [height, width]. */
  maskLabels(): number[];
  /** Encoder and decoder (no clicks) times over `runs` runs on the current image, after the page's queued work. */
  benchmark(runs: number): Promise<BenchmarkResult>;
}

declare global {
  interface Window {
    udegViewer: ViewerApi;
  }
}
