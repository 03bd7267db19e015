//! Helpers shared by the integration tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor};
use simple_nn::Dataset;

/// The largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()
}

/// The largest [`max_abs_diff`] over two lists of tensors, pairwise.
pub fn max_abs_diff_all(a: &[Tensor], b: &[Tensor]) -> Result<f64> {
    assert_eq!(a.len(), b.len(), "different numbers of tensors");
    a.iter()
        .zip(b)
        .map(|(a, b)| max_abs_diff(a, b))
        .try_fold(0f64, |m, d| Ok(m.max(d?)))
}

/// Settles candle's thread count once, as the examples do at start-up.
pub fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        simple_nn::threads::init(None);
    });
}

/// The tutorial's data in float64 on the CPU.
pub fn article() -> (Tensor, Tensor) {
    Dataset::Article.tensors(DType::F64, &Device::Cpu).unwrap()
}

/// Values of a tensor as a flat `Vec<f64>`.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}
