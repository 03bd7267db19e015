//! The right operand of a layer's products, made ready once for all the blocks of rows that
//! multiply it: as it is for gemm, or rounded to bf16 and packed for [`bf16`](super::bf16)'s
//! products.

use candle_core::Result;

use super::bf16::Right as Bf16Right;
use super::matmul::{gemm_serial, matmul_by_rows, View};
use super::{Precision, Real};

/// The right operand `b` of products `a·b` over blocks of `a`'s rows, made ready once.
pub(crate) enum Right<'a, T> {
    /// As it is, in its own precision: gemm packs it in each call.
    Full(View<'a, T>),
    /// Rounded to bf16 and packed once ([`Bf16Right`]); f32 only.
    Bf16(View<'a, T>, Bf16Right),
}

impl<'a, T: Real> Right<'a, T> {
    /// `b`, ready for products in `precision`.
    pub(crate) fn new(b: View<'a, T>, precision: Precision) -> Result<Self> {
        Ok(match precision {
            Precision::Full => Self::Full(b),
            Precision::Bf16 => {
                let Some(data) = T::f32s(b.data) else {
                    candle_core::bail!("bf16 products take f32 operands, not {:?}", T::DTYPE)
                };
                Self::Bf16(b, Bf16Right::new(View { data, ..b.cast() }))
            }
        })
    }

    /// `b` as given.
    pub(crate) fn view(&self) -> View<'a, T> {
        match self {
            Self::Full(b) | Self::Bf16(b, _) => *b,
        }
    }

    /// `dst = [dst +] a·b` on this thread.
    pub(crate) fn product(&self, dst: &mut [T], a: View<T>, accumulate: bool) -> Result<()> {
        match self {
            Self::Full(b) => gemm_serial(dst, a, *b, accumulate),
            Self::Bf16(_, b) => match (T::f32s_mut(dst), T::f32s(a.data)) {
                (Some(dst), Some(data)) => b.product(dst, View { data, ..a.cast() }, accumulate),
                _ => candle_core::bail!("bf16 products take f32 operands"),
            },
        }
    }
}

/// `dst = [dst +] a·b` with `b` made ready once, `a`'s rows split over the kernels' threads.
pub(crate) fn matmul_right<T: Real>(
    dst: &mut [T],
    a: View<T>,
    b: &Right<T>,
    accumulate: bool,
) -> Result<()> {
    matmul_by_rows(dst, a, b.view(), |_, block, rows| {
        b.product(block, rows, accumulate)
    })
}
