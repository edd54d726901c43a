// The shape every file-reading error here shares: the file's name first, then what is wrong, then
// what to do about it, with a code callers (and tests) can switch on. Pure, so the web viewer's
// decoders throw the same errors as the CLI's.

export class FileError<Code extends string> extends Error {
  constructor(
    /** The file (or the name the caller gave an in-memory buffer). */
    readonly file: string,
    readonly code: Code,
    /** What is wrong, without the file name (it is prefixed here). */
    problem: string,
    /** What to do about it. */
    advice = "",
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}.${advice ? ` ${advice}` : ""}`, options);
  }
}
