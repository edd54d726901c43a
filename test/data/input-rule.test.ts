// The guard of the one input rule (src/data/input-rule.ts): the same file reaches the network as
// the same planes through the training loader (openDataset + load, also `udeg eval`'s reader),
// `udeg predict`'s path (planPredict + predictItem, with a predictor that records what it is
// given) and the page's decode path (web/src/decode.ts openBytes). Three files real data arrives
// as: a 16-bit PNG (values 1000-2530), a float NIfTI volume with NaN voxels, and a 12-bit DICOM
// with rescale and a VOI window; under the default rule and under a non-default one, so a reader
// that ignores the run's rule fails too. Before the rule, predict gave the 16-bit PNG 3.9..9.7
// where training gave 0..255, and a model scoring Dice 0.85 in `udeg eval` wrote empty masks.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/data/dataset.js";
import { DEFAULT_INPUT_RULE, type InputRule } from "../../src/data/input-rule.js";
import { nodeFrameDecoder } from "../../src/io/dicom/dicom-node.js";
import { readImage, writePng } from "../../src/io/images/images.js";
import { makeNiftiHeader, writeNifti } from "../../src/io/nifti/nifti.js";
import type { PlanarImage } from "../../src/io/planar-image.js";
import { planPredict, predictItem } from "../../src/predict/files.js";
import type { UdegPrediction, UdegPredictor } from "../../src/udeg/predictor.js";
import { openBytes } from "../../web/src/decode.js";
import { writeDicom } from "../serve/dicom-writer.js";
import { ITK_BRAIN, tempDir } from "./helpers.js";

const SIZE = 128;

/** A stand-in for a loaded run: records the planes `udeg predict` hands the network. */
function recordingPredictor(rule: InputRule): { predictor: UdegPredictor; seen: PlanarImage[] } {
  const seen: PlanarImage[] = [];
  const stub = {
    config: { input: rule },
    resolved: { model: { classes: 1 } },
    async predict(image: PlanarImage): Promise<UdegPrediction> {
      seen.push(image);
      const n = image.height * image.width;
      const prob = new Float32Array(2 * n);
      prob.fill(1, 0, n);
      return {
        height: image.height,
        width: image.width,
        classes: 1,
        labels: new Uint8Array(n),
        prob,
        uncertainty: new Float32Array(n),
        edge: new Float32Array(n),
      };
    },
  };
  return { predictor: stub as unknown as UdegPredictor, seen };
}

/** The three files, written into a generic dataset (PNG, DICOM) and a NIfTI dataset. */
async function writeFiles() {
  const brain = await readImage(join(ITK_BRAIN, "images", "slice_030.png"));
  const mask = await readImage(join(ITK_BRAIN, "masks", "slice_030.png"));
  const v = Array.from(brain.data);
  const root = tempDir("input-rule");
  const generic = join(root, "generic");
  mkdirSync(join(generic, "images"), { recursive: true });
  mkdirSync(join(generic, "masks"));
  // A 16-bit PNG as an MRI exporter writes one: 1000 + 6 x grey (1000-2530).
  const png16 = join(generic, "images", "mr16.png");
  await writePng(png16, {
    width: SIZE,
    height: SIZE,
    channels: 1,
    data: Uint16Array.from(v, (x) => 1000 + 6 * x),
    bitDepth: 16,
  });
  // 12 bits stored in 16, rescaled to Hounsfield-like values, with a VOI window.
  const dcm = join(generic, "images", "ct12.dcm");
  const dcmBytes = writeDicom({
    rows: SIZE,
    columns: SIZE,
    pixels: v.map((x) => x * 16),
    bitsAllocated: 16,
    bitsStored: 12,
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    window: { center: 400, width: 2000 },
  });
  writeFileSync(dcm, dcmBytes);
  for (const name of ["mr16", "ct12"]) await writePng(join(generic, "masks", `${name}.png`), mask);
  writeFileSync(join(generic, "split.json"), JSON.stringify({ train: ["mr16", "ct12"], val: [], test: [] }));
  // A float NIfTI volume of 3 slices with NaN voxels (outside the brain, as resampling leaves them).
  const nifti = join(root, "nifti");
  mkdirSync(join(nifti, "imagesTr"), { recursive: true });
  mkdirSync(join(nifti, "labelsTr"));
  const voxels = new Float32Array(SIZE * SIZE * 3);
  const labels = new Uint8Array(SIZE * SIZE * 3);
  for (let z = 0; z < 3; z++)
    for (let i = 0; i < SIZE; i++)
      for (let j = 0; j < SIZE; j++) {
        const q = i * SIZE + j; // the slice along axis 2 is [rows = i, cols = j]
        const at = i + SIZE * (j + SIZE * z);
        voxels[at] = v[q]! === 0 && (i + j) % 3 === 0 ? Number.NaN : v[q]! * 0.37 + z * 11.5 - 20;
        labels[at] = mask.data[q]! > 0 ? 1 : 0;
      }
  const volFile = join(nifti, "imagesTr", "case_001.nii.gz");
  await writeNifti(volFile, makeNiftiHeader([SIZE, SIZE, 3], "float32"), voxels);
  await writeNifti(
    join(nifti, "labelsTr", "case_001.nii.gz"),
    makeNiftiHeader([SIZE, SIZE, 3], "uint8"),
    labels,
  );
  return { root, generic, png16, dcm, nifti, volFile };
}

