//! Causal multi-head self-attention (nanoGPT's `CausalSelfAttention`): one projection `c_attn`
//! to queries, keys and values, scaled dot-product attention under the causal mask, the heads
//! merged and projected by `c_proj`, then dropout.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Dropout;
use super::gpt_config::GptConfig;
use super::projection::Projection;
use crate::kernels::{attention, Kernels, Precision};

/// `c_proj(attention(c_attn(x)))`: `(b, t, c) -> (b, t, c)`.
#[derive(Debug, Clone)]
pub struct CausalSelfAttention {
    c_attn: Projection,
    c_proj: Projection,
    n_head: usize,
    kernels: Kernels,
    precision: Precision,
}

impl CausalSelfAttention {
    /// The layer of `config`'s shape, its `c_attn` and `c_proj` from `vb`.
    pub fn new(config: &GptConfig, vb: VarBuilder) -> Result<Self> {
        let (c, bias, on) = (
            config.n_embd,
            config.bias,
            (config.kernels, config.precision),
        );
        Ok(Self {
            c_attn: Projection::new(c, 3 * c, bias, on, vb.pp("c_attn"))?,
            c_proj: Projection::new(c, c, bias, on, vb.pp("c_proj"))?,
            n_head: config.n_head,
            kernels: config.kernels,
            precision: config.precision,
        })
    }

    /// `(b, t, c) -> (b, t, c)`; `dropout` applies to the output in training.
    pub fn forward_t(&self, xs: &Tensor, train: bool, dropout: &Dropout) -> Result<Tensor> {
        let qkv = self.c_attn.forward(xs)?;
        let ys = match self.kernels {
            Kernels::Fused => attention::causal_attention_in(&qkv, self.n_head, self.precision)?,
            Kernels::Stock => {
                attention::causal_attention_stock_in(&qkv, self.n_head, self.precision)?
            }
        };
        dropout.apply(&self.c_proj.forward(&ys)?, train)
    }
}
