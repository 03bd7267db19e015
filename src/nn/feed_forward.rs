//! The position-wise MLP of a transformer block (nanoGPT's `MLP`): `c_fc` to four times the
//! features, the exact (erf) GELU, `c_proj` back, then dropout. Named for what it is in the
//! block, apart from the crate's [`Mlp`](super::Mlp) model; its parameters keep nanoGPT's names
//! (`mlp.c_fc`, `mlp.c_proj`).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Dropout;
use super::gpt_config::GptConfig;
use super::projection::Projection;

/// `c_proj(gelu(c_fc(x)))`: `(b, t, c) -> (b, t, c)`.
#[derive(Debug, Clone)]
pub struct FeedForward {
    c_fc: Projection,
    c_proj: Projection,
}

impl FeedForward {
    /// The layer of `config`'s shape, its `c_fc` and `c_proj` from `vb`.
    pub fn new(config: &GptConfig, vb: VarBuilder) -> Result<Self> {
        let (c, bias, kernels) = (
            config.n_embd,
            config.bias,
            (config.kernels, config.precision),
        );
        Ok(Self {
            c_fc: Projection::new(c, 4 * c, bias, kernels, vb.pp("c_fc"))?,
            c_proj: Projection::new(4 * c, c, bias, kernels, vb.pp("c_proj"))?,
        })
    }

    /// `(b, t, c) -> (b, t, c)`; `dropout` applies to the output in training.
    pub fn forward_t(&self, xs: &Tensor, train: bool, dropout: &Dropout) -> Result<Tensor> {
        let hidden = self.c_fc.forward_gelu(xs)?;
        dropout.apply(&self.c_proj.forward(&hidden)?, train)
    }
}
