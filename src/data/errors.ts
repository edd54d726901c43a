// The error type of the data layer. Like the io errors, its message names the file or folder,
// says what is wrong and what to do, so the CLI can print it as it is.
import { FileError } from "../io/file-error.js";

export type DatasetErrorCode =
  | "not-found" // the dataset folder does not exist
  | "unknown-layout" // no layout we know matches the folder
  | "missing-masks-dir" // images/ without masks/ (or a layout's ground-truth folder missing)
  | "missing-mask" // images without a mask
  | "duplicate-name" // two images with the same base name
  | "size-mismatch" // a mask's size differs from its image's
  | "unreadable" // an image, mask or volume could not be read
  | "bad-mask" // mask values that the mask convention does not allow
  | "bad-split" // split.json is malformed or names unknown samples
  | "bad-argument"; // the caller passed an inconsistent option

export class DatasetError extends FileError<DatasetErrorCode> {
  override name = "DatasetError";

  /** The file or folder the problem is about. */
  get path(): string {
    return this.file;
  }
}

/** "a, b, c and 7 more" for error messages. */
export function listSome(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).map((s) => JSON.stringify(s));
  return items.length > max ? `${shown.join(", ")} and ${items.length - max} more` : shown.join(", ");
}

/** An image, mask or volume that could not be read, as a DatasetError naming the sample. */
export function unreadable(path: string, role: string, name: string, err: unknown): DatasetError {
  if (err instanceof DatasetError) return err;
  let msg = (err as Error).message ?? String(err);
  if (msg.startsWith(`${path}: `)) msg = msg.slice(path.length + 2);
  return new DatasetError(
    path,
    "unreadable",
    `cannot read the ${role} of sample "${name}": ${msg.replace(/\.$/, "")}`,
    "",
    {
      cause: err,
    },
  );
}
