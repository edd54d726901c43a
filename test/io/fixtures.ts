// Paths and comparisons shared by the io tests.

import { fileURLToPath } from "node:url";
import { bytesOf, type TensorData } from "../../src/io/checkpoints/dtypes.js";

/** The tiny SAM reference checkpoints (same weights as .pth and .safetensors), outside the repo. */
export const SAM_TINY = fileURLToPath(new URL("../fixtures/sam/tiny/", import.meta.url));

/** Small torch.save files made by test/fixtures/pth/make_fixtures.py. */
export const PTH_FIXTURES = fileURLToPath(new URL("../fixtures/pth/", import.meta.url));

/** Bit-for-bit equality of two tensors' data (NaN payloads and -0 included). */
export function sameBits(a: TensorData, b: TensorData): boolean {
  return a.constructor === b.constructor && Buffer.from(bytesOf(a)).equals(bytesOf(b));
}
