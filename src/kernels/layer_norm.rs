//! Layer normalisation over the last dimension as one autograd node, with its backward.
//!
//! candle 0.11's `candle_nn::LayerNorm` and `ops::layer_norm` run a fused kernel through
//! `apply_op*_no_bwd`: they record no backward, so everything before them silently stops
//! training. [`layer_norm`] is one node whose backward returns `∂/∂x`, `∂/∂weight` and
//! `∂/∂bias`; [`layer_norm_stock`] is the same function in candle's stock ops (each with its
//! backward), which the fused op falls back to off the CPU and which the tests compare it with.
//!
//! Per row of `C` values: `μ = Σx/C`, `σ² = Σ(x − μ)²/C` (biased, as PyTorch's), `x̂ = (x − μ)/√(σ² + ε)`,
//! `y = x̂·w + b`. The backward, with `g = ∂L/∂y·w`:
//! `∂L/∂x = (g − mean(g) − x̂·mean(g·x̂))/√(σ² + ε)`, `∂L/∂w = Σ_rows ∂L/∂y·x̂`, `∂L/∂b = Σ_rows ∂L/∂y`.
//! The statistics are recomputed in the backward (two passes over a row) rather than kept.

use candle_core::{CpuStorage, DType, Device, Layout, Result, Shape, Tensor, D};

use super::layer_op::{self, LayerOp};
use super::math::{dot, sum, vectorized, Float};
use super::{is_fusable, on_cpu, threads, values};

/// `(x − mean)/√(var + eps)·weight + bias` over the last dimension of `xs` (`(…, c) -> (…, c)`),
/// `weight` and `bias` of shape `(c,)`; one node with its backward where the kernels run.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    check(xs, weight, bias)?;
    let mut all = vec![xs, weight];
    all.extend(bias);
    if !is_fusable(&all) {
        return layer_norm_stock(xs, weight, bias, eps);
    }
    layer_op::apply(xs, weight, bias, LayerNorm { eps })
}

/// The same layer norm in candle's stock ops, every one of which has a backward.
pub fn layer_norm_stock(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    check(xs, weight, bias)?;
    let centred = xs.broadcast_sub(&xs.mean_keepdim(D::Minus1)?)?;
    let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
    let ys = centred.broadcast_div(&std)?.broadcast_mul(weight)?;
    match bias {
        Some(b) => ys.broadcast_add(b),
        None => Ok(ys),
    }
}

/// Checks that `weight` and `bias` have one value per feature of `xs`'s last dimension.
fn check(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
    let c = xs.dims().last().copied().unwrap_or(0);
    let fits = |t: &Tensor| t.dims() == [c];
    if c == 0 || !fits(weight) || !bias.is_none_or(fits) {
        fail!(
            "layer norm: input {:?} takes a weight and bias of shape [{c}], got {:?} and {:?}",
            xs.dims(),
            weight.dims(),
            bias.map(Tensor::dims)
        )
    }
    Ok(())
}

struct LayerNorm {
    eps: f64,
}

/// Rows handed to one task: a fixed partition, so that the weight's gradient sums its rows in
/// the same order on any number of threads.
const ROWS: usize = 32;

/// `(mean, 1/√(var + eps))` of one row; `centred` is left holding `x − mean`.
#[inline(always)]
fn stats<T: Float>(x: &[T], eps: T, centred: &mut [T]) -> (T, T) {
    let n = T::from_f64(x.len() as f64);
    let mean = sum(x) / n;
    for (d, &v) in centred.iter_mut().zip(x) {
        *d = v - mean;
    }
    (mean, T::one() / (dot(centred, centred) / n + eps).sqrt())
}

/// The forward pass on rows of `c` values.
fn forward<T: Float>(x: &[T], w: &[T], b: Option<&[T]>, eps: f64) -> Vec<T> {
    let c = w.len();
    let eps = T::from_f64(eps);
    let mut out = vec![T::zero(); x.len()];
    let _ = threads::for_each_chunk_mut(&mut out, ROWS * c, |i, out| {
        vectorized(
            #[inline(always)]
            || {
                let x = &x[i * ROWS * c..][..out.len()];
                let mut centred = vec![T::zero(); c];
                for (x, y) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
                    let (_, rstd) = stats(x, eps, &mut centred);
                    match b {
                        Some(b) => {
                            for (((y, &d), &w), &b) in y.iter_mut().zip(&centred).zip(w).zip(b) {
                                *y = d * rstd * w + b;
                            }
                        }
                        None => {
                            for ((y, &d), &w) in y.iter_mut().zip(&centred).zip(w) {
                                *y = d * rstd * w;
                            }
                        }
                    }
                }
            },
        );
        Ok::<(), ()>(())
    });
    out
}