function same(a: PlanarImage, b: PlanarImage, what: string): void {
  assert.deepEqual([a.channels, a.height, a.width], [b.channels, b.height, b.width], `${what}: shape`);
  const d = a.data.findIndex((x, i) => !Object.is(x, b.data[i]));
  assert.equal(d, -1, `${what}: planes differ first at ${d}: ${a.data[d]} vs ${b.data[d]}`);
}

const RULES: [string, InputRule][] = [
  ["default rule", DEFAULT_INPUT_RULE],
  ["full-range, fixed window", { intensity16: "full-range", window: { kind: "range", min: -50, max: 120 } }],
];

for (const [label, rule] of RULES) {
  test(`one input rule (${label}): training loader = udeg predict = the page, for 16-bit PNG, float NIfTI with NaN, 12-bit DICOM`, async () => {
    const f = await writeFiles();
    const out = join(f.root, "out");

    // Training's (and `udeg eval`'s) reader.
    const generic = await openDataset(f.generic, { input: rule });
    const trainPng = (await generic.load("mr16")).image;
    const trainDcm = (await generic.load("ct12")).image;
    const vol = await openDataset(f.nifti, { input: rule });
    const trainSlices = await Promise.all(vol.samples.map(async (s) => (await vol.load(s)).image));
    assert.equal(trainSlices.length, 3);

    // `udeg predict`'s path: the items it plans, each predicted as it predicts them.
    const { predictor, seen } = recordingPredictor(rule);
    for (const input of [f.png16, f.dcm, f.volFile])
      for (const item of await planPredict(input)) await predictItem(predictor, item, out, true);
    assert.equal(seen.length, 1 + 1 + 3);
    const [predPng, predDcm, ...predSlices] = seen;

    // The page's decode path.
    const page = async (path: string, index = 0) =>
      (await openBytes(readFileSync(path), path, nodeFrameDecoder, rule)).image(index);

    same(trainPng, predPng!, "16-bit PNG, training vs predict");
    same(trainPng, await page(f.png16), "16-bit PNG, training vs page");
    same(trainDcm, predDcm!, "12-bit DICOM, training vs predict");
    same(trainDcm, await page(f.dcm), "12-bit DICOM, training vs page");
    for (let z = 0; z < 3; z++) {
      same(trainSlices[z]!, predSlices[z]!, `NIfTI slice ${z}, training vs predict`);
      same(trainSlices[z]!, await page(f.volFile, z), `NIfTI slice ${z}, training vs page`);
    }

    // And what the rule gives, checked by hand: the network's 0..255, never NaN.
    for (const img of [trainPng, trainDcm, ...trainSlices]) {
      assert.equal(img.channels, 3);
      assert.ok(
        img.data.every((x) => x >= 0 && x <= 255),
        "0..255, no NaN",
      );
    }
    const px = 64 * SIZE + 64; // a brain pixel
    const slice = (await readImage(join(ITK_BRAIN, "images", "slice_030.png"))).data;
    const [lo, hi] = [Math.min(...slice), Math.max(...slice)];
    const grey = slice[px]!;
    const expected =
      rule.intensity16 === "min-max"
        ? ((grey - lo) / (hi - lo)) * 255 // 1000 + 6 x grey: min and max to 0 and 255
        : ((1000 + 6 * grey) * 255) / 65535;
    assert.ok(
      Math.abs(trainPng.data[px]! - expected) < 1e-3,
      `16-bit PNG pixel ${trainPng.data[px]} vs ${expected}`,
    );
  });
}
