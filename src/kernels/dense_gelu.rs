//! A dense layer and the exact GELU after it as one autograd node: the transformer MLP's `c_fc`.
//!
//! As two nodes, the layer's output `z` is written, read by the GELU, and in the backward its
//! gradient is made twice (the GELU's, then candle's zeroed copy it adds into). Here the GELU
//! runs on each block of `z` right after gemm computed it, `z` is kept for the backward, and
//! the backward turns `∂L/∂y` into `∂L/∂z = ∂L/∂y·(Φ(z) + z·φ(z))` in place before the layer's
//! own products `∂/∂w = ∂zᵀ·x`, `∂/∂x = ∂z·w` (only where `x` needs one) and `∂/∂b = Σ ∂z`.
//! Off the CPU it is the dense layer and [`gelu_stock`] after it.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Tensor};

use super::gelu::gelu_stock;
use super::math::{vectorized, Float};
use super::matmul::{gemm_serial, matmul, matmul_by_rows, View};
use super::{dense, is_fusable, on_cpu, threads, values, DenseActivation};

/// `gelu(x·wᵀ + b)` for `x` `(rows, in)`, `w` `(out, in)` and an optional bias `(out,)`.
pub fn dense_gelu(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let mut all = vec![x, w];
    all.extend(b);
    if x.rank() != 2 || !is_fusable(&all) {
        return gelu_stock(&dense(x, w, b, DenseActivation::Identity)?);
    }
    let op = || DenseGelu { z: OnceLock::new() };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op()),
        None => x.apply_op2(&w, op()),
    }
}

struct DenseGelu {
    /// The layer's output before the GELU, left by the forward for the backward.
    z: OnceLock<CpuStorage>,
}

/// Rows handed to one task of the elementwise passes.
const ROWS: usize = 64;

/// `(z, gelu(z))` for `z = x·wᵀ + b`, `rows × out`.
fn forward<T: Float>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    (rows, n_in, n_out): (usize, usize, usize),
) -> Result<(Vec<T>, Vec<T>)> {
    let (xv, wv) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut z = vec![T::zero(); rows * n_out];
    matmul_by_rows(&mut z, xv, wv.t(), |_, block, x_rows| {
        if let Some(b) = b {
            for row in block.chunks_exact_mut(n_out) {
                row.copy_from_slice(b);
            }
        }
        gemm_serial(block, x_rows, wv.t(), b.is_some())
    })?;
    let mut y = vec![T::zero(); rows * n_out];
    let chunk = ROWS * n_out.max(1);
    let _ = threads::for_each_chunk_mut(&mut y, chunk, |i, y| {
        let z = &z[i * chunk..][..y.len()];
        vectorized(
            #[inline(always)]
            || {
                for (y, &z) in y.iter_mut().zip(z) {
                    *y = z * z.normal_cdf_pdf().0;
                }
            },
        );
        Ok::<(), ()>(())
    });
    Ok((z, y))
}

/// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)` from `x`, `w`, the kept `z` and `∂L/∂y`.
fn backward<T: Float>(
    x: &[T],
    w: &[T],
    z: &[T],
    dy: &[T],
    (rows, n_in, n_out): (usize, usize, usize),
    need_dx: bool,
) -> Result<(Option<Vec<T>>, Vec<T>, Vec<T>)> {
    let mut dz = dy.to_vec();
    let chunk = ROWS * n_out.max(1);
    let _ = threads::for_each_chunk_mut(&mut dz, chunk, |i, dz| {
        let z = &z[i * chunk..][..dz.len()];
        vectorized(
            #[inline(always)]
            || {
                for (d, &z) in dz.iter_mut().zip(z) {
                    let (cdf, pdf) = z.normal_cdf_pdf();
                    *d *= cdf + z * pdf;
                }
            },
        );
        Ok::<(), ()>(())
    });
    let d = View::new(&dz, rows, n_out);
    let (xv, wv) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut dw = vec![T::zero(); n_out * n_in];
    let mut dx = need_dx.then(|| vec![T::zero(); rows * n_in]);
    match dx.as_deref_mut() {
        // As the dense layer's backward: with threads to spare, one thread takes each product
        // whole, so that neither packs an operand twice.
        Some(dx) if threads::current() > 1 && rows * n_in * n_out >= 1 << 18 => {
            let mut products = [&mut dw[..], dx];
            threads::for_each_chunk_mut(&mut products, 1, |i, product| match i {
                0 => gemm_serial(&mut product[0][..], d.t(), xv, false),
                _ => gemm_serial(&mut product[0][..], d, wv, false),
            })?;
        }
        dx => {
            matmul(&mut dw, d.t(), xv, false)?;
            if let Some(dx) = dx {
                matmul(dx, d, wv, false)?;
            }
        }
    }
    let mut db = vec![T::zero(); n_out];
    for row in dz.chunks_exact(n_out.max(1)) {
        for (s, &v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
    Ok((dx, dw, db))
}

impl DenseGelu {
    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, n_in) = x.1.shape().dims2()?;
        let (n_out, w_in) = w.1.shape().dims2()?;
        if n_in != w_in || b.is_some_and(|b| b.1.shape().dims() != [n_out]) {
            candle_core::bail!(
                "dense-gelu: x {:?}, w {:?} and the bias do not fit together",
                x.1.shape(),
                w.1.shape()
            )
        }
        let sizes = (rows, n_in, n_out);
        let (z, y) = match x.0 {
            CpuStorage::F64(_) => {
                let b = b.map(|b| values(b.0, b.1)).transpose()?;
                let (z, y) = forward::<f64>(values(x.0, x.1)?, values(w.0, w.1)?, b, sizes)?;
                (CpuStorage::F64(z), CpuStorage::F64(y))
            }
            CpuStorage::F32(_) => {
                let b = b.map(|b| values(b.0, b.1)).transpose()?;
                let (z, y) = forward::<f32>(values(x.0, x.1)?, values(w.0, w.1)?, b, sizes)?;
                (CpuStorage::F32(z), CpuStorage::F32(y))
            }
            _ => candle_core::bail!("dense-gelu: only f32 and f64 are fused"),
        };
        if self.z.set(z).is_err() {
            candle_core::bail!("dense-gelu: one op ran its forward twice")
        }
        Ok((y, Shape::from((rows, n_out))))
    }

    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let Some(z) = self.z.get() else {
            candle_core::bail!("dense-gelu backward before its forward")
        };
        let grad = grad.contiguous()?;
        let (rows, n_in) = x.dims2()?;
        let n_out = w.dim(0)?;
        let sizes = (rows, n_in, n_out);
        let need_dx = x.track_op();
        on_cpu(&[x, w, &grad], "dense-gelu", |cpu| {
            fn run<T: Float>(
                cpu: &[(&CpuStorage, &Layout)],
                z: &CpuStorage,
                sizes: (usize, usize, usize),
                need_dx: bool,
            ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
                let [x, w, dy] = [cpu[0], cpu[1], cpu[2]].map(|(s, l)| values::<T>(s, l));
                let (rows, n_in, n_out) = sizes;
                let (dx, dw, db) = backward(x?, w?, z.as_slice()?, dy?, sizes, need_dx)?;
                let dev = &Device::Cpu;
                Ok((
                    dx.map(|dx| Tensor::from_vec(dx, (rows, n_in), dev))
                        .transpose()?,
                    Tensor::from_vec(dw, (n_out, n_in), dev)?,
                    Tensor::from_vec(db, n_out, dev)?,
                ))
            }
            match x.dtype() {
                DType::F64 => run::<f64>(cpu, z, sizes, need_dx),
                _ => run::<f32>(cpu, z, sizes, need_dx),
            }
        })
    }
}

impl CustomOp2 for DenseGelu {
    fn name(&self) -> &'static str {
        "dense-gelu"
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
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.backward(x, w, grad)?;
        Ok((dx, Some(dw)))
    }
}

impl CustomOp3 for DenseGelu {
    fn name(&self) -> &'static str {
        "dense-gelu"
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
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = self.backward(x, w, grad)?;
        Ok((dx, Some(dw), Some(db)))
    }
}
