//! A batch of text windows: each row `block_size` input ids and the `block_size` ids that
//! follow each of them, as plain values (for a loader thread) or as U32 tensors on a device.

use candle_core::{Device, Result, Tensor};

/// Rows of windows: row r's inputs are ids `o .. o + T` of the text and its targets ids
/// `o + 1 .. o + T + 1`, for the row's offset `o` and `T = block_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    inputs: Vec<u32>,
    targets: Vec<u32>,
    block_size: usize,
}

impl Batch {
    /// A batch of no rows, windows of `block_size`.
    pub(super) fn new(block_size: usize) -> Self {
        Self {
            inputs: Vec::new(),
            targets: Vec::new(),
            block_size,
        }
    }

    /// Appends a row from the `block_size + 1` ids of a window.
    pub(super) fn push(&mut self, window: &[u32]) {
        debug_assert_eq!(window.len(), self.block_size + 1);
        self.inputs.extend_from_slice(&window[..self.block_size]);
        self.targets.extend_from_slice(&window[1..]);
    }

    /// The number of rows (windows).
    pub fn rows(&self) -> usize {
        self.inputs.len() / self.block_size
    }

    /// The length `T` of each row.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The inputs, row-major, `rows × block_size`.
    pub fn inputs(&self) -> &[u32] {
        &self.inputs
    }

    /// The targets, row-major, `rows × block_size`: each input's next id.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// The inputs and the targets as U32 tensors of shape `(rows, block_size)` on `dev`.
    pub fn tensors(&self, dev: &Device) -> Result<(Tensor, Tensor)> {
        let shape = (self.rows(), self.block_size);
        Ok((
            Tensor::from_slice(&self.inputs, shape, dev)?,
            Tensor::from_slice(&self.targets, shape, dev)?,
        ))
    }
}
