//! Max-pooling over k×k windows (stride k) as one node whose backward routes each window's
//! gradient to its maximum.
//!
//! candle 0.11's own `max_pool2d` computes the right values, but its backward multiplies each
//! window's gradient by 1/k² (it scales the equality mask by its window average instead of
//! dividing by the number of maxima), so a conv net trained on it descends a different slope
//! than PyTorch's. Here the gradient goes whole to the window's first maximum, as in PyTorch. On
//! the CPU (f32, f64) the op is a loop over the windows; elsewhere it is a reshape and a `max`
//! over each window, whose stock backward gives each maximum the whole gradient.

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Storage, Tensor, D};

use super::{is_fusable, values, Real};

/// The maximum of each k×k window of `xs` (N, C, H, W), stride k; H and W must be multiples of k.
pub fn max_pool(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    if k == 0 || h % k != 0 || w % k != 0 {
        fail!("max-pool: a {h}×{w} input does not divide into {k}×{k} windows")
    }
    if is_fusable(&[xs]) {
        return xs.contiguous()?.apply_op1(MaxPool(k));
    }
    xs.reshape((n, c, h / k, k, w / k, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((n, c, h / k, w / k, k * k))?
        .max(D::Minus1)
}

struct MaxPool(usize);

/// For each window of each plane, the index in `x` of its first maximum.
fn argmax<T: Real>(x: &[T], (planes, h, w): (usize, usize, usize), k: usize) -> Vec<usize> {
    let (ho, wo) = (h / k, w / k);
    let mut at = Vec::with_capacity(planes * ho * wo);
    for plane in 0..planes {
        let base = plane * h * w;
        for i in 0..ho {
            for j in 0..wo {
                let mut best = base + i * k * w + j * k;
                for p in 0..k {
                    for q in 0..k {
                        let here = base + (i * k + p) * w + j * k + q;
                        if x[here] > x[best] {
                            best = here;
                        }
                    }
                }
                at.push(best);
            }
        }
    }
    at
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max-pool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let k = self.0;
        fn pool<T: Real>(x: &[T], dims: (usize, usize, usize), k: usize) -> Vec<T> {
            argmax(x, dims, k).into_iter().map(|i| x[i]).collect()
        }
        let dims = (n * c, h, w);
        let pooled = match storage {
            CpuStorage::F64(_) => CpuStorage::F64(pool(values(storage, layout)?, dims, k)),
            CpuStorage::F32(_) => CpuStorage::F32(pool(values(storage, layout)?, dims, k)),
            _ => candle_core::bail!("max-pool runs on f32 or f64"),
        };
        Ok((pooled, Shape::from((n, c, h / k, w / k))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = arg.dims4()?;
        let grad = grad.contiguous()?;
        let (xg, gg) = (arg.storage_and_layout(), grad.storage_and_layout());
        let (Storage::Cpu(x), Storage::Cpu(g)) = (&*xg.0, &*gg.0) else {
            candle_core::bail!("max-pool backward: tensors left the CPU")
        };
        fn route<T: Real>(x: &[T], g: &[T], dims: (usize, usize, usize), k: usize) -> Vec<T> {
            let mut dx = vec![T::zero(); x.len()];
            for (window, at) in argmax(x, dims, k).into_iter().enumerate() {
                dx[at] += g[window];
            }
            dx
        }
        let dims = (n * c, h, w);
        let dx = match (x, g) {
            (CpuStorage::F64(_), CpuStorage::F64(_)) => Tensor::from_vec(
                route::<f64>(values(x, xg.1)?, values(g, gg.1)?, dims, self.0),
                (n, c, h, w),
                &Device::Cpu,
            )?,
            _ => Tensor::from_vec(
                route::<f32>(values(x, xg.1)?, values(g, gg.1)?, dims, self.0),
                (n, c, h, w),
                &Device::Cpu,
            )?,
        };
        Ok(Some(dx))
    }
}
