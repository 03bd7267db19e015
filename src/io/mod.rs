//! Files in and out: atomic writes, `.npz` checks, the tutorial's weight files, model files
//! (weights with the description that rebuilds them), and the reports a run writes.

pub mod atomic;
pub mod model;
pub mod npz;
pub mod report;
pub mod weights;

pub use model::{load_model, load_trainable, save_model, ModelSpec, Training};

/// A shape as `(3, 4)`, the way numpy writes it.
pub(crate) fn shape_text(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("({})", dims.join(", "))
}
