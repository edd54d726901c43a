// The UDEG-Net viewer page: open an image, DICOM file or NIfTI volume, segment it in the browser,
// look at the mask, the uncertainty and the edge map, click to refine, save the mask.
//
// For tests (and the curious), window.udegViewer exposes the page's state and the current mask.
import type { PlanarImage } from "../../src/io/planar-image.js";
import type { BenchmarkResult, ViewerPhase as Phase, ViewerMeta, ViewerState } from "../../src/serve/meta.js";
import { maskPngValues } from "../../src/udeg/colour-maps.js";
import type { Click, EncodedImage } from "../../src/udeg/interactive.js";
import { type OpenedFile, openBytes } from "./decode.js";
import { ViewerModel } from "./model.js";
import type { UdegPrediction } from "../../src/udeg/prediction.js";
import { labelCounts } from "./pipeline.js";
import { encodeGreyPng } from "./png.js";
import { drawColourBar, drawEdge, drawHeat, drawImage, drawMask, drawPoints } from "./render.js";

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const ui = {
  modelInfo: $("model-info"),
  backend: $("backend"),
  timingEncoder: $("timing-encoder"),
  timingDecoder: $("timing-decoder"),
  viewer: $("viewer"),
  stage: $("stage"),
  drop: $("drop"),
  image: $<HTMLCanvasElement>("layer-image"),
  heat: $<HTMLCanvasElement>("layer-heat"),
  edge: $<HTMLCanvasElement>("layer-edge"),
  mask: $<HTMLCanvasElement>("layer-mask"),
  points: $<HTMLCanvasElement>("layer-points"),
  sliceRow: $("slice-row"),
  slice: $<HTMLInputElement>("slice"),
  sliceLabel: $("slice-label"),
  file: $<HTMLInputElement>("file"),
  fileInfo: $("file-info"),
  status: $("status"),
  progress: $<HTMLProgressElement>("progress"),
  error: $("error"),
  showMask: $<HTMLInputElement>("show-mask"),
  showHeat: $<HTMLInputElement>("show-heat"),
  showEdge: $<HTMLInputElement>("show-edge"),
  opacityMask: $<HTMLInputElement>("opacity-mask"),
  opacityHeat: $<HTMLInputElement>("opacity-heat"),
  opacityEdge: $<HTMLInputElement>("opacity-edge"),
  colourbar: $<HTMLCanvasElement>("colourbar"),
  heatMid: $("heat-mid"),
  heatMax: $("heat-max"),
  stats: $("stats"),
  pointsHelp: $("points-help"),
  clearPoints: $<HTMLButtonElement>("clear-points"),
  pointsCount: $("points-count"),
  download: $<HTMLButtonElement>("download"),
};

const state: ViewerState = {
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
};

interface Current {
  image: PlanarImage;
  index: number;
  enc: EncodedImage | null;
  seg: UdegPrediction | null;
  points: Click[];
}

let meta: ViewerMeta | null = null;
let model: ViewerModel | null = null;
let modelReady: Promise<ViewerModel>;
let opened: OpenedFile | null = null;
let current: Current | null = null;
/** Bumped when the image changes: queued work for an older image is dropped. */
let generation = 0;
let queue: Promise<void> = Promise.resolve();
let decodeWanted = false;

function setStatus(text: string, fraction?: number): void {
  state.status = text;
  ui.status.textContent = text;
  ui.progress.hidden = fraction === undefined;
  if (fraction !== undefined) ui.progress.value = fraction;
}

function showError(err: unknown, phase: Phase = "error"): void {
  const message = err instanceof Error ? err.message : String(err);
  console.error(err);
  state.error = message;
  state.phase = phase;
  ui.error.textContent = message;
  ui.error.hidden = false;
  setStatus(phase === "model-error" ? "The model could not be loaded." : "That did not work: see below.");
}

function clearError(): void {
  state.error = null;
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
}

function schedule(task: (gen: number) => Promise<void>): void {
  const gen = generation;
  queue = queue
    .then(() => (gen === generation ? task(gen) : undefined))
    .catch((err: unknown) => {
      if (gen === generation) showError(err);
    });
}

// ---------------------------------------------------------------------------------------------
// The model

