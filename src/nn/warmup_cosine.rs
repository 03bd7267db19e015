//! The learning rate of each training step: nanoGPT's `get_lr`, a linear warm-up and then half a
//! cosine down to a floor (`warmup-cosine:WARMUP:MIN_LR`).
//!
//! At step `it` (counted from 0) of a decay over `steps` steps, for a base rate `lr`:
//! `lr·(it + 1)/(warmup + 1)` while `it < warmup`; `min_lr` once `it > steps`; in between
//! `min_lr + ½·(1 + cos(π·(it − warmup)/(steps − warmup)))·(lr − min_lr)`.

use std::fmt;
use std::str::FromStr;

/// Warm-up then cosine decay per step, as nanoGPT's `get_lr`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WarmupCosine {
    /// Steps of linear warm-up.
    pub warmup: usize,
    /// The rate at the end of the decay and after it.
    pub min_lr: f64,
    /// The step at which the decay ends (nanoGPT's `lr_decay_iters`, usually the run's steps);
    /// [`WarmupCosine::with_steps`] sets it.
    pub steps: usize,
}

impl WarmupCosine {
    /// The learning rate of step `it` (from 0) for a base rate `lr`.
    pub fn lr(&self, lr: f64, it: usize) -> f64 {
        if it < self.warmup {
            return lr * (it + 1) as f64 / (self.warmup + 1) as f64;
        }
        if it > self.steps || self.steps <= self.warmup {
            return self.min_lr;
        }
        let ratio = (it - self.warmup) as f64 / (self.steps - self.warmup) as f64;
        self.min_lr + 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos()) * (lr - self.min_lr)
    }

    /// The same schedule decaying over `steps` steps.
    pub fn with_steps(self, steps: usize) -> Self {
        Self { steps, ..self }
    }
}

impl FromStr for WarmupCosine {
    type Err = String;

    /// `warmup-cosine:WARMUP:MIN_LR`; the decay's length is set later, from the run's steps.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |what: &str| format!("bad schedule '{s}': {what}, as in warmup-cosine:100:1e-4");
        match s.split(':').collect::<Vec<_>>()[..] {
            ["warmup-cosine", warmup, min_lr] => {
                let warmup = warmup
                    .parse::<usize>()
                    .map_err(|_| bad("WARMUP must be a whole number of steps ≥ 0"))?;
                let min_lr = min_lr
                    .parse::<f64>()
                    .ok()
                    .filter(|m| m.is_finite() && *m >= 0.0)
                    .ok_or_else(|| bad("MIN_LR must be a finite number ≥ 0"))?;
                Ok(Self {
                    warmup,
                    min_lr,
                    steps: 0,
                })
            }
            _ => Err(bad("write it warmup-cosine:WARMUP:MIN_LR")),
        }
    }
}

/// The form [`FromStr`] reads (the decay's length is not part of it).
impl fmt::Display for WarmupCosine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warmup-cosine:{}:{}", self.warmup, self.min_lr)
    }
}
