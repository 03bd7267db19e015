//! A linear map of the last dimension of a tensor of any rank, `x·wᵀ + b`, and optionally the
//! exact GELU after it, as one autograd node: the transformer's projections (`c_attn`, `c_proj`,
//! the output layer) and the MLP's `c_fc` with its GELU.
//!
//! [`dense`](fn@super::dense) takes rows `(n, in)`; a transformer's activations are `(b, t, c)`,
//! and a reshape on each side of every projection is two more graph nodes, each of whose
//! backward zero-fills and adds a gradient of the activation's size. Here the leading
//! dimensions are the rows. With the GELU, it runs on each block of `z = x·wᵀ + b` right after
//! gemm computed it; `z` is kept for the backward, which turns `∂L/∂y` into
//! `∂L/∂z = ∂L/∂y·(Φ(z) + z·φ(z))` (as two nodes, `z` was written, read, and its gradient made
//! twice). Then the layer's own products: `∂/∂w = ∂zᵀ·x`, `∂/∂x = ∂z·w` (only where `x` needs
//! one), `∂/∂b = Σ ∂z`. Off the CPU it is [`dense`](fn@super::dense) between reshapes, and
//! [`gelu_stock`] after it.
//!
//! With [`Precision::Bf16`] all three products read bf16 roundings of their operands (`x`, `w`
//! and `∂z`) and sum in f32 ([`Precision::Bf16`]); the bias, the GELU and the gradients stay
//! f32.

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Shape, Tensor};

use super::gelu::gelu_stock;
use super::layer_op::{self, LayerOp};
use super::math::{vectorized, Float};
use super::matmul::{gemm_serial, matmul_by_rows, View};
use super::operand::{matmul_right, Right};
use super::{dense, is_fusable, on_cpu, threads, values, DenseActivation, Precision};

/// `x·wᵀ + b` over the last dimension, then the exact GELU where `gelu`: `(…, in) -> (…, out)`
/// for `w` `(out, in)` and an optional bias `(out,)`; its products in `precision` (bf16 takes
/// f32 operands).
pub fn linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    gelu: bool,
    precision: Precision,
) -> Result<Tensor> {
    let (n_out, n_in) = w.dims2()?;
    if precision == Precision::Bf16 && (x.dtype() != DType::F32 || w.dtype() != DType::F32) {
        fail!(
            "linear: bf16 products round f32 operands, and these are {} and {}: give the model f32 weights",
            x.dtype().as_str(),
            w.dtype().as_str()
        )
    }
    let mut dims = x.dims().to_vec();
    if dims.last() != Some(&n_in) || b.is_some_and(|b| b.dims() != [n_out]) {
        fail!(
            "linear: input {dims:?}, weight {:?} and bias {:?} do not fit together",
            w.dims(),
            b.map(Tensor::dims)
        )
    }
    let mut all = vec![x, w];
    all.extend(b);
    if !is_fusable(&all) {
        let rows = dims[..dims.len() - 1].iter().product::<usize>();
        let x = x.reshape((rows, n_in))?;
        let z = match (precision, b) {
            (Precision::Full, _) => dense(&x, w, b, DenseActivation::Identity)?,
            (Precision::Bf16, None) => stock_product(&x, w, precision)?,
            (Precision::Bf16, Some(b)) => stock_product(&x, w, precision)?.broadcast_add(b)?,
        };
        *dims.last_mut().unwrap_or(&mut 0) = n_out;
        let z = z.reshape(dims)?;
        return if gelu { gelu_stock(&z) } else { Ok(z) };
    }
    let op = || Linear {
        gelu,
        precision,
        z: OnceLock::new(),
    };
    layer_op::apply(x, w, b, op())
}

/// `x·wᵀ` for `x` of rank 2 by candle's stock ops, in `precision`. In bf16 the same numbers as
/// the fused layer's products: the product of the roundings of `x` and `w`, summed in f32,
/// whose backward multiplies the rounding of `∂(x·wᵀ)` and hands the products on whole.
pub fn stock_product(x: &Tensor, w: &Tensor, precision: Precision) -> Result<Tensor> {
    match precision {
        Precision::Full => x.matmul(&w.t()?),
        Precision::Bf16 => {
            let z = bf16_forward(x)?.matmul(&bf16_forward(w)?.t()?)?;
            bf16_backward(&z)
        }
    }
}