async function loadModel(): Promise<ViewerModel> {
  setStatus("Loading the model description ...");
  const res = await fetch("model/meta.json");
  if (!res.ok) throw new Error(`cannot load model/meta.json: the server answered ${res.status}`);
  meta = (await res.json()) as ViewerMeta;
  const m = meta;
  ui.modelInfo.textContent =
    `${m.name} · ${m.modelSize} px · ${m.classes} class${m.classes === 1 ? "" : "es"} · preset ${m.preset}` +
    ` · ${m.source}`;
  ui.modelInfo.title = m.source;
  if (!m.edge) {
    ui.showEdge.checked = false;
    ui.showEdge.disabled = true;
    ui.showEdge.parentElement!.title = "this model has no edge prompt generator";
  }
  const force = new URLSearchParams(location.search).get("backend") === "wasm" ? "wasm" : undefined;
  const loaded = await ViewerModel.load(m, (text, fraction) => setStatus(text, fraction), force);
  model = loaded;
  state.backend = loaded.backend;
  state.backendNote = loaded.backendNote;
  state.interactive = loaded.interactive !== null;
  state.modelLoaded = true;
  ui.backend.textContent = `backend: ${loaded.backend}`;
  ui.backend.classList.add("on");
  ui.backend.title = loaded.backendNote || `onnxruntime-web, ${loaded.backend} execution provider`;
  if (!loaded.interactive) {
    ui.pointsHelp.textContent =
      "This model was exported as a single graph, so clicks cannot refine the mask. " +
      "Serve the run (udeg serve --model RUN) or export with udeg export --split for point refinement.";
    ui.timingDecoder.hidden = true;
  }
  if (state.phase === "loading-model") {
    state.phase = "ready";
    setStatus(`Model ready (${loaded.backend}). Open an image.`);
  }
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Files and slices

async function openFile(file: File): Promise<void> {
  clearError();
  generation++;
  state.phase = "opening";
  setStatus(`Reading ${file.name} ...`);
  let o: OpenedFile;
  try {
    o = await openBytes(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (err) {
    opened = null;
    current = null;
    state.file = null;
    state.hasResult = false;
    ui.stage.hidden = true;
    ui.drop.hidden = false;
    ui.sliceRow.hidden = true;
    ui.download.disabled = true;
    ui.clearPoints.disabled = true;
    ui.fileInfo.textContent = "no file open";
    clearResultText();
    showError(err);
    return;
  }
  opened = o;
  state.file = o.name;
  state.slices = o.count;
  ui.fileInfo.textContent = `${o.name}: ${o.description}`;
  ui.sliceRow.hidden = o.count <= 1;
  ui.slice.max = String(o.count - 1);
  ui.slice.value = String(o.initial);
  showSlice(o.initial);
}

function showSlice(index: number): void {
  if (!opened) return;
  clearError();
  generation++;
  let image: PlanarImage;
  try {
    image = opened.image(index);
  } catch (err) {
    showError(err);
    return;
  }
  current = { image, index, enc: null, seg: null, points: [] };
  state.slice = index;
  state.width = image.width;
  state.height = image.height;
  state.points = 0;
  state.foreground = 0;
  state.hasResult = false;
  ui.sliceLabel.textContent = `${index + 1} / ${opened.count}`;
  ui.stage.hidden = false;
  ui.drop.hidden = true;
  ui.download.disabled = true;
  ui.clearPoints.disabled = true;
  ui.pointsCount.textContent = "0 points";
  clearResultText();
  drawImage(ui.image, image);
  for (const c of [ui.heat, ui.edge]) c.getContext("2d")!.clearRect(0, 0, c.width, c.height);
  layout();
  state.phase = "encoding";
  setStatus(model ? "Segmenting ..." : "Waiting for the model ...");
  schedule(segment);
}

async function segment(gen: number): Promise<void> {
  const m = await modelReady;
  const cur = current;
  if (gen !== generation || !cur) return;
  setStatus("Segmenting ...");
  if (m.interactive) {
    cur.enc = await m.encode(cur.image);
    if (gen !== generation) return;
    state.encoderRuns++;
    state.encoderMs = cur.enc.encoderMs;
    showEncoderTime("encoder", cur.enc.encoderMs);
    await decode(gen);
  } else {
    const out = await m.runFull(cur.image);
    if (gen !== generation) return;
    state.encoderRuns++;
    state.encoderMs = out.ms;
    showEncoderTime("model", out.ms);
    cur.seg = out.seg;
    showResult();
  }
}

/** The encoder's (or single graph's) time; the first run also pays onnxruntime's warm-up. */
function showEncoderTime(label: string, t: number): void {
  const first = state.encoderRuns === 1;
  ui.timingEncoder.textContent = `${label}: ${ms(t)}${first ? " (1st run)" : ""}`;
  ui.timingEncoder.title = first
    ? "the first run includes onnxruntime-web's warm-up; the next images show the steady time"
    : `${label === "model" ? "the whole model" : "image encoder"}, once per image`;
}

async function decode(gen: number): Promise<void> {
  const m = model!;
  const cur = current;
  if (!cur?.enc) return;
  decodeWanted = false;
  state.phase = "decoding";
  const out = await m.decode(cur.enc, cur.points);
  if (gen !== generation || cur !== current) return;
  state.decoderRuns++;
  state.decoderMs = out.decoderMs;
  ui.timingDecoder.textContent = `decoder: ${ms(out.decoderMs)}`;
  cur.seg = {
    width: out.width,
    height: out.height,
    classes: m.meta.classes,
    labels: out.labels,
    prob: out.prob,
    uncertainty: out.uncertainty,
    edge: cur.enc.edge,
  };
  showResult();
}

/** The result's numbers (stats, colour bar scale) go when the result does. */
function clearResultText(): void {
  ui.stats.textContent = "";
  ui.heatMid.textContent = "-";
  ui.heatMax.textContent = "-";
}

function showResult(): void {
  const cur = current!;
  const seg = cur.seg!;
  const max = drawHeat(ui.heat, seg);
  ui.heatMax.textContent = max.toPrecision(2);
  ui.heatMid.textContent = (max / 2).toPrecision(2);
  drawEdge(ui.edge, seg);
  redrawScreenLayers();
  const counts = labelCounts(seg.labels, seg.classes);
  const fg = seg.labels.length - counts[0]!;
  let uSum = 0;
  for (const u of seg.uncertainty) uSum += u;
  state.foreground = fg;
  ui.stats.textContent =
    `mask: ${fg} px (${((100 * fg) / seg.labels.length).toFixed(1)} %)` +
    (seg.classes > 1 ? ` [${counts.slice(1).join(" / ")}]` : "") +
    ` · mean uncertainty ${(uSum / seg.labels.length).toFixed(3)}`;
  ui.download.disabled = false;
  ui.clearPoints.disabled = cur.points.length === 0;
  state.phase = "done";
  state.hasResult = true;
  const t = model!.interactive
    ? `encoder ${ms(state.encoderMs ?? 0)}, decoder ${ms(state.decoderMs ?? 0)}`
    : `${ms(state.encoderMs ?? 0)}`;
  setStatus(`Done on ${model!.backend} (${t}).`);
  state.resultSeq++;
}

// ---------------------------------------------------------------------------------------------
// Layout and drawing

let display = { w: 0, h: 0, dpr: 1 };

function layout(): void {
  if (!current) return;
  const { width: w, height: h } = current.image;
  const sliceH = ui.sliceRow.hidden ? 0 : ui.sliceRow.offsetHeight + 12;
  const availW = Math.max(50, ui.viewer.clientWidth - 32);
  const availH = Math.max(50, ui.viewer.clientHeight - 32 - sliceH);
  const scale = Math.min(availW / w, availH / h);
  const cssW = Math.floor(w * scale);
  const cssH = Math.floor(h * scale);
  ui.stage.style.width = `${cssW}px`;
  ui.stage.style.height = `${cssH}px`;
  ui.stage.classList.toggle("pixelated", scale >= 2);
  display = { w: cssW, h: cssH, dpr: window.devicePixelRatio || 1 };
  redrawScreenLayers();
}

function redrawScreenLayers(): void {
  if (!current) return;
  const { w, h, dpr } = display;
  drawMask(ui.mask, current.seg, w, h, dpr);
  drawPoints(ui.points, current.points, current.image.width, current.image.height, w, h, dpr);
}

function applyLayerControls(): void {
  const set = (canvas: HTMLCanvasElement, show: HTMLInputElement, opacity: HTMLInputElement) => {
    canvas.style.display = show.checked ? "" : "none";
    canvas.style.opacity = opacity.value;
  };
  set(ui.mask, ui.showMask, ui.opacityMask);
  set(ui.heat, ui.showHeat, ui.opacityHeat);
  set(ui.edge, ui.showEdge, ui.opacityEdge);
}

// ---------------------------------------------------------------------------------------------
// Points

function addPoint(ev: MouseEvent, positive: boolean): void {
  ev.preventDefault();
  const cur = current;
  if (!cur || !model) return;
  if (!model.interactive) {
    setStatus("Point refinement needs the split export (see the note under 'Refine with points').");
    return;
  }
  const rect = ui.stage.getBoundingClientRect();
  const x = Math.min(
    cur.image.width - 1,
    Math.max(0, Math.floor(((ev.clientX - rect.left) / rect.width) * cur.image.width)),
  );
  const y = Math.min(
    cur.image.height - 1,
    Math.max(0, Math.floor(((ev.clientY - rect.top) / rect.height) * cur.image.height)),
  );
  cur.points.push({ x, y, positive });
  const max = model.meta.maxPoints;
  if (cur.points.length > max) cur.points.splice(0, cur.points.length - max);
  pointsChanged();
}

function pointsChanged(): void {
  const cur = current!;
  state.points = cur.points.length;
  const max = model!.meta.maxPoints;
  ui.pointsCount.textContent =
    `${cur.points.length} point${cur.points.length === 1 ? "" : "s"}` +
    (cur.points.length >= max ? ` (at most ${max}: the oldest go first)` : "");
  ui.clearPoints.disabled = cur.points.length === 0;
  redrawScreenLayers();
  if (!cur.enc) return; // the encoder is still running: its decode will use the points
  decodeWanted = true;
  setStatus("Refining ...");
  schedule(async (gen) => {
    if (decodeWanted) await decode(gen);
  });
}

// ---------------------------------------------------------------------------------------------
// Saving

function maskFileName(): string {
  const o = opened!;
  const stem = o.name.replace(/\.gz$/i, "").replace(/\.[^.]+$/, "") || "image";
  const part = o.count > 1 ? `_${o.kind === "nifti" ? "slice" : "frame"}${current!.index}` : "";
  return `${stem}${part}_mask.png`;
}

async function downloadMask(): Promise<void> {
  const seg = current?.seg;
  if (!seg) return;
  const png = await encodeGreyPng(maskPngValues(seg.labels, seg.classes), seg.width, seg.height);
  const url = URL.createObjectURL(new Blob([png as BlobPart], { type: "image/png" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = maskFileName();
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function pickFile(files: FileList | null | undefined): void {
  const f = files?.[0];
  if (f) void openFile(f);
}

ui.file.addEventListener("change", () => {
  pickFile(ui.file.files);
  ui.file.value = "";
});
ui.viewer.addEventListener("dragover", (e) => {
  e.preventDefault();
  ui.viewer.classList.add("dragging");
});
ui.viewer.addEventListener("dragleave", () => ui.viewer.classList.remove("dragging"));
ui.viewer.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.viewer.classList.remove("dragging");
  pickFile(e.dataTransfer?.files);
});
ui.slice.addEventListener("input", () => showSlice(Number(ui.slice.value)));
ui.stage.addEventListener("click", (e) => addPoint(e, !e.shiftKey));
ui.stage.addEventListener("contextmenu", (e) => addPoint(e, false));
ui.clearPoints.addEventListener("click", () => {
  if (!current) return;
  current.points = [];
  pointsChanged();
});
ui.download.addEventListener("click", () => {
  downloadMask().catch((err: unknown) => showError(err));
});
for (const el of [ui.showMask, ui.showHeat, ui.showEdge, ui.opacityMask, ui.opacityHeat, ui.opacityEdge])
  el.addEventListener("input", applyLayerControls);
new ResizeObserver(() => layout()).observe(ui.viewer);
drawColourBar(ui.colourbar);
applyLayerControls();

modelReady = loadModel();
modelReady.catch((err: unknown) => showError(err, "model-error"));

/** Times the encoder and the decoder (no clicks) `runs` times on the current image. */
function benchmark(runs: number): Promise<BenchmarkResult> {
  return new Promise<BenchmarkResult>((ok, fail) => {
    queue = queue.then(async () => {
      try {
        const m = model;
        const image = current?.image;
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

window.udegViewer = {
  state: () => ({ ...state }),
  maskLabels: () => Array.from(current?.seg?.labels ?? []),
  benchmark,
};
