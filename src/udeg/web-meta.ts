// meta.json of the split export (`exportWebModels`): the model's facts that a page or a server
// needs before it loads the ONNX files, and the names the two files share. Type imports only, so
// the page's bundle uses it as the Node side does; `udeg serve` adds where the model came from (serve/meta.ts).

/**
 * Outputs of the split encoder that the decoder takes as inputs beside the embedding and the
 * dense prompt, when the model has them: the fine path's image side (fine-path.ts).
 */
export const FINE_DETAIL_NAMES = ["fine_full", "fine_half"] as const;

import type { InputRule } from "../data/input-rule.js";
import type { Postprocess } from "./postprocess.js";
import type { TrustCalibration } from "./trust.js";

/** The model's facts, whichever form its ONNX files take. */
export interface WebModelFacts {
  format: "udeg-web/1";
  name: string;
  /** The model's square input size S. */
  modelSize: number;
  pixelMean: number[];
  pixelStd: number[];
  /** From file to the model's planes (src/data/input-rule.ts), as the run was trained. */
  input: InputRule;
  /** The automatic mask's post-processing, as the run chose it (absent in older exports: none). */
  postprocess?: Postprocess;
  /** The trust flag's calibration (trust.ts; absent in older exports and runs: images are not judged). */
  trust?: TrustCalibration;
  /** Foreground classes (outputs have classes + 1 channels, background first). */
  classes: number;
  preset: string;
  evidential: boolean;
  edge: boolean;
  /** The decoder's point slots (0 for a single graph). */
  maxPoints: number;
}

/** meta.json as `exportWebModels` writes it: the facts and the encoder and decoder file names. */
export interface WebModelMeta extends WebModelFacts {
  files: { encoder: string; decoder: string };
}
