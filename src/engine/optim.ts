// Training: AdamW (decoupled weight decay, optional global-norm clipping) and learning-rate
// schedules, compiled together with the loss and its gradients into one step function.
//
// onnxruntime has no training API in Node, so a step is an ordinary inference session whose
// inputs are the batch, the parameters and the optimiser state, and whose outputs are the loss
// and either the updated parameters and state ("graph" update) or the raw gradients, which the
// host then applies ("host" update). Both are kept: bench/engine measures them, and "graph" is
// the default because it was faster there (see BENCHMARKS.md).
import { grad } from "./autodiff.js";
import { add, div, minimum, mul, sqrt, square, sub } from "./ops/elementwise.js";
import { reduceSum } from "./ops/reduce.js";
import {
  type CompiledFunction,
  checkFeedNames,
  compile,
  type DeviceTensor,
  type NamedTensors,
  type RuntimeOptions,
  type Transfer,
} from "./runtime.js";
import { HostTensor, type Tensor } from "./tensor.js";

export interface AdamWOptions {
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (PyTorch AdamW's weight_decay); default 0.01 as in PyTorch. */
  weightDecay?: number;
  /** Clip the global L2 norm of all gradients to this value (off when undefined). */
  clipNorm?: number;
  /** Where the parameter update runs; default "graph". */
  update?: "graph" | "host";
}

// ---- schedules ----------------------------------------------------------------------------

export type Schedule = (step: number) => number;

export interface ScheduleOptions {
  lr: number;
  totalSteps: number;
  warmupSteps?: number;
  /** Floor the schedule decays to (default 0). */
  minLr?: number;
}

function warmup(step: number, o: ScheduleOptions): number | null {
  const w = o.warmupSteps ?? 0;
  return step < w ? (o.lr * (step + 1)) / w : null;
}

function progress(step: number, o: ScheduleOptions): number {
  const w = o.warmupSteps ?? 0;
  return Math.min(1, Math.max(0, (step - w) / Math.max(1, o.totalSteps - w)));
}

/** Linear warm-up, then lr * (1 - t)^power down to minLr (SAMed uses power 0.9). */
export function warmupPoly(o: ScheduleOptions & { power?: number }): Schedule {
  const min = o.minLr ?? 0;
  return (step) => warmup(step, o) ?? min + (o.lr - min) * (1 - progress(step, o)) ** (o.power ?? 0.9);
}

/** Linear warm-up, then half a cosine down to minLr. */
export function warmupCosine(o: ScheduleOptions): Schedule {
  const min = o.minLr ?? 0;
  return (step) => warmup(step, o) ?? min + ((o.lr - min) * (1 + Math.cos(Math.PI * progress(step, o)))) / 2;
}

export function constantLr(lr: number): Schedule {
  return () => lr;
}

// ---- the step function --------------------------------------------------------------------

export interface TrainStepSpec {
  /** Scalar loss. */
  loss: Tensor;
  /** Trainable tensors: graph inputs whose values the step owns and updates. */
  params: readonly Tensor[];
  /** Other graph inputs fed every step, by name (images, masks, progress t, ...). */
  inputs: readonly Tensor[];
  /** Extra tensors to return every step, by name (loss terms, predictions). */
  extras?: Readonly<Record<string, Tensor>>;
}

export interface StepResult {
  loss: number;
  extras: NamedTensors;
  /** Global gradient norm before clipping (only when clipping is on). */
  gradNorm?: number;
}

/** The optimiser's state, in the order of `params`: what a checkpoint needs to resume. */
export interface OptimizerState {
  step: number;
  params: HostTensor[];
  m: HostTensor[];
  v: HostTensor[];
}

/** Output names of the step function (prefixed so that none equals an input's name). */
const OUT = {
  loss: "loss",
  gradNorm: "grad_norm",
  param: (i: number) => `param_out.${i}`,
  grad: (i: number) => `grad_out.${i}`,
  m: (i: number) => `adam_m_out.${i}`,
  v: (i: number) => `adam_v_out.${i}`,
  extra: (name: string) => `extra.${name}`,
};

/**
 * Hyper-parameter and optimiser-state input names. `tag` keeps them unique when one graph gets
 * several steps (the tests compile the "graph" and the "host" update from one loss).
 */
function stepInputNames(tag: number) {
  return {
    lr: `__lr_${tag}`,
    bc1: `__bc1_${tag}`,
    bc2: `__bc2_${tag}`,
    m: (i: number) => `__adam_m${i}_${tag}`,
    v: (i: number) => `__adam_v${i}_${tag}`,
  };
}
type StepInputNames = ReturnType<typeof stepInputNames>;

export class TrainStep {
  /**
   * On a GPU provider: the parameters and both moments as the last step left them in GPU memory.
   * They go back in as the next step's inputs, so a step moves only the batch up and the loss
   * terms down; `state` is then out of date until `sync()`.
   */
  private device: { params: DeviceTensor[]; m: DeviceTensor[]; v: DeviceTensor[] } | null = null;
  /** Bytes the last step moved between host and device. */
  lastTransfer: Transfer = { up: 0, down: 0 };

