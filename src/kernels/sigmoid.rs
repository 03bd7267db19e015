//! The tutorial's layer `σ(x·wᵀ)` and loss `½·Σ(ŷ − y)²` as single nodes, and its hand-written step on them.
//!
//! The tutorial's network is so small that a training step costs what its
//! tensor operations cost to *set up*, not what they compute: with stock ops
//! the backward pass alone is about fifty of them. The ops here do the same
//! arithmetic in a handful of steps:
//!
//! - [`linear_sigmoid`]: `σ(x·wᵀ)` for a bias-free `Linear` weight `w` of
//!   shape `(out, in)`, one autograd node whose backward gives `∂/∂x` and
//!   `∂/∂w` at once (and skips `∂/∂x` when `x` is data);
//! - [`half_sse`]: the loss `½·Σ(ŷ − y)²` as one node whose backward is `ŷ − y`;
//! - [`manual_step`]: the hand-written deltas built on the same kernels.
//!
//! candle's `backward()` still drives the autograd path. On devices other
//! than the CPU every op falls back to the stock tensor expression it fuses.
//! The tests check each against the stock ops (values and gradients, f64,
//! ≤ 1e-12) and against finite differences.
//!
//! The matrix products are plain loops: right for the tutorial's sizes, not
//! a replacement for a tuned GEMM on big layers.

use std::sync::{Arc, LazyLock};

use candle_core::{
    CpuStorage, CustomOp2, DType, Device, Layout, Result, Shape, Storage, Tensor, Var,
};

use super::{is_fusable, values, Real};

/// `σ(x·wᵀ)`: a bias-free `Linear` layer and its sigmoid as one op.
///
/// `x` is `(rows, in)`, `w` is `(out, in)` as candle-nn stores it; the result is `(rows, out)`.
pub fn linear_sigmoid(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if !is_fusable(&[x, w]) || x.rank() != 2 {
        return candle_nn::ops::sigmoid(&x.matmul(&w.t()?)?);
    }
    static OP: LazyLock<Arc<Box<dyn CustomOp2 + Send + Sync>>> =
        LazyLock::new(|| Arc::new(Box::new(LinearSigmoid)));
    x.contiguous()?.apply_op2_arc(&w.contiguous()?, OP.clone())
}

struct LinearSigmoid;

