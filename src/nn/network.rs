//! A trained model of either kind a model file holds: a network of layers ([`Net`]: MLPs and conv
//! nets) or a GPT ([`Gpt`]).
//!
//! The training loop, evaluation and the checkpoint code take a `Network` where they must know
//! which kind they hold (a checkpoint's dropout count, the kernels it was built on); everything
//! else goes through the [`Model`] trait, which both kinds implement.

use candle_core::{ModuleT, Result, Tensor};

use super::gpt::Gpt;
use super::loss::Loss;
use super::model::Model;
use super::net::Net;
use crate::kernels::Kernels;

/// A model of either kind.
#[derive(Debug)]
pub enum Network {
    /// Layers in order, from a spec (dense, conv, pooling, batch norm, dropout, activations).
    Net(Net),
    /// nanoGPT's character-level transformer.
    Gpt(Gpt),
}

impl Network {
    /// How many dropout masks the model has drawn (saved with a checkpoint).
    pub fn masks_drawn(&self) -> u64 {
        match self {
            Network::Net(net) => net.masks_drawn(),
            Network::Gpt(gpt) => gpt.masks_drawn(),
        }
    }

    /// Goes on drawing dropout masks from the `n`-th, as a resumed run must.
    pub fn set_masks_drawn(&self, n: u64) {
        match self {
            Network::Net(net) => net.set_masks_drawn(n),
            Network::Gpt(gpt) => gpt.set_masks_drawn(n),
        }
    }

    /// The network of layers, where this is one.
    pub fn as_net(&self) -> Option<&Net> {
        match self {
            Network::Net(net) => Some(net),
            Network::Gpt(_) => None,
        }
    }

    /// The GPT, where this is one.
    pub fn as_gpt(&self) -> Option<&Gpt> {
        match self {
            Network::Net(_) => None,
            Network::Gpt(gpt) => Some(gpt),
        }
    }
}

impl ModuleT for Network {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Network::Net(net) => net.forward_t(xs, train),
            Network::Gpt(gpt) => gpt.forward_t(xs, train),
        }
    }
}

impl Model for Network {
    fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Network::Net(net) => net.loss(output, targets),
            Network::Gpt(gpt) => gpt.loss(output, targets),
        }
    }

    fn loss_kind(&self) -> Loss {
        match self {
            Network::Net(net) => net.loss_kind(),
            Network::Gpt(gpt) => gpt.loss_kind(),
        }
    }

    fn kernels(&self) -> Kernels {
        match self {
            Network::Net(net) => net.kernels(),
            Network::Gpt(gpt) => gpt.kernels(),
        }
    }
}
