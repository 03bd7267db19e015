//! Per-feature standardisation: each feature's mean and population std over the training rows,
//! saved with a model, checked to fit the rows it is applied to, and applied a row at a time.
//! Measuring it on samples and applying it to them (`Normalization::measure`, `apply`) are in
//! `set.rs`, beside the samples' rows, so that this file knows nothing of samples.

use candle_core::Result;

/// Per-feature standardisation, measured on training data and saved with a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// The mean of each feature.
    pub mean: Vec<f32>,
    /// The population standard deviation of each feature, 1.0 where a feature is constant.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The mean and population std of each of `nf` features over `n` rows; a constant feature
    /// gets std 1.0. `each_row` hands every row to its argument, and is called twice (the
    /// means, then the deviations from them).
    pub(super) fn of_rows(
        nf: usize,
        n: usize,
        mut each_row: impl FnMut(&mut dyn FnMut(&[f32])) -> Result<()>,
    ) -> Result<Self> {
        let mut sum = vec![0f64; nf];
        each_row(&mut |row| {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        })?;
        let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
        let mut sq = vec![0f64; nf];
        each_row(&mut |row| {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        })?;
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
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        })
    }

    /// Checks that it standardises rows of `nf` features: a finite mean and a positive finite
    /// std for each.
    pub(super) fn check(&self, nf: usize) -> Result<()> {
        if self.mean.len() != nf || self.std.len() != nf {
            fail!(
                "normalization has {} means and {} stds but the samples have {nf} features: measure it on data with the same columns",
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
        Ok(())
    }

    /// Standardises one row in place: each feature `x` becomes `(x - mean) / std`.
    pub(super) fn standardise(&self, row: &mut [f32]) {
        for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }
}
