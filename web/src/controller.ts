// The viewer's controller: everything the page knows and every transition between its phases
// (loading the model, opening a file, choosing a slice, segmenting, refining with clicks), with
// no DOM. The view (view.ts) draws whatever state it is given; main.ts wires the DOM to the
// controller. A Node test drives this class with a model of its own (test/serve/page-controller).
//
// Work is queued: one model call at a time, in order. Opening another file or slice bumps
// `generation`, and queued work for an older image is dropped when its turn comes.
import type { PlanarImage } from "../../src/io/planar-image.js";
import type { BenchmarkResult, ViewerMeta, ViewerPhase, ViewerState } from "../../src/serve/meta.js";
import type { Click, EncodedImage, InteractiveResult } from "../../src/udeg/interactive.js";
import type { UdegPrediction } from "../../src/udeg/prediction.js";
import type { OpenedFile } from "./decode.js";
import { labelCounts } from "./pipeline.js";

/** What the controller needs of the model (ViewerModel in the page, a stand-in in tests). */
export interface PageModel {
  readonly meta: ViewerMeta;
  readonly backend: "webgpu" | "wasm";
  readonly backendNote: string;
  readonly threads: number;
  /** Split export: encoder once per image, decoder per set of clicks. */
  readonly interactive: boolean;
  encode(image: PlanarImage): Promise<EncodedImage>;
  decode(encoded: EncodedImage, clicks: readonly Click[]): Promise<InteractiveResult>;
  runFull(image: PlanarImage): Promise<{ seg: UdegPrediction; ms: number }>;
}

/** Everything the view shows: the public ViewerState plus the texts and pixels behind it. */
export interface PageState extends ViewerState {
  meta: ViewerMeta | null;
  /** Progress of a download or load, 0..1, or null. */
  progress: number | null;
  fileInfo: string;
  sliceLabel: string;
  /** The encoder's (or single graph's) time, with a tooltip; null until the first run. */
  encoderText: { text: string; title: string } | null;
  decoderText: string | null;
  stats: string;
  /** The warning shown over a flagged image (trust flag), or null. */
  trustWarning: string | null;
  /** The uncertainty colour bar's scale, for the current result. */
  heatMax: number | null;
  pointsText: string;
  image: PlanarImage | null;
  result: UdegPrediction | null;
  clicks: Click[];
  /** Increases each time the image changes (the view redraws the base layers). */
  imageSeq: number;
}

export function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
}

function initialState(): PageState {
  return {
    phase: "loading-model",
    status: "",
    modelLoaded: false,
    hasResult: false,
    backend: null,
    backendNote: "",
    interactive: false,
    encoderMs: null,
    decoderMs: null,
    encoderRuns: 0,
    decoderRuns: 0,
    resultSeq: 0,
    error: null,
    file: null,
    slice: 0,
    slices: 0,
    width: 0,
    height: 0,
    points: 0,
    foreground: 0,
    trust: null,
    flagged: false,
    trustWarning: null,
    meta: null,
    progress: null,
    fileInfo: "no file open",
    sliceLabel: "",
    encoderText: null,
    decoderText: null,
    stats: "",
    heatMax: null,
    pointsText: "0 points",
    image: null,
    result: null,
    clicks: [],
    imageSeq: 0,
  };
}

export class ViewerController {
  readonly state: PageState = initialState();
  private model: PageModel | null = null;
  private modelReady: Promise<PageModel>;
  private resolveModel!: (m: PageModel) => void;
  private opened: OpenedFile | null = null;
  private encoded: EncodedImage | null = null;
  /** Bumped when the image changes: queued work for an older image is dropped. */
  private generation = 0;
  private queue: Promise<void> = Promise.resolve();
  private decodeWanted = false;

  /** `changed` is called after every transition, with the state to draw. */
  constructor(private readonly changed: (state: PageState) => void = () => {}) {
    this.modelReady = new Promise((resolve) => {
      this.resolveModel = resolve;
    });
  }

  private emit(): void {
    this.changed(this.state);
  }

  setStatus(text: string, progress: number | null = null): void {
    this.state.status = text;
    this.state.progress = progress;
    this.emit();
  }

  private fail(err: unknown, phase: ViewerPhase = "error"): void {
    const message = err instanceof Error ? err.message : String(err);
    console.error(err);
    this.state.error = message;
    this.state.phase = phase;
    this.setStatus(
      phase === "model-error" ? "The model could not be loaded." : "That did not work: see below.",
    );
  }

  /** The model's description arrived (before its files load). */
  describeModel(meta: ViewerMeta): void {
    this.state.meta = meta;
    this.emit();
  }

