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

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Storage, Tensor,
};

use super::matmul::{gemm_serial, View};
use super::{is_fusable, threads, values, DenseActivation, Real};

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
    let op = Conv { stride, pad, act };
    let fusable = x.rank() == 4 && is_fusable(&[x, w]) && b.is_none_or(|b| is_fusable(&[w, b]));
    if !fusable {
        return op.stock(x, w, b);
    }
    match b {
        Some(b) => x
            .contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, op),
        None => x.contiguous()?.apply_op2(&w.contiguous()?, op),
    }
}

#[derive(Debug, Clone, Copy)]
struct Conv {
    stride: usize,
    pad: usize,
    act: DenseActivation,
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
}

impl Dims {
    /// The sizes of `x` (N, C, H, W) convolved with `w` (O, C, K, K) and bias `b` (O,), checked to fit.
    fn of(x: &Shape, w: &Shape, b: Option<&Shape>, op: &Conv) -> Result<Self> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, wc, k, k2) = w.dims4()?;
        let fits = wc == c
            && k == k2
            && k > 0
            && op.stride > 0
            && h + 2 * op.pad >= k
            && wd + 2 * op.pad >= k
            && b.is_none_or(|b| b.dims() == [o]);
        if !fits {
            candle_core::bail!(
                "conv2d: input {x:?}, kernels {w:?}, stride {} and padding {} do not fit together",
                op.stride,
                op.pad
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
            ho: (h + 2 * op.pad - k) / op.stride + 1,
            wo: (wd + 2 * op.pad - k) / op.stride + 1,
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
            if oi < rows_lo || oi >= rows_hi {
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

/// The forward pass on slices: `act(w·col + b)` for each image, (N, O, Ho·Wo).
fn forward<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    d: &Dims,
    act: DenseActivation,
) -> Result<Vec<T>> {
    let (patch, p) = (d.patch(), d.positions());
    let mut out = vec![T::zero(); d.n * d.o * p];
    let per_thread = d.n.div_ceil(threads::current().max(1)).max(1);
    let kernels = View::new(w, d.o, patch);
    threads::for_each_chunk_mut(&mut out, per_thread * d.o * p, |i, block| {
        let mut col = vec![T::zero(); patch * p];
        for (j, out) in block.chunks_exact_mut(d.o * p).enumerate() {
            let image = i * per_thread + j;
            im2col(&x[image * d.image()..][..d.image()], d, &mut col);
            if let Some(b) = b {
                for (row, &bias) in out.chunks_exact_mut(p).zip(b) {
                    row.fill(bias);
                }
            }
            gemm_serial(out, kernels, View::new(&col, patch, p), b.is_some())?;
            if act == DenseActivation::Relu {
                for v in out.iter_mut() {
                    *v = if *v < T::zero() { T::zero() } else { *v };
                }
            }
        }
        Ok::<(), candle_core::Error>(())
    })?;
    Ok(out)
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
    d: &Dims,
    act: DenseActivation,
    need_dx: bool,
) -> Result<Gradients<T>> {
    let (patch, p, image_len) = (d.patch(), d.positions(), d.image());
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
        let mut masked = vec![
            T::zero();
            if act == DenseActivation::Relu {
                d.o * p
            } else {
                0
            }
        ];
        let mut dcol = vec![T::zero(); if part.dx.is_some() { patch * p } else { 0 }];
        let first = i * per_part;
        for image in first..(first + per_part).min(d.n) {
            let g = &grad[image * d.o * p..][..d.o * p];
            let delta: &[T] = match act {
                DenseActivation::Identity => g,
                DenseActivation::Relu => {
                    let r = &res[image * d.o * p..][..d.o * p];
                    for ((m, &r), &g) in masked.iter_mut().zip(r).zip(g) {
                        *m = if r > T::zero() { g } else { T::zero() };
                    }
                    &masked
                }
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
        match self.act {
            DenseActivation::Identity => Ok(z),
            DenseActivation::Relu => z.relu(),
        }
    }

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let d = Dims::of(x.1.shape(), w.1.shape(), b.map(|b| b.1.shape()), self)?;
        let storage = match x.0 {
            CpuStorage::F64(_) => CpuStorage::F64(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                &d,
                self.act,
            )?),
            CpuStorage::F32(_) => CpuStorage::F32(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                &d,
                self.act,
            )?),
            _ => candle_core::bail!("conv2d: only f32 and f64 are fused"),
        };
        Ok((storage, Shape::from((d.n, d.o, d.ho, d.wo))))
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
        let guards = [x, w, res, &grad].map(|t| t.storage_and_layout());
        let mut cpu = Vec::with_capacity(4);
        for (storage, layout) in &guards {
            let Storage::Cpu(s) = &**storage else {
                candle_core::bail!("conv2d backward: tensors left the CPU")
            };
            cpu.push((s, *layout));
        }
        fn on<T: Real>(
            cpu: &[(&CpuStorage, &Layout)],
            d: &Dims,
            act: DenseActivation,
            need_dx: bool,
        ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
            let [x, w, res, grad] =
                [cpu[0], cpu[1], cpu[2], cpu[3]].map(|(s, l)| values::<T>(s, l));
            let Gradients { dx, dw, db } = backward([x?, w?, res?, grad?], d, act, need_dx)?;
            Ok((
                dx.map(|dx| Tensor::from_vec(dx, (d.n, d.c, d.h, d.w), &Device::Cpu))
                    .transpose()?,
                Tensor::from_vec(dw, (d.o, d.c, d.k, d.k), &Device::Cpu)?,
                Tensor::from_vec(db, d.o, &Device::Cpu)?,
            ))
        }
        let need_dx = x.track_op();
        match x.dtype() {
            DType::F64 => on::<f64>(&cpu, &d, self.act, need_dx),
            _ => on::<f32>(&cpu, &d, self.act, need_dx),
        }
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu_forward((x, xl), (w, wl), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.backward(x, w, res, grad)?;
        Ok((dx, Some(dw)))
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu_forward((x, xl), (w, wl), Some((b, bl)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = self.backward(x, w, res, grad)?;
        Ok((dx, Some(dw), Some(db)))
    }
}
