//! A 2-d convolution as one autograd node: im2col and gemm forward and backward, the bias and
//! ReLU inside.
//!
//! candle's stock `conv2d` runs its forward as im2col and a matmul too, but its backward is
//! two more convolutions: the kernel gradient as a conv2d with batch and channels swapped, and
//! the input gradient as `conv_transpose2d`, a direct loop on the CPU, computed even for the
//! data batch that nobody differentiates. Here each image of the batch is unrolled into its
//! patches (`col`: one row per input channel and kernel offset, one column per output
//! position), and every product is one gemm on it:
//!
//! - forward: `out = w·col + b`, the ReLU applied in place;
//! - `∂/∂w = Σ δ·colᵀ`, `∂/∂b = Σ δ` over images and positions, where `δ` is the output's
//!   gradient masked by the ReLU;
//! - `∂/∂x`, only when `x` needs one: `wᵀ·δ`, folded back onto the image (col2im).
//!
//! The images are split over the kernels' threads. The backward sums the kernel and bias
//! gradients over a fixed partition of the batch (at most 16 parts, in order), so the result
//! does not depend on how many threads ran. Elsewhere than the CPU in f32/f64 the op is
//! candle's `conv2d`, a broadcast bias and `relu`.

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Shape, Tensor};

use super::layer_op::{self, LayerOp};
use super::matmul::{gemm_serial, View};
use super::pool::pool_plane;
use super::{is_fusable, on_cpu, threads, values, DenseActivation, Real};

/// `act(conv2d(x, w) + b)` for `x` (N, C, H, W), square kernels `w` (O, C, K, K), an optional
/// bias `b` (O,), the given stride and zero padding on each side.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    pad: usize,
    act: DenseActivation,
) -> Result<Tensor> {
    conv2d_max_pool(x, w, b, stride, pad, act, 1)
}

/// [`conv2d`] followed by max-pooling over `k`×`k` windows (stride `k`; the rows and columns
/// past the last whole window left out), as one node: the convolution's output never leaves
/// the cache, and its gradient is built image by image from the pooled gradient and each
/// window's argmax. `k = 1` is [`conv2d`].
pub fn conv2d_max_pool(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    pad: usize,
    act: DenseActivation,
    k: usize,
) -> Result<Tensor> {
    let op = Conv {
        stride,
        pad,
        act,
        pool: k,
        argmax: OnceLock::new(),
    };
    let fusable = x.rank() == 4 && is_fusable(&[x, w]) && b.is_none_or(|b| is_fusable(&[w, b]));
    if !fusable {
        return op.stock(x, w, b);
    }
    layer_op::apply(x, w, b, op)
}

