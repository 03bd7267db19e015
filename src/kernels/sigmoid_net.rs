//! The tutorial's whole network and its loss, `½·Σ(σ(σ(x·w0ᵀ)·w1ᵀ) − y)²`, as one autograd node.
//!
//! [`sigmoid`](super::sigmoid) makes each layer and the loss a node of their own; candle's
//! `backward()` then still walks three nodes, sorts them, and keeps each gradient in a map where
//! it is zero-filled and added to — at the tutorial's size (5 rows, 3 → 4 → 1) that bookkeeping
//! is most of a step. Here the graph is one node over `x`, `w0` and `w1`. Its forward keeps the
//! hidden layer `h` and the prediction `ŷ`; its backward is the tutorial's pair of deltas on the
//! same kernels as the per-layer nodes (`(ŷ − y)·g`, then each layer's `delta = grad·s·(1 − s)`,
//! `∂/∂w = deltaᵀ·input`, `grad = delta·w`), so the gradients are those of the three nodes bit
//! for bit. The prediction comes back beside the loss, for the caller to print.

use std::sync::{Arc, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor};

use super::sigmoid::{backward, forward, half_sse, half_sse_of, linear_sigmoid};
use super::{is_fusable, values, Real};

/// `(½·Σ(σ(σ(x·w0ᵀ)·w1ᵀ) − y)², the prediction σ(σ(x·w0ᵀ)·w1ᵀ))` for bias-free weights `w0`
/// `(hidden, in)` and `w1` `(out, hidden)`: one node where the kernels take the tensors, the
/// per-layer ops otherwise.
pub fn sigmoid_net_loss(
    x: &Tensor,
    w0: &Tensor,
    w1: &Tensor,
    ys: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let fits = match (x.dims(), w0.dims(), w1.dims()) {
        (&[rows, n_in], &[hidden, w0_in], &[n_out, w1_in]) => {
            n_in == w0_in && hidden == w1_in && ys.dims() == [rows, n_out]
        }
        _ => false,
    };
    if !fits || !is_fusable(&[x, w0, w1, ys]) {
        let prediction = linear_sigmoid(&linear_sigmoid(x, w0)?, w1)?;
        return Ok((half_sse(&prediction, ys)?, prediction.detach()));
    }
    let kept = Arc::new(OnceLock::new());
    let op = SigmoidNet {
        ys: ys.contiguous()?,
        kept: kept.clone(),
    };
    let loss = x
        .contiguous()?
        .apply_op3(&w0.contiguous()?, &w1.contiguous()?, op)?;
    let Some(Kept { prediction, .. }) = kept.get() else {
        candle_core::bail!("sigmoid net: the forward kept no prediction")
    };
    let prediction = match prediction {
        CpuStorage::F64(p) => Tensor::from_vec(p.clone(), ys.shape(), &Device::Cpu)?,
        p => Tensor::from_vec(p.as_slice::<f32>()?.to_vec(), ys.shape(), &Device::Cpu)?,
    };
    Ok((loss, prediction))
}

/// What the forward leaves for the backward and the caller.
struct Kept {
    hidden: CpuStorage,
    prediction: CpuStorage,
}

struct SigmoidNet {
    ys: Tensor,
    kept: Arc<OnceLock<Kept>>,
}

/// `(h, ŷ, loss)` of the network on rows `x`.
fn net<T: Real>(x: &[T], w0: &[T], w1: &[T], y: &[T], (n_in, hidden, n_out): Sizes) -> Net<T> {
    let h = forward(x, w0, n_in, hidden);
    let p = forward(&h, w1, hidden, n_out);
    let loss = half_sse_of(&p, y);
    (h, p, loss)
}

type Sizes = (usize, usize, usize);
type Net<T> = (Vec<T>, Vec<T>, T);

impl SigmoidNet {
    fn sizes(x: &Shape, w0: &Shape, w1: &Shape) -> Result<(usize, Sizes)> {
        let ((rows, n_in), (hidden, _), (n_out, _)) = (x.dims2()?, w0.dims2()?, w1.dims2()?);
        Ok((rows, (n_in, hidden, n_out)))
    }
}