impl CustomOp2 for LinearSigmoid {
    fn name(&self) -> &'static str {
        "linear-sigmoid"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, n_in) = x_layout.shape().dims2()?;
        let (n_out, w_in) = w_layout.shape().dims2()?;
        if n_in != w_in {
            return Err(candle_core::Error::ShapeMismatchBinaryOp {
                lhs: x_layout.shape().clone(),
                rhs: w_layout.shape().clone(),
                op: "linear-sigmoid",
            }
            .bt());
        }
        let storage = match (x, w) {
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(forward(
                values(x, x_layout)?,
                values(w, w_layout)?,
                n_in,
                n_out,
            )),
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(forward(
                values(x, x_layout)?,
                values(w, w_layout)?,
                n_in,
                n_out,
            )),
            _ => candle_core::bail!("linear-sigmoid needs x and w of one float dtype"),
        };
        Ok((storage, Shape::from((rows, n_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        s: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = linear_sigmoid_backward(x, w, s, grad, x.track_op())?;
        Ok((dx, Some(dw)))
    }
}

/// The gradients of `s = σ(x·wᵀ)` given `grad = ∂loss/∂s`: `(∂loss/∂x, ∂loss/∂w)`.
///
/// With `delta = grad·s·(1 − s)` (the tutorial's delta), `∂loss/∂w = deltaᵀ·x`
/// and `∂loss/∂x = delta·w`; the latter only when `need_dx`.
pub fn linear_sigmoid_backward(
    x: &Tensor,
    w: &Tensor,
    s: &Tensor,
    grad: &Tensor,
    need_dx: bool,
) -> Result<(Option<Tensor>, Tensor)> {
    if !is_fusable(&[x, w, s, grad]) {
        let delta = (grad * (s * (1.0 - s)?)?)?;
        let dx = need_dx.then(|| delta.matmul(w)).transpose()?;
        return Ok((dx, delta.t()?.matmul(x)?));
    }
    let (x, w, s, grad) = (
        x.contiguous()?,
        w.contiguous()?,
        s.contiguous()?,
        grad.contiguous()?,
    );
    let (rows, n_in) = x.dims2()?;
    let n_out = w.dim(0)?;
    let (xg, wg, sg, gg) = (
        x.storage_and_layout(),
        w.storage_and_layout(),
        s.storage_and_layout(),
        grad.storage_and_layout(),
    );
    let (Storage::Cpu(xs), Storage::Cpu(ws), Storage::Cpu(ss), Storage::Cpu(gs)) =
        (&*xg.0, &*wg.0, &*sg.0, &*gg.0)
    else {
        candle_core::bail!("linear-sigmoid backward: tensors left the CPU")
    };
    let slices = [(xs, xg.1), (ws, wg.1), (ss, sg.1), (gs, gg.1)];
    match x.dtype() {
        DType::F64 => backward_tensors::<f64>(slices, (rows, n_in, n_out), need_dx),
        _ => backward_tensors::<f32>(slices, (rows, n_in, n_out), need_dx),
    }
}

/// `σ(x·wᵀ)` for `x` of rows of `n_in` and `w` `(n_out, n_in)`, row-major.
pub(super) fn forward<T: Real>(x: &[T], w: &[T], n_in: usize, n_out: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len() / n_in.max(1) * n_out);
    for xi in x.chunks_exact(n_in) {
        for wj in w.chunks_exact(n_in) {
            out.push(sigmoid(dot(xi, wj)));
        }
    }
    out
}

/// [`backward`] on CPU storages, its results as CPU tensors.
fn backward_tensors<T: Real>(
    [x, w, s, grad]: [(&CpuStorage, &Layout); 4],
    (rows, n_in, n_out): (usize, usize, usize),
    need_dx: bool,
) -> Result<(Option<Tensor>, Tensor)> {
    let (dx, dw) = backward::<T>(
        values(x.0, x.1)?,
        values(w.0, w.1)?,
        values(s.0, s.1)?,
        values(grad.0, grad.1)?,
        (n_in, n_out),
        need_dx,
    );
    let dx = dx
        .map(|dx| Tensor::from_vec(dx, (rows, n_in), &Device::Cpu))
        .transpose()?;
    Ok((dx, Tensor::from_vec(dw, (n_out, n_in), &Device::Cpu)?))
}

/// `delta = grad·s·(1 − s)`, then `∂/∂w = deltaᵀ·x` and, if asked, `∂/∂x = delta·w`.
pub(super) fn backward<T: Real>(
    x: &[T],
    w: &[T],
    s: &[T],
    grad: &[T],
    (n_in, n_out): (usize, usize),
    need_dx: bool,
) -> (Option<Vec<T>>, Vec<T>) {
    // delta = grad·s·(1 − s), recomputed where used rather than stored: one allocation fewer.
    let delta = |i: usize| grad[i] * (s[i] * (T::one() - s[i]));
    let mut dw = vec![T::zero(); n_out * n_in];
    for (r, xi) in x.chunks_exact(n_in).enumerate() {
        for (j, dwj) in dw.chunks_exact_mut(n_in).enumerate() {
            let d = delta(r * n_out + j);
            for (dwjl, &xil) in dwj.iter_mut().zip(xi) {
                *dwjl += d * xil;
            }
        }
    }
    let dx = need_dx.then(|| {
        let mut dx = vec![T::zero(); x.len()];
        for (r, dxi) in dx.chunks_exact_mut(n_in).enumerate() {
            for (j, wj) in w.chunks_exact(n_in).enumerate() {
                let d = delta(r * n_out + j);
                for (dxil, &wjl) in dxi.iter_mut().zip(wj) {
                    *dxil += d * wjl;
                }
            }
        }
        dx
    });
    (dx, dw)
}

fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::zero(), |acc, (&a, &b)| acc + a * b)
}

