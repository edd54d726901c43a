// The one error type the checkpoint readers throw. Callers (CLI, model loaders) catch it to print
// a short message instead of a stack trace, so every failure in src/io, from a missing file to a
// corrupt pickle, ends up here with the file's name, what is wrong and what the user can do.

/** What kind of failure, for callers that want to react differently (and for tests). */
export type CheckpointErrorCode =
  | "io" // the file could not be opened or read
  | "truncated" // the file ends before a structure it declares
  | "bad-header" // safetensors header: bad length, bad JSON, bad field
  | "out-of-bounds" // a tensor's bytes lie outside the data the file holds
  | "bad-zip" // .pth zip container is malformed
  | "checksum" // a zip entry's CRC-32 does not match its bytes
  | "bad-pickle" // data.pkl is malformed or uses an opcode we do not read
  | "unsupported-global" // data.pkl names a Python class/function outside the whitelist
  | "unsupported" // well-formed but a variant this reader does not handle
  | "bad-tensor" // tensor metadata (dtype, shape, stride) is invalid
  | "missing-tensor"; // a caller asked for a tensor name the file does not hold

/** Advice for the common case: the bytes on disk are not what the writer wrote. */
export const REDOWNLOAD = "The file is damaged or incomplete: re-download or re-export the checkpoint.";

export class CheckpointError extends Error {
  override name = "CheckpointError";

  constructor(
    /** The checkpoint's path (or the name the caller gave for an in-memory buffer). */
    readonly file: string,
    readonly code: CheckpointErrorCode,
    /** What is wrong, without the file name (it is prefixed here). */
    problem: string,
    /** What to do about it; defaults to re-downloading, the right advice for most failures. */
    advice: string = REDOWNLOAD,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}. ${advice}`, options);
  }
}

/** A caller asked a checkpoint for a tensor it does not hold (both readers' `get`). */
export class MissingTensorError extends CheckpointError {
  override name = "MissingTensorError";

  constructor(
    file: string,
    readonly tensor: string,
  ) {
    super(
      file,
      "missing-tensor",
      `no tensor named "${tensor}"`,
      "Check that the checkpoint matches the model (list its keys to compare).",
    );
  }
}

/**
 * data.pkl asked for a Python global we refuse to load. Unpickling arbitrary globals is how
 * pickle runs code; we resolve only the few that plain state dicts need.
 */
export class UnsupportedGlobalError extends CheckpointError {
  override name = "UnsupportedGlobalError";

  constructor(
    file: string,
    /** "module.name", e.g. "argparse.Namespace". */
    readonly global: string,
  ) {
    super(
      file,
      "unsupported-global",
      `data.pkl refers to the Python object "${global}", which this reader does not load ` +
        "(it reads plain state dicts of tensors only)",
      "Save just the weights, e.g. torch.save(model.state_dict(), path), or convert the " +
        "checkpoint to .safetensors.",
    );
  }
}
