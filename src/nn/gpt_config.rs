//! The shape of a GPT (nanoGPT's `GPTConfig`), its parameters' names and shapes, and how each
//! is initialised.
//!
//! The names are nanoGPT's state-dict names, so that weights move between the two:
//!
//! | name | shape | initial values |
//! |---|---|---|
//! | `transformer.wte.weight` | `(vocab, n_embd)` | N(0, 0.02²); also the output layer's weight (tied) |
//! | `transformer.wpe.weight` | `(block_size, n_embd)` | N(0, 0.02²) |
//! | `transformer.h.{i}.ln_1.weight`, `.ln_2.weight`, `transformer.ln_f.weight` | `(n_embd,)` | 1 |
//! | `transformer.h.{i}.attn.c_attn.weight` | `(3·n_embd, n_embd)` | N(0, 0.02²) |
//! | `transformer.h.{i}.attn.c_proj.weight` | `(n_embd, n_embd)` | N(0, (0.02/√(2·n_layer))²) |
//! | `transformer.h.{i}.mlp.c_fc.weight` | `(4·n_embd, n_embd)` | N(0, 0.02²) |
//! | `transformer.h.{i}.mlp.c_proj.weight` | `(n_embd, 4·n_embd)` | N(0, (0.02/√(2·n_layer))²) |
//!
//! With `bias`, every layer norm and projection also has a `.bias` of its output size, zeros.

use crate::kernels::{Kernels, Precision};

/// A GPT's shape: nanoGPT's `GPTConfig` fields and the kernels it runs on.
///
/// The defaults are nanoGPT's `shakespeare_char` run on the CPU (its README): 4 layers of 4
/// heads, 128 features, a context of 64 characters, no dropout, no biases (nanoGPT's default),
/// a vocabulary of 65 characters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GptConfig {
    /// Tokens in the vocabulary (rows of `wte`, outputs of the last layer).
    pub vocab: usize,
    /// The longest context in tokens (rows of `wpe`).
    pub block_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block; they divide `n_embd` between them.
    pub n_head: usize,
    /// Features per position.
    pub n_embd: usize,
    /// Dropout on the embeddings, each attention output and each MLP output, in training.
    pub dropout: f64,
    /// Biases in the projections and layer norms.
    pub bias: bool,
    /// Fused ops (the default), or candle's stock ops throughout.
    pub kernels: Kernels,
    /// The projections' products on their operands as stored (the default), or on their bf16
    /// roundings with f32 sums: `--dtype bf16` on the CPU, f32 weights throughout.
    pub precision: Precision,
}

impl Default for GptConfig {
    fn default() -> Self {
        Self {
            vocab: 65,
            block_size: 64,
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            dropout: 0.0,
            bias: false,
            kernels: Kernels::default(),
            precision: Precision::default(),
        }
    }
}

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// Drawn from N(0, σ²).
    Normal(f64),
    /// All ones (a layer norm's scale).
    Ones,
    /// All zeros (a bias).
    Zeros,
}

impl GptConfig {
    /// Checks the shape before anything is built: sizes at least 1, heads dividing the
    /// features, dropout in [0, 1), and a parameter count that fits in memory's addresses.
    pub fn validate(&self) -> candle_core::Result<()> {
        let sizes = [
            ("vocab", self.vocab),
            ("block size", self.block_size),
            ("layers", self.n_layer),
            ("heads", self.n_head),
            ("embedding size", self.n_embd),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, n)| *n == 0) {
            fail!("a GPT needs at least one of everything: its {name} is 0")
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            fail!(
                "{} heads do not divide {} features: choose an embedding size that is a multiple of the heads",
                self.n_head,
                self.n_embd
            )
        }
        if !(0.0..1.0).contains(&self.dropout) {
            fail!(
                "dropout {} lies outside [0, 1): use e.g. 0.1, or 0 for none",
                self.dropout
            )
        }
        if self.parameter_count().is_none() {
            fail!("a GPT of {} layers of {} features has more parameters than this machine can address: choose a smaller one", self.n_layer, self.n_embd)
        }
        Ok(())
    }

    /// How many values the parameters hold (the tied output layer counted once); `None` past `usize`.
    pub fn parameter_count(&self) -> Option<usize> {
        let c = self.n_embd;
        let per_layer = c.checked_mul(c)?.checked_mul(12)?;
        let norms = if self.bias { 4 * c + 9 * c } else { 2 * c };
        let per_layer = per_layer.checked_add(norms)?;
        let embeddings = self.vocab.checked_add(self.block_size)?.checked_mul(c)?;
        let final_norm = if self.bias { 2 * c } else { c };
        per_layer
            .checked_mul(self.n_layer)?
            .checked_add(embeddings)?
            .checked_add(final_norm)
    }

    /// Every parameter's name, shape and start, in nanoGPT's module order.
    pub fn parameters(&self) -> Vec<(String, Vec<usize>, Start)> {
        let c = self.n_embd;
        let std = 0.02;
        let residual = 0.02 / (2.0 * self.n_layer as f64).sqrt();
        let mut p = vec![
            (
                "transformer.wte.weight".to_string(),
                vec![self.vocab, c],
                Start::Normal(std),
            ),
            (
                "transformer.wpe.weight".to_string(),
                vec![self.block_size, c],
                Start::Normal(std),
            ),
        ];
        let norm = |p: &mut Vec<_>, prefix: String| {
            p.push((format!("{prefix}.weight"), vec![c], Start::Ones));
            if self.bias {
                p.push((format!("{prefix}.bias"), vec![c], Start::Zeros));
            }
        };
        let linear = |p: &mut Vec<_>, prefix: String, n_out: usize, n_in: usize, std: f64| {
            p.push((
                format!("{prefix}.weight"),
                vec![n_out, n_in],
                Start::Normal(std),
            ));
            if self.bias {
                p.push((format!("{prefix}.bias"), vec![n_out], Start::Zeros));
            }
        };
        for i in 0..self.n_layer {
            let h = format!("transformer.h.{i}");
            norm(&mut p, format!("{h}.ln_1"));
            linear(&mut p, format!("{h}.attn.c_attn"), 3 * c, c, std);
            linear(&mut p, format!("{h}.attn.c_proj"), c, c, residual);
            norm(&mut p, format!("{h}.ln_2"));
            linear(&mut p, format!("{h}.mlp.c_fc"), 4 * c, c, std);
            linear(&mut p, format!("{h}.mlp.c_proj"), c, 4 * c, residual);
        }
        norm(&mut p, "transformer.ln_f".to_string());
        p
    }
}
