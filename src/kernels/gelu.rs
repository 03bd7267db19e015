//! The exact (erf) GELU, `x·Φ(x)`, as one autograd node with its backward.
//!
//! candle's `gelu_erf` computes the right values, but its backward writes 1/√(2π) as `0.398942`:
//! every gradient through it is off by up to 7e-7 of itself, far above f64's precision (and what
//! the proofs hold the model to). [`gelu_stock`] builds the GELU from `erf`, whose backward is
//! exact, and [`gelu`] is one node whose backward is `∂L/∂y·(Φ(x) + x·φ(x))`, the normal's
//! distribution function and density computed from one exponential (see the private `math` module).

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

use super::math::{vectorized, Float};
use super::{is_fusable, on_cpu, threads, values};

/// `x·Φ(x)`, Φ the standard normal distribution function (PyTorch's `F.gelu`), elementwise.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    if !is_fusable(&[xs]) {
        return gelu_stock(xs);
    }
    xs.contiguous()?.apply_op1(Gelu)
}

/// The same GELU in candle's stock ops: `(x·½)·(erf(x·(1/√2)) + 1)`.
pub fn gelu_stock(xs: &Tensor) -> Result<Tensor> {
    (xs * 0.5)? * ((xs * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?
}

struct Gelu;

/// Values handed to one task.
const TASK: usize = 1 << 14;

/// `out = x·Φ(x)`, or with `dy`, `out = dy·(Φ(x) + x·φ(x))`.
fn map<T: Float>(x: &[T], dy: Option<&[T]>) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    let _ = threads::for_each_chunk_mut(&mut out, TASK, |i, out| {
        let x = &x[i * TASK..][..out.len()];
        vectorized(
            #[inline(always)]
            || match dy {
                None => {
                    for (o, &x) in out.iter_mut().zip(x) {
                        *o = x * x.normal_cdf_pdf().0;
                    }
                }
                Some(dy) => {
                    for ((o, &x), &dy) in out.iter_mut().zip(x).zip(&dy[i * TASK..]) {
                        let (cdf, pdf) = x.normal_cdf_pdf();
                        *o = dy * (cdf + x * pdf);
                    }
                }
            },
        );
        Ok::<(), ()>(())
    });
    out
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F64(_) => CpuStorage::F64(map::<f64>(values(storage, layout)?, None)),
            CpuStorage::F32(_) => CpuStorage::F32(map::<f32>(values(storage, layout)?, None)),
            _ => candle_core::bail!("gelu: only f32 and f64 are fused"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = on_cpu(&[x, &grad], "gelu", |cpu| {
            let [(xs, xl), (gs, gl)] = [cpu[0], cpu[1]];
            match x.dtype() {
                DType::F64 => Tensor::from_vec(
                    map::<f64>(values(xs, xl)?, Some(values(gs, gl)?)),
                    x.shape(),
                    &Device::Cpu,
                ),
                _ => Tensor::from_vec(
                    map::<f32>(values(xs, xl)?, Some(values(gs, gl)?)),
                    x.shape(),
                    &Device::Cpu,
                ),
            }
        })?;
        Ok(Some(dx))
    }
}
