// Makes the demo's bundled real-image subsets (assets/data/hc18-demo, assets/data/kvasir-demo)
// from the prepared sets in ../shared/data/real (their SOURCE.txt say where each came from).
// Both sets are CC BY 4.0, so a subset may be bundled with attribution. The subset is taken
// from each set's *test* part only, evenly spaced in name order (no randomness to record), so a
// base pretrained on the sets' train parts never sees a demo image. Images are stored at 256 px
// on the longest side (the demo trains at 128 px), JPEG quality 90 (grey ultrasound as one
// channel); masks are resized with the same filter and thresholded at 128, as the prepared sets
// were. Each subset gets its own split.json (HC18 by patient: NNN_HC and NNN_2HC stay together).
//   node --import tsx scripts/demo-data.ts [../shared/data/real]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

const SIDE = 256;
/** Images per set: at 48 the demo (3 sets x 4 presets x 30 epochs) took 10 min 8 s on 2 cores; 40 keeps it under 10. */
const COUNT = 40;

interface SubsetSpec {
  source: string;
  out: string;
  /** The split unit of a name (HC18: the patient). */
  group: (name: string) => string;
  attribution: string;
}

const root = process.argv[2] ?? join("..", "shared", "data", "real");
const SPECS: SubsetSpec[] = [
  {
    source: "HC18",
    out: "hc18-demo",
    group: (n) => n.split("_")[0]!,
    attribution:
      "HC18 grand challenge training set (fetal head ultrasound, Radboud UMC). van den Heuvel TLA, de Bruijn D, " +
      "de Korte CL, van Ginneken B. Automated measurement of fetal head circumference using 2D ultrasound images. " +
      "PLoS ONE 13(8): e0200412 (2018). Data: Zenodo doi:10.5281/zenodo.1327317. Licence: CC BY 4.0. " +
      "Changes: the annotated ellipse outlines were filled; resized.",
  },
  {
    source: "Kvasir-SEG",
    out: "kvasir-demo",
    group: (n) => n,
    attribution:
      "Kvasir-SEG (colonoscopy polyps, Vestre Viken Health Trust, Norway). Jha D, Smedsrud PH, Riegler MA, " +
      "Halvorsen P, de Lange T, Johansen D, Johansen HD. Kvasir-SEG: A Segmented Polyp Dataset. MMM 2020, " +
      "LNCS 11962, pp. 451-462, doi:10.1007/978-3-030-37734-2_37. The same images are part of HyperKvasir " +
      "(Scientific Data, 2020), CC BY 4.0. Changes: masks binarised at 127; resized.",
  },
];

const stem = (file: string) => file.replace(/\.[^.]+$/, "");

async function makeSubset(spec: SubsetSpec): Promise<void> {
  const src = join(root, spec.source);
  const split = JSON.parse(readFileSync(join(src, "split.json"), "utf8")) as { test: string[] };
  const test = [...split.test].sort();
  const picked = Array.from({ length: COUNT }, (_, i) => test[Math.floor((i * test.length) / COUNT)]!);
  const out = join("assets", "data", spec.out);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "images"), { recursive: true });
  mkdirSync(join(out, "masks"));
  for (const file of picked) {
    const name = stem(file);
    const image = sharp(join(src, "images", file)).resize(SIDE, SIDE, { fit: "inside", kernel: "lanczos3" });
    await image.jpeg({ quality: 90 }).toFile(join(out, "images", `${name}.jpg`));
    const mask = await sharp(join(src, "masks", `${name}.png`))
      .greyscale()
      .resize(SIDE, SIDE, { fit: "inside", kernel: "lanczos3" })
      .threshold(128)
      .png()
      .toBuffer();
    writeFileSync(join(out, "masks", `${name}.png`), mask);
  }
  // Split by group, in order: of every 10 groups, 2 test, 1 val, 7 train.
  const groups = [...new Set(picked.map((f) => spec.group(stem(f))))];
  const partOf = new Map(
    groups.map((g, i) => [g, i % 10 === 0 || i % 10 === 5 ? "test" : i % 10 === 3 ? "val" : "train"]),
  );
  const parts = { train: [] as string[], val: [] as string[], test: [] as string[] };
  for (const f of picked) parts[partOf.get(spec.group(stem(f))) as keyof typeof parts].push(stem(f));
  writeFileSync(join(out, "split.json"), `${JSON.stringify(parts, null, 1)}\n`);
  writeFileSync(
    join(out, "SOURCE.txt"),
    `${spec.attribution}\n` +
      `Subset: ${COUNT} images of the prepared set's test part (../shared/data/real/${spec.source}, evenly spaced in name order), ` +
      `longest side ${SIDE} px (Lanczos; masks thresholded at 128), made by scripts/demo-data.ts. ` +
      `split.json: train ${parts.train.length}, val ${parts.val.length}, test ${parts.test.length}.\n`,
  );
  console.log(
    `${out}: ${picked.length} images (train ${parts.train.length}, val ${parts.val.length}, test ${parts.test.length})`,
  );
}

for (const spec of SPECS) await makeSubset(spec);
