// `udeg train`: epochs of AdamW steps over a dataset, validation Dice, checkpoints written
// atomically, a JSON-lines log, and resume.
//
// Resume gives the same result as an unbroken run: the data order and every augmentation come
// from (seed, epoch, sample) only, and the checkpoint holds the parameters, both AdamW moments
// and the step, so continuing from step N replays exactly what the unbroken run did after N.
import { mkdirSync } from "node:fs";
import { type Batch, DataLoader, type Dataset, openDataset, withValidation } from "../data/index.js";
import {
  type CompiledFunction,
  HostTensor,
  type NamedTensors,
  NonFiniteLossError,
  requireDevice,
  type Schedule,
  warmupCosine,
  warmupPoly,
} from "../engine/index.js";
import { Progress } from "../io/progress.js";
import { lossConfigOf, type UdegConfig } from "../udeg/config.js";
import { edgeTarget } from "../udeg/edge-target.js";
import { buildInference } from "../udeg/inference.js";
import { scheduledWeights } from "../udeg/losses.js";
import { edgeResolution } from "../udeg/model.js";
import {
  appendRunLog,
  isStartedRun,
  type RunBase,
  type RunSummary,
  readRunSplit,
  readTrainState,
  runPath,
  writeRunConfig,
  writeRunModel,
  writeRunSamConfig,
  writeRunSplit,
  writeRunSummary,
  writeTrainState,
} from "../udeg/run-folder.js";
import { type ResolvedModel, resolveModel } from "../udeg/setup.js";
import { sampleClicks } from "./clicks.js";
import { buildTrainGraph, lossWeightInput, runTrainGraphOptions, type TrainFeeds } from "./graph.js";
import { judgeRunEnd } from "./run-end.js";
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

/**
 * The run's validation function, compiled on first use with the trained weights as inputs, so
 * every epoch is scored by one session fed that epoch's weights (see buildInference's fedWeights).
 */
async function validationFunction(r: Run): Promise<CompiledFunction> {
  if (!r.validation) {
    const fed = new Set(r.graph.keys);
    r.validation = (await buildInference(r.resolved.model, r.resolved.weights, 1, {}, (k) => fed.has(k))).fn;
  }
  return r.validation;
}

