//! AdamW's update of one parameter, in place on the CPU: PyTorch's `torch.optim.AdamW`
//! arithmetic, operation for operation.
//!
//! On the CPU in f32 and f64 a step is three passes that allocate nothing: each moment from the
//! gradient, then the parameter from the moments. Elsewhere (CUDA, half precision) it is the
//! same arithmetic in tensor ops, which make new tensors.
//!
//! Per value, with `t` the step number counted from 1:
//! `θ ← θ·(1 − lr·λ)`, `m ← m + (g − m)·(1 − β₁)`, `v ← v·β₂ + g·g·(1 − β₂)`,
//! `θ ← θ − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε)`; a moment that goes subnormal becomes 0
//! (see [`subnormal`](super::subnormal)).

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var};

use super::math::{vectorized, Float};
use super::subnormal::{flush_subnormals, Flush};
use super::{is_fusable, threads, values, Real};

/// The settings of one AdamW step of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// The learning rate.
    pub lr: f64,
    /// The first moment's decay β₁.
    pub beta1: f64,
    /// The second moment's decay β₂.
    pub beta2: f64,
    /// ε, added to the denominator.
    pub eps: f64,
    /// The decoupled weight decay λ of this parameter (0 for none).
    pub weight_decay: f64,
    /// The step's number, counted from 1.
    pub step: u64,
}

/// One AdamW step of `var` with gradient `grad` and moments `m`, `v` (each of `var`'s shape),
/// in place where the kernels run; returns the moments after the step.
pub fn step(
    var: &Var,
    grad: &Tensor,
    (m, v): (&Tensor, &Tensor),
    s: &AdamWStep,
) -> Result<(Tensor, Tensor)> {
    if grad.dims() != var.dims() || m.dims() != var.dims() || v.dims() != var.dims() {
        fail!(
            "adamw: a parameter {:?} takes a gradient and moments of its shape, got {:?}, {:?} and {:?}",
            var.dims(),
            grad.dims(),
            m.dims(),
            v.dims()
        )
    }
    let all = [var.as_tensor(), grad, m, v];
    let fused = is_fusable(&all) && all.iter().all(|t| t.is_contiguous());
    if !fused {
        return step_stock(var, grad, (m, v), s);
    }
    m.inplace_op2(grad, &FirstMoment(*s))?;
    v.inplace_op2(grad, &SecondMoment(*s))?;
    var.as_tensor().inplace_op3(m, v, &Apply(*s))?;
    Ok((m.clone(), v.clone()))
}

/// The same step in tensor ops (what runs off the CPU, and the in-place step's reference).
pub fn step_stock(
    var: &Var,
    g: &Tensor,
    (m, v): (&Tensor, &Tensor),
    s: &AdamWStep,
) -> Result<(Tensor, Tensor)> {
    let m = (m + ((g - m)? * (1.0 - s.beta1))?)?;
    let v = ((v * s.beta2)? + ((g * g)? * (1.0 - s.beta2))?)?;
    flush_subnormals(&m)?;
    flush_subnormals(&v)?;
    let (bc1, bc2) = corrections(s);
    let denom = ((v.sqrt()? / bc2.sqrt())? + s.eps)?;
    let theta = (var.as_tensor() * (1.0 - s.lr * s.weight_decay))?;
    var.set(&(theta - ((&m / denom)? * (s.lr / bc1))?)?)?;
    Ok((m, v))
}

/// The bias corrections `(1 − β₁ᵗ, 1 − β₂ᵗ)`.
fn corrections(s: &AdamWStep) -> (f64, f64) {
    let t = i32::try_from(s.step).unwrap_or(i32::MAX);
    (1.0 - s.beta1.powi(t), 1.0 - s.beta2.powi(t))
}

/// Values handed to one task.
const TASK: usize = 1 << 15;

/// `m ← m + (g − m)·(1 − β₁)`.
struct FirstMoment(AdamWStep);

/// `v ← v·β₂ + g·g·(1 − β₂)`.
struct SecondMoment(AdamWStep);

/// `θ ← θ·(1 − lr·λ) − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε)`.
struct Apply(AdamWStep);

