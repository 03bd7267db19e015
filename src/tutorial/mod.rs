//! The tutorial's network: the article's data, the hand-written reference, initial weights,
//! and the full-batch trainer with its three modes (autograd, manual, as printed).
//!
//! | tutorial (numpy) | here |
//! |---|---|
//! | `x`, `y` | [`Dataset::tensors`] |
//! | `w0`, `w1` (shape `(in, out)`) | the `Linear` weights, transposed ([`crate::nn::Mlp::tutorial_weights`]) |
//! | `l1_delta`, `l2_delta` | [`reference::deltas`] |
//! | `w −= lᵀ·delta` | [`Trainer::step`] (autograd and SGD) or [`reference::step`] (by hand) |

pub mod data;
pub mod init;
pub mod reference;
pub mod train;

pub use data::Dataset;
pub use init::Init;
pub use train::{half_sse, Mode, Score, Trainer};
