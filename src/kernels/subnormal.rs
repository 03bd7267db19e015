//! Optimizer state that decays toward zero reaches it: a value under the smallest normal number
//! of its dtype becomes 0.
//!
//! A weight whose gradient is zero at every step (one that feeds a dead ReLU unit, say) keeps a
//! momentum that shrinks by β each step: AdamW's first moment by 0.9, its second by 0.999, SGD's
//! velocity by the momentum. In exact arithmetic it tends to zero; in floating point it does not
//! get there. Once it is subnormal, a few units of the last place, `m·0.9` rounds back to `m`
//! (4·2⁻¹⁴⁹ in f32 stays 4·2⁻¹⁴⁹ for ever, and `v·0.999` stays put below 500·2⁻¹⁴⁹), and on x86
//! every operation with a subnormal operand or result takes a microcode assist of about a
//! hundred cycles. An AdamW run of a 64-wide MLP slowed to a third of its speed after about
//! 770 steps, when the first moments of its dead units' weights went subnormal.
//!
//! The optimizers therefore flush each new moment: `|x| <` `MIN_POSITIVE` becomes 0. What that
//! changes is below anything a step can show: a first moment under 1.2e-38 moves a weight by
//! less than `lr`·1.2e-30 against ε = 1e-8 in the denominator, and a second moment's square root,
//! under 1.1e-19, is lost in ε's rounding in f32. f16 is left alone: its subnormals are normal
//! numbers in the f32 arithmetic that candle's half-precision ops run in, so they cost nothing,
//! and its smallest normal number (6.1e-5) is a value a moment really has. Off the CPU nothing
//! is flushed: GPUs compute on subnormals at full speed.

use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Tensor};

/// A float whose subnormal values can be flushed to zero.
pub(crate) trait Flush: Copy {
    /// `self`, or 0 where `self` is subnormal (NaN and infinities stay as they are).
    fn flushed(self) -> Self;
}

macro_rules! flush {
    ($t:ty) => {
        impl Flush for $t {
            #[inline(always)]
            fn flushed(self) -> Self {
                if self.abs() < <$t>::MIN_POSITIVE {
                    0.0
                } else {
                    self
                }
            }
        }
    };
}
flush!(f32);
flush!(f64);

impl Flush for half::bf16 {
    #[inline(always)]
    fn flushed(self) -> Self {
        // bf16 has f32's exponent: subnormal where the exponent bits are all zero.
        if self.to_bits() & 0x7f80 == 0 {
            half::bf16::ZERO
        } else {
            self
        }
    }
}

/// Sets every subnormal value of `t` to 0, in place, where `t` is on the CPU in f32, f64 or
/// bf16; anything else is left as it is. `t` must own its storage: a tensor that shares it
/// (a clone kept elsewhere) sees the change too.
pub fn flush_subnormals(t: &Tensor) -> Result<()> {
    if t.device().is_cpu() && t.dtype() != candle_core::DType::F16 && t.dtype().is_float() {
        t.inplace_op1(&FlushSubnormals)?;
    }
    Ok(())
}

/// The in-place flush of [`flush_subnormals`].
struct FlushSubnormals;

fn flush_all<T: Flush>(values: &mut [T]) {
    super::math::vectorized(
        #[inline(always)]
        || {
            for x in values.iter_mut() {
                *x = x.flushed();
            }
        },
    );
}

impl InplaceOp1 for FlushSubnormals {
    fn name(&self) -> &'static str {
        "flush-subnormals"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("flush-subnormals needs a contiguous tensor")
        };
        match storage {
            CpuStorage::F32(v) => flush_all(&mut v[start..end]),
            CpuStorage::F64(v) => flush_all(&mut v[start..end]),
            CpuStorage::BF16(v) => flush_all(&mut v[start..end]),
            _ => {}
        }
        Ok(())
    }
}
