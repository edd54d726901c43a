// The viewer's controller (web/src/controller.ts) driven from Node: phases, the one reset, clicks,
// dropping stale work, errors. The model is a stand-in whose mask is the clicked pixels, so every
// assertion can say exactly what the page should show.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_INPUT_RULE } from "../../src/data/input-rule.js";
import type { PlanarImage } from "../../src/io/planar-image.js";
import type { ViewerMeta } from "../../src/serve/meta.js";
import type { Click, EncodedImage, InteractiveResult } from "../../src/udeg/interactive.js";
import type { UdegPrediction } from "../../src/udeg/prediction.js";
import { type PageModel, type PageState, ViewerController } from "../../web/src/controller.js";
import type { OpenedFile } from "../../web/src/decode.js";

const META: ViewerMeta = {
  format: "udeg-web/1",
  name: "stand-in",
  modelSize: 8,
  pixelMean: [0, 0, 0],
  pixelStd: [1, 1, 1],
  input: DEFAULT_INPUT_RULE,
  classes: 1,
  preset: "udeg",
  evidential: true,
  edge: true,
  maxPoints: 3,
  files: { encoder: "e.onnx", decoder: "d.onnx" },
  source: "test",
};

function image(width: number, height: number, value = 0): PlanarImage {
  return { data: new Float32Array(3 * width * height).fill(value), channels: 3, width, height };
}

/** A result whose foreground is the positive clicks' pixels, uncertainty 0.5 everywhere. */
function resultOf(img: PlanarImage, clicks: readonly Click[], decoderMs: number): InteractiveResult {
  const n = img.width * img.height;
  const labels = new Uint8Array(n);
  for (const c of clicks) labels[c.y * img.width + c.x] = c.positive ? 1 : 0;
  const prob = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    prob[n + i] = labels[i]!;
    prob[i] = 1 - labels[i]!;
  }
  return {
    width: img.width,
    height: img.height,
    classes: 1,
    labels,
    prob,
    uncertainty: new Float32Array(n).fill(0.5),
    edge: new Float32Array(n),
    decoderMs,
  };
}

class StandIn implements PageModel {
  readonly meta = META;
  readonly backend = "wasm" as const;
  readonly backendNote = "no WebGPU adapter in this browser";
  readonly threads = 1;
  encodes = 0;
  decodes: Click[][] = [];
  /** Resolves the next encode when set (to hold the encoder "running"). */
  gate: Promise<void> | null = null;
  constructor(readonly interactive = true) {}
  async encode(img: PlanarImage): Promise<EncodedImage> {
    if (this.gate) await this.gate;
    this.encodes++;
    return {
      info: {
        originalHeight: img.height,
        originalWidth: img.width,
        resizedHeight: img.height,
        resizedWidth: img.width,
      },
      embeddings: { data: img, dims: [] },
      dense: { data: null, dims: [] },
      edge: new Float32Array(img.width * img.height),
      encoderMs: 5,
    } as unknown as EncodedImage;
  }
  async decode(enc: EncodedImage, clicks: readonly Click[]): Promise<InteractiveResult> {
    this.decodes.push([...clicks]);
    return resultOf(enc.embeddings.data as PlanarImage, clicks, 2);
  }
  async runFull(img: PlanarImage): Promise<{ seg: UdegPrediction; ms: number }> {
    this.encodes++;
    return { seg: resultOf(img, [{ x: 0, y: 0, positive: true }], 0), ms: 7 };
  }
}

function file(images: PlanarImage[], kind: OpenedFile["kind"] = "nifti"): OpenedFile {
  return {
    name: "scan.nii.gz",
    kind,
    count: images.length,
    initial: Math.floor(images.length / 2),
    description: `${images.length} slices`,
    image: (i) => {
      const img = images[i];
      if (!img) throw new Error(`no slice ${i}`);
      return img;
    },
  };
}

function started(model: PageModel): { c: ViewerController; seen: PageState["phase"][] } {
  const seen: PageState["phase"][] = [];
  const c = new ViewerController((s) => {
    if (seen.at(-1) !== s.phase) seen.push(s.phase);
  });
  c.describeModel(META);
  c.modelLoaded(model);
  return { c, seen };
}

test("open -> encode -> decode -> done, with the page's texts", async () => {
  const model = new StandIn();
  const { c, seen } = started(model);
  assert.equal(c.state.phase, "ready");
  await c.openFile("scan.nii.gz", async () => file([image(4, 3), image(4, 3), image(4, 3)]));
  await c.idle();
  const s = c.state;
  assert.deepEqual(seen, ["loading-model", "ready", "opening", "encoding", "decoding", "done"]);
  assert.equal(s.slice, 1, "the middle slice first");
  assert.equal(s.sliceLabel, "2 / 3");
  assert.equal(s.fileInfo, "scan.nii.gz: 3 slices");
  assert.equal(s.hasResult, true);
  assert.equal(s.foreground, 0);
  assert.equal(s.stats, "mask: 0 px (0.0 %) · mean uncertainty 0.500");
  assert.equal(s.encoderText?.text, "encoder: 5 ms (1st run)");
  assert.equal(s.decoderText, "decoder: 2 ms");
  assert.equal(s.status, "Done on wasm (encoder 5 ms, decoder 2 ms).");
  assert.equal(c.maskFileName(), "scan_slice1_mask.png");
  const pub = c.publicState();
  assert.equal("result" in pub, false, "the public state has no pixels");
  assert.equal(pub.phase, "done");
});

