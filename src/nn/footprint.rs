//! What training a network takes in memory, counted from its config before anything is
//! allocated, and the refusal of a network that cannot fit.
//!
//! [`Footprint::of`] counts the parameters (batch norm's running statistics included, as the
//! optimizer updates every variable), the copies of them that training holds (the weights,
//! their gradients, and the optimizer's tensors: momentum keeps one velocity per parameter,
//! AdamW two moments, plain SGD none) and one batch's activations (the input of every layer
//! with parameters, kept for its gradient, and the output). It is a lower bound: candle's
//! temporaries and a fused convolution's unrolled patches come on top, so a network it refuses
//! cannot be trained, and one it admits may still be tight.
//!
//! [`check`] holds the count to a budget: the examples pass the model's
//! ([`memory::model_budget`], `--max-model-memory`, by default half the memory available; the
//! data has a budget of its own). Parameters are drawn on the host before they move to a GPU,
//! so the budget applies on every device.

use candle_core::{DType, Result};

use super::gpt_config::GptConfig;
use super::net::NetConfig;
use super::optim::OptimizerKind;
use super::spec::elements;
use crate::data::memory;

/// The memory that training a network takes, at least, in numbers of its dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// The numbers its parameters hold.
    pub parameters: u64,
    /// The copies of each parameter held while training: weights, gradients, optimizer tensors.
    pub copies: u64,
    /// The numbers one batch's layer inputs and output hold.
    pub activations: u64,
    /// Bytes per number.
    pub dtype_bytes: u64,
}

impl Footprint {
    /// The footprint of training `config` with `optimizer` on batches of `batch` rows in `dtype`;
    /// an error names what cannot be counted.
    pub fn of(
        config: &NetConfig,
        optimizer: OptimizerKind,
        batch: usize,
        dtype: DType,
    ) -> Result<Self> {
        let parameters = config.parameter_count()?;
        let shapes = config.shapes()?;
        let parametrized = config.layers.0.iter().map(|l| l.has_parameters());
        // The output layer has parameters; the last shape is the network's output.
        let kept = parametrized
            .chain([true])
            .zip(&shapes)
            .filter_map(|(kept, shape)| kept.then_some(shape))
            .chain(shapes.last());
        let per_row = kept
            .map(|shape| elements(shape).map(|n| n as u64))
            .try_fold(0u64, |sum, n| sum.checked_add(n?));
        let Some(activations) = per_row.and_then(|n| n.checked_mul(batch as u64)) else {
            fail!(
                "a batch of {batch} rows through {} holds more numbers than can be counted: use a smaller batch size",
                describe(config)
            )
        };
        let slots = match optimizer {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::AdamW => 2,
        };
        Ok(Self {
            parameters,
            copies: 2 + slots,
            activations,
            dtype_bytes: dtype.size_in_bytes() as u64,
        })
    }

    /// The footprint of training the GPT `config` with AdamW on batches of `batch` windows in
    /// `dtype`: its parameters four times (weights, gradients, two moments), and per position of
    /// a window what the backward keeps of each block (the inputs of its two layer norms and four
    /// projections and the GELU's: 16 numbers per feature) and the logits with their gradient.
    pub fn of_gpt(config: &GptConfig, batch: usize, dtype: DType) -> Result<Self> {
        let Some(parameters) = config.parameter_count() else {
            fail!("the GPT's parameters are more than can be counted: choose a smaller one")
        };
        let c = config.n_embd as u64;
        let per_position = (config.n_layer as u64)
            .checked_mul(16)
            .and_then(|n| n.checked_mul(c))
            .and_then(|n| n.checked_add(2 * config.vocab as u64));
        let Some(activations) = per_position
            .and_then(|n| n.checked_mul(config.block_size as u64))
            .and_then(|n| n.checked_mul(batch as u64))
        else {
            fail!("a batch of {batch} windows of {} through the GPT holds more numbers than can be counted: use a smaller batch size", config.block_size)
        };
        Ok(Self {
            parameters: parameters as u64,
            copies: 4,
            activations,
            dtype_bytes: dtype.size_in_bytes() as u64,
        })
    }

    /// The bytes the parameters' copies take.
    pub fn parameter_bytes(&self) -> u128 {
        u128::from(self.parameters) * u128::from(self.copies) * u128::from(self.dtype_bytes)
    }

    /// The bytes one batch's activations take.
    pub fn activation_bytes(&self) -> u128 {
        u128::from(self.activations) * u128::from(self.dtype_bytes)
    }

    /// All the bytes counted.
    pub fn bytes(&self) -> u128 {
        self.parameter_bytes() + self.activation_bytes()
    }
}

/// The footprint of training `config` (see [`Footprint::of`]), or an error in one line naming
/// the parameters, the bytes and the budget when it takes more than `budget` bytes.
pub fn check(
    config: &NetConfig,
    optimizer: OptimizerKind,
    batch: usize,
    dtype: DType,
    budget: u64,
) -> Result<Footprint> {
    let footprint = Footprint::of(config, optimizer, batch, dtype)?;
    within(
        footprint,
        &describe(config),
        optimizer,
        batch,
        dtype,
        budget,
    )
}

/// The footprint of training the GPT `config` (see [`Footprint::of_gpt`]), or the error of
/// [`check`] when it takes more than `budget` bytes.
pub fn check_gpt(config: &GptConfig, batch: usize, dtype: DType, budget: u64) -> Result<Footprint> {
    let footprint = Footprint::of_gpt(config, batch, dtype)?;
    let what = format!(
        "the GPT gpt:{}:{}:{} of block {} over {} characters",
        config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab
    );
    within(footprint, &what, OptimizerKind::AdamW, batch, dtype, budget)
}

/// `footprint`, or the one-line refusal of `what` when it takes more than `budget` bytes.
fn within(
    footprint: Footprint,
    what: &str,
    optimizer: OptimizerKind,
    batch: usize,
    dtype: DType,
    budget: u64,
) -> Result<Footprint> {
    if footprint.bytes() > u128::from(budget) {
        let copies = match optimizer {
            OptimizerKind::Sgd => "weights and gradients",
            OptimizerKind::Momentum => "weights, gradients and momentum's velocities",
            OptimizerKind::AdamW => "weights, gradients and AdamW's two moments",
        };
        fail!(
            "{what} has {} parameters: training it with {optimizer} in {} takes at least {} ({copies}, {} bytes each, and {} for a batch of {batch}), more than the model's memory budget of {} (--max-model-memory; by default half the memory available): use fewer or smaller layers or a smaller batch, or raise --max-model-memory if the machine has the room",
            footprint.parameters,
            dtype.as_str(),
            size(footprint.bytes()),
            footprint.dtype_bytes,
            size(footprint.activation_bytes()),
            memory::size(budget)
        )
    }
    Ok(footprint)
}

/// `the network [2] dense:64,relu → 2`.
fn describe(config: &NetConfig) -> String {
    format!(
        "the network {:?} {} → {}",
        config.input, config.layers, config.outputs
    )
}

/// [`memory::size`] of a count of bytes that may pass `u64`.
fn size(bytes: u128) -> String {
    memory::size(u64::try_from(bytes).unwrap_or(u64::MAX))
}