/// `t` rounded to bf16 (in f32) in the forward pass; its gradient passes back whole.
pub(crate) fn bf16_forward(t: &Tensor) -> Result<Tensor> {
    // t + (r − t) is r exactly: r − t is exact, r and t being so close.
    t + (round_trip(t)? - t)?.detach()
}

/// `t` itself in the forward pass; its gradient rounded to bf16 in the backward.
pub(crate) fn bf16_backward(t: &Tensor) -> Result<Tensor> {
    // r − (r − t) is t exactly; only r is differentiated, and a cast's backward casts the
    // gradient back: to bf16, then to f32.
    let r = round_trip(t)?;
    &r - (&r - t)?.detach()
}

/// `t`'s bf16 roundings, as f32, by candle's casts (to nearest, ties to even).
fn round_trip(t: &Tensor) -> Result<Tensor> {
    t.to_dtype(DType::BF16)?.to_dtype(DType::F32)
}

struct Linear {
    gelu: bool,
    precision: Precision,
    /// With the GELU: the output before it, left by the forward for the backward.
    z: OnceLock<CpuStorage>,
}

/// Rows handed to one task of the elementwise passes.
const ROWS: usize = 64;

/// `f(chunk of out, matching chunk of z)` over blocks of rows of `out_n` values, on the kernels' threads.
fn rows_zip<T: Float>(out: &mut [T], z: &[T], n: usize, f: impl Fn(&mut [T], &[T]) + Sync) {
    let chunk = ROWS * n.max(1);
    let _ = threads::for_each_chunk_mut(out, chunk, |i, out| {
        f(out, &z[i * chunk..][..out.len()]);
        Ok::<(), ()>(())
    });
}

/// `z = x·wᵀ + b` (`rows × out`), and with `gelu`, `gelu(z)` beside it.
fn forward<T: Float>(
    precision: Precision,
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    (rows, n_in, n_out): (usize, usize, usize),
    gelu: bool,
) -> Result<(Vec<T>, Option<Vec<T>>)> {
    let (xv, wv) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut z = vec![T::zero(); rows * n_out];
    let wt = Right::new(wv.t(), precision)?;
    matmul_by_rows(&mut z, xv, wv.t(), |_, block, x_rows| {
        if let Some(b) = b {
            for row in block.chunks_exact_mut(n_out) {
                row.copy_from_slice(b);
            }
        }
        wt.product(block, x_rows, b.is_some())
    })?;
    if !gelu {
        return Ok((z, None));
    }
    let mut y = vec![T::zero(); rows * n_out];
    rows_zip(&mut y, &z, n_out, |y, z| {
        vectorized(
            #[inline(always)]
            || {
                for (y, &z) in y.iter_mut().zip(z) {
                    *y = z * z.normal_cdf_pdf().0;
                }
            },
        )
    });
    Ok((z, Some(y)))
}

/// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)`.
type Gradients<T> = (Option<Vec<T>>, Vec<T>, Vec<T>);

/// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)` from `x`, `w`, `∂L/∂y` and, with the GELU, the kept `z`.
fn backward<T: Float>(
    precision: Precision,
    x: &[T],
    w: &[T],
    z: Option<&[T]>,
    dy: &[T],
    (rows, n_in, n_out): (usize, usize, usize),
    need_dx: bool,
) -> Result<Gradients<T>> {
    let through_gelu;
    let dz: &[T] = match z {
        None => dy,
        Some(z) => {
            let mut dz = dy.to_vec();
            rows_zip(&mut dz, z, n_out, |dz, z| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (d, &z) in dz.iter_mut().zip(z) {
                            let (cdf, pdf) = z.normal_cdf_pdf();
                            *d *= cdf + z * pdf;
                        }
                    },
                )
            });
            through_gelu = dz;
            &through_gelu
        }
    };
    let d = View::new(dz, rows, n_out);
    let (xv, wv) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut dw = vec![T::zero(); n_out * n_in];
    let mut dx = need_dx.then(|| vec![T::zero(); rows * n_in]);
    match (dx.as_deref_mut(), precision) {
        // As the dense layer's backward: with threads to spare, one thread takes each product
        // whole, so that gemm packs neither operand twice.
        (Some(dx), Precision::Full) if threads::current() > 1 && rows * n_in * n_out >= 1 << 18 => {
            let mut products = [&mut dw[..], dx];
            threads::for_each_chunk_mut(&mut products, 1, |i, out| match i {
                0 => gemm_serial(&mut out[0][..], d.t(), xv, false),
                _ => gemm_serial(&mut out[0][..], d, wv, false),
            })?;
        }
        // Otherwise one product after the other, each over the threads (a bf16 right operand
        // is packed once, before the split).
        (dx, _) => {
            matmul_right(&mut dw, d.t(), &Right::new(xv, precision)?, false)?;
            if let Some(dx) = dx {
                matmul_right(dx, d, &Right::new(wv, precision)?, false)?;
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

/// `(rows, in, out)`: the rows are every dimension of `x` but the last.
fn sizes(x: &Shape, w: &Shape) -> Result<(usize, usize, usize)> {
    let (n_out, n_in) = w.dims2()?;
    let dims = x.dims();
    let rows = dims[..dims.len().saturating_sub(1)].iter().product();
    Ok((rows, n_in, n_out))
}

impl LayerOp for Linear {
    const NAME: &'static str = "linear";

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let sizes = sizes(x.1.shape(), w.1.shape())?;
        let run = |gelu| -> Result<(CpuStorage, Option<CpuStorage>)> {
            Ok(match x.0 {
                CpuStorage::F64(_) => {
                    let b = b.map(|b| values(b.0, b.1)).transpose()?;
                    let (x, w) = (values(x.0, x.1)?, values(w.0, w.1)?);
                    let (z, y) = forward::<f64>(self.precision, x, w, b, sizes, gelu)?;
                    (CpuStorage::F64(z), y.map(CpuStorage::F64))
                }
                CpuStorage::F32(_) => {
                    let b = b.map(|b| values(b.0, b.1)).transpose()?;
                    let (x, w) = (values(x.0, x.1)?, values(w.0, w.1)?);
                    let (z, y) = forward::<f32>(self.precision, x, w, b, sizes, gelu)?;
                    (CpuStorage::F32(z), y.map(CpuStorage::F32))
                }
                _ => candle_core::bail!("linear: only f32 and f64 are fused"),
            })
        };
        let out = match run(self.gelu)? {
            (z, None) => z,
            (z, Some(y)) => {
                if self.z.set(z).is_err() {
                    candle_core::bail!("linear: one op ran its forward twice")
                }
                y
            }
        };
        let mut dims = x.1.shape().dims().to_vec();
        *dims.last_mut().unwrap_or(&mut 0) = sizes.2;
        Ok((out, Shape::from(dims)))
    }

    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let z = match (self.gelu, self.z.get()) {
            (true, None) => candle_core::bail!("linear backward before its forward"),
            (_, z) => z,
        };
        let grad = grad.contiguous()?;
        let sizes = sizes(x.shape(), w.shape())?;
        let need_dx = x.track_op();
        on_cpu(&[x, w, &grad], "linear", |cpu| {
            fn run<T: Float>(
                precision: Precision,
                cpu: &[(&CpuStorage, &Layout)],
                z: Option<&CpuStorage>,
                sizes: (usize, usize, usize),
                need_dx: bool,
                x_shape: &Shape,
            ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
                let [x, w, dy] = [cpu[0], cpu[1], cpu[2]].map(|(s, l)| values::<T>(s, l));
                let (_, n_in, n_out) = sizes;
                let z = z.map(|z| z.as_slice::<T>()).transpose()?;
                let (dx, dw, db) = backward(precision, x?, w?, z, dy?, sizes, need_dx)?;
                let dev = &Device::Cpu;
                Ok((
                    dx.map(|dx| Tensor::from_vec(dx, x_shape, dev))
                        .transpose()?,
                    Tensor::from_vec(dw, (n_out, n_in), dev)?,
                    Tensor::from_vec(db, n_out, dev)?,
                ))
            }
            match x.dtype() {
                DType::F64 => run::<f64>(self.precision, cpu, z, sizes, need_dx, x.shape()),
                _ => run::<f32>(self.precision, cpu, z, sizes, need_dx, x.shape()),
            }
        })
    }
}