  modelLoaded(model: PageModel): void {
    this.model = model;
    const s = this.state;
    s.backend = model.backend;
    s.backendNote = model.backendNote;
    s.interactive = model.interactive;
    s.modelLoaded = true;
    if (s.phase === "loading-model") {
      s.phase = "ready";
      this.setStatus(`Model ready (${model.backend}). Open an image.`);
    } else this.emit();
    this.resolveModel(model);
  }

  modelFailed(err: unknown): void {
    this.fail(err, "model-error");
  }

  /** Back to "no image": one place that clears everything that belongs to an image. */
  private resetImage(): void {
    const s = this.state;
    this.generation++;
    this.encoded = null;
    this.decodeWanted = false;
    s.error = null;
    s.image = null;
    s.result = null;
    s.clicks = [];
    s.points = 0;
    s.foreground = 0;
    s.hasResult = false;
    s.trust = null;
    s.flagged = false;
    s.trustWarning = null;
    s.stats = "";
    s.heatMax = null;
    s.pointsText = "0 points";
  }

  /** Opens a file's bytes (decoding is `open`'s job: the page's openBytes, or a test's). */
  async openFile(name: string, open: () => Promise<OpenedFile>): Promise<void> {
    this.resetImage();
    const s = this.state;
    s.phase = "opening";
    this.setStatus(`Reading ${name} ...`);
    let o: OpenedFile;
    try {
      o = await open();
    } catch (err) {
      this.opened = null;
      s.file = null;
      s.slices = 0;
      s.fileInfo = "no file open";
      this.fail(err);
      return;
    }
    this.opened = o;
    s.file = o.name;
    s.slices = o.count;
    s.fileInfo = `${o.name}: ${o.description}`;
    this.showSlice(o.initial);
  }

  /** Shows slice (or frame) `index` of the open file and segments it. */
  showSlice(index: number): void {
    const o = this.opened;
    if (!o) return;
    this.resetImage();
    const s = this.state;
    let image: PlanarImage;
    try {
      image = o.image(index);
    } catch (err) {
      this.fail(err);
      return;
    }
    s.image = image;
    s.imageSeq++;
    s.slice = index;
    s.width = image.width;
    s.height = image.height;
    s.sliceLabel = `${index + 1} / ${o.count}${o.sliceName ? ` · ${o.sliceName(index)}` : ""}`;
    s.phase = "encoding";
    this.setStatus(this.model ? "Segmenting ..." : "Waiting for the model ...");
    this.schedule((gen) => this.segment(gen));
  }

  private schedule(task: (gen: number) => Promise<void>): void {
    const gen = this.generation;
    this.queue = this.queue
      .then(() => (gen === this.generation ? task(gen) : undefined))
      .catch((err: unknown) => {
        if (gen === this.generation) this.fail(err);
      });
  }

  /** Resolves when the queued work is done (tests, benchmarks). */
  idle(): Promise<void> {
    return this.queue;
  }

  private async segment(gen: number): Promise<void> {
    const m = await this.modelReady;
    const image = this.state.image;
    if (gen !== this.generation || !image) return;
    this.setStatus("Segmenting ...");
    if (m.interactive) {
      const enc = await m.encode(image);
      if (gen !== this.generation) return;
      this.encoded = enc;
      this.encoderTime("encoder", enc.encoderMs);
      await this.decode(gen);
    } else {
      const out = await m.runFull(image);
      if (gen !== this.generation) return;
      this.encoderTime("model", out.ms);
      this.showResult(out.seg);
    }
  }

  /** The encoder's (or single graph's) time; the first run also pays onnxruntime's warm-up. */
  private encoderTime(label: string, t: number): void {
    const s = this.state;
    s.encoderRuns++;
    s.encoderMs = t;
    const first = s.encoderRuns === 1;
    s.encoderText = {
      text: `${label}: ${ms(t)}${first ? " (1st run)" : ""}`,
      title: first
        ? "the first run includes onnxruntime-web's warm-up; the next images show the steady time"
        : `${label === "model" ? "the whole model" : "image encoder"}, once per image`,
    };
  }

  private async decode(gen: number): Promise<void> {
    const m = this.model!;
    const enc = this.encoded;
    if (!enc) return;
    this.decodeWanted = false;
    this.state.phase = "decoding";
    this.emit();
    const out = await m.decode(enc, this.state.clicks);
    if (gen !== this.generation || enc !== this.encoded) return;
    this.state.decoderRuns++;
    this.state.decoderMs = out.decoderMs;
    this.state.decoderText = `decoder: ${ms(out.decoderMs)}`;
    this.showResult(out);
  }

