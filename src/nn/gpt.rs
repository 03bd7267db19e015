//! A GPT (nanoGPT's `GPT`): token and position embeddings, dropout, pre-norm transformer blocks,
//! a final layer norm, and the output layer tied to the token embedding.
//!
//! ```
//! use simple_nn::candle::{DType, Device, ModuleT, Tensor};
//! use simple_nn::nn::{Gpt, GptConfig, Model};
//!
//! # fn main() -> simple_nn::candle::Result<()> {
//! let config = GptConfig { vocab: 7, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16, ..Default::default() };
//! let (gpt, _varmap) = Gpt::seeded(config, 0, DType::F32, &Device::Cpu)?;
//! let ids = Tensor::new(&[[1u32, 2, 3, 4], [4, 3, 2, 1]], &Device::Cpu)?;
//! let logits = gpt.forward_t(&ids, false)?;
//! assert_eq!(logits.dims(), [2, 4, 7]);
//! let loss = gpt.loss(&logits, &Tensor::new(&[[2u32, 3, 4, 5], [3, 2, 1, 0]], &Device::Cpu)?)?;
//! assert!(loss.to_scalar::<f32>()? > 0.0);
//! # Ok(())
//! # }
//! ```

use candle_core::{DType, Device, ModuleT, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::block::Block;
use super::dropout::Dropout;
use super::embedding::Embedding;
use super::gpt_config::{GptConfig, Start};
use super::init;
use super::layer_norm::LayerNorm;
use super::projection::Projection;
use super::{Loss, Model};
use crate::kernels::Kernels;

/// nanoGPT's model: `(b, t)` token ids → `(b, t, vocab)` logits of the next token at each position.
#[derive(Debug)]
pub struct Gpt {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Projection,
    dropout: Dropout,
    config: GptConfig,
}

impl Gpt {
    /// Builds the model from `vb`'s variables under nanoGPT's names; dropout masks come from `seed`.
    pub fn build(config: GptConfig, vb: VarBuilder, seed: u64) -> Result<Self> {
        config.validate()?;
        let vb = vb.pp("transformer");
        let (c, kernels) = (config.n_embd, config.kernels);
        let wte = Embedding::new(config.vocab, c, vb.pp("wte"))?;
        let wpe = Embedding::new(config.block_size, c, vb.pp("wpe"))?;
        let blocks = (0..config.n_layer)
            .map(|i| Block::new(&config, vb.pp("h").pp(i)))
            .collect::<Result<_>>()?;
        let ln_f = LayerNorm::new(c, config.bias, kernels, vb.pp("ln_f"))?;
        let head = Projection::tied(wte.weight().clone(), (kernels, config.precision));
        let dropout = Dropout::new(config.dropout, seed, kernels)?;
        Ok(Self {
            wte,
            wpe,
            blocks,
            ln_f,
            head,
            dropout,
            config,
        })
    }

    /// A trainable model with nanoGPT's initialisation ([`GptConfig::parameters`]), each tensor
    /// drawn from its own stream of `seed` ([`init::normal`]), in `dtype` on `dev`.
    pub fn seeded(
        config: GptConfig,
        seed: u64,
        dtype: DType,
        dev: &Device,
    ) -> Result<(Self, VarMap)> {
        config.validate()?;
        let tensors = config.parameters().into_iter().map(|(name, shape, start)| {
            let n = shape.iter().product();
            let values = match start {
                Start::Normal(std) => init::normal(seed, &name, n, std),
                Start::Ones => vec![1.0; n],
                Start::Zeros => vec![0.0; n],
            };
            (name, shape, values)
        });
        let varmap = init::varmap(tensors, dtype, dev)?;
        let vb = VarBuilder::from_varmap(&varmap, dtype, dev);
        Ok((Self::build(config, vb, seed)?, varmap))
    }

    /// The model's shape.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// How many dropout masks the model has drawn (saved with a checkpoint).
    pub fn masks_drawn(&self) -> u64 {
        self.dropout.masks_drawn()
    }

    /// Goes on drawing dropout masks from the `n`-th, as a resumed run must.
    pub fn set_masks_drawn(&self, n: u64) {
        self.dropout.set_masks_drawn(n)
    }
}

impl ModuleT for Gpt {
    /// `(b, t)` u32 token ids, `t ≤ block_size` → `(b, t, vocab)` logits; `train` switches dropout on.
    fn forward_t(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if t == 0 || t > self.config.block_size {
            fail!(
                "a context of {t} tokens: the model takes 1 to {} (its block size)",
                self.config.block_size
            )
        }
        let tokens = self.wte.forward(ids)?;
        let positions = self.wpe.weight().narrow(0, 0, t)?;
        let mut xs = self
            .dropout
            .apply(&tokens.broadcast_add(&positions)?, train)?;
        for block in &self.blocks {
            xs = block.forward_t(&xs, train, &self.dropout)?;
        }
        self.head.forward(&self.ln_f.forward(&xs)?)
    }
}

impl Model for Gpt {
    /// The mean cross-entropy of the next token over all `b·t` positions: logits `(b, t, vocab)`,
    /// targets `(b, t)` u32.
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (b, t, v) = logits.dims3()?;
        if targets.dims() != [b, t] || targets.dtype() != DType::U32 {
            fail!(
                "the targets of {b}×{t} logits must be {b}×{t} u32 token ids, got {:?} {:?}",
                targets.dims(),
                targets.dtype()
            )
        }
        Loss::CrossEntropy.compute_on(
            &logits.reshape((b * t, v))?,
            &targets.flatten_all()?,
            self.config.kernels,
        )
    }

    fn loss_kind(&self) -> Loss {
        Loss::CrossEntropy
    }

    fn kernels(&self) -> Kernels {
        self.config.kernels
    }
}
