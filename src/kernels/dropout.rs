//! Dropout as one node that keeps its mask for the backward.
//!
//! With stock ops dropout is a mask tensor (drawn, then converted to the data's dtype and
//! device) and a product, whose backward also computes the gradient of the mask. Here the
//! forward draws the mask in parallel parts of the same random stream, applies it and keeps
//! it as one byte per value; the backward multiplies the gradient by the same mask. Both give
//! the same numbers: value `i` is kept when the `i`-th draw of `SplitMix64(seed)` is at least
//! `p`, and a kept value is scaled by `1/(1 − p)` rounded to f32.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor};

use super::{is_fusable, on_cpu, threads, values, Real};
use crate::rng::SplitMix64;

/// `xs` with each value zeroed with probability `p` and the rest scaled by 1/(1−p), the mask
/// drawn from `seed`.
pub fn dropout(xs: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        fail!("dropout: the probability {p} lies outside [0, 1)")
    }
    let scale = (1.0 / (1.0 - p)) as f32;
    if is_fusable(&[xs]) {
        return xs.contiguous()?.apply_op1(Dropout {
            p,
            seed,
            scale,
            kept: OnceLock::new(),
        });
    }
    stock(xs, p, seed)
}

/// The same dropout in stock ops: the mask as a tensor of the data's dtype and device, and a
/// product (what `--kernels stock` runs, and the fused op's fallback).
pub fn stock(xs: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    let scale = (1.0 / (1.0 - p)) as f32;
    let mut kept = vec![0u8; xs.elem_count()];
    draw(&mut kept, p, seed);
    let mask: Vec<f32> = kept.iter().map(|&k| f32::from(k) * scale).collect();
    let mask = Tensor::from_vec(mask, xs.shape(), &Device::Cpu)?
        .to_dtype(xs.dtype())?
        .to_device(xs.device())?;
    xs * mask
}

/// Values handed to one thread at a time.
const TASK: usize = 1 << 15;

/// Fills `kept` with 1 where the value stays, 0 where it is dropped, over the kernels' threads.
fn draw(kept: &mut [u8], p: f64, seed: u64) {
    let _ = threads::for_each_chunk_mut(kept, TASK, |i, kept| {
        let mut rng = SplitMix64::new(seed);
        rng.skip((i * TASK) as u64);
        for k in kept {
            *k = u8::from(rng.next_f64() >= p);
        }
        Ok::<(), ()>(())
    });
}

/// `out[i] = x[i] · (kept[i] ? scale : 0)`, over the kernels' threads.
fn apply<T: Real>(x: &[T], kept: &[u8], scale: f32) -> Vec<T> {
    let scale = T::from_f64(f64::from(scale));
    let mut out = vec![T::zero(); x.len()];
    let _ = threads::for_each_chunk_mut(&mut out, TASK, |i, out| {
        let start = i * TASK;
        for ((o, &x), &k) in out.iter_mut().zip(&x[start..]).zip(&kept[start..]) {
            *o = x * if k == 1 { scale } else { T::zero() };
        }
        Ok::<(), ()>(())
    });
    out
}

struct Dropout {
    p: f64,
    seed: u64,
    scale: f32,
    /// The mask, left by the forward for the backward.
    kept: OnceLock<Vec<u8>>,
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let kept = self.kept.get_or_init(|| {
            let mut kept = vec![0u8; layout.shape().elem_count()];
            draw(&mut kept, self.p, self.seed);
            kept
        });
        let out = match storage {
            CpuStorage::F64(_) => {
                CpuStorage::F64(apply::<f64>(values(storage, layout)?, kept, self.scale))
            }
            CpuStorage::F32(_) => {
                CpuStorage::F32(apply::<f32>(values(storage, layout)?, kept, self.scale))
            }
            _ => candle_core::bail!("dropout runs fused on f32 or f64"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let Some(kept) = self.kept.get() else {
            candle_core::bail!("dropout backward before its forward")
        };
        let grad = grad.contiguous()?;
        let dx = on_cpu(&[&grad], "dropout", |cpu| {
            let (g, layout) = cpu[0];
            match g {
                CpuStorage::F64(_) => Tensor::from_vec(
                    apply::<f64>(values(g, layout)?, kept, self.scale),
                    grad.shape(),
                    &Device::Cpu,
                ),
                _ => Tensor::from_vec(
                    apply::<f32>(values(g, layout)?, kept, self.scale),
                    grad.shape(),
                    &Device::Cpu,
                ),
            }
        })?;
        Ok(Some(dx))
    }
}
