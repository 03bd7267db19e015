//! Max-pooling over k×k windows (stride k) as one node that remembers each window's maximum
//! and routes the window's gradient to it in the backward.
//!
//! candle 0.11's own `max_pool2d` computes the right values, but its backward multiplies each
//! window's gradient by 1/k² (it scales the equality mask by its window average instead of
//! dividing by the number of maxima), so a conv net trained on it descends a different slope
//! than PyTorch's. Here the gradient goes whole to the window's first maximum, as in PyTorch. On
//! the CPU (f32, f64) the op is a loop over the windows; elsewhere it is a reshape and a `max`
//! over each window, whose stock backward gives each maximum the whole gradient.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor, D};

use super::{is_fusable, on_cpu, threads, values, Real};

/// `xs` (N, C, H, W) cut to the rows and columns that whole k×k windows cover (PyTorch's pooling
/// leaves the rest out).
pub fn whole_windows(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if k == 0 || h < k || w < k {
        fail!("pooling: a {h}×{w} input holds no whole {k}×{k} window")
    }
    let (h_cut, w_cut) = (h - h % k, w - w % k);
    if (h_cut, w_cut) == (h, w) {
        return Ok(xs.clone());
    }
    xs.narrow(2, 0, h_cut)?.narrow(3, 0, w_cut)
}

/// The maximum of each k×k window of `xs` (N, C, H, W), stride k; H and W must be multiples of k.
pub fn max_pool(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    if k == 0 || h == 0 || w == 0 || h % k != 0 || w % k != 0 {
        fail!("max-pool: a {h}×{w} input does not divide into {k}×{k} windows")
    }
    if is_fusable(&[xs]) {
        return xs.contiguous()?.apply_op1(MaxPool {
            k,
            argmax: OnceLock::new(),
        });
    }
    xs.reshape((n, c, h / k, k, w / k, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((n, c, h / k, w / k, k * k))?
        .max(D::Minus1)
}

/// The op; the forward leaves each window's argmax here for the backward.
struct MaxPool {
    k: usize,
    argmax: OnceLock<Vec<u32>>,
}

/// Pools one plane (H, W) into `out` (H/k, W/k), writing each window's first maximum and
/// its index in the plane.
///
/// Branch-free: which value of a window is largest is as good as random, so a branch on it
/// mispredicts often (the README's Performance section says what it cost).
pub(crate) fn pool_plane<T: Real>(
    x: &[T],
    (h, w): (usize, usize),
    k: usize,
    out: &mut [T],
    at: &mut [u32],
) {
    let wo = w / k;
    for i in 0..h / k {
        let (out, at) = (&mut out[i * wo..][..wo], &mut at[i * wo..][..wo]);
        for (j, (out, at)) in out.iter_mut().zip(at.iter_mut()).enumerate() {
            let first = i * k * w + j * k;
            let (mut best, mut best_at) = (x[first], first as u32);
            for p in 0..k {
                let start = first + p * w;
                for (q, &v) in x[start..][..k].iter().enumerate() {
                    let larger = v > best;
                    best = if larger { v } else { best };
                    // best_at = larger ? here : best_at, without a branch.
                    let here = (start + q) as u32;
                    best_at ^= (best_at ^ here) & 0u32.wrapping_sub(u32::from(larger));
                }
            }
            (*out, *at) = (best, best_at);
        }
    }
}

/// Planes handed to one thread at a time: enough work to be worth the hand-over.
fn planes_per_task(plane: usize, planes: usize) -> usize {
    (1usize << 15)
        .div_ceil(plane.max(1))
        .clamp(1, planes.max(1))
}

/// Pools every plane of `x` ((planes, H, W) in a row) over the kernels' threads.
fn pool<T: Real>(x: &[T], (planes, h, w): (usize, usize, usize), k: usize) -> (Vec<T>, Vec<u32>) {
    let (plane, pooled) = (h * w, (h / k) * (w / k));
    let mut out = vec![T::zero(); planes * pooled];
    let mut at = vec![0u32; planes * pooled];
    let per = planes_per_task(plane, planes);
    let mut tasks: Vec<(&mut [T], &mut [u32])> = out
        .chunks_mut(per * pooled)
        .zip(at.chunks_mut(per * pooled))
        .collect();
    let _ = threads::for_each_chunk_mut(&mut tasks, 1, |i, task| {
        let (out, at) = &mut task[0];
        for (j, (out, at)) in out
            .chunks_exact_mut(pooled)
            .zip(at.chunks_exact_mut(pooled))
            .enumerate()
        {
            pool_plane(&x[(i * per + j) * plane..][..plane], (h, w), k, out, at);
        }
        Ok::<(), ()>(())
    });
    (out, at)
}

/// Sends each pooled value's gradient to the index in its plane where the maximum was.
fn route<T: Real>(g: &[T], at: &[u32], (planes, h, w): (usize, usize, usize), k: usize) -> Vec<T> {
    let (plane, pooled) = (h * w, (h / k) * (w / k));
    let mut dx = vec![T::zero(); planes * plane];
    let per = planes_per_task(plane, planes);
    let _ = threads::for_each_chunk_mut(&mut dx, per * plane, |i, dx| {
        for (j, dx) in dx.chunks_exact_mut(plane).enumerate() {
            let window = (i * per + j) * pooled;
            for (&g, &a) in g[window..][..pooled].iter().zip(&at[window..][..pooled]) {
                dx[a as usize] += g;
            }
        }
        Ok::<(), ()>(())
    });
    dx
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max-pool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let k = self.k;
        if h * w > u32::MAX as usize {
            candle_core::bail!("max-pool: a {h}×{w} plane is too large")
        }
        let dims = (n * c, h, w);
        let (pooled, at) = match storage {
            CpuStorage::F64(_) => {
                let (out, at) = pool::<f64>(values(storage, layout)?, dims, k);
                (CpuStorage::F64(out), at)
            }
            CpuStorage::F32(_) => {
                let (out, at) = pool::<f32>(values(storage, layout)?, dims, k);
                (CpuStorage::F32(out), at)
            }
            _ => candle_core::bail!("max-pool runs on f32 or f64"),
        };
        let _ = self.argmax.set(at);
        Ok((pooled, Shape::from((n, c, h / k, w / k))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = arg.dims4()?;
        let Some(at) = self.argmax.get() else {
            candle_core::bail!("max-pool backward before its forward")
        };
        let grad = grad.contiguous()?;
        let dims = (n * c, h, w);
        let dx = on_cpu(&[&grad], "max-pool", |cpu| {
            let (g, layout) = cpu[0];
            match g {
                CpuStorage::F64(_) => Tensor::from_vec(
                    route::<f64>(values(g, layout)?, at, dims, self.k),
                    (n, c, h, w),
                    &Device::Cpu,
                ),
                _ => Tensor::from_vec(
                    route::<f32>(values(g, layout)?, at, dims, self.k),
                    (n, c, h, w),
                    &Device::Cpu,
                ),
            }
        })?;
        Ok(Some(dx))
    }
}
