//! A pre-norm transformer block (nanoGPT's `Block`): `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::CausalSelfAttention;
use super::dropout::Dropout;
use super::feed_forward::FeedForward;
use super::gpt_config::GptConfig;
use super::layer_norm::LayerNorm;

/// One block: `(b, t, c) -> (b, t, c)`.
#[derive(Debug, Clone)]
pub struct Block {
    ln_1: LayerNorm,
    attn: CausalSelfAttention,
    ln_2: LayerNorm,
    mlp: FeedForward,
}

impl Block {
    /// The block of `config`'s shape, its layers from `vb` (`ln_1`, `attn`, `ln_2`, `mlp`).
    pub fn new(config: &GptConfig, vb: VarBuilder) -> Result<Self> {
        let (c, bias, kernels) = (config.n_embd, config.bias, config.kernels);
        Ok(Self {
            ln_1: LayerNorm::new(c, bias, kernels, vb.pp("ln_1"))?,
            attn: CausalSelfAttention::new(config, vb.pp("attn"))?,
            ln_2: LayerNorm::new(c, bias, kernels, vb.pp("ln_2"))?,
            mlp: FeedForward::new(config, vb.pp("mlp"))?,
        })
    }

    /// `(b, t, c) -> (b, t, c)`; `dropout` applies inside the attention and the MLP in training.
    pub fn forward_t(&self, xs: &Tensor, train: bool, dropout: &Dropout) -> Result<Tensor> {
        let xs = (xs
            + self
                .attn
                .forward_t(&self.ln_1.forward(xs)?, train, dropout)?)?;
        &xs + self
            .mlp
            .forward_t(&self.ln_2.forward(&xs)?, train, dropout)?
    }
}
