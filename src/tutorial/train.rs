//! The tutorial's training: one full-batch SGD step on the loss `½·Σ(ŷ − y)²`, by autograd or by hand.
//!
//! The loss is a sum, not a mean, because the tutorial's update
//! `w1 −= l1ᵀ·l2_delta` is the gradient of the *sum* of squared errors (times
//! ½, which cancels the 2 of the square). With that loss, candle's
//! `SGD` at learning rate 1 takes exactly the tutorial's step; a mean would
//! divide every step by the number of rows and need `lr = rows` to match.

use candle_core::{Module, Result, Tensor, Var};
use candle_nn::{Optimizer, VarMap, SGD};

use super::reference;
use crate::kernels::{self, FusedSgd, Kernels};
pub use crate::nn::loss::half_sse;
use crate::nn::{weight_name, Mlp};

/// How far a prediction is from the labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// `½·Σ(ŷ − y)²`, the loss that training descends.
    pub loss: f64,
    /// `mean |ŷ − y|`, the number the tutorial prints.
    pub mean_abs_error: f64,
}

impl Score {
    /// Scores `prediction` against `ys`.
    pub fn of(prediction: &Tensor, ys: &Tensor) -> Result<Self> {
        let scalar = |t: Tensor| t.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>();
        Ok(Self {
            loss: scalar(half_sse(prediction, ys)?)?,
            mean_abs_error: scalar((prediction - ys)?.abs()?.mean_all()?)?,
        })
    }
}

named_enum! {
    /// How a [`Trainer`] computes its updates.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Mode("mode") {
        /// `loss.backward()` and candle-nn's `SGD` (`autograd`).
        #[default]
        Autograd = "autograd",
        /// The hand-written deltas of [`reference::step`] (`manual`).
        Manual = "manual",
        /// The tutorial's code as printed, bugs included: [`reference::step_as_printed`] (`as-printed`).
        AsPrinted = "as-printed",
    }
}

/// A network and the rule that trains it, one full-batch step at a time.
pub struct Trainer {
    mode: Mode,
    kernels: Kernels,
    mlp: Mlp,
    varmap: VarMap,
    vars: Vec<Var>,
    sgd: Sgd,
}

/// candle-nn's SGD, or the in-place one of the fused kernels: the same steps.
enum Sgd {
    Stock(SGD),
    Fused(FusedSgd),
}

impl Trainer {
    /// A trainer on the default (fused) kernels, starting from weights in the tutorial's layout (`w_i` of shape `(in, out)`).
    pub fn new(mode: Mode, ws: &[Tensor], lr: f64) -> Result<Self> {
        Self::with_kernels(mode, Kernels::default(), ws, lr)
    }

    /// A trainer on candle's stock ops and candle-nn's `SGD`: the path the proofs compare with the reference.
    pub fn stock(mode: Mode, ws: &[Tensor], lr: f64) -> Result<Self> {
        Self::with_kernels(mode, Kernels::Stock, ws, lr)
    }

    /// A trainer on the chosen kernels; `Kernels::Fused` is the fast path, `Kernels::Stock` the proven one.
    ///
    /// `Mode::AsPrinted` always runs the stock reference code: it exists to show the tutorial's bugs.
    pub fn with_kernels(mode: Mode, kernels: Kernels, ws: &[Tensor], lr: f64) -> Result<Self> {
        if !lr.is_finite() {
            fail!("learning rate {lr} is not a finite number: use e.g. 1.0")
        }
        // The printed code is the reference's, bugs included, whatever was asked.
        let kernels = if mode == Mode::AsPrinted {
            Kernels::Stock
        } else {
            kernels
        };
        let (mlp, varmap) = Mlp::from_tutorial_weights(ws, kernels)?;
        let vars = {
            let data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("the VarMap's lock is poisoned".into()))?;
            (0..ws.len())
                .map(|i| data[&weight_name(i)].clone())
                .collect::<Vec<_>>()
        };
        let sgd = match kernels {
            Kernels::Stock => Sgd::Stock(SGD::new(vars.clone(), lr)?),
            Kernels::Fused => Sgd::Fused(FusedSgd::new(vars.clone(), lr)?),
        };
        Ok(Self {
            mode,
            kernels,
            mlp,
            varmap,
            vars,
            sgd,
        })
    }

    /// One step on `(xs, ys)`; returns the network's output from before the update.
    pub fn step(&mut self, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
        let step = match (self.mode, &mut self.sgd) {
            (Mode::Autograd, Sgd::Stock(sgd)) => {
                let prediction = self.mlp.forward(xs)?;
                sgd.backward_step(&self.mlp.loss(&prediction, ys)?)?;
                return Ok(prediction.detach());
            }
            (Mode::Autograd, Sgd::Fused(sgd)) => {
                if let Some((loss, prediction)) = self.mlp.fused_net_loss(xs, ys)? {
                    sgd.backward_step(&loss)?;
                    return Ok(prediction);
                }
                let prediction = self.mlp.forward(xs)?;
                sgd.backward_step(&self.mlp.loss(&prediction, ys)?)?;
                return Ok(prediction.detach());
            }
            (Mode::Manual, Sgd::Fused(sgd)) => {
                return kernels::manual_step(xs, ys, &self.vars, sgd.learning_rate());
            }
            (Mode::Manual, sgd) => {
                reference::step(xs, ys, &self.mlp.tutorial_weights()?, sgd.learning_rate())?
            }
            (Mode::AsPrinted, sgd) => reference::step_as_printed(
                xs,
                ys,
                &self.mlp.tutorial_weights()?,
                sgd.learning_rate(),
            )?,
        };
        for (var, w) in self.vars.iter().zip(&step.weights) {
            var.set(&w.t()?)?;
        }
        Ok(step.prediction)
    }

    /// The update rule.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The kernels the steps run on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The network being trained.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The network's variables, named as in [`crate::nn::weight_name`].
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }
}

impl Sgd {
    fn learning_rate(&self) -> f64 {
        match self {
            Sgd::Stock(sgd) => sgd.learning_rate(),
            Sgd::Fused(sgd) => sgd.learning_rate(),
        }
    }
}
