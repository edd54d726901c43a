// `udeg train`: epochs of AdamW steps over a dataset, validation Dice, checkpoints written
// atomically, a JSON-lines log, and resume.
//
// Resume gives the same result as an unbroken run: the data order and every augmentation come
// from (seed, epoch, sample) only, and the checkpoint holds the parameters, both AdamW moments
// and the step, so continuing from step N replays exactly what the unbroken run did after N.
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type Batch,
  DataLoader,
  type Dataset,
  openDataset,
  readSplit,
  withValidation,
  writeSplit,
} from "../data/index.js";
import {
  HostTensor,
  NonFiniteLossError,
  requireDevice,
  type Schedule,
  warmupCosine,
  warmupPoly,
} from "../engine/index.js";
import { writeJsonAtomic } from "../io/atomic.js";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/index.js";
import { Progress } from "../io/progress.js";
import { lossConfigOf, type UdegConfig } from "../udeg/config.js";
import { edgeTarget } from "../udeg/edge-target.js";
import { buildInference } from "../udeg/inference.js";
import { scheduledWeights } from "../udeg/losses.js";
import { edgeResolution } from "../udeg/model.js";
import { isStartedRun, type LogRecord, type RunSummary, runPath } from "../udeg/run-folder.js";
import { type ResolvedModel, resolveModel } from "../udeg/setup.js";
import { sampleClicks } from "./clicks.js";
import { buildTrainGraph, lossWeightInput, runTrainGraphOptions, type TrainFeeds } from "./graph.js";
import { partDice } from "./validation.js";

export interface TrainOptions {
  data: string;
  out: string;
  config: UdegConfig;
  resume?: boolean;
  /** Progress bar and epoch lines (default true). */
  progress?: boolean;
  log?: (line: string) => void;
  /** Test hook: called after every step; throwing simulates a killed run. */
  afterStep?: (step: number) => void;
}

export type TrainSummary = RunSummary;

/** One-hot [B, K, H, W] from class indices [B, H, W]. */
export function oneHot(labels: Uint8Array, batch: number, k: number, h: number, w: number): HostTensor {
  const plane = h * w;
  const out = new Float32Array(batch * k * plane);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < plane; i++) {
      const c = labels[b * plane + i]!;
      if (c < k) out[(b * k + c) * plane + i] = 1;
    }
  }
  return new HostTensor("float32", [batch, k, h, w], out);
}

/** Edge targets [B, 2, e, e] from class indices [B, S, S]: nearest-downsample, then the morphological gradient. */
export function edgeTargets(
  labels: Uint8Array,
  batch: number,
  s: number,
  e: number,
  radius: number,
): HostTensor {
  const f = s / e;
  const edges = new Uint8Array(batch * e * e);
  for (let b = 0; b < batch; b++) {
    const small = new Uint8Array(e * e);
    for (let y = 0; y < e; y++) {
      for (let x = 0; x < e; x++)
        small[y * e + x] = labels[b * s * s + (y * f + (f >> 1)) * s + x * f + (f >> 1)]!;
    }
    edges.set(edgeTarget(small, e, e, radius), b * e * e);
  }
  return oneHot(edges, batch, 2, e, e);
}

/**
 * Where training stands in its schedules (learning rate, progressive loss), in steps: the step
 * count, or, when a time budget (train.maxMinutes) will end the run first, the budget's spent
 * share of all steps. So a budgeted run warms up, decays and progresses over the run that really
 * happens. Measured: the v3 base's 55-min pretraining stopped at epoch 12 of 100, with its
 * learning rate still at 0.89 of the peak and the progressive loss at 12 % of its course.
 */
export function schedulePosition(
  step: number,
  total: number,
  elapsedMinutes: number,
  maxMinutes: number | null,
) {
  if (maxMinutes === null || maxMinutes <= 0) return step;
  return Math.min(total, Math.max(step, Math.round((total * elapsedMinutes) / maxMinutes)));
}

export function scheduleFor(config: UdegConfig, total: number): Schedule {
  const t = config.train;
  const o = { lr: t.lr, totalSteps: total, warmupSteps: Math.round(t.warmupFraction * total) };
  return t.schedule === "cosine" ? warmupCosine(o) : warmupPoly(o);
}

