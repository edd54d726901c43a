// Parsers for numeric command-line flags: a clear message naming the flag instead of NaN later.

const DEVICES = ["cpu", "webgpu", "cuda"] as const;

/** `--device`: one of the execution providers udeg runs on (`udeg doctor` says which work here). */
export function deviceName(flag: string): (v: string) => (typeof DEVICES)[number] {
  return (v) => {
    const d = DEVICES.find((x) => x === v);
    if (!d) throw new Error(`${flag} must be ${DEVICES.join(", ")}, got "${v}"`);
    return d;
  };
}

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

export function probability(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(n >= 0 && n <= 1) || v.trim() === "")
      throw new Error(`${flag} must be a number in [0, 1], got "${v}"`);
    return n;
  };
}

export const DEVICE_HELP = "cpu | webgpu | cuda (default cpu; `udeg doctor` says which work here)";

/** `--shard K/N` (1-based K). */
export function shardSpec(flag: string): (v: string) => { k: number; n: number } {
  return (v) => {
    const m = /^(\d+)\/(\d+)$/.exec(v.trim());
    const k = Number(m?.[1]);
    const n = Number(m?.[2]);
    if (!m || n < 1 || k < 1 || k > n)
      throw new Error(`${flag} must be K/N with 1 <= K <= N (e.g. 2/8), got "${v}"`);
    return { k, n };
  };
}
