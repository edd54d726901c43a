// Validation Dice: the score the trainer chooses its best epoch on. Any model that maps one
// preprocessed image to class probabilities at the model size can be scored (the benchmark's
// U-Net peer is scored by this same code).
import { DataLoader, type Dataset, type SplitPart } from "../data/index.js";
import { argmaxLabels } from "../data/preprocess.js";
import { dice } from "../eval/metrics/index.js";

/**
 * Mean foreground Dice over a part of the split and its classes: argmax over the K class
 * probabilities [1, K, S, S] of each image (batches of one, no augmentation), compared inside the
 * resized image (the padding left out), at the model size.
 */
export async function partDice(
  ds: Dataset,
  part: SplitPart,
  imageSize: number,
  k: number,
  probabilities: (images: Float32Array) => Promise<Float32Array>,
): Promise<number | null> {
  const samples = ds.part(part);
  if (samples.length === 0) return null;
  const loader = new DataLoader(ds, samples, { batchSize: 1, imageSize, augment: false, prefetch: true });
  let sum = 0;
  let n = 0;
  for await (const batch of loader.batches(0)) {
    const labels = argmaxLabels(await probabilities(batch.images), k, imageSize * imageSize);
    const { resizedHeight: rh, resizedWidth: rw } = batch.info[0]!;
    for (let c = 1; c < k; c++) {
      const pred = new Uint8Array(rh * rw);
      const gt = new Uint8Array(rh * rw);
      for (let y = 0; y < rh; y++) {
        for (let x = 0; x < rw; x++) {
          const i = y * imageSize + x;
          pred[y * rw + x] = labels[i] === c ? 1 : 0;
          gt[y * rw + x] = batch.masks[i] === c ? 1 : 0;
        }
      }
      sum += dice(pred, gt);
      n++;
    }
  }
  return n ? sum / n : null;
}
