//! The one trait a model implements to be trained: its forward (from `ModuleT`), its loss and its kernels.
//!
//! [`Mlp`](super::Mlp) and [`Net`](super::Net) implement it; the training loop ([`mod@super::fit`])
//! trains anything that does.

use candle_core::{ModuleT, Result, Tensor};

use super::loss::Loss;
use crate::kernels::Kernels;

/// What the training loop trains: a network (`forward_t`, with `train` switching dropout and
/// batch norm to their training behaviour) that knows its loss and the kernels it runs on.
pub trait Model: ModuleT {
    /// The loss of `output` (this model's) against `targets`, on the model's kernels.
    fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor>;
    /// Which loss that is.
    fn loss_kind(&self) -> Loss;
    /// The kernels the model runs on (plain SGD then updates in place on the fused ones).
    fn kernels(&self) -> Kernels;
}
