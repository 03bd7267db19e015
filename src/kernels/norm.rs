//! The sum of a tensor's squared values, as gradient clipping needs it: read in place on the
//! CPU, accumulated in f64.

use candle_core::{DType, Result, Tensor};

use super::{is_fusable, on_cpu, values};

/// `Σ x²` over every value of `xs`, in f64 (on the CPU without a copy of the values).
pub fn sum_squares(xs: &Tensor) -> Result<f64> {
    if !is_fusable(&[xs]) {
        return xs
            .to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>();
    }
    let xs = xs.contiguous()?;
    on_cpu(&[&xs], "sum of squares", |cpu| {
        let (s, l) = cpu[0];
        Ok(match xs.dtype() {
            DType::F64 => lanes(values::<f64>(s, l)?.iter().copied()),
            _ => lanes(values::<f32>(s, l)?.iter().map(|&v| f64::from(v))),
        })
    })
}

/// `Σ v²` in eight interleaved f64 partial sums (a fixed order, vectorisable).
fn lanes(vs: impl Iterator<Item = f64>) -> f64 {
    let mut acc = [0f64; 8];
    for (i, v) in vs.enumerate() {
        acc[i % 8] += v * v;
    }
    acc.iter().sum()
}
