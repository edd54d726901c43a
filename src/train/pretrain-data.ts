// The data a base is pretrained on: phantoms (generated) and the train parts of real data sets,
// merged into one dataset folder whose split pretraining trains and validates on. Of a real set
// only the train part is read: its val and test parts never reach the base, so fine-tuning picks
// its epoch, and the benchmark and the demo score, on images the base never saw. Pretraining
// keeps its best epoch on a tenth of each set's train part, held out of its training (the same
// tenth in every chunk, so chunks compare on the same images).
// Real images are linked, not copied. Small sets are repeated in the train part (each repeat is
// augmented afresh) so that 18 retina images are not drowned by 700 polyps.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { openDataset } from "../data/dataset.js";
import { type PhantomKind, type ShapesOptions, writePhantomDataset } from "../data/phantoms/index.js";
import { type Split, withValidation } from "../data/split.js";

/** Each phantom's difficulty is drawn from this range: easy ones teach shapes, hard ones robustness. */
export const PRETRAIN_DIFFICULTY: readonly [number, number] = [0.1, 0.7];

export interface PretrainMix {
  /** Phantom kinds, `count` of each (0: none). */
  kinds: readonly PhantomKind[];
  count: number;
  seed: number;
  shapes: Pick<ShapesOptions, "rims" | "speckle">;
  /** Real data set folders (generic layout with split.json): their train and val parts. */
  real: readonly string[];
  /** A real set with fewer train images is repeated up to this many (0: no repeats). */
  minPerSet: number;
}

/** The seed of the tenth of each real set's train part that pretraining validates on (fixed). */
export const HOLDOUT_SEED = 0;

/** What went into the mix, for the base's manifest. */
export interface MixSummary {
  train: number;
  val: number;
  /** One line per source: "HC18 train 712 (x1), val 97". */
  sources: string[];
}

/** Writes the mix into `dir` (images/, masks/, split.json). */
export async function writePretrainMix(dir: string, mix: PretrainMix): Promise<MixSummary> {
  const merged: Split = { train: [], val: [], test: [] };
  const sources: string[] = [];
  if (mix.count > 0) {
    mix.kinds.forEach((kind, i) => {
      writePhantomDataset(dir, kind, {
        count: mix.count,
        size: 128,
        seed: mix.seed * 100 + i,
        difficulty: PRETRAIN_DIFFICULTY,
        ...(kind === "shapes" ? { generator: mix.shapes } : {}),
      });
      const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8")) as Split;
      merged.train.push(...split.train);
      merged.val.push(...split.val);
      sources.push(`phantoms ${kind} train ${split.train.length}, val ${split.val.length}`);
    });
  }
  mkdirSync(join(dir, "images"), { recursive: true });
  mkdirSync(join(dir, "masks"), { recursive: true });
  for (const set of mix.real) {
    const ds = await openDataset(set);
    if (ds.layout === "nifti")
      throw new Error(`${set}: pretraining takes 2-D sets (images/ + masks/), not volumes`);
    const slug = basename(resolve(ds.root)).replace(/[^A-Za-z0-9-]/g, "-");
    const link = (name: string, file: string, kind: "images" | "masks") => {
      symlinkSync(resolve(file), join(dir, kind, `${name}${extname(file)}`));
    };
    // Held out by group (HC18: a patient's images stay together), the same groups in every chunk
    // whatever its seed: a chunk continued from the last is compared with it on images neither
    // trained on.
    const groups = withValidation({ train: ds.split.train, val: [], test: [] }, HOLDOUT_SEED, 0.1);
    const held = new Set(groups.val);
    const train = ds.part("train").filter((s) => !held.has(s.group));
    const val = ds.part("train").filter((s) => held.has(s.group));
    const repeats = train.length > 0 ? Math.max(1, Math.ceil(mix.minPerSet / train.length)) : 0;
    for (let r = 0; r < repeats; r++)
      for (const s of train) {
        const name = `${slug}__${s.name}${r > 0 ? `__r${r}` : ""}`;
        link(name, s.image, "images");
        link(name, s.masks[0]!, "masks");
        merged.train.push(name);
      }
    for (const s of val) {
      const name = `${slug}__${s.name}`;
      link(name, s.image, "images");
      link(name, s.masks[0]!, "masks");
      merged.val.push(name);
    }
    sources.push(
      `${slug} train ${train.length} (x${repeats}), val ${val.length} (held out of its train part)`,
    );
  }
  writeFileSync(join(dir, "split.json"), JSON.stringify(merged));
  return { train: merged.train.length, val: merged.val.length, sources };
}