  private constructor(
    private readonly fn: CompiledFunction,
    private readonly spec: TrainStepSpec,
    private readonly opts: Required<Omit<AdamWOptions, "clipNorm">> & { clipNorm?: number },
    /** Parameters and AdamW state on the host: current after `sync()` (always, on the CPU). */
    readonly state: OptimizerState,
    private readonly IN: StepInputNames,
  ) {}

  /** Brings the state the GPU holds back to the host (a no-op on the CPU) and returns it. */
  async sync(): Promise<OptimizerState> {
    const d = this.device;
    if (d) {
      const all = async (ts: DeviceTensor[]) => Promise.all(ts.map((t) => t.download()));
      [this.state.params, this.state.m, this.state.v] = await Promise.all([
        all(d.params),
        all(d.m),
        all(d.v),
      ]);
    }
    return this.state;
  }

  /** The step function's outputs (loss, updates, norm, extras): its graph, for `fallbackNodes`. */
  get outputs(): readonly Tensor[] {
    return this.fn.outputs;
  }

  /** The names `step` takes: spec.inputs' names. */
  get inputNames(): string[] {
    return this.spec.inputs.map((t) => t.name!);
  }

  /**
   * Compile the step. `initial` gives each parameter's starting value (same order as
   * spec.params); moments start at zero.
   */
  static async create(
    spec: TrainStepSpec,
    initial: readonly HostTensor[],
    options: AdamWOptions = {},
    runtime: RuntimeOptions = {},
  ): Promise<TrainStep> {
    const opts = {
      betas: options.betas ?? ([0.9, 0.999] as const),
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0.01,
      update: options.update ?? "graph",
      clipNorm: options.clipNorm,
    };
    if (spec.loss.size !== 1) throw new Error(`TrainStep: loss must be a scalar, got ${spec.loss}`);
    if (initial.length !== spec.params.length) {
      throw new Error(`TrainStep: ${initial.length} initial values for ${spec.params.length} parameters`);
    }
    spec.params.forEach((p, i) => {
      const v = initial[i]!;
      if (p.kind !== "input") throw new Error(`TrainStep: parameter ${p} must be a graph input`);
      if (v.shape.join() !== p.shape.join())
        throw new Error(`TrainStep: initial value for ${p} has shape [${v.shape}]`);
    });
    const g = spec.loss.graph;
    const IN = stepInputNames(g.nodes.length);
    const grads = grad(spec.loss, spec.params);
    const lr = g.input(IN.lr, []);
    const hyper: Tensor[] = [lr];
    const outputs: Tensor[] = [spec.loss];
    const outputNames: string[] = [OUT.loss];
    let norm: Tensor | null = null;
    let clipped = grads;
    if (opts.clipNorm !== undefined) {
      norm = sqrt(grads.map((gr) => reduceSum(square(gr))).reduce((a, b) => add(a, b)));
      const scale = minimum(div(opts.clipNorm, add(norm, 1e-6)), 1);
      clipped = grads.map((gr) => mul(gr, scale));
    }
    const stateInputs: Tensor[] = [];
    if (opts.update === "graph") {
      // Bias corrections 1 - beta^t are computed on the host and fed as scalars.
      const bc1 = g.input(IN.bc1, []);
      const bc2 = g.input(IN.bc2, []);
      hyper.push(bc1, bc2);
      const [b1, b2] = opts.betas;
      const newP: Tensor[] = [];
      const newM: Tensor[] = [];
      const newV: Tensor[] = [];
      spec.params.forEach((p, i) => {
        const m = g.input(IN.m(i), p.shape);
        const v = g.input(IN.v(i), p.shape);
        stateInputs.push(m, v);
        const gi = clipped[i]!;
        const m2 = add(mul(m, b1), mul(gi, 1 - b1));
        const v2 = add(mul(v, b2), mul(square(gi), 1 - b2));
        const denom = add(sqrt(div(v2, bc2)), opts.eps);
        const decayed = opts.weightDecay ? sub(p, mul(p, mul(lr, opts.weightDecay))) : p;
        newP.push(sub(decayed, div(mul(div(m2, bc1), lr), denom)));
        newM.push(m2);
        newV.push(v2);
      });
      outputs.push(...newP, ...newM, ...newV);
      outputNames.push(
        ...newP.map((_, i) => OUT.param(i)),
        ...newM.map((_, i) => OUT.m(i)),
        ...newV.map((_, i) => OUT.v(i)),
      );
    } else {
      outputs.push(...clipped);
      outputNames.push(...clipped.map((_, i) => OUT.grad(i)));
    }
    if (norm) {
      outputs.push(norm);
      outputNames.push(OUT.gradNorm);
    }
    for (const [name, t] of Object.entries(spec.extras ?? {})) {
      outputs.push(t);
      outputNames.push(OUT.extra(name));
    }
    // On a GPU the updated parameters and moments stay there (the step's own inputs next time).
    const keepOnDevice =
      opts.update === "graph" && runtime.ep === "webgpu"
        ? outputNames.filter((n) => /^(param|adam_[mv])_out\./.test(n))
        : [];
    const fn = await compile([...spec.params, ...spec.inputs, ...hyper, ...stateInputs], outputs, {
      ...runtime,
      outputNames,
      keepOnDevice,
    });
    const zeros = () => spec.params.map((p) => HostTensor.zeros(p.shape));
    const state: OptimizerState = { step: 0, params: initial.map((t) => copyOf(t)), m: zeros(), v: zeros() };
    return new TrainStep(fn, spec, opts, state, IN);
  }