/** HostTensors as safetensors entries (float32), names prefixed. */
export function tensorsOf(keys: readonly string[], values: readonly HostTensor[], prefix = "") {
  const out: Record<string, { dtype: "float32"; shape: number[]; data: Float32Array }> = {};
  keys.forEach((k, i) => {
    out[prefix + k] = {
      dtype: "float32",
      shape: [...values[i]!.shape],
      data: values[i]!.data as Float32Array,
    };
  });
  return out;
}

/** Mean foreground Dice of a part of the split with the current weights (validation.ts). */
export async function validationDice(
  resolved: ResolvedModel,
  weights: Map<string, HostTensor>,
  ds: Dataset,
  part: "val" | "test",
  imageSize: number,
): Promise<number | null> {
  if (ds.part(part).length === 0) return null;
  const infer = await buildInference(resolved.model, weights, 1);
  return partDice(ds, part, imageSize, resolved.model.classes + 1, async (images) => {
    const { probability } = await infer.fn.run({
      image: new HostTensor("float32", [1, 3, imageSize, imageSize], images),
    });
    return probability!.data as Float32Array;
  });
}

/** The training batches: augmented (when the config says so), shuffled per epoch, full batches only. */
export function trainingLoader(ds: Dataset, config: UdegConfig, imageSize: number): DataLoader {
  return new DataLoader(ds, ds.part("train"), {
    batchSize: config.train.batchSize,
    imageSize,
    augment: config.train.augment ? {} : false,
    shuffle: true,
    seed: config.train.seed,
    dropLast: true,
  });
}

/**
 * The dataset as the run trains on it: the dataset's split with a validation part (held out of
 * train, seeded, when the split has none), or, when resuming, the split the run wrote.
 */
export async function trainingDataset(
  data: string,
  run: string,
  config: UdegConfig,
  resume: boolean,
  log: (line: string) => void,
): Promise<Dataset> {
  const opened = await openDataset(data, { seed: config.train.seed, input: config.input });
  log(opened.describe());
  if (resume && existsSync(runPath(run, "split")))
    return opened.withSplit(readSplit(runPath(run, "split"), opened.groups), "run");
  const split = withValidation(opened.split, config.train.seed, config.train.valFraction);
  if (split === opened.split) return opened;
  log(
    `the split has no val part: ${split.val.length} of ${opened.split.train.length} training samples held out ` +
      `for choosing the best epoch (seeded; written to ${runPath(run, "split")})`,
  );
  return opened.withSplit(split, "run");
}

