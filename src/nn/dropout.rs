//! Dropout whose masks come from the run's seed and the count of masks drawn so far, so that a
//! checkpoint that saves the count replays every later mask.
//!
//! Mask `d` is drawn from the stream [`rng::key`]`(seed, Dropout, d)`, as a [`super::Net`]'s
//! dropout draws its own; on the fused kernels by [`kernels::dropout`](fn@crate::kernels::dropout), which keeps the mask for
//! the backward, on the stock ones as a mask tensor and a product (the same numbers).

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Result, Tensor};

use crate::kernels::{self, Kernels};
use crate::rng::{self, Purpose};

/// In training, each value zeroed with probability `p` and the rest scaled by 1/(1 − p).
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: u64,
    drawn: AtomicU64,
    kernels: Kernels,
}

impl Dropout {
    /// Dropout with probability `p` (in [0, 1)), masks drawn from `seed`, on `kernels`.
    pub fn new(p: f64, seed: u64, kernels: Kernels) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            fail!("dropout {p} lies outside [0, 1): use e.g. 0.1, or 0 for none")
        }
        Ok(Self {
            p,
            seed,
            drawn: AtomicU64::new(0),
            kernels,
        })
    }

    /// The probability of dropping a value.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// `xs` with a fresh mask applied when `train` and `p > 0`; `xs` itself otherwise.
    pub fn apply(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.p == 0.0 {
            return Ok(xs.clone());
        }
        let draw = self.drawn.fetch_add(1, Ordering::Relaxed);
        let seed = rng::key(self.seed, Purpose::Dropout, draw);
        match self.kernels {
            Kernels::Fused => kernels::dropout(xs, self.p, seed),
            Kernels::Stock => kernels::dropout::stock(xs, self.p, seed),
        }
    }

    /// How many masks have been drawn (saved with a checkpoint).
    pub fn masks_drawn(&self) -> u64 {
        self.drawn.load(Ordering::Relaxed)
    }

    /// Goes on drawing masks from the `n`-th, as a resumed run must.
    pub fn set_masks_drawn(&self, n: u64) {
        self.drawn.store(n, Ordering::Relaxed);
    }
}
