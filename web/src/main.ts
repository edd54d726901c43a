// The UDEG-Net viewer page: open an image, DICOM file or NIfTI volume, segment it in the browser,
// look at the mask, the uncertainty and the edge map, click to refine, save the mask.
// Thin wiring: the DOM's events go to the controller (controller.ts), whose state the view
// (view.ts) draws. For tests (and the curious), window.udegViewer exposes the state and the mask.
import type { ViewerMeta } from "../../src/serve/meta.js";
import { pageFrameDecoder } from "./codecs.js";
import { ViewerController } from "./controller.js";
import { openFiles } from "./decode.js";
import { ViewerModel } from "./model.js";
import { pageElements, ViewerView } from "./view.js";

const view = new ViewerView(pageElements());
const controller = new ViewerController((state) => view.render(state));
const ui = view.ui;
/** The model's facts; files opened before they arrive wait for them (the input rule is among them). */
let resolveMeta: (meta: ViewerMeta) => void = () => {};
const metaReady = new Promise<ViewerMeta>((resolve) => {
  resolveMeta = resolve;
});

async function loadModel(): Promise<void> {
  controller.setStatus("Loading the model description ...");
  const res = await fetch("model/meta.json");
  if (!res.ok) throw new Error(`cannot load model/meta.json: the server answered ${res.status}`);
  const meta = (await res.json()) as ViewerMeta;
  controller.describeModel(meta);
  resolveMeta(meta);
  const force = new URLSearchParams(location.search).get("backend") === "wasm" ? "wasm" : undefined;
  const model = await ViewerModel.load(meta, (text, fraction) => controller.setStatus(text, fraction), force);
  controller.modelLoaded(model);
}

/** One file, or several (a DICOM series) opened together. */
function pickFiles(files: FileList | null | undefined): void {
  const list = Array.from(files ?? []);
  if (list.length === 0) return;
  const name = list.length === 1 ? list[0]!.name : `${list[0]!.name} (+${list.length - 1})`;
  void controller.openFile(name, async () =>
    openFiles(
      await Promise.all(
        list.map(async (f) => ({ bytes: new Uint8Array(await f.arrayBuffer()), name: f.name })),
      ),
      pageFrameDecoder,
      (await metaReady).input,
    ),
  );
}

function click(ev: MouseEvent, positive: boolean): void {
  ev.preventDefault();
  const p = view.pixelAt(ev);
  if (p) controller.addPoint(p.x, p.y, positive);
}

ui.file.addEventListener("change", () => {
  pickFiles(ui.file.files);
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
  pickFiles(e.dataTransfer?.files);
});
ui.slice.addEventListener("input", () => controller.showSlice(Number(ui.slice.value)));
ui.stage.addEventListener("click", (e) => click(e, !e.shiftKey));
ui.stage.addEventListener("contextmenu", (e) => click(e, false));
ui.clearPoints.addEventListener("click", () => controller.clearPoints());
ui.download.addEventListener("click", () => {
  view.download(controller.maskFileName()).catch((err: unknown) => controller.setStatus(String(err)));
});
for (const el of [ui.showMask, ui.showHeat, ui.showEdge, ui.opacityMask, ui.opacityHeat, ui.opacityEdge])
  el.addEventListener("input", () => view.applyLayerControls());
new ResizeObserver(() => view.layout()).observe(ui.viewer);

loadModel().catch((err: unknown) => controller.modelFailed(err));

window.udegViewer = {
  state: () => controller.publicState(),
  maskLabels: () => Array.from(controller.state.result?.labels ?? []),
  benchmark: (runs) => controller.benchmark(runs),
};
