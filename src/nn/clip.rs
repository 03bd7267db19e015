//! Gradient clipping by the global L2 norm, as PyTorch's `torch.nn.utils.clip_grad_norm_`.
//!
//! The norm is taken over every gradient at once, `‖g‖ = √(Σ_tensors Σ g²)`; when
//! `max_norm/(‖g‖ + 1e-6)` is below 1 every gradient is multiplied by it (PyTorch's rule, whose
//! 1e-6 also scales a norm just under the bound by a hair). Run it on the `GradStore` of
//! `backward()`, before the optimizer's step.

use candle_core::backprop::GradStore;
use candle_core::{Result, Var};

use crate::kernels::norm::sum_squares;

/// Scales the gradients of `vars` in `grads` to a global L2 norm of at most `max_norm`; returns
/// the norm they had (NaN or infinite when a gradient is, and then leaves them as they are).
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        fail!("gradient clipping to {max_norm}: use a positive finite norm, e.g. 1.0")
    }
    let mut total = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var) {
            total += sum_squares(g)?;
        }
    }
    let norm = total.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if norm.is_finite() && scale < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var) {
                let scaled = (g * scale)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}
