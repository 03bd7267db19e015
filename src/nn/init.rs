//! Initial parameters: each tensor's values drawn from a random stream of its own.
//!
//! A tensor's stream is [`rng::stream`]`(seed, Init, name_index(name))`, so its values depend
//! on the run's seed and on the tensor's name alone: a network with one more layer keeps the
//! values of the layers it shares with another, and no tensor shares numbers with the split, the
//! batch order or a dropout mask of the same seed.

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;

use crate::rng::{self, Purpose, SplitMix64};

/// The stream of the tensor `name`'s initial values under `seed`.
pub fn stream(seed: u64, name: &str) -> SplitMix64 {
    rng::stream(seed, Purpose::Init, rng::name_index(name))
}

/// `n` values uniform in `[-bound, bound)`, as PyTorch's default `Linear` and `Conv2d` draw
/// theirs (`bound = 1/√fan_in`), from the tensor `name`'s stream.
pub fn uniform(seed: u64, name: &str, n: usize, bound: f64) -> Vec<f64> {
    let mut rng = stream(seed, name);
    (0..n)
        .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
        .collect()
}

/// `n` values of the normal distribution N(0, std²), from the tensor `name`'s stream.
pub fn normal(seed: u64, name: &str, n: usize, std: f64) -> Vec<f64> {
    let mut rng = stream(seed, name);
    (0..n).map(|_| rng.next_normal() * std).collect()
}

/// A `VarMap` of the named tensors, each of its shape and values (drawn in float64), converted to
/// `dtype` and moved to `dev`: the same values on every device and dtype.
pub fn varmap(
    tensors: impl IntoIterator<Item = (String, Vec<usize>, Vec<f64>)>,
    dtype: DType,
    dev: &Device,
) -> Result<VarMap> {
    let varmap = VarMap::new();
    {
        let mut vars = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the VarMap's lock is poisoned".into()))?;
        for (name, shape, values) in tensors {
            let t = Tensor::from_vec(values, shape.as_slice(), &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(dev)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
    }
    Ok(varmap)
}
