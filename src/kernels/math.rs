//! The float functions the transformer's fused ops need beyond [`Real`]: square roots, the
//! exponential and the normal distribution function in forms whose loops vectorise, and the
//! dispatch that compiles a loop for the widest vector unit the CPU has.
//!
//! In f64 every function is the standard library's (or libm's, as candle's own `erf`), so the
//! fused ops agree with candle's stock ops to the last few bits and the proofs can hold them to
//! 1e-12. In f32 the exponential and `erf` are polynomials in plain arithmetic (Cephes' `expf`,
//! and Abramowitz and Stegun's 7.1.26, the formula PyTorch's vectorised `erf` uses), so that a
//! loop over them compiles to vector instructions instead of one libm call per value: relative
//! error about 2e-7 for `exp` and 1.5e-7 absolute for `erf`, below what f32 training resolves.

use super::Real;

/// `Real` with the functions of the transformer's kernels.
pub(crate) trait Float: Real + Copy {
    /// `√x`.
    fn sqrt(self) -> Self;
    /// `e^x`; in f32 a polynomial accurate to about 2e-7 relative for x ≤ 88 (0 below −87).
    fn exp_fast(self) -> Self;
    /// `(Φ(x), φ(x))`: the standard normal's distribution function and density at `x`, from one
    /// exponential `e^(−x²/2)`.
    fn normal_cdf_pdf(self) -> (Self, Self);
}

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Float for f64 {
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }

    fn exp_fast(self) -> Self {
        f64::exp(self)
    }

    fn normal_cdf_pdf(self) -> (Self, Self) {
        // The stock expression's own steps: Φ(x) = (erf(x·(1/√2)) + 1)·0.5.
        let cdf =
            (candle_core::cpu::erf::erf_f64(self * std::f64::consts::FRAC_1_SQRT_2) + 1.0) * 0.5;
        (cdf, (-0.5 * self * self).exp() * FRAC_1_SQRT_2PI)
    }
}

impl Float for f32 {
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }

    #[inline(always)]
    fn exp_fast(self) -> Self {
        exp_f32(self)
    }

    #[inline(always)]
    fn normal_cdf_pdf(self) -> (Self, Self) {
        // erf(z) = 1 − t·P(t)·e^(−z²), t = 1/(1 + p·|z|), for z = x/√2 ≥ 0 (A&S 7.1.26); so
        // Φ(x) = 1 − ½·t·P(t)·e^(−x²/2) for x ≥ 0 and ½·t·P(t)·e^(−x²/2) below, without the
        // cancellation of 1 + erf in the left tail.
        const P: f32 = 0.327_591_1;
        const A: [f32; 5] = [
            0.254_829_6,
            -0.284_496_74,
            1.421_413_8,
            -1.453_152_1,
            1.061_405_4,
        ];
        let e = exp_f32(-0.5 * self * self);
        let t = 1.0 / (1.0 + P * std::f32::consts::FRAC_1_SQRT_2 * self.abs());
        let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
        let tail = 0.5 * poly * e;
        let cdf = if self < 0.0 { tail } else { 1.0 - tail };
        (cdf, e * FRAC_1_SQRT_2PI as f32)
    }
}

/// `e^x` in f32 as Cephes' `expf`: `x = n·ln 2 + r`, `e^r` by a polynomial on |r| ≤ ln2/2,
/// `2^n` built in the exponent bits; branch-free, so loops over it vectorise.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    // 1.5·2^23: adding it rounds to an integer, kept in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let exponent = (shifted.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32) + 127;
    let scaled = er * f32::from_bits((exponent << 23) as u32);
    if x < -87.0 {
        0.0
    } else {
        scaled
    }
}

/// Partial sums kept apart in a reduction, so that its additions run side by side in vector
/// lanes instead of one after another (a fixed order: the same bits on any thread count).
const LANES: usize = 16;

/// `Σ xs`, in [`LANES`] interleaved partial sums.
#[inline(always)]
pub(crate) fn sum<T: Float>(xs: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    let mut total = T::zero();
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += x;
    }
    for a in acc {
        total += a;
    }
    total
}

/// `Σ a·b`, in [`LANES`] interleaved partial sums.
#[inline(always)]
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let full = n - n % LANES;
    for (ca, cb) in a[..full]
        .chunks_exact(LANES)
        .zip(b[..full].chunks_exact(LANES))
    {
        for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x * y;
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(&a[full..]).zip(&b[full..]) {
        *s += x * y;
    }
    let mut total = T::zero();
    for s in acc {
        total += s;
    }
    total
}

/// `y += a·x`.
#[inline(always)]
pub(crate) fn axpy<T: Float>(y: &mut [T], a: T, x: &[T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Runs `f` compiled for AVX-512 or AVX2 where the CPU has them, else as built.
///
/// The kernels' elementwise loops are plain Rust; built for the x86-64 baseline they get 4-wide
/// SSE2 vectors. Inlined into a function with more target features, the same loops compile to
/// 16- or 8-wide ones. The arithmetic is the same operations in the same order (Rust never
/// contracts a product and a sum into one fused instruction), so every path gives the same bits.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,avx")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_f32_exponential_and_normal_functions_agree_with_f64_libm() {
        let mut worst_exp = 0f64;
        let mut worst_cdf = 0f64;
        let mut worst_pdf = 0f64;
        for i in -40_000..=40_000 {
            let x = i as f32 * 0.0021;
            let exact = (x as f64).exp();
            worst_exp = worst_exp.max((exp_f32(x) as f64 - exact).abs() / exact);
            let (cdf, pdf) = x.normal_cdf_pdf();
            let (cdf64, pdf64) = (x as f64).normal_cdf_pdf();
            worst_cdf = worst_cdf.max((cdf as f64 - cdf64).abs());
            // e^(−x²/2) from an f32 argument carries its rounding, ~6e-8·x²/2, relatively.
            let scale = pdf64.max(1e-30) * (1.0 + 0.5 * (x as f64).powi(2));
            worst_pdf = worst_pdf.max((pdf as f64 - pdf64).abs() / scale);
        }
        assert!(worst_exp < 3e-7, "exp: {worst_exp:e}");
        // A&S's 1.5e-7 on erf is 0.75e-7 on Φ; f32's rounding of the polynomial and of 1 − tail
        // (half an ulp of 1 is 6e-8) adds the rest.
        assert!(worst_cdf < 3e-7, "Φ: {worst_cdf:e}");
        assert!(worst_pdf < 5e-7, "φ: {worst_pdf:e}");
        assert_eq!(exp_f32(-100.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
