//! SGD that updates each weight in place: the same steps as candle-nn's `SGD`, allocating nothing.

use candle_core::{CpuStorage, Layout, Result, Tensor, Var};
use candle_nn::Optimizer;

use super::{is_fusable, threads, values, Real};

/// SGD whose step updates each variable in place: `w −= lr·∂loss/∂w`, allocating nothing on the CPU.
///
/// Takes the same steps as candle-nn's `SGD`, bit for bit.
#[derive(Debug)]
pub struct FusedSgd {
    vars: Vec<Var>,
    learning_rate: f64,
}

impl Optimizer for FusedSgd {
    type Config = f64;

    fn new(vars: Vec<Var>, learning_rate: f64) -> Result<Self> {
        let vars = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        Ok(Self {
            vars,
            learning_rate,
        })
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<()> {
        for var in &self.vars {
            if let Some(grad) = grads.get(var) {
                update(var, grad, self.learning_rate)?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = lr
    }
}

/// `var −= lr·grad`, in place where the kernels run.
pub(crate) fn update(var: &Var, grad: &Tensor, lr: f64) -> Result<()> {
    if is_fusable(&[var.as_tensor(), grad]) && var.is_contiguous() && var.dtype() == grad.dtype() {
        var.as_tensor()
            .inplace_op2(&grad.contiguous()?, &ScaledSub(lr))
    } else {
        var.set(&var.sub(&(grad * lr)?)?)
    }
}

/// `dst −= lr·src`, the in-place SGD update.
struct ScaledSub(f64);

impl candle_core::InplaceOp2 for ScaledSub {
    fn name(&self) -> &'static str {
        "scaled-sub"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_layout: &Layout,
        src: &CpuStorage,
        src_layout: &Layout,
    ) -> Result<()> {
        fn update<T: Real>(dst: &mut [T], src: &[T], lr: T) {
            // Large weights are split across threads; the tutorial's stay on one.
            const CHUNK: usize = 1 << 15;
            let Ok(()) = threads::for_each_chunk_mut(dst, CHUNK, |i, dst| {
                for (d, &s) in dst.iter_mut().zip(&src[i * CHUNK..]) {
                    *d -= s * lr;
                }
                Ok::<(), std::convert::Infallible>(())
            });
        }
        let Some((start, end)) = dst_layout.contiguous_offsets() else {
            candle_core::bail!("scaled-sub needs a contiguous destination")
        };
        match (dst, src) {
            (CpuStorage::F64(dst), CpuStorage::F64(_)) => {
                update(&mut dst[start..end], values(src, src_layout)?, self.0)
            }
            (CpuStorage::F32(dst), CpuStorage::F32(_)) => update(
                &mut dst[start..end],
                values(src, src_layout)?,
                self.0 as f32,
            ),
            _ => candle_core::bail!("scaled-sub needs two tensors of one float dtype"),
        }
        Ok(())
    }
}
