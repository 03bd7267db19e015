//! Text from a trained GPT: each next character sampled from the model's distribution given the
//! characters before it, as nanoGPT's `generate` does.
//!
//! The context is the last `block_size` characters (the model sees no further back); the next
//! character's logits are divided by the temperature, cut to the `top_k` most likely where
//! asked (every character whose logit is below the k-th largest is left out, as nanoGPT does),
//! turned into probabilities by a softmax in float64, and one is drawn by a single uniform
//! number from the run's [`Purpose::Sampling`] stream: the same seed gives the same text.

use candle_core::{DType, Device, ModuleT, Result, Tensor};

use super::gpt::Gpt;
use crate::rng::{self, Purpose};

/// How the next character is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// The logits are divided by it: below 1 sharpens the distribution, above 1 flattens it.
    pub temperature: f64,
    /// Only the k most likely characters are drawn from, where given.
    pub top_k: Option<usize>,
    /// The seed of the draws.
    pub seed: u64,
}

impl Default for Sampling {
    /// nanoGPT's `sample.py`: temperature 0.8, no top-k cut here (nanoGPT's 200 keeps every
    /// character of a small vocabulary anyway), seed 0.
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: None,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Checks the settings before anything is drawn.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            fail!(
                "temperature {}: use a positive number, e.g. 0.8 (smaller is more conservative)",
                self.temperature
            )
        }
        if self.top_k == Some(0) {
            fail!("top-k 0 leaves no character to draw: use at least 1, or leave it out")
        }
        Ok(())
    }
}

/// `tokens` ids drawn one after another after `prompt` (ids of the model's vocabulary), each
/// handed to `each` as soon as it is drawn; returns them all.
pub fn generate(
    gpt: &Gpt,
    prompt: &[u32],
    tokens: usize,
    sampling: &Sampling,
    dev: &Device,
    mut each: impl FnMut(u32) -> Result<()>,
) -> Result<Vec<u32>> {
    sampling.validate()?;
    if prompt.is_empty() {
        fail!("an empty prompt gives the model nothing to go on: give at least one character")
    }
    let (vocab, block) = (gpt.config().vocab, gpt.config().block_size);
    if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= vocab) {
        fail!("token id {bad} is not below the model's {vocab} characters")
    }
    let mut ids = prompt.to_vec();
    let mut stream = rng::stream(sampling.seed, Purpose::Sampling, 0);
    let mut drawn = Vec::with_capacity(tokens);
    for _ in 0..tokens {
        let context = &ids[ids.len().saturating_sub(block)..];
        let xs = Tensor::from_slice(context, (1, context.len()), dev)?;
        let logits = gpt.forward_t(&xs, false)?;
        let last = logits
            .narrow(1, context.len() - 1, 1)?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let id = draw(&last, sampling, stream.next_f64())?;
        ids.push(id);
        drawn.push(id);
        each(id)?;
    }
    Ok(drawn)
}

/// The character `u` (uniform in [0, 1)) falls on in the distribution of `logits` under `sampling`.
fn draw(logits: &[f64], sampling: &Sampling, u: f64) -> Result<u32> {
    if let Some(bad) = logits.iter().find(|l| !l.is_finite()) {
        fail!("the model's logits hold {bad}: its weights are not finite numbers")
    }
    let scaled: Vec<f64> = logits.iter().map(|l| l / sampling.temperature).collect();
    let floor = match sampling.top_k {
        Some(k) if k < scaled.len() => {
            let mut sorted = scaled.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            sorted[k - 1]
        }
        _ => f64::NEG_INFINITY,
    };
    let top = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scaled
        .iter()
        .map(|&l| if l < floor { 0.0 } else { (l - top).exp() })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut target = u * total;
    for (id, w) in weights.iter().enumerate() {
        if target < *w {
            return Ok(id as u32);
        }
        target -= w;
    }
    // Rounding can leave the target a hair past the last weight: the last drawable character.
    let last = weights.iter().rposition(|w| *w > 0.0).unwrap_or(0);
    Ok(last as u32)
}