impl CustomOp3 for SigmoidNet {
    fn name(&self) -> &'static str {
        "sigmoid-net-loss"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w0: &CpuStorage,
        w0l: &Layout,
        w1: &CpuStorage,
        w1l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, sizes) = Self::sizes(xl.shape(), w0l.shape(), w1l.shape())?;
        let (ys, yl) = self.ys.storage_and_layout();
        let candle_core::Storage::Cpu(ys) = &*ys else {
            candle_core::bail!("sigmoid net: the labels left the CPU")
        };
        fn run<T: Real>(
            cpu: [(&CpuStorage, &Layout); 4],
            sizes: Sizes,
        ) -> Result<(Kept, CpuStorage)> {
            let [x, w0, w1, y] = cpu.map(|(s, l)| values::<T>(s, l));
            let (h, p, loss) = net::<T>(x?, w0?, w1?, y?, sizes);
            let kept = Kept {
                hidden: T::to_cpu_storage_owned(h),
                prediction: T::to_cpu_storage_owned(p),
            };
            Ok((kept, T::to_cpu_storage_owned(vec![loss])))
        }
        let cpu = [(x, xl), (w0, w0l), (w1, w1l), (ys, yl)];
        let (kept, loss) = match cpu.map(|(s, _)| s.dtype()) {
            [DType::F64, DType::F64, DType::F64, DType::F64] => run::<f64>(cpu, sizes)?,
            [DType::F32, DType::F32, DType::F32, DType::F32] => run::<f32>(cpu, sizes)?,
            _ => candle_core::bail!("sigmoid net: inputs, weights and labels of one float dtype"),
        };
        if self.kept.set(kept).is_err() {
            candle_core::bail!("sigmoid net: one op ran its forward twice")
        }
        Ok((loss, Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w0: &Tensor,
        w1: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(kept) = self.kept.get() else {
            candle_core::bail!("sigmoid net backward before its forward")
        };
        let (_, (n_in, hidden, n_out)) = Self::sizes(x.shape(), w0.shape(), w1.shape())?;
        let need_dx = x.track_op();
        super::on_cpu(&[x, w0, w1, &self.ys], "sigmoid net", |cpu| {
            fn run<T: Real>(
                cpu: &[(&CpuStorage, &Layout)],
                kept: &Kept,
                g: T,
                (n_in, hidden, n_out): Sizes,
                need_dx: bool,
            ) -> Result<[Option<Vec<T>>; 3]> {
                let [x, w0, w1, y] =
                    [cpu[0], cpu[1], cpu[2], cpu[3]].map(|(s, l)| values::<T>(s, l));
                let (h, p) = (
                    kept.hidden.as_slice::<T>()?,
                    kept.prediction.as_slice::<T>()?,
                );
                let dp: Vec<T> = p.iter().zip(y?).map(|(&p, &y)| (p - y) * g).collect();
                let (dh, dw1) = backward(h, w1?, p, &dp, (hidden, n_out), true);
                let dh = dh.unwrap_or_default();
                let (dx, dw0) = backward(x?, w0?, h, &dh, (n_in, hidden), need_dx);
                Ok([dx, Some(dw0), Some(dw1)])
            }
            let sizes = (n_in, hidden, n_out);
            let shapes = [x.shape(), w0.shape(), w1.shape()];
            let grads = match x.dtype() {
                DType::F64 => {
                    let g = grad.to_scalar::<f64>()?;
                    tensors(run::<f64>(cpu, kept, g, sizes, need_dx)?, shapes)?
                }
                _ => {
                    let g = grad.to_scalar::<f32>()?;
                    tensors(run::<f32>(cpu, kept, g, sizes, need_dx)?, shapes)?
                }
            };
            let [dx, dw0, dw1] = grads;
            Ok((dx, dw0, dw1))
        })
    }
}

/// Gradients as CPU tensors of the given shapes.
fn tensors<T: Real>(
    grads: [Option<Vec<T>>; 3],
    shapes: [&Shape; 3],
) -> Result<[Option<Tensor>; 3]> {
    let [a, b, c] = grads;
    let tensor = |g: Option<Vec<T>>, shape: &Shape| {
        g.map(|g| Tensor::from_vec(g, shape, &Device::Cpu))
            .transpose()
    };
    Ok([
        tensor(a, shapes[0])?,
        tensor(b, shapes[1])?,
        tensor(c, shapes[2])?,
    ])
}
