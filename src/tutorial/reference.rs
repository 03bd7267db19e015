//! The tutorial's hand-written backprop on candle tensors, without autograd.
//!
//! Names follow the tutorial: `l0` is the input, `l1 = σ(l0·w0)` the hidden
//! layer, `l2 = σ(l1·w1)` the output; `w_i` has shape `(in, out)`, the
//! transpose of a candle-nn `Linear` weight. For any depth, with `L` layers:
//!
//! ```text
//! delta_L   = (l_L − y) · σ'(l_L)                 // the tutorial's l2_delta
//! delta_i   = (delta_{i+1} · w_iᵀ) · σ'(l_i)      // the tutorial's l1_delta
//! w_{i-1}  −= lr · l_{i-1}ᵀ · delta_i             // w1 −= l1ᵀ·l2_delta, w0 −= l0ᵀ·l1_delta
//! ```
//!
//! with `σ'(a) = a·(1 − a)` written on the sigmoid's output `a`. This is one
//! step of gradient descent on the loss `½·Σ(l_L − y)²`: `l_{i-1}ᵀ·delta_i` is
//! exactly `∂loss/∂w_{i-1}`, which the tests check against candle's autograd
//! and against finite differences.
//!
//! [`step_as_printed`] is the tutorial's code as it was printed, with both of
//! its bugs, for `--mode as-printed`.

use candle_core::{Result, Tensor};

/// `σ(x) = 1 / (1 + e^(−x))`, written as the tutorial writes it.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    (x.neg()?.exp()? + 1.0)?.recip()
}

/// `σ'` from the sigmoid's output: `a·(1 − a)`.
pub fn sigmoid_prime(a: &Tensor) -> Result<Tensor> {
    a * (1.0 - a)?
}

/// The forward pass: `[l0, l1, …, l_L]`, each `l_{i+1} = σ(l_i·w_i)`.
pub fn forward(l0: &Tensor, ws: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut ls = vec![l0.clone()];
    for w in ws {
        let next = sigmoid(&ls[ls.len() - 1].matmul(w)?)?;
        ls.push(next);
    }
    Ok(ls)
}

/// The deltas `[delta_1, …, delta_L]` of the layers after the input, from a forward pass `ls`.
pub fn deltas(ls: &[Tensor], y: &Tensor, ws: &[Tensor]) -> Result<Vec<Tensor>> {
    let n = ws.len();
    let mut delta = ((&ls[n] - y)? * sigmoid_prime(&ls[n])?)?;
    let mut deltas = vec![delta.clone()];
    for i in (1..n).rev() {
        delta = (delta.matmul(&ws[i].t()?)? * sigmoid_prime(&ls[i])?)?;
        deltas.push(delta.clone());
    }
    deltas.reverse();
    Ok(deltas)
}

/// The gradients `∂loss/∂w_i = l_iᵀ·delta_{i+1}` of `½·Σ(l_L − y)²`, in the tutorial's layout.
pub fn gradients(l0: &Tensor, y: &Tensor, ws: &[Tensor]) -> Result<Vec<Tensor>> {
    let ls = forward(l0, ws)?;
    let deltas = deltas(&ls, y, ws)?;
    ls.iter()
        .zip(&deltas)
        .map(|(l, delta)| l.t()?.matmul(delta))
        .collect()
}

/// What one training step computed: the output before the update and the updated weights.
#[derive(Debug, Clone)]
pub struct Step {
    /// The network's output `l_L` from the weights before the update.
    pub prediction: Tensor,
    /// The weights after the update, in the tutorial's layout.
    pub weights: Vec<Tensor>,
}

/// One corrected step of the tutorial: forward, deltas, `w_i −= lr · l_iᵀ·delta_{i+1}`.
pub fn step(l0: &Tensor, y: &Tensor, ws: &[Tensor], lr: f64) -> Result<Step> {
    let ls = forward(l0, ws)?;
    let deltas = deltas(&ls, y, ws)?;
    let weights = ws
        .iter()
        .zip(ls.iter().zip(&deltas))
        .map(|(w, (l, delta))| w - (l.t()?.matmul(delta)? * lr)?)
        .collect::<Result<_>>()?;
    Ok(Step {
        prediction: ls[ws.len()].clone(),
        weights,
    })
}

/// One step of the tutorial's code exactly as printed, bugs included, for a `[in, hidden, 1]` network.
pub fn step_as_printed(l0: &Tensor, y: &Tensor, ws: &[Tensor], lr: f64) -> Result<Step> {
    let [w0, w1] = ws else {
        fail!("the printed code has exactly two layers (w0, w1), got {}: use --mode manual for other depths", ws.len())
    };
    if w1.dim(1)? != 1 {
        fail!(
            "the printed code needs one output (w1 of shape (hidden, 1)), got {:?}",
            w1.shape()
        )
    }
    let l1 = sigmoid(&l0.matmul(w0)?)?;
    let l2 = sigmoid(&l1.matmul(w1)?)?;
    let l2_loss = (&l2 - y)?;
    // Bug 1: the derivative is written `x*(x-1)`, the negative of σ'(x) = x*(1-x).
    // Every delta flips sign, so `w -= lᵀ·delta` climbs the loss instead of
    // descending it: gradient ascent, which drives the output towards 1 on
    // every row (errors ≈ [1, 0, 0, 1, 1] on the tutorial's data).
    let wrong_prime = (&l2 * (&l2 - 1.0)?)?;
    let l2_delta = (&l2_loss * &wrong_prime)?;
    // Bug 2: `l1_delta` reuses l2's error and derivative instead of
    // `(l2_delta·w1ᵀ)·σ'(l1)`. It has shape (rows, 1), so `l0ᵀ·l1_delta` is
    // (in, 1) and numpy broadcasts it over every column of w0: all hidden
    // units get the same update, never learn from w1, and cannot become
    // different features.
    let l1_delta = (&l2_loss * &wrong_prime)?;
    let w1 = (w1 - (l1.t()?.matmul(&l2_delta)? * lr)?)?;
    let w0 = w0.broadcast_sub(&(l0.t()?.matmul(&l1_delta)? * lr)?)?;
    Ok(Step {
        prediction: l2,
        weights: vec![w0, w1],
    })
}
