//! What samples are predicted as: class ids, real values or nothing ([`Targets`]), and what a
//! table's target column means ([`TargetKind`]).

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
