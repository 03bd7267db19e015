//! A data set in memory: features and targets, splits, minibatches, standardisation.
//!
//! Features are float32, row-major, `n_features` per sample. Targets are
//! either class ids (classification) or real values (regression). Every
//! random choice here (shuffles, splits, batch orders) comes from a seed
//! through the crate's [`SplitMix64`], so a run can be repeated exactly.

use candle_core::{DType, Device, Result, Tensor};

use crate::rng::SplitMix64;

/// What each sample should be predicted as.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class ids 0..classes-1, one per sample.
    Classes {
        /// One class id per sample.
        labels: Vec<u32>,
        /// The number of classes; every label is below it.
        classes: usize,
    },
    /// Real-valued targets, `outputs` per sample, row-major.
    Values {
        /// `outputs` values per sample, row-major.
        values: Vec<f32>,
        /// The number of values per sample.
        outputs: usize,
    },
    /// No targets: new rows to predict.
    Unknown,
}

/// What a CSV file's `label` column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Class ids 0, 1, 2, …: classification.
    Classes,
    /// Real numbers: regression.
    Values,
}

/// Samples in memory: float32 features, row-major, and their targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    features: Vec<f32>,
    n_features: usize,
    targets: Targets,
    /// `[C, H, W]` when each sample is an image of C channels of H×W (`n_features` = C·H·W).
    image: Option<[usize; 3]>,
}

impl Samples {
    /// Samples from row-major `features`, `n_features` per sample, after checking that everything agrees.
    pub fn new(features: Vec<f32>, n_features: usize, targets: Targets) -> Result<Self> {
        if n_features == 0 {
            fail!("samples need at least one feature per sample, got n_features = 0");
        }
        if !features.len().is_multiple_of(n_features) {
            fail!(
                "{} feature values do not divide into rows of {n_features}: pass n_features * samples values",
                features.len()
            );
        }
        let n = features.len() / n_features;
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            fail!(
                "feature {} of sample {} is {}: features must be finite numbers",
                i % n_features,
                i / n_features,
                features[i]
            );
        }
        match &targets {
            Targets::Classes { labels, classes } => {
                if labels.len() != n {
                    fail!(
                        "{} labels for {n} samples: give exactly one class id per sample",
                        labels.len()
                    );
                }
                if *classes == 0 {
                    fail!("classification needs at least one class, got classes = 0");
                }
                if let Some(i) = labels.iter().position(|&l| l as usize >= *classes) {
                    fail!(
                        "label {} of sample {i} is not below classes = {classes}: class ids run from 0 to {}",
                        labels[i],
                        classes - 1
                    );
                }
            }
            Targets::Values { values, outputs } => {
                if *outputs == 0 {
                    fail!("regression needs at least one output per sample, got outputs = 0");
                }
                if values.len() != n * outputs {
                    fail!(
                        "{} target values for {n} samples of {outputs} outputs: pass samples * outputs values",
                        values.len()
                    );
                }
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    fail!(
                        "target {} of sample {} is {}: targets must be finite numbers",
                        i % outputs,
                        i / outputs,
                        values[i]
                    );
                }
            }
            Targets::Unknown => {}
        }
        Ok(Self {
            features,
            n_features,
            targets,
            image: None,
        })
    }

    /// The same samples read as images of `[C, H, W]`, which must hold exactly the features of a sample.
    pub fn with_image_shape(self, [c, h, w]: [usize; 3]) -> Result<Self> {
        if c * h * w != self.n_features {
            fail!(
                "an image of {c}×{h}×{w} holds {} values but each sample has {} features: give the shape C,H,W of the data's images",
                c * h * w,
                self.n_features
            );
        }
        Ok(Self {
            image: Some([c, h, w]),
            ..self
        })
    }

    /// `[C, H, W]` when the samples are images.
    pub fn image_shape(&self) -> Option<[usize; 3]> {
        self.image
    }

    /// The shape of one sample: `[C, H, W]` for images, else `[features]`.
    pub fn input_shape(&self) -> Vec<usize> {
        self.image.map_or(vec![self.n_features], |s| s.to_vec())
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.features.len() / self.n_features
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The number of features per sample.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// All features, row-major, `n_features` per sample.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The number of classes, or `None` for regression targets.
    pub fn classes(&self) -> Option<usize> {
        match self.targets {
            Targets::Classes { classes, .. } => Some(classes),
            Targets::Values { .. } | Targets::Unknown => None,
        }
    }

    /// The width of a model's output: the number of classes, or of target values per sample.
    pub fn n_outputs(&self) -> usize {
        match self.targets {
            Targets::Classes { classes, .. } => classes,
            Targets::Values { outputs, .. } => outputs,
            Targets::Unknown => 0,
        }
    }

    /// The same samples with class ids turned into one real-valued target each (`3` becomes `3.0`).
    pub fn into_values(self) -> Samples {
        let targets = match self.targets {
            Targets::Classes { labels, .. } => Targets::Values {
                values: labels.iter().map(|&l| l as f32).collect(),
                outputs: 1,
            },
            values => values,
        };
        Samples { targets, ..self }
    }

    /// The samples at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len), as slice indexing does;
    /// [`batch`](Self::batch) checks its indices and returns an error instead.
    pub fn select(&self, indices: &[usize]) -> Samples {
        let nf = self.n_features;
        let mut features = Vec::with_capacity(indices.len() * nf);
        for &i in indices {
            features.extend_from_slice(&self.features[i * nf..(i + 1) * nf]);
        }
        let targets = match &self.targets {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Targets::Values { values, outputs } => {
                let mut picked = Vec::with_capacity(indices.len() * outputs);
                for &i in indices {
                    picked.extend_from_slice(&values[i * outputs..(i + 1) * outputs]);
                }
                Targets::Values {
                    values: picked,
                    outputs: *outputs,
                }
            }
            Targets::Unknown => Targets::Unknown,
        };
        Samples {
            features,
            n_features: nf,
            targets,
            image: self.image,
        }
    }

    /// Seeded shuffle, then the first (1 - valid_fraction) part is train, the rest validation.
    ///
    /// `valid_fraction` must lie in [0, 1); the validation set gets
    /// `round(len * valid_fraction)` samples, so 0 gives an empty one. It is an
    /// error if the training part would be empty.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> Result<(Samples, Samples)> {
        if !(0.0..1.0).contains(&valid_fraction) {
            fail!(
                "validation fraction {valid_fraction} is out of range: use a number from 0 (no validation) up to, but not including, 1"
            );
        }
        let n = self.len();
        let n_valid = ((n as f64) * valid_fraction).round() as usize;
        let n_train = n - n_valid.min(n);
        if n_train == 0 {
            fail!(
                "validation fraction {valid_fraction} of {n} samples leaves no training samples: use a smaller fraction or more data"
            );
        }
        let order = permutation(n, seed);
        Ok((
            self.select(&order[..n_train]),
            self.select(&order[n_train..]),
        ))
    }

    /// The samples at `indices` as tensors on `dev`: features `(n, n_features)` in `dtype`,
    /// targets `(n,)` U32 class ids, `(n, outputs)` values in `dtype`, or `(n, 0)` for unlabeled samples.
    pub fn batch(&self, indices: &[usize], dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            fail!("batch index {bad} is out of range for {n} samples: indices must be below {n}");
        }
        let picked = self.select(indices);
        let rows = indices.len();
        let xs =
            Tensor::from_vec(picked.features, (rows, self.n_features), dev)?.to_dtype(dtype)?;
        let ys = match picked.targets {
            Targets::Classes { labels, .. } => Tensor::from_vec(labels, rows, dev)?,
            Targets::Values { values, outputs } => {
                Tensor::from_vec(values, (rows, outputs), dev)?.to_dtype(dtype)?
            }
            // Nothing to score against: an empty column, which no loss accepts.
            Targets::Unknown => Tensor::zeros((rows, 0), dtype, dev)?,
        };
        Ok((xs, ys))
    }

    /// All samples, in order, as [`batch`](Self::batch) makes them.
    pub fn tensors(&self, dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        let all: Vec<usize> = (0..self.len()).collect();
        self.batch(&all, dtype, dev)
    }
}