/// The contiguous range of an in-place op's destination.
fn range(layout: &Layout) -> Result<std::ops::Range<usize>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(start..end),
        None => candle_core::bail!("adamw needs contiguous tensors"),
    }
}

/// `m ← m + (g − m)·(1 − β₁)` (`SECOND` false) or `v ← v·β₂ + g·g·(1 − β₂)` (true), over the kernels' threads.
fn update_moment<T: Real + Flush, const SECOND: bool>(dst: &mut [T], g: &[T], s: &AdamWStep) {
    let (b1, b2, c2) = (
        T::from_f64(1.0 - s.beta1),
        T::from_f64(s.beta2),
        T::from_f64(1.0 - s.beta2),
    );
    let _ = threads::for_each_chunk_mut(dst, TASK, |i, dst| {
        vectorized(
            #[inline(always)]
            || {
                for (d, &g) in dst.iter_mut().zip(&g[i * TASK..]) {
                    let next = match SECOND {
                        false => *d + (g - *d) * b1,
                        true => *d * b2 + g * g * c2,
                    };
                    *d = next.flushed();
                }
            },
        );
        Ok::<(), ()>(())
    });
}

fn apply<T: Float>(theta: &mut [T], m: &[T], v: &[T], s: &AdamWStep) {
    let (bc1, bc2) = corrections(s);
    let decay = T::from_f64(1.0 - s.lr * s.weight_decay);
    let step_size = T::from_f64(s.lr / bc1);
    let (bc2_sqrt, eps) = (T::from_f64(bc2.sqrt()), T::from_f64(s.eps));
    let _ = threads::for_each_chunk_mut(theta, TASK, |i, theta| {
        let (m, v) = (&m[i * TASK..], &v[i * TASK..]);
        vectorized(
            #[inline(always)]
            || {
                for ((p, &m), &v) in theta.iter_mut().zip(m).zip(v) {
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *p = *p * decay - step_size * (m / denom);
                }
            },
        );
        Ok::<(), ()>(())
    });
}

/// A moment's update in place, in the destination's dtype.
fn moment<const SECOND: bool>(
    dst: &mut CpuStorage,
    dl: &Layout,
    g: &CpuStorage,
    gl: &Layout,
    s: &AdamWStep,
) -> Result<()> {
    let at = range(dl)?;
    match (dst, g) {
        (CpuStorage::F64(d), CpuStorage::F64(_)) => {
            update_moment::<f64, SECOND>(&mut d[at], values(g, gl)?, s)
        }
        (CpuStorage::F32(d), CpuStorage::F32(_)) => {
            update_moment::<f32, SECOND>(&mut d[at], values(g, gl)?, s)
        }
        _ => candle_core::bail!("adamw: the moments and gradient need one dtype, f32 or f64"),
    }
    Ok(())
}

impl InplaceOp2 for FirstMoment {
    fn name(&self) -> &'static str {
        "adamw-first-moment"
    }

    fn cpu_fwd(&self, m: &mut CpuStorage, ml: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        moment::<false>(m, ml, g, gl, &self.0)
    }
}

impl InplaceOp2 for SecondMoment {
    fn name(&self) -> &'static str {
        "adamw-second-moment"
    }

    fn cpu_fwd(&self, v: &mut CpuStorage, vl: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        moment::<true>(v, vl, g, gl, &self.0)
    }
}

impl InplaceOp3 for Apply {
    fn name(&self) -> &'static str {
        "adamw-apply"
    }

    fn cpu_fwd(
        &self,
        p: &mut CpuStorage,
        pl: &Layout,
        m: &CpuStorage,
        ml: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> Result<()> {
        let at = range(pl)?;
        match (p, m) {
            (CpuStorage::F64(p), CpuStorage::F64(_)) => apply(
                &mut p[at],
                values::<f64>(m, ml)?,
                values::<f64>(v, vl)?,
                &self.0,
            ),
            (CpuStorage::F32(p), CpuStorage::F32(_)) => apply(
                &mut p[at],
                values::<f32>(m, ml)?,
                values::<f32>(v, vl)?,
                &self.0,
            ),
            _ => candle_core::bail!("adamw: the parameter and moments need one dtype, f32 or f64"),
        }
        Ok(())
    }
}