/** Mean foreground Dice of a part of the split with the current weights (validation.ts). */
export async function validationDice(
  infer: CompiledFunction,
  weights: ReadonlyMap<string, HostTensor>,
  ds: Dataset,
  part: "val" | "test",
  imageSize: number,
  classes: number,
): Promise<number | null> {
  const fed: NamedTensors = {};
  for (const name of infer.inputNames) if (name !== "image") fed[name] = weights.get(name)!;
  return await partDice(ds, part, imageSize, classes + 1, async (images) => {
    const { probability } = await infer.run({
      ...fed,
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
  const written = resume ? readRunSplit(run, opened.groups) : null;
  if (written) return opened.withSplit(written, "run");
  const split = withValidation(opened.split, config.train.seed, config.train.valFraction);
  if (split === opened.split) return opened;
  log(
    `the split has no val part: ${split.val.length} of ${opened.split.train.length} training samples held out ` +
      `for choosing the best epoch (seeded; written to ${runPath(run, "split")})`,
  );
  return opened.withSplit(split, "run");
}

/** Everything one training run holds while it runs (prepareRun makes it; the steps below use it). */
interface Run {
  o: TrainOptions;
  config: UdegConfig;
  dir: string;
  log: (line: string) => void;
  t0: number;
  ds: Dataset;
  resolved: ResolvedModel;
  graph: Awaited<ReturnType<typeof buildTrainGraph>>;
  loader: DataLoader;
  perEpoch: number;
  /** Steps of the whole run. */
  total: number;
  lrAt: Schedule;
  progress: Progress;
  best: { dice: number | null; epoch: number | null };
  /** Validations since the best one (for train.patience). */
  sinceBest: number;
  lastLoss: number;
  lastDice: number | null;
  /** The validation session (compiled on the first validation, released when the run ends). */
  validation?: CompiledFunction;
}

/**
 * `udeg train`: prepare the run (dataset, model, training graph, its files; the last state when
 * resuming), then per epoch: the steps, validation, the checkpoint, and the stopping rules.
 */
export async function train(o: TrainOptions): Promise<TrainSummary> {
  const r = await prepareRun(o);
  try {
    for (let epoch = Math.floor(step(r) / r.perEpoch); step(r) < r.total; epoch++) {
      if (!(await trainEpoch(r, epoch))) continue; // cut short by maxSteps: no validation yet
      await r.graph.step.sync(); // on a GPU: the weights come to the host once an epoch, not every step
      const valDice = await validateEpoch(r, epoch);
      checkpoint(r, epoch, valDice);
      const stop = stopReason(r, epoch);
      if (stop) {
        r.log(stop);
        break;
      }
    }
  } finally {
    await r.validation?.release();
  }
  return await finishRun(r);
}

const step = (r: Run) => r.graph.step.state.step;

/** Where the schedules stand at `step` (a time budget moves them by its spent share). */
function position(r: Run, at: number): number {
  return schedulePosition(at, r.total, (performance.now() - r.t0) / 60000, r.config.train.maxMinutes);
}

async function prepareRun(o: TrainOptions): Promise<Run> {
  const t0 = performance.now();
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { config, out: dir } = o;
  if (isStartedRun(dir) && !o.resume) {
    throw new Error(`${dir} already holds a run: pass --resume to continue it, or choose another --out`);
  }
  mkdirSync(dir, { recursive: true });
  const ds = await trainingDataset(o.data, dir, config, !!o.resume, log);
  const classes = config.model.classes ?? Math.max(1, ds.numClasses - 1);
  const B = config.train.batchSize;
  const trainSamples = ds.part("train").length;
  if (trainSamples < B)
    throw new Error(`${o.data}: ${trainSamples} training samples, fewer than --batch-size ${B}`);
  const resolved = resolveModel(config, classes);
  writeRunConfig(dir, { ...config, model: { ...config.model, classes } });
  writeRunSamConfig(dir, resolved.model.cfg);
  writeRunSplit(dir, ds.split);

  await requireDevice(config.train.device);
  const graph = await buildTrainGraph({
    ...runTrainGraphOptions(config, resolved),
    runtime: { ep: config.train.device },
    log,
  });
  const loader = trainingLoader(ds, config, resolved.model.cfg.imageSize);
  const total = Math.min(
    config.train.maxSteps ?? Number.POSITIVE_INFINITY,
    config.train.epochs * loader.length,
  );
  const r: Run = {
    o,
    config,
    dir,
    log,
    t0,
    ds,
    resolved,
    graph,
    loader,
    perEpoch: loader.length,
    total,
    lrAt: scheduleFor(config, total),
    progress: new Progress({ total, label: "train", silent: o.progress === false }),
    best: { dice: null, epoch: null },
    sinceBest: 0,
    lastLoss: Number.NaN,
    lastDice: null,
  };
  const last = o.resume ? readTrainState(dir, graph.keys) : null;
  if (last) {
    graph.step.load(last);
    r.best = { dice: last.bestDice, epoch: last.bestEpoch };
    log(`resuming ${dir} at step ${last.step} of ${total}`);
  }
  return r;
}

/** The loss's inputs for one batch: images, one-hot targets, the scheduled weights, clicks, edges. */
function feedsOf(r: Run, batch: Batch, at: number): TrainFeeds {
  const { config, resolved } = r;
  const B = config.train.batchSize;
  const s = resolved.model.cfg.imageSize;
  const feeds: TrainFeeds = {
    image: new HostTensor("float32", [B, 3, s, s], batch.images),
    seg_target: oneHot(batch.masks, B, resolved.model.classes + 1, s, s),
  };
  const weights = scheduledWeights(lossConfigOf(config), position(r, at) / Math.max(1, r.total));
  for (const [name, value] of Object.entries(weights))
    feeds[lossWeightInput(name as keyof typeof weights)] = HostTensor.float32([value], []);
  const clicks = config.train.clicks;
  if (clicks.probability > 0) {
    const key = { seed: config.train.seed, epoch: batch.epoch, index: batch.index };
    const c = sampleClicks(batch.masks, batch.info, s, clicks, key);
    feeds.point_coords = new HostTensor("float32", [B, clicks.max, 2], c.coords);
    feeds.point_labels = new HostTensor("float32", [B, clicks.max], c.labels);
  }
  if (r.graph.hasEdge)
    feeds.edge_target = edgeTargets(
      batch.masks,
      B,
      s,
      edgeResolution(resolved.model),
      config.model.edge.width,
    );
  return feeds;
}

/** One epoch's steps (from where a resumed run stopped); false when the run's steps end mid-epoch. */
async function trainEpoch(r: Run, epoch: number): Promise<boolean> {
  const skip = step(r) - epoch * r.perEpoch; // batches of this epoch already trained (resume)
  let index = 0;
  for await (const batch of r.loader.batches(epoch)) {
    if (index++ < skip) continue;
    if (step(r) >= r.total) break;
    await trainStep(r, batch, epoch);
  }
  return step(r) >= (epoch + 1) * r.perEpoch || step(r) >= r.total;
}

/** One AdamW step, logged; a non-finite loss stops the run naming the step, the terms and the batch. */
async function trainStep(r: Run, batch: Batch, epoch: number): Promise<void> {
  const { graph } = r;
  const trainer = graph.step;
  const at = step(r);
  const lr = r.lrAt(position(r, at));
  let result: Awaited<ReturnType<typeof trainer.step>>;
  try {
    result = await trainer.step(feedsOf(r, batch, at), lr);
  } catch (err) {
    if (err instanceof NonFiniteLossError) {
      const terms = graph.terms.map((name) => `${name}=${err.extras[name]?.data[0]}`).join(", ");
      r.progress.finish();
      throw new Error(
        `training stopped at step ${err.step} (epoch ${epoch}): the loss is ${err.loss} (${terms}). ` +
          `The last good state is in ${runPath(r.dir, "last")}. Lower --lr, or check the images of batch ${batch.names.join(", ")}.`,
      );
    }
    throw err;
  }
  r.lastLoss = result.loss;
  const terms = Object.fromEntries(graph.terms.map((name) => [name, result.extras[name]!.data[0] as number]));
  appendRunLog(r.dir, {
    type: "step",
    step: at + 1,
    epoch,
    loss: result.loss,
    lr,
    grad_norm: result.gradNorm,
    ...terms,
    host_bytes: trainer.lastTransfer.up + trainer.lastTransfer.down,
  });
  r.progress.update(step(r), { epoch: String(epoch + 1), loss: result.loss });
  r.o.afterStep?.(step(r));
}

/** The model's weights now: the base's with the trained parameters on top. */
function currentWeights(r: Run): Map<string, HostTensor> {
  const w = new Map(r.resolved.weights);
  r.graph.keys.forEach((key, i) => {
    w.set(key, r.graph.step.state.params[i]!);
  });
  return w;
}

/** Val Dice after this epoch when it is due (every validateEvery epochs, and at the end); else null. */
async function validateEpoch(r: Run, epoch: number): Promise<number | null> {
  const due = (epoch + 1) % r.config.train.validateEvery === 0 || step(r) >= r.total;
  if (r.ds.part("val").length === 0 || !due) return null;
  const dice = await validationDice(
    await validationFunction(r),
    currentWeights(r),
    r.ds,
    "val",
    r.resolved.model.cfg.imageSize,
    r.resolved.model.classes,
  );
  if (dice !== null) r.lastDice = dice;
  return dice;
}

/**
 * Keeps the model of the best val epoch (model.safetensors; the last epoch's without a val part),
 * writes the state `--resume` needs, and logs the epoch. The best epoch is chosen on the
 * validation part, never on test: on the brain slices (30 epochs) per-epoch test Dice swung by up
 * to 0.09, so the last epoch is a lottery.
 */
function checkpoint(r: Run, epoch: number, valDice: number | null): void {
  const st = r.graph.step.state;
  const keep = (dice: number | null) =>
    writeRunModel(r.dir, r.graph.keys, st.params, {
      base: runBase(r.resolved),
      step: st.step,
      valDice: dice,
    });
  if (r.ds.part("val").length === 0)
    keep(null); // nothing to choose on (a single training sample)
  else if (valDice !== null) {
    if (r.best.dice === null || valDice > r.best.dice) {
      r.best = { dice: valDice, epoch: epoch + 1 };
      r.sinceBest = 0;
      keep(valDice);
    } else r.sinceBest++;
  }
  writeTrainState(r.dir, r.graph.keys, {
    ...st,
    epoch: epoch + 1,
    bestDice: r.best.dice,
    bestEpoch: r.best.epoch,
  });
  appendRunLog(r.dir, {
    type: "epoch",
    epoch,
    step: st.step,
    loss: r.lastLoss,
    val_dice: valDice,
    best_dice: r.best.dice,
  });
  const best = r.best.dice === null ? "" : ` (best ${r.best.dice.toFixed(4)})`;
  const shown = valDice === null ? "" : `, val Dice ${valDice.toFixed(4)}`;
  r.progress.note(`epoch ${epoch + 1}: loss ${r.lastLoss.toFixed(4)}${shown}${best}`);
}

function runBase(resolved: ResolvedModel): RunBase {
  return {
    kind: resolved.base.kind,
    path: resolved.base.path ?? "",
    fingerprint: resolved.base.fingerprint ?? "",
  };
}

/** Why the run stops after this epoch (patience, the time budget), or null to go on. */
function stopReason(r: Run, epoch: number): string | null {
  const { patience, maxMinutes } = r.config.train;
  if (patience !== null && r.sinceBest >= patience)
    return `stopping after epoch ${epoch + 1}: no better val Dice in ${patience} validations (best ${r.best.dice?.toFixed(4)})`;
  if (maxMinutes !== null && (performance.now() - r.t0) / 60000 >= maxMinutes)
    return `stopping after epoch ${epoch + 1}: the ${maxMinutes} min budget is spent (best val Dice ${r.best.dice?.toFixed(4)})`;
  return null;
}

async function finishRun(r: Run): Promise<TrainSummary> {
  r.progress.finish();
  const end = await judgeRunEnd(r.dir, r.ds, r.config.train.seed);
  const post = end.postprocess;
  if (post)
    r.log(
      `post-processing (largest component per class) on the ${post.val.images} val images: Dice ${post.val.diceWithout.toFixed(4)} -> ${post.val.diceWith.toFixed(4)}, ${post.postprocess.largestComponent ? "kept" : "not kept"}`,
    );
  if (end.trust)
    r.log(
      `trust flag calibrated on ${end.trust.images.train} training and ${end.trust.images.val} val images (${runPath(r.dir, "trust")})`,
    );
  const summary: TrainSummary = {
    steps: step(r),
    epochs: Math.ceil(step(r) / r.perEpoch),
    bestDice: r.best.dice,
    bestEpoch: r.best.epoch,
    lastDice: r.lastDice,
    lastLoss: r.lastLoss,
    runDir: r.dir,
    seconds: (performance.now() - r.t0) / 1000,
  };
  writeRunSummary(r.dir, summary);
  // Which epoch was kept says how much of the run the model saw: on the ITK brain slices the 4
  // held-out images chose epoch 6 of 30 (seed 0), while a 102-pixel slice was still found.
  const kept = r.best.epoch === null ? "" : ` (epoch ${r.best.epoch} of ${summary.epochs}, kept)`;
  r.log(
    `done: ${summary.steps} steps in ${summary.seconds.toFixed(0)} s; best val Dice ${r.best.dice?.toFixed(4) ?? "n/a"}${kept}; model in ${runPath(r.dir, "model")}`,
  );
  return summary;
}
