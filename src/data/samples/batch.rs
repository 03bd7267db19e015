//! Minibatches: the samples at some indices as plain values ([`Rows`], built apart from any
//! tensor so that a thread of its own can build it), then as tensors on a device.

use candle_core::{DType, Device, Result, Tensor};

use super::set::Samples;
use super::targets::Targets;

impl Samples {
    /// The samples at `indices` as tensors on `dev`: features `(n, n_features)` in `dtype`,
    /// targets `(n,)` U32 class ids, `(n, outputs)` values in `dtype`, or `(n, 0)` for unlabeled samples.
    pub fn batch(&self, indices: &[usize], dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        self.rows(indices)?.tensors(dtype, dev)
    }

    /// The samples at `indices` as plain values, a batch before it becomes tensors: the part of
    /// [`batch`](Self::batch) that touches no tensor, so that a thread of its own can do it.
    pub fn rows(&self, indices: &[usize]) -> Result<Rows> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            fail!("batch index {bad} is out of range for {n} samples: indices must be below {n}");
        }
        let mut features = Vec::new();
        self.extend_rows(indices, &mut features)?;
        let targets = match &self.targets {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Targets::Values { values, outputs } => Targets::Values {
                values: indices
                    .iter()
                    .flat_map(|&i| &values[i * outputs..(i + 1) * outputs])
                    .copied()
                    .collect(),
                outputs: *outputs,
            },
            Targets::Unknown => Targets::Unknown,
        };
        Ok(Rows {
            features,
            n_features: self.n_features,
            targets,
        })
    }

    /// All samples, in order, as [`batch`](Self::batch) makes them.
    pub fn tensors(&self, dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        let all: Vec<usize> = (0..self.len()).collect();
        self.batch(&all, dtype, dev)
    }
}

/// A batch as plain values: float32 features, row-major, and the rows' targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// `n_features` values per row, standardised where the samples are.
    pub features: Vec<f32>,
    /// Values per row.
    pub n_features: usize,
    /// The rows' targets.
    pub targets: Targets,
}

impl Rows {
    /// The batch as tensors on `dev` (see [`Samples::batch`]).
    pub fn tensors(self, dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        let rows = self.features.len() / self.n_features.max(1);
        let xs = Tensor::from_vec(self.features, (rows, self.n_features), dev)?.to_dtype(dtype)?;
        let ys = match self.targets {
            Targets::Classes { labels, .. } => Tensor::from_vec(labels, rows, dev)?,
            Targets::Values { values, outputs } => {
                Tensor::from_vec(values, (rows, outputs), dev)?.to_dtype(dtype)?
            }
            // Nothing to score against: an empty column, which no loss accepts.
            Targets::Unknown => Tensor::zeros((rows, 0), dtype, dev)?,
        };
        Ok((xs, ys))
    }
}