#[derive(Debug)]
struct Conv {
    stride: usize,
    pad: usize,
    act: DenseActivation,
    /// The max-pool window's side; 1 for none.
    pool: usize,
    /// Where pooling, each window's maximum (its index in the output plane), left by the forward.
    argmax: OnceLock<Vec<u32>>,
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Dims {
    /// Images, input channels, input height and width.
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    /// Output channels, kernel side, stride, padding, output height and width.
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
    /// The pooling window's side (1 for none), and the pooled height and width.
    pool: usize,
    hp: usize,
    wp: usize,
}

impl Dims {
    /// The sizes of `x` (N, C, H, W) convolved with `w` (O, C, K, K) and bias `b` (O,), checked to fit.
    fn of(x: &Shape, w: &Shape, b: Option<&Shape>, op: &Conv) -> Result<Self> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, wc, k, k2) = w.dims4()?;
        let padded = |side: usize| op.pad.checked_mul(2).and_then(|p| p.checked_add(side));
        let (Some(hp), Some(wp)) = (padded(h), padded(wd)) else {
            candle_core::bail!(
                "conv2d: a padding of {} around a {h}×{wd} input is more than can be counted: use a smaller padding",
                op.pad
            )
        };
        let fits = wc == c
            && k == k2
            && k > 0
            && o > 0
            && c > 0
            && op.stride > 0
            && op.pool > 0
            && hp >= k
            && wp >= k
            && b.is_none_or(|b| b.dims() == [o]);
        if !fits {
            candle_core::bail!(
                "conv2d: input {x:?}, kernels {w:?}, stride {} and padding {} do not fit together: give kernels (O, C, K, K) of the input's C channels, K at most the padded height and width, stride ≥ 1",
                op.stride,
                op.pad
            )
        }
        let (ho, wo) = ((hp - k) / op.stride + 1, (wp - k) / op.stride + 1);
        if ho < op.pool || wo < op.pool {
            candle_core::bail!(
                "conv2d: a {ho}×{wo} output cannot be max-pooled in {0}×{0} windows: use a smaller window",
                op.pool
            )
        }
        if ho.checked_mul(wo).is_none_or(|p| p > u32::MAX as usize) {
            candle_core::bail!(
                "conv2d: a {ho}×{wo} output has more positions than the pooling's u32 indices hold: use smaller images"
            )
        }
        // The buffers the passes allocate and index: a batch's inputs and outputs, one image's
        // unrolled patches (C·K·K rows of Ho·Wo), and the kernels.
        let product = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let sizes = [
            product(&[n, c, h, wd]),
            product(&[n, o, ho, wo]),
            product(&[c, k, k, ho, wo]),
            product(&[o, c, k, k]),
        ];
        if sizes.contains(&None) {
            candle_core::bail!(
                "conv2d: input {x:?} with kernels {w:?} needs buffers larger than can be counted: use smaller images, fewer channels or a smaller batch"
            )
        }
        Ok(Self {
            n,
            c,
            h,
            w: wd,
            o,
            k,
            stride: op.stride,
            pad: op.pad,
            ho,
            wo,
            pool: op.pool,
            hp: ho / op.pool,
            wp: wo / op.pool,
        })
    }

    /// Values in one input image.
    fn image(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Rows of an image's `col`: input channels × kernel offsets.
    fn patch(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output positions of one image (the columns of `col`).
    fn positions(&self) -> usize {
        self.ho * self.wo
    }

    /// Positions of one image after pooling (all of them without).
    fn pooled(&self) -> usize {
        self.hp * self.wp
    }

    /// The output indices `lo..hi` (of `outputs`) whose input index `o·stride + offset − pad`
    /// lies inside `0..inputs`.
    fn inside(&self, outputs: usize, inputs: usize, offset: usize) -> (usize, usize) {
        let lo = self.pad.saturating_sub(offset).div_ceil(self.stride);
        let hi = if inputs + self.pad > offset {
            ((inputs + self.pad - offset - 1) / self.stride + 1).min(outputs)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// Unrolls one image `x` (C, H, W) into `col` (C·K·K, Ho·Wo): row `(c, ki, kj)`, column
/// `(oi, oj)` holds `x[c, oi·s + ki − pad, oj·s + kj − pad]`, or 0 in the padding.
fn im2col<T: Real>(x: &[T], d: &Dims, col: &mut [T]) {
    let p = d.positions();
    for (row_index, row) in col.chunks_exact_mut(p).enumerate() {
        let (c, ki, kj) = (
            row_index / (d.k * d.k),
            row_index / d.k % d.k,
            row_index % d.k,
        );
        let plane = &x[c * d.h * d.w..][..d.h * d.w];
        let (rows_lo, rows_hi) = d.inside(d.ho, d.h, ki);
        let (lo, hi) = d.inside(d.wo, d.w, kj);
        for (oi, out) in row.chunks_exact_mut(d.wo).enumerate() {
            // Wholly in the padding (rows, or every column: a kernel wider than the padded reach).
            if oi < rows_lo || oi >= rows_hi || lo >= hi {
                out.fill(T::zero());
                continue;
            }
            let source = &plane[(oi * d.stride + ki - d.pad) * d.w..][..d.w];
            out[..lo].fill(T::zero());
            out[hi..].fill(T::zero());
            if d.stride == 1 {
                out[lo..hi].copy_from_slice(&source[lo + kj - d.pad..hi + kj - d.pad]);
            } else {
                for (oj, v) in out.iter_mut().enumerate().take(hi).skip(lo) {
                    *v = source[oj * d.stride + kj - d.pad];
                }
            }
        }
    }
}

/// The transpose of [`im2col`]: adds each entry of `col` onto the image value it was read from.
fn col2im<T: Real>(col: &[T], d: &Dims, x: &mut [T]) {
    let p = d.positions();
    for (row_index, row) in col.chunks_exact(p).enumerate() {
        let (c, ki, kj) = (
            row_index / (d.k * d.k),
            row_index / d.k % d.k,
            row_index % d.k,
        );
        let plane = &mut x[c * d.h * d.w..][..d.h * d.w];
        let (rows_lo, rows_hi) = d.inside(d.ho, d.h, ki);
        let (lo, hi) = d.inside(d.wo, d.w, kj);
        if lo >= hi {
            continue;
        }
        for oi in rows_lo..rows_hi {
            let out = &row[oi * d.wo..][..d.wo];
            let target = &mut plane[(oi * d.stride + ki - d.pad) * d.w..][..d.w];
            if d.stride == 1 {
                let target = &mut target[lo + kj - d.pad..hi + kj - d.pad];
                for (t, &v) in target.iter_mut().zip(&out[lo..hi]) {
                    *t += v;
                }
            } else {
                for oj in lo..hi {
                    target[oj * d.stride + kj - d.pad] += out[oj];
                }
            }
        }
    }
}

/// `z (O, positions) = kernels·col + b` for one image.
fn convolve<T: Real>(z: &mut [T], kernels: View<T>, col: View<T>, b: Option<&[T]>) -> Result<()> {
    if let Some(b) = b {
        for (row, &bias) in z.chunks_exact_mut(col.cols).zip(b) {
            row.fill(bias);
        }
    }
    gemm_serial(z, kernels, col, b.is_some())
}

/// The forward pass on slices: `act(w·col + b)` for each image, (N, O, Ho·Wo), max-pooled
/// where asked; with the argmax of each pooled value (empty without pooling).
fn forward<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    d: &Dims,
    act: DenseActivation,
) -> Result<(Vec<T>, Vec<u32>)> {
    let (patch, p, q) = (d.patch(), d.positions(), d.pooled());
    let pooled = d.pool > 1;
    let mut out = vec![T::zero(); d.n * d.o * q];
    let mut argmax = vec![0u32; if pooled { d.n * d.o * q } else { 0 }];
    let per_thread = d.n.div_ceil(threads::current().max(1)).max(1);
    // Each thread's block of outputs, with its block of argmaxes where pooling.
    let mut argmax_rest = &mut argmax[..];
    let mut tasks: Vec<(&mut [T], &mut [u32])> = out
        .chunks_mut(per_thread * d.o * q)
        .map(|block| {
            let len = if pooled { block.len() } else { 0 };
            let (head, tail) = std::mem::take(&mut argmax_rest).split_at_mut(len);
            argmax_rest = tail;
            (block, head)
        })
        .collect();
    let kernels = View::new(w, d.o, patch);
    threads::for_each_chunk_mut(&mut tasks, 1, |i, task| {
        let (block, at) = &mut task[0];
        let mut col = vec![T::zero(); patch * p];
        let mut z = vec![T::zero(); if pooled { d.o * p } else { 0 }];
        for (j, out) in block.chunks_exact_mut(d.o * q).enumerate() {
            let image = i * per_thread + j;
            im2col(&x[image * d.image()..][..d.image()], d, &mut col);
            let col = View::new(&col, patch, p);
            if !pooled {
                convolve(out, kernels, col, b)?;
            } else {
                convolve(&mut z, kernels, col, b)?;
                let at = &mut at[j * d.o * q..][..d.o * q];
                for ((plane, out), at) in z
                    .chunks_exact(p)
                    .zip(out.chunks_exact_mut(q))
                    .zip(at.chunks_exact_mut(q))
                {
                    pool_plane(plane, (d.ho, d.wo), d.pool, out, at);
                }
            }
            // ReLU after the pooling: max and ReLU commute.
            if act == DenseActivation::Relu {
                for v in out.iter_mut() {
                    *v = if *v < T::zero() { T::zero() } else { *v };
                }
            }
        }
        Ok::<(), candle_core::Error>(())
    })?;
    Ok((out, argmax))
}

/// One part of the batch in the backward pass: its images' sums of `∂/∂w` and `∂/∂b`, and
/// their slice of `∂/∂x` when one is wanted.
struct Part<'a, T> {
    dw: Vec<T>,
    db: Vec<T>,
    dx: Option<&'a mut [T]>,
}

/// A convolution's gradients: `∂/∂x` where wanted, `∂/∂w` and `∂/∂b`.
struct Gradients<T> {
    dx: Option<Vec<T>>,
    dw: Vec<T>,
    db: Vec<T>,
}

/// The backward pass on slices.
fn backward<T: Real>(
    [x, w, res, grad]: [&[T]; 4],
    argmax: &[u32],
    d: &Dims,
    act: DenseActivation,
    need_dx: bool,
) -> Result<Gradients<T>> {
    let (patch, p, q, image_len) = (d.patch(), d.positions(), d.pooled(), d.image());
    let pooled = d.pool > 1;
    // The partition depends on the batch alone, not on the threads.
    let per_part = d.n.div_ceil(16).max(1);
    let mut dx = need_dx.then(|| vec![T::zero(); d.n * image_len]);
    let mut parts: Vec<Part<T>> = match dx.as_deref_mut() {
        Some(dx) => dx
            .chunks_mut(per_part * image_len)
            .map(|dx| Part {
                dw: Vec::new(),
                db: Vec::new(),
                dx: Some(dx),
            })
            .collect(),
        None => (0..d.n.div_ceil(per_part))
            .map(|_| Part {
                dw: Vec::new(),
                db: Vec::new(),
                dx: None,
            })
            .collect(),
    };
    let kernels = View::new(w, d.o, patch);
    threads::for_each_chunk_mut(&mut parts, 1, |i, part| {
        let part = &mut part[0];
        part.dw = vec![T::zero(); d.o * patch];
        part.db = vec![T::zero(); d.o];
        let mut col = vec![T::zero(); patch * p];
        let masks = pooled || act == DenseActivation::Relu;
        let mut masked = vec![T::zero(); if masks { d.o * p } else { 0 }];
        let mut dcol = vec![T::zero(); if part.dx.is_some() { patch * p } else { 0 }];
        let first = i * per_part;
        let relu = act == DenseActivation::Relu;
        for image in first..(first + per_part).min(d.n) {
            let g = &grad[image * d.o * q..][..d.o * q];
            let r = &res[image * d.o * q..][..d.o * q];
            let delta: &[T] = if pooled {
                // Each pooled gradient goes to its window's maximum, if that passed the ReLU.
                masked.fill(T::zero());
                let at = &argmax[image * d.o * q..][..d.o * q];
                for (channel, ((g, r), at)) in g
                    .chunks_exact(q)
                    .zip(r.chunks_exact(q))
                    .zip(at.chunks_exact(q))
                    .enumerate()
                {
                    let plane = &mut masked[channel * p..][..p];
                    for ((&g, &r), &at) in g.iter().zip(r).zip(at) {
                        if !relu || r > T::zero() {
                            plane[at as usize] += g;
                        }
                    }
                }
                &masked
            } else if relu {
                for ((m, &r), &g) in masked.iter_mut().zip(r).zip(g) {
                    *m = if r > T::zero() { g } else { T::zero() };
                }
                &masked
            } else {
                g
            };
            for (s, row) in part.db.iter_mut().zip(delta.chunks_exact(p)) {
                *s += row.iter().fold(T::zero(), |a, &v| a + v);
            }
            im2col(&x[image * image_len..][..image_len], d, &mut col);
            let delta = View::new(delta, d.o, p);
            gemm_serial(
                &mut part.dw,
                delta,
                View::new(&col, patch, p).t(),
                image > first,
            )?;
            if let Some(dx) = part.dx.as_deref_mut() {
                gemm_serial(&mut dcol, kernels.t(), delta, false)?;
                col2im(
                    &dcol,
                    d,
                    &mut dx[(image - first) * image_len..][..image_len],
                );
            }
        }
        Ok::<(), candle_core::Error>(())
    })?;
    let mut parts = parts.into_iter();
    let first = parts.next();
    let (mut dw, mut db) = first.map_or_else(
        || (vec![T::zero(); d.o * patch], vec![T::zero(); d.o]),
        |part| (part.dw, part.db),
    );
    for part in parts {
        dw.iter_mut().zip(&part.dw).for_each(|(s, &v)| *s += v);
        db.iter_mut().zip(&part.db).for_each(|(s, &v)| *s += v);
    }
    Ok(Gradients { dx, dw, db })
}

impl Conv {
    /// The same arithmetic in candle's stock ops, where the op does not run fused.
    fn stock(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        let z = x.conv2d(w, self.pad, self.stride, 1, 1)?;
        let z = match b {
            Some(b) => z.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)?,
            None => z,
        };
        let z = match self.act {
            DenseActivation::Identity => z,
            DenseActivation::Relu => z.relu()?,
        };
        if self.pool == 1 {
            return Ok(z);
        }
        super::max_pool(&super::pool::whole_windows(&z, self.pool)?, self.pool)
    }
}

impl LayerOp for Conv {
    const NAME: &'static str = "conv2d";

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let d = Dims::of(x.1.shape(), w.1.shape(), b.map(|b| b.1.shape()), self)?;
        let (storage, argmax) = match x.0 {
            CpuStorage::F64(_) => {
                let (out, argmax) = forward(
                    values(x.0, x.1)?,
                    values(w.0, w.1)?,
                    b.map(|b| values(b.0, b.1)).transpose()?,
                    &d,
                    self.act,
                )?;
                (CpuStorage::F64(out), argmax)
            }
            CpuStorage::F32(_) => {
                let (out, argmax) = forward(
                    values(x.0, x.1)?,
                    values(w.0, w.1)?,
                    b.map(|b| values(b.0, b.1)).transpose()?,
                    &d,
                    self.act,
                )?;
                (CpuStorage::F32(out), argmax)
            }
            _ => candle_core::bail!("conv2d: only f32 and f64 are fused"),
        };
        let _ = self.argmax.set(argmax);
        Ok((storage, Shape::from((d.n, d.o, d.hp, d.wp))))
    }

    /// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)` from the output `res` and its gradient.
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let d = Dims::of(x.shape(), w.shape(), None, self)?;
        let grad = grad.contiguous()?;
        let argmax = match (self.pool, self.argmax.get()) {
            (1, _) => &[][..],
            (_, Some(argmax)) => &argmax[..],
            (_, None) => candle_core::bail!("conv2d backward before its forward"),
        };
        fn on<T: Real>(
            cpu: &[(&CpuStorage, &Layout)],
            argmax: &[u32],
            d: &Dims,
            act: DenseActivation,
            need_dx: bool,
        ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
            let [x, w, res, grad] =
                [cpu[0], cpu[1], cpu[2], cpu[3]].map(|(s, l)| values::<T>(s, l));
            let Gradients { dx, dw, db } =
                backward([x?, w?, res?, grad?], argmax, d, act, need_dx)?;
            Ok((
                dx.map(|dx| Tensor::from_vec(dx, (d.n, d.c, d.h, d.w), &Device::Cpu))
                    .transpose()?,
                Tensor::from_vec(dw, (d.o, d.c, d.k, d.k), &Device::Cpu)?,
                Tensor::from_vec(db, d.o, &Device::Cpu)?,
            ))
        }
        let need_dx = x.track_op();
        on_cpu(&[x, w, res, &grad], "conv2d", |cpu| match x.dtype() {
            DType::F64 => on::<f64>(cpu, argmax, &d, self.act, need_dx),
            _ => on::<f32>(cpu, argmax, &d, self.act, need_dx),
        })
    }
}
