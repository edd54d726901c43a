// IEEE half precision (float16) <-> float32, the one home for it: the engine's float16 tensors,
// checkpoint readers (io/dtypes.ts) and fp16 exports (udeg export --fp16) all convert here.
// JS has no Float16Array in Node 20, so halves travel as their raw bits in a Uint16Array.

/** Exact conversion of one half's bits to float32 bits, subnormals, infinities and NaNs included. */
export function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN
  if (exp === 0) {
    if (mant === 0) return sign >>> 0; // +-0
    // Subnormal half: shift the mantissa up until its leading 1 is the implicit bit; a float32
    // can represent the value as a normal number.
    exp = 1;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      exp--;
    }
    mant &= 0x3ff;
  }
  // Rebias the exponent from 15 to 127.
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

let HALF_TABLE: Uint32Array | undefined;

/** A 64K-entry table of float32 bit patterns, built on first use (a lookup per value after). */
function halfTable(): Uint32Array {
  if (HALF_TABLE) return HALF_TABLE;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloatBits(h);
  HALF_TABLE = table;
  return table;
}

/** Halves (raw bits) to float32, exactly. */
export function halfToFloat32(src: Uint16Array): Float32Array {
  const table = halfTable();
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = table[src[i]!]!;
  return new Float32Array(bits.buffer);
}

/** One half (raw bits) to a JS number, exactly. */
export function halfToFloat(h: number): number {
  return halfToFloat32(Uint16Array.of(h))[0]!;
}

/** float32 -> IEEE half bits, rounding to nearest even (overflow to infinity, underflow to zero). */
export function floatToHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  if (exp >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (exp <= 0) {
    if (exp < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is right
  return sign | half;
}

/** float32 values to halves (raw bits), rounding to nearest even. */
export function float32ToHalf(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]!);
  return out;
}
