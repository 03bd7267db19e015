//! Losses for bigger models, each with the output head and targets it expects.
//!
//! | loss | head | targets | outputs |
//! |---|---|---|---|
//! | `cross-entropy` | logits | class ids (`u32`, shape `(n,)`) | one per class |
//! | `bce` | one logit | class ids 0/1 | 1 |
//! | `mse` | raw values | floats `(n, outputs)` | as the targets |
//! | `half-sse` | sigmoid | floats `(n, outputs)` | as the targets (the tutorial's) |
//!
//! The cross-entropies work on logits so they can be computed stably:
//! softmax through `log_softmax` (which subtracts the row maximum), binary
//! cross-entropy as `max(z, 0) − z·y + log(1 + e^(−|z|))`.

use candle_core::{DType, Result, Tensor, D};

use crate::data::TargetKind;
use crate::kernels::{self, Kernels};

/// What the last layer's output goes through: chosen by the loss it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Raw outputs: logits for the cross-entropies (which apply softmax or sigmoid themselves), values for regression.
    Identity,
    /// A sigmoid, as in the tutorial, whose loss compares probabilities with 0/1 labels.
    Sigmoid,
}

named_enum! {
    /// A training loss.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Loss("loss") {
        /// Softmax cross-entropy over classes, averaged over the batch.
        CrossEntropy = "cross-entropy",
        /// Mean squared error.
        Mse = "mse",
        /// Binary cross-entropy on one logit, averaged over the batch.
        Bce = "bce",
        /// The tutorial's `½·Σ(ŷ − y)²` on sigmoid outputs, summed over the batch.
        HalfSse = "half-sse",
    }
}

impl Loss {
    /// The output head this loss expects.
    pub fn head(self) -> Head {
        match self {
            Loss::HalfSse => Head::Sigmoid,
            Loss::CrossEntropy | Loss::Mse | Loss::Bce => Head::Identity,
        }
    }

    /// Whether the targets are class ids (and accuracy means something).
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Bce)
    }

    /// What the targets are: class ids, or real values.
    pub fn targets(self) -> TargetKind {
        if self.is_classification() {
            TargetKind::Classes
        } else {
            TargetKind::Values
        }
    }

    /// The loss of `output` (the network's, after its head) against `targets`, on candle's stock ops.
    pub fn compute(self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Loss::CrossEntropy => candle_nn::loss::cross_entropy(output, targets),
            Loss::Bce => bce_with_logits(output, targets),
            Loss::Mse => candle_nn::loss::mse(output, targets),
            Loss::HalfSse => half_sse(output, targets),
        }
    }

    /// [`Loss::compute`] on `kernels`: the fused softmax cross-entropy and half-SSE, or the stock ops.
    ///
    /// A model computes its loss here on the kernels it was built with ([`super::Mlp::loss`]).
    pub fn compute_on(self, output: &Tensor, targets: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match (self, kernels) {
            (Loss::CrossEntropy, Kernels::Fused) => kernels::softmax_cross_entropy(output, targets),
            (Loss::HalfSse, Kernels::Fused) => kernels::half_sse(output, targets),
            _ => self.compute(output, targets),
        }
    }

    /// The fraction of rows whose predicted class equals the label, for classification losses.
    pub fn accuracy(self, output: &Tensor, labels: &Tensor) -> Result<Option<f64>> {
        let predicted = match self {
            Loss::CrossEntropy => output.argmax(D::Minus1)?,
            Loss::Bce => output.flatten_all()?.gt(0.0)?.to_dtype(DType::U32)?,
            Loss::Mse | Loss::HalfSse => return Ok(None),
        };
        // Every label counts: one per row, or one per position for a sequence model's `(b, t)`.
        let rows = labels.elem_count();
        let correct = predicted
            .eq(labels)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
        Ok(Some(correct / rows.max(1) as f64))
    }

    /// Class probabilities (or regression outputs) from the network's output.
    pub fn predictions(self, output: &Tensor) -> Result<Tensor> {
        match self {
            Loss::CrossEntropy => candle_nn::ops::softmax_last_dim(output),
            Loss::Bce => candle_nn::ops::sigmoid(output),
            Loss::Mse | Loss::HalfSse => Ok(output.clone()),
        }
    }
}

/// `mean(max(z, 0) − z·y + log(1 + e^(−|z|)))`: binary cross-entropy on logits `z`, stable for any `z`.
///
/// `labels` are class ids 0/1 of shape `(n,)`; `logits` has shape `(n, 1)` or `(n,)`.
pub fn bce_with_logits(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let z = logits.flatten_all()?;
    let y = labels.to_dtype(z.dtype())?.flatten_all()?;
    let softplus_neg_abs = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (z.relu()? - (&z * &y)? + softplus_neg_abs)?.mean_all()
}

/// The tutorial's loss: `½·Σ(ŷ − y)²` over every row and output.
///
/// A sum, not a mean: the tutorial's update `w1 −= l1ᵀ·l2_delta` is the gradient
/// of the *sum* of squared errors (times ½, which cancels the 2 of the square),
/// so SGD at learning rate 1 on this loss takes exactly the tutorial's step.
pub fn half_sse(prediction: &Tensor, ys: &Tensor) -> Result<Tensor> {
    (prediction - ys)?.sqr()?.sum_all()? * 0.5
}