fn sigmoid<T: Real>(z: T) -> T {
    T::one() / ((T::zero() - z).exp() + T::one())
}

/// `½·Σ(p − y)²`.
pub(super) fn half_sse_of<T: Real>(p: &[T], y: &[T]) -> T {
    let sum = p.iter().zip(y).fold(T::zero(), |acc, (&p, &y)| {
        let e = p - y;
        acc + e * e
    });
    sum * T::from_f64(0.5)
}

/// The tutorial's loss `½·Σ(ŷ − y)²` as one op; its backward gives `ŷ − y` (times the incoming gradient).
pub fn half_sse(prediction: &Tensor, ys: &Tensor) -> Result<Tensor> {
    if !is_fusable(&[prediction, ys]) || prediction.dims() != ys.dims() {
        return (prediction - ys)?.sqr()?.sum_all()? * 0.5;
    }
    prediction
        .contiguous()?
        .apply_op2(&ys.contiguous()?, HalfSse)
}

struct HalfSse;

impl CustomOp2 for HalfSse {
    fn name(&self) -> &'static str {
        "half-sse"
    }

    fn cpu_fwd(
        &self,
        p: &CpuStorage,
        p_layout: &Layout,
        y: &CpuStorage,
        y_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let storage = match (p, y) {
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(vec![half_sse_of(
                values(p, p_layout)?,
                values(y, y_layout)?,
            )]),
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(vec![half_sse_of(
                values(p, p_layout)?,
                values(y, y_layout)?,
            )]),
            _ => candle_core::bail!("half-sse needs predictions and labels of one float dtype"),
        };
        Ok((storage, Shape::from(())))
    }

    fn bwd(
        &self,
        prediction: &Tensor,
        ys: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if !is_fusable(&[prediction, ys, grad]) {
            let error = (prediction - ys)?;
            return Ok((Some(error.broadcast_mul(grad)?), None));
        }
        let (pg, yg) = (prediction.storage_and_layout(), ys.storage_and_layout());
        let (Storage::Cpu(p), Storage::Cpu(y)) = (&*pg.0, &*yg.0) else {
            candle_core::bail!("half-sse backward: tensors left the CPU")
        };
        fn error<T: Real>(p: &[T], y: &[T], g: T) -> Vec<T> {
            p.iter().zip(y).map(|(&p, &y)| (p - y) * g).collect()
        }
        let dims = prediction.dims();
        let grad = match (p, y) {
            (CpuStorage::F64(_), CpuStorage::F64(_)) => Tensor::from_vec(
                error(values(p, pg.1)?, values(y, yg.1)?, grad.to_scalar::<f64>()?),
                dims,
                &Device::Cpu,
            )?,
            _ => Tensor::from_vec(
                error(
                    values::<f32>(p, pg.1)?,
                    values(y, yg.1)?,
                    grad.to_scalar::<f32>()?,
                ),
                dims,
                &Device::Cpu,
            )?,
        };
        Ok((Some(grad), None))
    }
}

/// One step of the hand-written deltas on the fused kernels; the weights are updated in place.
///
/// `vars` are the `Linear` weights, `(out, in)`, first layer first. Returns
/// the network's output from before the update. The same arithmetic as
/// `tutorial::reference::step`: each layer's backward forms the tutorial's
/// `delta` and returns `deltaᵀ·l` and `delta·w`.
pub fn manual_step(xs: &Tensor, ys: &Tensor, vars: &[Var], lr: f64) -> Result<Tensor> {
    let ws: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().detach()).collect();
    let mut ls = vec![xs.clone()];
    for w in &ws {
        let next = linear_sigmoid(&ls[ls.len() - 1], w)?;
        ls.push(next);
    }
    let prediction = ls[ws.len()].clone();
    let mut grad = (&prediction - ys)?;
    for i in (0..ws.len()).rev() {
        let (dx, dw) = linear_sigmoid_backward(&ls[i], &ws[i], &ls[i + 1], &grad, i > 0)?;
        super::sgd::update(&vars[i], &dw, lr)?;
        if let Some(dx) = dx {
            grad = dx;
        }
    }
    Ok(prediction)
}