  /** Run one optimisation step with learning rate `lr` on the given batch inputs (by name). */
  async step(inputs: Readonly<NamedTensors>, lr: number): Promise<StepResult> {
    checkFeedNames(Object.keys(inputs), this.inputNames, "TrainStep.step");
    const IN = this.IN;
    const s = this.state;
    const t = s.step + 1;
    const [b1, b2] = this.opts.betas;
    const scalar = (x: number) => HostTensor.float32([x], []);
    const feeds: Record<string, HostTensor | DeviceTensor> = { ...inputs, [IN.lr]: scalar(lr) };
    const d = this.device;
    this.spec.params.forEach((p, i) => {
      feeds[p.name!] = d ? d.params[i]! : s.params[i]!;
    });
    if (this.opts.update === "graph") {
      feeds[IN.bc1] = scalar(1 - b1 ** t);
      feeds[IN.bc2] = scalar(1 - b2 ** t);
      s.m.forEach((m, i) => {
        feeds[IN.m(i)] = d ? d.m[i]! : m;
        feeds[IN.v(i)] = d ? d.v[i]! : s.v[i]!;
      });
    }
    const { host: out, device, transfer } = await this.fn.runOnDevice(feeds);
    this.lastTransfer = transfer;
    const result = this.result(out);
    const n = this.spec.params.length;
    const updated = (name: (i: number) => string) => Array.from({ length: n }, (_, i) => device[name(i)]!);
    if (!Number.isFinite(result.loss)) {
      // The state stays as it was: drop what this step left on the device.
      for (const t of Object.values(device)) t.dispose();
      throw new NonFiniteLossError(t, result.loss, result.extras);
    }
    if (this.opts.update === "graph" && device[OUT.param(0)]) {
      if (d) for (const x of [...d.params, ...d.m, ...d.v]) x.dispose();
      this.device = { params: updated(OUT.param), m: updated(OUT.m), v: updated(OUT.v) };
    } else if (this.opts.update === "graph") {
      s.params = Array.from({ length: n }, (_, i) => out[OUT.param(i)]!);
      s.m = Array.from({ length: n }, (_, i) => out[OUT.m(i)]!);
      s.v = Array.from({ length: n }, (_, i) => out[OUT.v(i)]!);
    } else {
      for (let i = 0; i < n; i++) {
        adamwHost(
          s.params[i]!.data as Float32Array,
          out[OUT.grad(i)]!.data as Float32Array,
          s.m[i]!.data as Float32Array,
          s.v[i]!.data as Float32Array,
          { lr, b1, b2, eps: this.opts.eps, wd: this.opts.weightDecay, bc1: 1 - b1 ** t, bc2: 1 - b2 ** t },
        );
      }
    }
    s.step = t;
    return result;
  }

