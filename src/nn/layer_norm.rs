//! Layer normalisation over the last dimension with a learned scale and optional shift
//! (PyTorch's `nn.LayerNorm(c, bias=…)`, ε 1e-5), on the model's kernels.
//!
//! Not candle-nn's `LayerNorm`, which records no backward in candle 0.11 (see
//! [`kernels::layer_norm`](mod@crate::kernels::layer_norm)): both paths here have one.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::kernels::{self, Kernels};

/// PyTorch's default ε.
pub const EPS: f64 = 1e-5;

/// `(x − mean)/√(var + ε)·weight + bias` over the last dimension: `(…, c) -> (…, c)`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    kernels: Kernels,
}

impl LayerNorm {
    /// The norm whose `weight` `(c,)` (and `bias` when asked for) are `vb`'s.
    pub fn new(c: usize, bias: bool, kernels: Kernels, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get(c, "weight")?;
        let bias = bias.then(|| vb.get(c, "bias")).transpose()?;
        Ok(Self {
            weight,
            bias,
            kernels,
        })
    }

    /// `(…, c) -> (…, c)`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let f = match self.kernels {
            Kernels::Fused => kernels::layer_norm::layer_norm,
            Kernels::Stock => kernels::layer_norm::layer_norm_stock,
        };
        f(xs, &self.weight, self.bias.as_ref(), EPS)
    }
}
