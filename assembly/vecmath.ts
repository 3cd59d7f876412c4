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
// (truncation 5e-9 relative), 2^n built in the exponent bits. Measured error: a few ulp. vexp and vtanh share
// the reduction (expRound, expRemainder, pow2n) and the polynomial's first terms (expTaylorTail).

/**
 * x log2 e + 1.5 * 2^23: the sum rounds x log2 e to the nearest integer n, whose bits then sit in the low
 * mantissa (so pow2n builds 2^n from them: the magic's own bits shift out; cheaper in V8 than nearest +
 * trunc_sat), and t - 1.5 * 2^23 is n as a float.
 */
// @ts-ignore: decorator
@inline function expRound(x: v128): v128 {
  return madd(x, f32x4.splat(1.4426950408889634), f32x4.splat(12582912.0));
}

/** r = x - n ln2 for expRound's t, ln2 in two parts (the high part's products with n are exact). */
// @ts-ignore: decorator
@inline function expRemainder(x: v128, t: v128): v128 {
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  const r = nmadd(n, f32x4.splat(0.693145751953125), x);
  return nmadd(n, f32x4.splat(1.4286068203094173e-6), r);
}

/** 2^n for expRound's t. */
// @ts-ignore: decorator
@inline function pow2n(t: v128): v128 {
  return i32x4.add(i32x4.shl(t, 23), i32x4.splat(127 << 23));
}

/** P(r) = 1/2 + r/6 + ... + r^5/5040, so that e^r = 1 + r + r^2 P(r) to the degree-7 Taylor polynomial. */
// @ts-ignore: decorator
@inline function expTaylorTail(r: v128): v128 {
  let p = f32x4.splat(1.9841269841269841e-4); // 1/5040
  p = madd(p, r, f32x4.splat(1.3888888888888889e-3)); // 1/720
  p = madd(p, r, f32x4.splat(8.3333333333333333e-3)); // 1/120
  p = madd(p, r, f32x4.splat(4.1666666666666667e-2)); // 1/24
  p = madd(p, r, f32x4.splat(1.6666666666666667e-1)); // 1/6
  return madd(p, r, f32x4.splat(0.5));
}

// @ts-ignore: decorator
@inline export function vexp(x: v128): v128 {
  // pmin / pmax (one instruction each; f32x4.min / max cost ~8 in V8 for their NaN and -0 rules): x stays
  // first, so a NaN x goes through as itself.
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const t = expRound(x);
  const r = expRemainder(x, t);
  let p = expTaylorTail(r);
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  return f32x4.mul(p, pow2n(t));
}

// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(x))));
}

// tanh(x) = sign(x) t / (t + 2) with t = expm1(2|x|): one exponential for every x, without the cancellation of
// 1 - 2 / (e^{2|x|} + 1) near 0. With 2|x| = n ln2 + r as in vexp, t = 2^n (1 + q) - 1 = 2^n q + (2^n - 1), q =
// expm1(r) = r + r^2 P(r) (Taylor to r^7: 2e-8 relative); n = 0 leaves t = q. |x| is clamped to 10, where
// tanh is 1 in float32 (at 9 it is not yet). 2.4 ulp at most, measured from 2^-30 to 12.
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  const a = f32x4.pmin(f32x4.abs(x), f32x4.splat(10.0)); // a NaN stays first: NaN
  const y = f32x4.add(a, a);
  const t = expRound(y);
  const r = expRemainder(y, t);
  const q = madd(f32x4.mul(r, r), expTaylorTail(r), r);
  const s = pow2n(t);
  const em = madd(s, q, f32x4.sub(s, f32x4.splat(1.0)));
  const th = f32x4.div(em, f32x4.add(em, f32x4.splat(2.0)));
  return v128.or(th, v128.and(x, i32x4.splat(0x80000000)));
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