  private result(out: NamedTensors): StepResult {
    const extras: NamedTensors = {};
    for (const name of Object.keys(this.spec.extras ?? {})) extras[name] = out[OUT.extra(name)]!;
    return {
      loss: out[OUT.loss]!.data[0] as number,
      gradNorm: this.opts.clipNorm !== undefined ? (out[OUT.gradNorm]!.data[0] as number) : undefined,
      extras,
    };
  }

  /** Replace the state (resume from a checkpoint). Shapes are checked. */
  load(state: OptimizerState): void {
    const check = (list: HostTensor[], what: string) => {
      if (list.length !== this.spec.params.length)
        throw new Error(`load: ${what} has ${list.length} tensors`);
      list.forEach((t, i) => {
        if (t.shape.join() !== this.spec.params[i]!.shape.join()) {
          throw new Error(
            `load: ${what}[${i}] has shape [${t.shape}], expected [${this.spec.params[i]!.shape}]`,
          );
        }
      });
    };
    check(state.params, "params");
    check(state.m, "m");
    check(state.v, "v");
    if (this.device) for (const x of [...this.device.params, ...this.device.m, ...this.device.v]) x.dispose();
    this.device = null;
    this.state.step = state.step;
    this.state.params = state.params.map(copyOf);
    this.state.m = state.m.map(copyOf);
    this.state.v = state.v.map(copyOf);
  }
}

/** A non-finite loss leaves the state as it was before the step, so a run can stop cleanly. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
    /** The step's extra outputs (e.g. the loss terms), to tell which term went wrong. */
    readonly extras: NamedTensors = {},
  ) {
    super(
      `loss became ${loss} at step ${step}: lower the learning rate, enable gradient clipping, or check the inputs`,
    );
  }
}

function copyOf(t: HostTensor): HostTensor {
  return new HostTensor(t.dtype, t.shape, t.data.slice() as HostTensor["data"]);
}

/** PyTorch's AdamW update, in place. */
export function adamwHost(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  h: { lr: number; b1: number; b2: number; eps: number; wd: number; bc1: number; bc2: number },
): void {
  const decay = 1 - h.lr * h.wd;
  const step = h.lr / h.bc1;
  const sqrtBc2 = Math.sqrt(h.bc2);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = h.b1 * m[i]! + (1 - h.b1) * gi;
    const vi = h.b2 * v[i]! + (1 - h.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * decay - (step * mi) / (Math.sqrt(vi) / sqrtBc2 + h.eps);
  }
}
