// The viewer's view: `render(state)` makes the page show a PageState, whatever it was showing
// before. Texts, visibility and enabled states are set on every call; the canvases are redrawn
// only when the image or the result changed (their sequence numbers), or the stage was resized.
import { maskPngValues } from "../../src/udeg/colour-maps.js";
import type { PageState } from "./controller.js";
import { encodeGreyPng } from "./png.js";
import { drawColourBar, drawEdge, drawHeat, drawImage, drawMask, drawPoints } from "./render.js";

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** The page's elements, found once. */
export function pageElements() {
  return {
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
    trustWarning: $("trust-warning"),
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
}

export type PageElements = ReturnType<typeof pageElements>;

const SINGLE_GRAPH_HELP =
  "This model was exported as a single graph, so clicks cannot refine the mask. " +
  "Serve the run (udeg serve --model RUN) or export with udeg export --split for point refinement.";

export class ViewerView {
  private drawn = { imageSeq: -1, resultSeq: -1 };
  private display = { w: 0, h: 0, dpr: 1 };
  private last: PageState | null = null;

  constructor(readonly ui: PageElements) {
    drawColourBar(ui.colourbar);
    this.applyLayerControls();
  }

  render(s: PageState): void {
    const ui = this.ui;
    this.last = s;
    const m = s.meta;
    if (m) {
      ui.modelInfo.textContent =
        `${m.name} · ${m.modelSize} px · ${m.classes} class${m.classes === 1 ? "" : "es"} · preset ${m.preset}` +
        ` · ${m.source}`;
      ui.modelInfo.title = m.source;
      if (!m.edge) {
        ui.showEdge.checked = false;
        ui.showEdge.disabled = true;
        ui.showEdge.parentElement!.title = "this model has no edge prompt generator";
      }
    }
    if (s.backend) {
      ui.backend.textContent = `backend: ${s.backend}`;
      ui.backend.classList.add("on");
      ui.backend.title = s.backendNote || `onnxruntime-web, ${s.backend} execution provider`;
    }
    if (s.modelLoaded && !s.interactive) {
      ui.pointsHelp.textContent = SINGLE_GRAPH_HELP;
      ui.timingDecoder.hidden = true;
    }
    if (s.encoderText) {
      ui.timingEncoder.textContent = s.encoderText.text;
      ui.timingEncoder.title = s.encoderText.title;
    }
    if (s.decoderText) ui.timingDecoder.textContent = s.decoderText;

    ui.status.textContent = s.status;
    ui.progress.hidden = s.progress === null;
    if (s.progress !== null) ui.progress.value = s.progress;
    ui.error.hidden = s.error === null;
    ui.error.textContent = s.error ?? "";
    ui.trustWarning.hidden = s.trustWarning === null;
    ui.trustWarning.textContent = s.trustWarning ?? "";

    ui.fileInfo.textContent = s.fileInfo;
    ui.stage.hidden = s.image === null;
    ui.drop.hidden = s.image !== null;
    ui.sliceRow.hidden = s.slices <= 1;
    ui.slice.max = String(Math.max(0, s.slices - 1));
    if (Number(ui.slice.value) !== s.slice) ui.slice.value = String(s.slice);
    ui.sliceLabel.textContent = s.sliceLabel;
    ui.stats.textContent = s.stats;
    ui.heatMax.textContent = s.heatMax === null ? "-" : s.heatMax.toPrecision(2);
    ui.heatMid.textContent = s.heatMax === null ? "-" : (s.heatMax / 2).toPrecision(2);
    ui.pointsCount.textContent = s.pointsText;
    ui.download.disabled = !s.hasResult;
    ui.clearPoints.disabled = s.clicks.length === 0;

    if (s.image && s.imageSeq !== this.drawn.imageSeq) {
      this.drawn.imageSeq = s.imageSeq;
      drawImage(ui.image, s.image);
      for (const c of [ui.heat, ui.edge]) c.getContext("2d")!.clearRect(0, 0, c.width, c.height);
      this.layout();
    }
    if (s.result && s.resultSeq !== this.drawn.resultSeq) {
      this.drawn.resultSeq = s.resultSeq;
      drawHeat(ui.heat, s.result);
      drawEdge(ui.edge, s.result);
    }
    this.drawScreenLayers();
  }

  /** Fits the stage to the viewer (keeping the image's aspect) and redraws the screen layers. */
  layout(): void {
    const s = this.last;
    if (!s?.image) return;
    const ui = this.ui;
    const { width: w, height: h } = s.image;
    const sliceH = ui.sliceRow.hidden ? 0 : ui.sliceRow.offsetHeight + 12;
    const availW = Math.max(50, ui.viewer.clientWidth - 32);
    const availH = Math.max(50, ui.viewer.clientHeight - 32 - sliceH);
    const scale = Math.min(availW / w, availH / h);
    const cssW = Math.floor(w * scale);
    const cssH = Math.floor(h * scale);
    ui.stage.style.width = `${cssW}px`;
    ui.stage.style.height = `${cssH}px`;
    ui.stage.classList.toggle("pixelated", scale >= 2);
    this.display = { w: cssW, h: cssH, dpr: window.devicePixelRatio || 1 };
    this.drawScreenLayers();
  }

  /** The mask contour and the points, at screen resolution. */
  private drawScreenLayers(): void {
    const s = this.last;
    if (!s?.image) return;
    const { w, h, dpr } = this.display;
    drawMask(this.ui.mask, s.result, w, h, dpr);
    drawPoints(this.ui.points, s.clicks, s.image.width, s.image.height, w, h, dpr);
  }

  applyLayerControls(): void {
    const ui = this.ui;
    const set = (canvas: HTMLCanvasElement, show: HTMLInputElement, opacity: HTMLInputElement) => {
      canvas.style.display = show.checked ? "" : "none";
      canvas.style.opacity = opacity.value;
    };
    set(ui.mask, ui.showMask, ui.opacityMask);
    set(ui.heat, ui.showHeat, ui.opacityHeat);
    set(ui.edge, ui.showEdge, ui.opacityEdge);
  }

  /** Image pixel under a mouse event on the stage. */
  pixelAt(ev: MouseEvent): { x: number; y: number } | null {
    const s = this.last;
    if (!s?.image) return null;
    const rect = this.ui.stage.getBoundingClientRect();
    return {
      x: ((ev.clientX - rect.left) / rect.width) * s.image.width,
      y: ((ev.clientY - rect.top) / rect.height) * s.image.height,
    };
  }

  /** Saves the current mask as `udeg predict` writes NAME_mask.png. */
  async download(fileName: string): Promise<void> {
    const seg = this.last?.result;
    if (!seg) return;
    const png = await encodeGreyPng(maskPngValues(seg.labels, seg.classes), seg.width, seg.height);
    const url = URL.createObjectURL(new Blob([png as BlobPart], { type: "image/png" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = fileName;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
