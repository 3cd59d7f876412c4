// Vector math and the small helpers every kernel file uses (native/isa_impl.h's vexp, vsigmoid, vtanh and
// for_lanes). f32x4 throughout; madd / nmadd are fused in the relaxed-SIMD builds.

/** Bytes of n floats. */
// @ts-ignore: decorator
@inline export function f4(n: i32): usize {
  return (<usize>n) << 2;
}

/** Floats rounded up to a multiple of 16 (64 bytes), so every scratch region stays cache-line aligned. */
// @ts-ignore: decorator
@inline export function a16(n: i32): i32 {
  return (n + 15) & ~15;
}

/** c + a*b: one fused multiply-add in the relaxed builds, a multiply then an add otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** c - a*b, fused in the relaxed builds. */
// @ts-ignore: decorator
@inline export function nmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

// Rows whose length is not a multiple of 4 (native's for_lanes): the loop body is written once, over `lanes`
// floats at a time, and called with 4 for the body (the branches below fold away once inlined) and with the
// 1 to 3 floats left for the tail, which then computes exactly what the body does. A tail reads and writes only
// its own floats; its unused lanes hold zeros and are dropped.

/** lanes (1 to 4) floats at p into the low lanes of a vector, zeros above. */
// @ts-ignore: decorator
@inline export function loadLanes(p: usize, lanes: i32): v128 {
  if (lanes >= 4) return v128.load(p);
  let v = f32x4.replace_lane(f32x4.splat(0), 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** The low lanes (1 to 4) of v to p. */
// @ts-ignore: decorator
@inline export function storeLanes(p: usize, v: v128, lanes: i32): void {
  if (lanes >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// ---------------------------------------------------------------------------------------------------------
// Vector math. exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial
// (truncation 5e-9 relative), 2^n built in the exponent bits. Measured error: a few ulp.

// @ts-ignore: decorator
@inline export function vexp(x: v128): v128 {
  // pmin / pmax (one instruction each; f32x4.min / max cost ~8 in V8 for their NaN and -0 rules): x stays
  // first, so a NaN x goes through as itself.
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  // n = round(x log2 e) by adding 1.5 * 2^23: t's low mantissa bits then hold n as an integer, so 2^n is
  // (bits(t) << 23) + (127 << 23) (the magic's own bits shift out), cheaper in V8 than nearest + trunc_sat.
  const t = madd(x, f32x4.splat(1.4426950408889634), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = nmadd(n, f32x4.splat(0.693145751953125), x); // ln2 high part: exact product
  r = nmadd(n, f32x4.splat(1.4286068203094173e-6), r); // ln2 low part
  let p = f32x4.splat(1.9841269841269841e-4); // 1/5040
  p = madd(p, r, f32x4.splat(1.3888888888888889e-3)); // 1/720
  p = madd(p, r, f32x4.splat(8.3333333333333333e-3)); // 1/120
  p = madd(p, r, f32x4.splat(4.1666666666666667e-2)); // 1/24
  p = madd(p, r, f32x4.splat(1.6666666666666667e-1)); // 1/6
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  const scale = i32x4.add(i32x4.shl(t, 23), i32x4.splat(127 << 23));
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(x))));
}

// tanh: |x| < 0.625: x + x^3 P(x^2), a degree-4 minimax fit of our own (4.4e-9 relative);
// otherwise 1 - 2/(e^{2|x|} + 1) with the sign of x (no cancellation there: the result is > 0.55).
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-0.005704988744207033);
  p = madd(p, z, f32x4.splat(0.020639089236575495));
  p = madd(p, z, f32x4.splat(-0.05373971582267986));
  p = madd(p, z, f32x4.splat(0.1333144220839106));
  p = madd(p, z, f32x4.splat(-0.33333281942427445));
  const small = madd(f32x4.mul(x, z), p, x);
  const a10 = f32x4.pmin(ax, f32x4.splat(10.0));
  const e = vexp(f32x4.add(a10, a10));
  const one = f32x4.splat(1.0);
  let large = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  large = v128.or(large, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, large, f32x4.lt(ax, f32x4.splat(0.625)));
}

/** The oracle of the tests (test/wasm-oracles.test.ts): y[i] = sigmoid(x[i]) (fn 0) or tanh(x[i]) (fn 1), n floats. */
export function vecMath(fn: i32, n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) vecMathLanes(fn, 4, x + f4(i), y + f4(i));
  if (i < n) vecMathLanes(fn, n - i, x + f4(i), y + f4(i));
}

// @ts-ignore: decorator
@inline function vecMathLanes(fn: i32, lanes: i32, x: usize, y: usize): void {
  const v = loadLanes(x, lanes);
  storeLanes(y, fn == 0 ? vsigmoid(v) : vtanh(v), lanes);
}