export async function train(o: TrainOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const config = o.config;
  const run = o.out;
  const lastPath = runPath(run, "last");
  if (isStartedRun(run) && !o.resume) {
    throw new Error(`${run} already holds a run: pass --resume to continue it, or choose another --out`);
  }
  mkdirSync(dirname(lastPath), { recursive: true });

  const ds = await trainingDataset(o.data, run, config, !!o.resume, log);
  const classes = config.model.classes ?? Math.max(1, ds.numClasses - 1);
  const trainSamples = ds.part("train");
  const B = config.train.batchSize;
  if (trainSamples.length < B) {
    throw new Error(`${o.data}: ${trainSamples.length} training samples, fewer than --batch-size ${B}`);
  }
  const resolved = resolveModel(config, classes);
  const s = resolved.model.cfg.imageSize;
  const k = classes + 1;
  writeJsonAtomic(runPath(run, "config"), { ...config, model: { ...config.model, classes } });
  writeJsonAtomic(runPath(run, "samConfig"), resolved.model.cfg);
  writeSplit(runPath(run, "split"), ds.split);

  await requireDevice(config.train.device);
  const clicks = config.train.clicks.probability > 0 ? config.train.clicks : null;
  const graph = await buildTrainGraph({
    ...runTrainGraphOptions(config, resolved),
    runtime: { ep: config.train.device },
    log,
  });
  const { step: trainer, keys } = graph;

  const loader = trainingLoader(ds, config, s);
  const perEpoch = loader.length;
  const total = Math.min(config.train.maxSteps ?? Number.POSITIVE_INFINITY, config.train.epochs * perEpoch);
  const lrAt = scheduleFor(config, total);
  const position = (step: number) =>
    schedulePosition(step, total, (performance.now() - t0) / 60000, config.train.maxMinutes);

  let bestDice: number | null = null;
  /** The kept model's epoch, 1-based (null until a validation has chosen one). */
  let bestEpoch: number | null = null;
  if (o.resume && existsSync(lastPath)) {
    const ck = readSafetensors(lastPath);
    const get = (prefix: string) =>
      keys.map((key) => {
        const t = ck.tensors.get(prefix + key);
        if (!t)
          throw new Error(
            `${lastPath} lacks ${prefix + key}: it was written by a different model; start a new run`,
          );
        return new HostTensor("float32", t.shape, toFloat32(t));
      });
    trainer.load({
      step: Number(ck.metadata.step),
      params: get("param."),
      m: get("adam_m."),
      v: get("adam_v."),
    });
    bestDice = ck.metadata.best_dice ? Number(ck.metadata.best_dice) : null;
    bestEpoch = ck.metadata.best_epoch ? Number(ck.metadata.best_epoch) : null;
    log(`resuming ${run} at step ${trainer.state.step} of ${total}`);
  }

  const saveLast = (epoch: number) => {
    const st = trainer.state;
    writeSafetensors(
      lastPath,
      {
        ...tensorsOf(keys, st.params, "param."),
        ...tensorsOf(keys, st.m, "adam_m."),
        ...tensorsOf(keys, st.v, "adam_v."),
      },
      {
        format: "udeg-train-state",
        step: String(st.step),
        epoch: String(epoch),
        best_dice: bestDice === null ? "" : String(bestDice),
        best_epoch: bestEpoch === null ? "" : String(bestEpoch),
      },
    );
  };
  const currentWeights = () => {
    const w = new Map(resolved.weights);
    keys.forEach((key, i) => {
      w.set(key, trainer.state.params[i]!);
    });
    return w;
  };
  const saveModel = (dice: number | null) => {
    const st = trainer.state;
    writeSafetensors(runPath(run, "model"), tensorsOf(keys, st.params), {
      format: "udeg-adapter",
      base_kind: resolved.base.kind,
      base_path: resolved.base.path ?? "",
      base_fingerprint: resolved.base.fingerprint ?? "",
      step: String(st.step),
      val_dice: dice === null ? "" : String(dice),
    });
  };

  const progress = new Progress({ total, label: "train", silent: o.progress === false });
  const edgeSize = edgeResolution(resolved.model);
  const logLine = (record: LogRecord) => appendFileSync(runPath(run, "log"), `${JSON.stringify(record)}\n`);
  const hasVal = ds.part("val").length > 0;
  let lastLoss = Number.NaN;
  let lastDice: number | null = null;
  /** Validations since the best one (for train.patience). */
  let sinceBest = 0;

  const feedsOf = (batch: Batch, step: number): TrainFeeds => {
    const feeds: TrainFeeds = {
      image: new HostTensor("float32", [B, 3, s, s], batch.images),
      seg_target: oneHot(batch.masks, B, k, s, s),
    };
    const weights = scheduledWeights(lossConfigOf(config), position(step) / Math.max(1, total));
    for (const [name, value] of Object.entries(weights))
      feeds[lossWeightInput(name as keyof typeof weights)] = HostTensor.float32([value], []);
    if (clicks) {
      const key = { seed: config.train.seed, epoch: batch.epoch, index: batch.index };
      const c = sampleClicks(batch.masks, batch.info, s, clicks, key);
      feeds.point_coords = new HostTensor("float32", [B, clicks.max, 2], c.coords);
      feeds.point_labels = new HostTensor("float32", [B, clicks.max], c.labels);
    }
    if (graph.hasEdge) feeds.edge_target = edgeTargets(batch.masks, B, s, edgeSize, config.model.edge.width);
    return feeds;
  };

  for (let epoch = Math.floor(trainer.state.step / perEpoch); trainer.state.step < total; epoch++) {
    const skip = trainer.state.step - epoch * perEpoch; // batches of this epoch already trained (resume)
    let index = 0;
    for await (const batch of loader.batches(epoch)) {
      if (index++ < skip) continue;
      if (trainer.state.step >= total) break;
      const step = trainer.state.step;
      const lr = lrAt(position(step));
      let result: Awaited<ReturnType<typeof trainer.step>>;
      try {
        result = await trainer.step(feedsOf(batch, step), lr);
      } catch (err) {
        if (err instanceof NonFiniteLossError) {
          const terms = graph.terms.map((name) => `${name}=${err.extras[name]?.data[0]}`).join(", ");
          progress.finish();
          throw new Error(
            `training stopped at step ${err.step} (epoch ${epoch}): the loss is ${err.loss} (${terms}). ` +
              `The last good state is in ${lastPath}. Lower --lr, or check the images of batch ${batch.names.join(", ")}.`,
          );
        }
        throw err;
      }
      lastLoss = result.loss;
      const terms = Object.fromEntries(
        graph.terms.map((name) => [name, result.extras[name]!.data[0] as number]),
      );
      logLine({
        type: "step",
        step: step + 1,
        epoch,
        loss: result.loss,
        lr,
        grad_norm: result.gradNorm,
        ...terms,
        host_bytes: trainer.lastTransfer.up + trainer.lastTransfer.down,
      });
      progress.update(trainer.state.step, { epoch: String(epoch + 1), loss: result.loss });
      o.afterStep?.(trainer.state.step);
    }
    const epochDone = trainer.state.step >= (epoch + 1) * perEpoch || trainer.state.step >= total;
    if (!epochDone) continue;
    await trainer.sync(); // on a GPU: the weights come to the host once an epoch, not every step
    let valDice: number | null = null;
    if (hasVal && ((epoch + 1) % config.train.validateEvery === 0 || trainer.state.step >= total)) {
      valDice = await validationDice(resolved, currentWeights(), ds, "val", s);
      // The best epoch is chosen on the validation part, never on test. Measured on the brain
      // slices (30 epochs): per-epoch test Dice swung by up to 0.09, so the last epoch is a lottery.
      if (valDice !== null && (bestDice === null || valDice > bestDice)) {
        bestDice = valDice;
        bestEpoch = epoch + 1;
        sinceBest = 0;
        saveModel(valDice);
      } else sinceBest++;
    }
    if (valDice !== null) lastDice = valDice;
    if (!hasVal) saveModel(null); // nothing to choose on (a single training sample): keep the last
    saveLast(epoch + 1);
    logLine({
      type: "epoch",
      epoch,
      step: trainer.state.step,
      loss: lastLoss,
      val_dice: valDice,
      best_dice: bestDice,
    });
    const best = bestDice === null ? "" : ` (best ${bestDice.toFixed(4)})`;
    const shown = valDice === null ? "" : `, val Dice ${valDice.toFixed(4)}`;
    progress.note(`epoch ${epoch + 1}: loss ${lastLoss.toFixed(4)}${shown}${best}`);
    const patience = config.train.patience;
    if (patience !== null && sinceBest >= patience) {
      log(
        `stopping after epoch ${epoch + 1}: no better val Dice in ${patience} validations (best ${bestDice?.toFixed(4)})`,
      );
      break;
    }
    const maxMinutes = config.train.maxMinutes;
    if (maxMinutes !== null && (performance.now() - t0) / 60000 >= maxMinutes) {
      log(
        `stopping after epoch ${epoch + 1}: the ${maxMinutes} min budget is spent (best val Dice ${bestDice?.toFixed(4)})`,
      );
      break;
    }
  }
  progress.finish();
  const summary: TrainSummary = {
    steps: trainer.state.step,
    epochs: Math.ceil(trainer.state.step / perEpoch),
    bestDice,
    bestEpoch,
    lastDice,

    lastLoss,
    runDir: run,
    seconds: (performance.now() - t0) / 1000,
  };
  writeJsonAtomic(runPath(run, "summary"), summary);
  // Which epoch was kept says how much of the run the model saw: on the ITK brain slices the 4
  // held-out images chose epoch 6 of 30 (seed 0), while a 102-pixel slice was still found.
  const kept = bestEpoch === null ? "" : ` (epoch ${bestEpoch} of ${summary.epochs}, kept)`;
  log(
    `done: ${summary.steps} steps in ${summary.seconds.toFixed(0)} s; best val Dice ${bestDice?.toFixed(4) ?? "n/a"}${kept}; model in ${runPath(run, "model")}`,
  );
  return summary;
}
