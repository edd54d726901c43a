// Parsers for numeric command-line flags: a clear message naming the flag instead of NaN later.

export function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got "${v}"`);
    return n;
  };
}

export function positiveNumber(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got "${v}"`);
    return n;
  };
}

export function integer(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || v.trim() === "")
      throw new Error(`${flag} must be an integer, got "${v}"`);
    return n;
  };
}

export function nonNegativeNumber(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || v.trim() === "")
      throw new Error(`${flag} must be a number >= 0, got "${v}"`);
    return n;
  };
}