  private showResult(seg: UdegPrediction): void {
    const s = this.state;
    s.result = seg;
    let max = 1e-6;
    for (const u of seg.uncertainty) if (u > max) max = u;
    s.heatMax = max;
    const counts = labelCounts(seg.labels, seg.classes);
    const fg = seg.labels.length - counts[0]!;
    let uSum = 0;
    for (const u of seg.uncertainty) uSum += u;
    s.foreground = fg;
    s.stats =
      `mask: ${fg} px (${((100 * fg) / seg.labels.length).toFixed(1)} %)` +
      (seg.classes > 1 ? ` [${counts.slice(1).join(" / ")}]` : "") +
      ` · mean uncertainty ${(uSum / seg.labels.length).toFixed(3)}` +
      (seg.trust ? ` · trust ${seg.trust.trust.toFixed(2)}` : "");
    s.trust = seg.trust?.trust ?? null;
    s.flagged = seg.trust?.flagged ?? false;
    s.trustWarning = s.flagged
      ? `Unlike the images this model was trained on (trust ${seg.trust!.trust.toFixed(2)}): ` +
        "the mask may be wrong however confident it looks. Check it before use."
      : null;
    s.phase = "done";
    s.hasResult = true;
    s.resultSeq++;
    const m = this.model!;
    const t = m.interactive
      ? `encoder ${ms(s.encoderMs ?? 0)}, decoder ${ms(s.decoderMs ?? 0)}`
      : `${ms(s.encoderMs ?? 0)}`;
    this.setStatus(`Done on ${m.backend} (${t}).`);
  }

  /** A click at image pixel (x, y); positive adds, negative removes. */
  addPoint(x: number, y: number, positive: boolean): void {
    const s = this.state;
    const m = this.model;
    if (!s.image || !m) return;
    if (!m.interactive) {
      this.setStatus("Point refinement needs the split export (see the note under 'Refine with points').");
      return;
    }
    const cx = Math.min(s.image.width - 1, Math.max(0, Math.floor(x)));
    const cy = Math.min(s.image.height - 1, Math.max(0, Math.floor(y)));
    s.clicks = [...s.clicks, { x: cx, y: cy, positive }].slice(-m.meta.maxPoints);
    this.pointsChanged();
  }

  clearPoints(): void {
    if (!this.state.image) return;
    this.state.clicks = [];
    this.pointsChanged();
  }

  private pointsChanged(): void {
    const s = this.state;
    const max = this.model?.meta.maxPoints ?? 0;
    const n = s.clicks.length;
    s.points = n;
    s.pointsText = `${n} point${n === 1 ? "" : "s"}${n >= max ? ` (at most ${max}: the oldest go first)` : ""}`;
    if (!this.encoded) {
      this.emit(); // the encoder is still running: its decode will use the points
      return;
    }
    this.decodeWanted = true;
    this.setStatus("Refining ...");
    this.schedule(async (gen) => {
      if (this.decodeWanted) await this.decode(gen);
    });
  }

  /** The mask file's name: the file's stem, the slice or frame when there are several. */
  maskFileName(): string {
    const o = this.opened!;
    const stem = o.name.replace(/\.gz$/i, "").replace(/\.[^.]+$/, "") || "image";
    const part = o.count > 1 ? `_${o.kind === "nifti" ? "slice" : "frame"}${this.state.slice}` : "";
    return `${stem}${part}_mask.png`;
  }

  /** Times the encoder and the decoder (no clicks) `runs` times on the current image, after queued work. */
  benchmark(runs: number): Promise<BenchmarkResult> {
    return new Promise<BenchmarkResult>((ok, fail) => {
      this.queue = this.queue.then(async () => {
        try {
          const m = this.model;
          const image = this.state.image;
          if (!m || !image) throw new Error("benchmark: load the model and open an image first");
          const encoderMs: number[] = [];
          const decoderMs: number[] = [];
          for (let i = 0; i < runs; i++) {
            if (m.interactive) {
              const enc = await m.encode(image);
              encoderMs.push(enc.encoderMs);
              decoderMs.push((await m.decode(enc, [])).decoderMs);
            } else encoderMs.push((await m.runFull(image)).ms);
          }
          ok({ encoderMs, decoderMs, backend: m.backend, threads: m.threads });
        } catch (err) {
          fail(err);
        }
      });
    });
  }

  /** The public state (window.udegViewer.state()). */
  publicState(): ViewerState {
    const {
      meta: _m,
      progress: _p,
      fileInfo: _f,
      sliceLabel: _s,
      encoderText: _e,
      decoderText: _d,
      stats: _st,
      trustWarning: _tw,
      heatMax: _h,
      pointsText: _pt,
      image: _i,
      result: _r,
      clicks: _c,
      imageSeq: _q,
      ...pub
    } = this.state;
    return { ...pub };
  }
}
