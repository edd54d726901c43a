// Where SAM's modules get their weights from. A ParamStore hands out one graph tensor per
// state-dict key (original segment-anything names): a frozen initializer, or a graph input when
// the key is trainable. It checks every shape as the graph is built, and afterwards can list the
// checkpoint keys that were never used, so a wrong checkpoint fails loudly.
import { type Graph, HostTensor, type Tensor } from "../engine/index.js";
import { fmtShape } from "../engine/tensor.js";

export type WeightSource = ReadonlyMap<string, HostTensor>;

export interface ParamStoreOptions {
  /** Keys that become graph inputs (trained or fed every run) instead of initializers. */
  trainable?: (key: string) => boolean;
  /** Values for keys the source lacks (e.g. freshly initialised LoRA or new heads). */
  defaults?: (key: string, shape: readonly number[]) => HostTensor | undefined;
}

export class ParamStore {
  private readonly tensors = new Map<string, Tensor>();
  private readonly used = new Set<string>();
  /** Trainable keys in the order they were first used, with their graph inputs. */
  readonly trainable: { key: string; tensor: Tensor; initial: HostTensor }[] = [];

  constructor(
    readonly graph: Graph,
    readonly source: WeightSource,
    private readonly options: ParamStoreOptions = {},
  ) {}

  /** The tensor for `key`, which must have `shape`. */
  get(key: string, shape: readonly number[]): Tensor {
    const cached = this.tensors.get(key);
    if (cached) {
      if (cached.shape.join() !== shape.join())
        throw new Error(`weight ${key} used with shapes ${fmtShape(cached.shape)} and ${fmtShape(shape)}`);
      return cached;
    }
    let value = this.source.get(key);
    if (!value) value = this.options.defaults?.(key, shape);
    if (!value) throw new MissingWeightError(key, shape);
    if (value.shape.join() !== shape.join()) {
      throw new Error(`weight ${key} has shape ${fmtShape(value.shape)}, the model needs ${fmtShape(shape)}`);
    }
    this.used.add(key);
    let t: Tensor;
    if (this.options.trainable?.(key)) {
      t = this.graph.input(key, shape);
      this.trainable.push({ key, tensor: t, initial: value });
    } else {
      t = this.graph.constant(
        value.dtype === "float32" ? value : new HostTensor("float32", value.shape, value.toFloat32()),
        key,
      );
    }
    this.tensors.set(key, t);
    return t;
  }

  /** A view that prefixes every key ("image_encoder.blocks.0." ...). */
  scope(prefix: string): ParamScope {
    return new ParamScope(this, prefix);
  }

  /** Source keys the model never asked for. */
  unusedKeys(): string[] {
    return [...this.source.keys()].filter((k) => !this.used.has(k));
  }
}

export class ParamScope {
  constructor(
    readonly store: ParamStore,
    readonly prefix: string,
  ) {}

  get(name: string, shape: readonly number[]): Tensor {
    return this.store.get(this.prefix + name, shape);
  }

  scope(name: string): ParamScope {
    return new ParamScope(this.store, `${this.prefix}${name}.`);
  }

  get graph(): Graph {
    return this.store.graph;
  }
}

export class MissingWeightError extends Error {
  constructor(
    readonly key: string,
    readonly shape: readonly number[],
  ) {
    super(`the checkpoint has no weight "${key}" (shape ${fmtShape(shape)})`);
  }
}

/**
 * A ParamStore that only records which keys a model reads and their shapes, without any data:
 * build the model once with it to learn what a checkpoint must hold, or what to initialise.
 */
export class ShapeRecorder extends ParamStore {
  readonly shapes = new Map<string, number[]>();

  constructor(graph: Graph) {
    super(graph, new Map());
  }

  private readonly inputs = new Map<string, Tensor>();

  override get(key: string, shape: readonly number[]): Tensor {
    const seen = this.inputs.get(key);
    if (seen && seen.shape.join() === shape.join()) return seen;
    if (seen) throw new Error(`weight ${key} used with shapes [${seen.shape}] and [${shape}]`);
    this.shapes.set(key, [...shape]);
    const t = this.graph.input(`${key}#shape`, shape);
    this.inputs.set(key, t);
    return t;
  }
}