/// One task of the backward: its rows of `∂/∂x`, and its partial sums of `∂/∂w` and `∂/∂b`.
struct Part<'a, T> {
    dx: &'a mut [T],
    dw: &'a mut [T],
    db: &'a mut [T],
}

/// `(∂/∂x, ∂/∂w, ∂/∂b)` from the input rows, the weight and the output gradient.
fn backward<T: Float>(x: &[T], w: &[T], dy: &[T], eps: f64) -> (Vec<T>, Vec<T>, Vec<T>) {
    let c = w.len();
    let rows = x.len() / c;
    let eps = T::from_f64(eps);
    let tasks = rows.div_ceil(ROWS);
    let mut dx = vec![T::zero(); x.len()];
    let mut dw_parts = vec![T::zero(); tasks * c];
    let mut db_parts = vec![T::zero(); tasks * c];
    let mut parts: Vec<Part<T>> = dx
        .chunks_mut(ROWS * c)
        .zip(dw_parts.chunks_mut(c))
        .zip(db_parts.chunks_mut(c))
        .map(|((dx, dw), db)| Part { dx, dw, db })
        .collect();
    let inv_c = T::one() / T::from_f64(c as f64);
    let _ = threads::for_each_chunk_mut(&mut parts, 1, |i, part| {
        let Part { dx, dw, db } = &mut part[0];
        vectorized(
            #[inline(always)]
            || {
                let start = i * ROWS * c;
                let (x, dy) = (&x[start..][..dx.len()], &dy[start..][..dx.len()]);
                let (mut xhat, mut g) = (vec![T::zero(); c], vec![T::zero(); c]);
                for ((x, dy), dx) in x
                    .chunks_exact(c)
                    .zip(dy.chunks_exact(c))
                    .zip(dx.chunks_exact_mut(c))
                {
                    let (_, rstd) = stats(x, eps, &mut xhat);
                    for ((((xhat, g), &dy), &w), (dw, db)) in xhat
                        .iter_mut()
                        .zip(g.iter_mut())
                        .zip(dy)
                        .zip(w)
                        .zip(dw.iter_mut().zip(db.iter_mut()))
                    {
                        *xhat *= rstd;
                        *g = dy * w;
                        *dw += dy * *xhat;
                        *db += dy;
                    }
                    let (mean_g, mean_gx) = (sum(&g) * inv_c, dot(&g, &xhat) * inv_c);
                    for ((dx, &g), &xhat) in dx.iter_mut().zip(&g).zip(&xhat) {
                        *dx = (g - mean_g - xhat * mean_gx) * rstd;
                    }
                }
            },
        );
        Ok::<(), ()>(())
    });
    let total = |parts: &[T]| {
        let mut total = vec![T::zero(); c];
        for part in parts.chunks_exact(c) {
            for (t, &p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        total
    };
    (dx, total(&dw_parts), total(&db_parts))
}

impl LayerOp for LayerNorm {
    const NAME: &'static str = "layer-norm";

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let shape = x.1.shape().clone();
        let storage = match x.0 {
            CpuStorage::F64(_) => CpuStorage::F64(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                self.eps,
            )),
            CpuStorage::F32(_) => CpuStorage::F32(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                self.eps,
            )),
            _ => candle_core::bail!("layer norm: only f32 and f64 are fused"),
        };
        Ok((storage, shape))
    }

    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let grad = grad.contiguous()?;
        let (dx, dw, db) = on_cpu(&[x, w, &grad], "layer norm", |cpu| {
            fn run<T: Float>(
                cpu: &[(&CpuStorage, &Layout)],
                eps: f64,
                shape: &Shape,
            ) -> Result<(Tensor, Tensor, Tensor)> {
                let [x, w, dy] = [cpu[0], cpu[1], cpu[2]].map(|(s, l)| values::<T>(s, l));
                let (dx, dw, db) = backward(x?, w?, dy?, eps);
                let c = dw.len();
                Ok((
                    Tensor::from_vec(dx, shape, &Device::Cpu)?,
                    Tensor::from_vec(dw, c, &Device::Cpu)?,
                    Tensor::from_vec(db, c, &Device::Cpu)?,
                ))
            }
            match x.dtype() {
                DType::F64 => run::<f64>(cpu, self.eps, x.shape()),
                _ => run::<f32>(cpu, self.eps, x.shape()),
            }
        })?;
        Ok((x.track_op().then_some(dx), dw, db))
    }
}