/// A seeded Fisher–Yates shuffle of `0..len`.
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// One epoch's minibatches: a seeded permutation of 0..len cut into batches of batch_size (the last may be smaller).
pub fn epoch_batches(len: usize, batch_size: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        fail!("batch size 0: use a batch size of at least 1");
    }
    Ok(permutation(len, seed)
        .chunks(batch_size)
        .map(<[usize]>::to_vec)
        .collect())
}

/// Per-feature standardisation, fitted on training data and saved with a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// The mean of each feature.
    pub mean: Vec<f32>,
    /// The population standard deviation of each feature, 1.0 where a feature is constant.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The mean and population std of each feature of `samples`; a constant feature gets std 1.0.
    pub fn fit(samples: &Samples) -> Self {
        let nf = samples.n_features();
        let n = samples.len();
        let mut sum = vec![0f64; nf];
        for row in samples.features().chunks(nf) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
        let mut sq = vec![0f64; nf];
        for row in samples.features().chunks(nf) {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = sq
            .iter()
            .map(|s| {
                let std = (s / n.max(1) as f64).sqrt() as f32;
                if std > 0.0 && std.is_finite() {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Replaces each feature `x` by `(x - mean) / std`.
    pub fn apply(&self, samples: &mut Samples) -> Result<()> {
        let nf = samples.n_features;
        if self.mean.len() != nf || self.std.len() != nf {
            fail!(
                "normalization has {} means and {} stds but the samples have {nf} features: fit it on data with the same columns",
                self.mean.len(),
                self.std.len()
            );
        }
        if let Some(j) = self.mean.iter().position(|m| !m.is_finite()) {
            fail!(
                "normalization mean of feature {j} is {}: means must be finite numbers",
                self.mean[j]
            );
        }
        if let Some(j) = self.std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            fail!(
                "normalization std of feature {j} is {}: stds must be positive finite numbers",
                self.std[j]
            );
        }
        let scaled: Vec<f32> = samples
            .features
            .iter()
            .enumerate()
            .map(|(i, &x)| (x - self.mean[i % nf]) / self.std[i % nf])
            .collect();
        if let Some(i) = scaled.iter().position(|v| !v.is_finite()) {
            fail!(
                "normalizing feature {} of sample {} overflows float32: its std {} is too small for the data",
                i % nf,
                i / nf,
                self.std[i % nf]
            );
        }
        samples.features = scaled;
        Ok(())
    }
}
