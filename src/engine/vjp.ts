// The registry of reverse-mode rules, one per ONNX op type. Each ops/ module registers the rules
// of the ops it builds; autodiff.ts looks them up. Kept apart from autodiff.ts so that op modules
// can register without importing the differentiation pass itself.
import type { Node, Tensor } from "./tensor.js";

/**
 * Given the node and the gradient of the loss w.r.t. each of its outputs (null where no gradient
 * flows), return the gradient w.r.t. each input (null where none is needed). `needs[i]` says
 * whether input i needs a gradient at all, so rules can skip work.
 */
export type VjpRule = (
  node: Node,
  gradOutputs: readonly (Tensor | null)[],
  needs: readonly boolean[],
) => (Tensor | null)[];

const rules = new Map<string, VjpRule>();

export function registerVjp(op: string, rule: VjpRule): void {
  if (rules.has(op)) throw new Error(`a VJP rule for ${op} is already registered`);
  rules.set(op, rule);
}

export function vjpRule(op: string): VjpRule | undefined {
  return rules.get(op);
}

/** Ops whose outputs carry no gradient (comparisons, integer maths, shapes of things). */
const nonDifferentiable = new Set<string>();

export function registerNonDifferentiable(...ops: string[]): void {
  for (const op of ops) nonDifferentiable.add(op);
}

export function isNonDifferentiable(op: string): boolean {
  return nonDifferentiable.has(op);
}