test("clicks rerun only the decoder, keep at most maxPoints (the oldest go), clear resets them", async () => {
  const model = new StandIn();
  const { c } = started(model);
  await c.openFile("a.png", async () => file([image(4, 4)], "image"));
  await c.idle();
  c.addPoint(1.7, 2.2, true);
  await c.idle();
  assert.deepEqual(model.decodes.at(-1), [{ x: 1, y: 2, positive: true }]);
  assert.equal(c.state.foreground, 1);
  assert.equal(c.state.pointsText, "1 point");
  for (const [x, y] of [
    [0, 0],
    [3, 3],
    [9, -4],
  ])
    c.addPoint(x!, y!, true);
  await c.idle();
  assert.equal(model.encodes, 1, "clicks never rerun the encoder");
  assert.deepEqual(
    c.state.clicks.map((p) => [p.x, p.y]),
    [
      [0, 0],
      [3, 3],
      [3, 0],
    ],
    "clamped to the image, the oldest dropped past 3",
  );
  assert.equal(c.state.pointsText, "3 points (at most 3: the oldest go first)");
  c.clearPoints();
  await c.idle();
  assert.deepEqual(model.decodes.at(-1), []);
  assert.equal(c.state.foreground, 0);
  assert.equal(c.state.resultSeq, 1 + 1 + 1 + 1, "one result per decode that finished");
});

test("a new slice drops the old one's queued work and resets its clicks and result", async () => {
  const model = new StandIn();
  const { c } = started(model);
  let release!: () => void;
  model.gate = new Promise((r) => {
    release = r;
  });
  await c.openFile("v.nii.gz", async () => file([image(4, 4), image(5, 5), image(6, 6)]));
  c.addPoint(1, 1, true); // while the encoder of slice 1 still runs
  c.showSlice(2);
  assert.equal(c.state.clicks.length, 0, "the reset cleared the clicks");
  assert.equal(c.state.result, null);
  model.gate = null;
  release();
  await c.idle();
  assert.equal(c.state.slice, 2);
  const after: PageState = c.state;
  assert.equal(after.result?.width, 6, "the result is slice 2's");
  assert.equal(model.decodes.length, 1, "slice 1's decode never ran");
});

test("a file that cannot be opened shows its error and no image; the next file clears it", async () => {
  const { c } = started(new StandIn());
  await c.openFile("bad.dcm", async () => {
    throw new Error("bad.dcm: JPEG 2000 is not supported");
  });
  assert.equal(c.state.phase, "error");
  assert.equal(c.state.error, "bad.dcm: JPEG 2000 is not supported");
  assert.equal(c.state.image, null);
  assert.equal(c.state.fileInfo, "no file open");
  await c.openFile("a.png", async () => file([image(2, 2)], "image"));
  await c.idle();
  assert.equal(c.state.error, null);
  assert.equal(c.state.phase, "done");
});

test("a single-graph model: one run per image, clicks explained instead of sent", async () => {
  const model = new StandIn(false);
  const { c } = started(model);
  await c.openFile("a.png", async () => file([image(3, 3)], "image"));
  await c.idle();
  assert.equal(c.state.interactive, false);
  assert.equal(c.state.encoderText?.text, "model: 7 ms (1st run)");
  assert.equal(c.state.foreground, 1);
  c.addPoint(1, 1, true);
  await c.idle();
  assert.equal(model.decodes.length, 0);
  assert.match(c.state.status, /split export/);
});

test("a model that fails to load is a model error; images wait for the model", async () => {
  const c = new ViewerController();
  await c.openFile("a.png", async () => file([image(2, 2)], "image"));
  assert.equal(c.state.status, "Waiting for the model ...");
  c.modelFailed(new Error("cannot load model/meta.json: the server answered 404"));
  assert.equal(c.state.phase, "model-error");
  assert.equal(c.state.status, "The model could not be loaded.");
});

test("a flagged image gets the warning over it and its trust in the state; the next image clears it", async () => {
  const model = new StandIn(false);
  // Single graph: the stand-in's result says the image is unlike the training data.
  model.runFull = async (img: PlanarImage) => ({
    seg: { ...resultOf(img, [], 0), trust: { trust: 0.0123, flagged: true, distance: 9 } },
    ms: 7,
  });
  const { c } = started(model);
  await c.openFile("us.png", async () => file([image(4, 3)], "image"));
  await c.idle();
  assert.equal(c.state.flagged, true);
  assert.equal(c.publicState().trust, 0.0123);
  assert.match(c.state.trustWarning ?? "", /^Unlike the images this model was trained on \(trust 0\.01\)/);
  assert.match(c.state.stats, / · trust 0\.01$/);
  model.runFull = async (img: PlanarImage) => ({
    seg: { ...resultOf(img, [], 0), trust: { trust: 0.6, flagged: false, distance: 1 } },
    ms: 7,
  });
  await c.openFile("brain.png", async () => file([image(4, 3)], "image"));
  await c.idle();
  assert.deepEqual([c.state.flagged, c.state.trustWarning, c.publicState().trust], [false, null, 0.6]);
});
