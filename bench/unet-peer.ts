// The quality benchmark's peer: a plain PyTorch U-Net (bench/peer/unet.py) trained exactly as a
// udeg run trains, and scored by udeg's own code. This side owns everything but the network:
//   - the split, with the same held-out validation part (trainingDataset),
//   - the batches: udeg's DataLoader with the run's seed, so the same order and augmentation,
//     written to the peer one epoch at a time,
//   - the learning-rate schedule (udeg's warm-up + poly shape; Adam's usual peak 1e-3),
//   - the best epoch, chosen on validation Dice computed by the trainer's code (partDice),
//   - the test predictions: prepared as `udeg predict` prepares an image, restored to the image's
//     size by the same code, and scored by evaluateSplit, as `udeg eval` scores a run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset } from "../src/data/index.js";
import { padImage, resizeForModel } from "../src/data/preprocess.js";
import { evaluateSplit } from "../src/eval/evaluate-run.js";
import type { Summary } from "../src/eval/metrics/index.js";
import { readSafetensors, toFloat32, writeSafetensors } from "../src/io/checkpoints/index.js";
import { scheduleFor, trainingDataset, trainingLoader } from "../src/train/trainer.js";
import { partDice } from "../src/train/validation.js";
import type { UdegConfig } from "../src/udeg/config.js";
import { restorePrediction } from "../src/udeg/prediction.js";
import { PeerProcess } from "./common.js";

export interface UnetResult {
  summary: Summary;
  seconds: number;
  params: number;
  bestValDice: number | null;
  bestEpoch: number;
}

/** Normalised predictive entropy of K class planes [K, n]: the U-Net's uncertainty map. */
function entropy(prob: Float32Array, k: number, n: number): Float32Array {
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = 0;
    for (let c = 0; c < k; c++) {
      const p = prob[c * n + i]!;
      if (p > 0) h -= p * Math.log(p);
    }
    u[i] = h / Math.log(k);
  }
  return u;
}

/** Trains the U-Net on `data` with `config`'s split, batches, epochs and seed; scores it on test. */
export async function trainUnetPeer(
  data: string,
  config: UdegConfig,
  log: (l: string) => void,
): Promise<UnetResult> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), "udeg-unet-"));
  const ds: Dataset = await trainingDataset(data, join(work, "run"), config, false, () => {});
  const s = config.model.imageSize;
  const k = Math.max(1, ds.numClasses - 1) + 1;
  const loader = trainingLoader(ds, config, s);
  const total = config.train.epochs * loader.length;
  const lrAt = scheduleFor({ ...config, train: { ...config.train, lr: 1e-3 } }, total);
  const peer = PeerProcess.start("bench/peer/unet.py", [
    `--classes=${k}`,
    `--batch=${config.train.batchSize}`,
    `--seed=${config.train.seed}`,
    "--threads=2",
  ]);
  const file = (name: string) => join(work, name);
  /** The peer's probabilities [N, K, S, S] for images [N, 3, S, S]. */
  const predict = async (images: Float32Array, n: number): Promise<Float32Array> => {
    writeSafetensors(file("in.safetensors"), {
      images: { dtype: "float32", shape: [n, 3, s, s], data: images },
    });
    await peer.request(`predict ${file("in.safetensors")} ${file("out.safetensors")}`);
    return toFloat32(readSafetensors(file("out.safetensors")).tensors.get("probability")!);
  };
  try {
    const info = await peer.next();
    let best: number | null = null;
    let bestEpoch = 0;
    for (let epoch = 0; epoch < config.train.epochs; epoch++) {
      const images: Float32Array[] = [];
      const masks: Uint8Array[] = [];
      for await (const batch of loader.batches(epoch)) {
        images.push(batch.images);
        masks.push(batch.masks);
      }
      const n = images.length * config.train.batchSize;
      writeSafetensors(file("epoch.safetensors"), {
        images: { dtype: "float32", shape: [n, 3, s, s], data: concat(images, Float32Array) },
        masks: { dtype: "uint8", shape: [n, s, s], data: concat(masks, Uint8Array) },
      });
      const r = await peer.request(`train ${file("epoch.safetensors")} ${lrAt(epoch * loader.length)}`);
      const val = await partDice(ds, "val", s, k, (img) => predict(img, 1));
      if (val !== null && (best === null || val > best)) {
        best = val;
        bestEpoch = epoch + 1;
        await peer.request("keep");
      }
      log(`  U-Net epoch ${epoch + 1}: loss ${(r.loss as number).toFixed(4)}, val Dice ${val?.toFixed(4)}`);
    }
    await peer.request("restore");
    const summary = await evaluateSplit(
      ds,
      "test",
      async (image) => {
        const { resized, info: ri } = resizeForModel(image, s);
        const prob = await predict(padImage(resized, s).data, 1);
        return restorePrediction(prob, entropy(prob, k, s * s), null, k - 1, ri);
      },
      { quiet: true },
    );
    await peer.request("done");
    return {
      summary,
      seconds: (performance.now() - t0) / 1000,
      params: info.params as number,
      bestValDice: best,
      bestEpoch,
    };
  } finally {
    peer.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

function concat<T extends Float32Array | Uint8Array>(parts: T[], kind: { new (n: number): T }): T {
  const out = new kind(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
