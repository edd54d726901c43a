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
import { type CompiledFunction, compile, type RuntimeOptions } from "./runtime.js";
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
  /** Other graph inputs fed every step (images, masks, progress t, ...). */
  inputs: readonly Tensor[];
  /** Extra tensors to return every step (metrics, predictions). */
  extras?: readonly Tensor[];
}

export interface StepResult {
  loss: number;
  extras: HostTensor[];
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

export class TrainStep {
  private constructor(
    private readonly fn: CompiledFunction,
    private readonly spec: TrainStepSpec,
    private readonly opts: Required<Omit<AdamWOptions, "clipNorm">> & { clipNorm?: number },
    readonly state: OptimizerState,
  ) {}

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
    const grads = grad(spec.loss, spec.params);
    const lr = g.input(`__lr_${g.nodes.length}`, []);
    const hyper: Tensor[] = [lr];
    let outputs: Tensor[];
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
      const bc1 = g.input(`__bc1_${g.nodes.length}`, []);
      const bc2 = g.input(`__bc2_${g.nodes.length}`, []);
      hyper.push(bc1, bc2);
      const [b1, b2] = opts.betas;
      const newP: Tensor[] = [];
      const newM: Tensor[] = [];
      const newV: Tensor[] = [];
      spec.params.forEach((p, i) => {
        const m = g.input(`__m${i}_${g.nodes.length}`, p.shape);
        const v = g.input(`__v${i}_${g.nodes.length}`, p.shape);
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
      outputs = [spec.loss, ...newP, ...newM, ...newV];
    } else {
      outputs = [spec.loss, ...clipped];
    }
    if (norm) outputs.push(norm);
    outputs.push(...(spec.extras ?? []));
    const fn = await compile([...spec.params, ...spec.inputs, ...hyper, ...stateInputs], outputs, runtime);
    const zeros = () => spec.params.map((p) => HostTensor.zeros(p.shape));
    const state: OptimizerState = { step: 0, params: initial.map((t) => copyOf(t)), m: zeros(), v: zeros() };
    return new TrainStep(fn, spec, opts, state);
  }

  /** Run one optimisation step with learning rate `lr` on the given batch inputs. */
  async step(inputs: readonly HostTensor[], lr: number): Promise<StepResult> {
    const s = this.state;
    const t = s.step + 1;
    const [b1, b2] = this.opts.betas;
    const n = this.spec.params.length;
    const scalar = (x: number) => HostTensor.float32([x], []);
    if (this.opts.update === "graph") {
      const stateFeeds = s.m.flatMap((m, i) => [m, s.v[i]!]);
      const out = await this.fn.run([
        ...s.params,
        ...inputs,
        scalar(lr),
        scalar(1 - b1 ** t),
        scalar(1 - b2 ** t),
        ...stateFeeds,
      ]);
      const loss = out[0]!.data[0] as number;
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(t, loss, this.result(out, 1 + 3 * n).extras);
      s.params = out.slice(1, 1 + n);
      s.m = out.slice(1 + n, 1 + 2 * n);
      s.v = out.slice(1 + 2 * n, 1 + 3 * n);
      s.step = t;
      return this.result(out, 1 + 3 * n);
    }
    const out = await this.fn.run([...s.params, ...inputs, scalar(lr)]);
    const loss = out[0]!.data[0] as number;
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(t, loss, this.result(out, 1 + n).extras);
    for (let i = 0; i < n; i++) {
      adamwHost(
        s.params[i]!.data as Float32Array,
        out[1 + i]!.data as Float32Array,
        s.m[i]!.data as Float32Array,
        s.v[i]!.data as Float32Array,
        { lr, b1, b2, eps: this.opts.eps, wd: this.opts.weightDecay, bc1: 1 - b1 ** t, bc2: 1 - b2 ** t },
      );
    }
    s.step = t;
    return this.result(out, 1 + n);
  }

  private result(out: HostTensor[], rest: number): StepResult {
    const hasNorm = this.opts.clipNorm !== undefined;
    return {
      loss: out[0]!.data[0] as number,
      gradNorm: hasNorm ? (out[rest]!.data[0] as number) : undefined,
      extras: out.slice(rest + (hasNorm ? 1 : 0)),
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
    readonly extras: HostTensor[] = [],
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
