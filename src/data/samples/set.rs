//! The data set: features (shared, in their source's element type), their targets, the
//! standardisation applied as batches are built, and selections of rows that share the values.

use std::sync::Arc;

use candle_core::Result;

use super::normalization::Normalization;
use super::store::Store;
use super::targets::Targets;

/// Samples: features (shared, in their source's element type), their targets, and the
/// standardisation applied as batches are built.
#[derive(Clone)]
pub struct Samples {
    store: Arc<Store>,
    /// The rows of the store these samples are, in order; `None` for all of them.
    rows: Option<Arc<Vec<usize>>>,
    pub(super) n_features: usize,
    pub(super) targets: Targets,
    /// `[C, H, W]` when each sample is an image of C channels of H×W (`n_features` = C·H·W).
    image: Option<[usize; 3]>,
    /// Applied to each row as batches are built.
    normalization: Option<Normalization>,
    /// Whether epochs and splits go shard by shard (see [`Samples::epoch_batches`]).
    pub(super) sharded: bool,
}

impl PartialEq for Samples {
    /// The same features (as float32, standardised), targets and shape, however stored.
    fn eq(&self, other: &Self) -> bool {
        self.n_features == other.n_features
            && self.image == other.image
            && self.targets == other.targets
            && self.features().ok() == other.features().ok()
    }
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match *self.store {
            Store::F32(_) => "f32",
            Store::U8 { .. } => "u8",
            Store::File { .. } => "u8 in a file",
            Store::F32File { .. } => "f32 in a file",
        };
        f.debug_struct("Samples")
            .field("len", &self.len())
            .field("n_features", &self.n_features)
            .field("stored_as", &kind)
            .field("image", &self.image)
            .field("normalized", &self.normalization.is_some())
            .field(
                "targets",
                &match &self.targets {
                    Targets::Classes { classes, .. } => format!("{classes} classes"),
                    Targets::Values { outputs, .. } => format!("{outputs} values each"),
                    Targets::Unknown => "none".to_string(),
                },
            )
            .finish()
    }
}

impl Samples {
    /// Samples from row-major `features`, `n_features` per sample, after checking that everything agrees.
    pub fn new(features: Vec<f32>, n_features: usize, targets: Targets) -> Result<Self> {
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            fail!(
                "feature {} of sample {} is {}: features must be finite numbers",
                i % n_features.max(1),
                i / n_features.max(1),
                features[i]
            );
        }
        Self::stored(Store::F32(features), n_features, targets)
    }

    /// Samples from row-major bytes, `n_features` per sample, each byte `b` standing for the
    /// feature `b / divisor` (MNIST's pixels: 255), kept as bytes until batches are built.
    pub fn from_bytes(
        bytes: Vec<u8>,
        divisor: f32,
        n_features: usize,
        targets: Targets,
    ) -> Result<Self> {
        if !(divisor.is_finite() && divisor > 0.0) {
            fail!("bytes are scaled by 1/{divisor}: the divisor must be a positive finite number");
        }
        let values = Box::new(std::array::from_fn(|b| b as f32 / divisor));
        Self::stored(Store::U8 { bytes, values }, n_features, targets)
    }

    /// Samples whose features are the `len` bytes of the file at `path` from `offset` on, each
    /// byte `b` the feature `b / divisor`, read from the file as batches need them: data larger
    /// than memory. Their epochs go shard by shard ([`Samples::epoch_batches`]).
    pub fn from_file(
        path: &std::path::Path,
        (offset, len): (u64, usize),
        divisor: f32,
        n_features: usize,
        targets: Targets,
    ) -> Result<Self> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => fail!("cannot open '{}': {e}", path.display()),
        };
        let on_disk = file.metadata().map(|m| m.len()).unwrap_or(0);
        if on_disk < offset + len as u64 {
            fail!(
                "'{}' holds {on_disk} bytes, fewer than the {} its samples need",
                path.display(),
                offset + len as u64
            );
        }
        let values = Box::new(std::array::from_fn(|b| b as f32 / divisor));
        let store = Store::File {
            file,
            path: path.to_path_buf(),
            offset,
            len,
            values,
        };
        Self::stored(store, n_features, targets)
    }

    /// Samples whose float32 features (little-endian, row-major) were written to `file`, a
    /// temporary file removed with them, and are read from it as batches need them.
    pub fn from_f32_file(
        file: tempfile::NamedTempFile,
        n_features: usize,
        targets: Targets,
    ) -> Result<Self> {
        let len = match file.as_file().metadata() {
            Ok(meta) => (meta.len() / 4) as usize,
            Err(e) => fail!("cannot read '{}': {e}", file.path().display()),
        };
        Self::stored(Store::F32File { file, len }, n_features, targets)
    }

    /// Whether the features are read from a file as batches need them.
    pub fn is_streamed(&self) -> bool {
        matches!(*self.store, Store::File { .. } | Store::F32File { .. })
    }

    /// Whether epochs and splits go shard by shard, as they do for samples read from a file.
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// The same samples, their epochs and splits shard by shard or not, however they are
    /// stored: a run resumed with another memory budget takes the batches it would have.
    pub fn with_sharding(self, sharded: bool) -> Self {
        Self { sharded, ..self }
    }

    /// Samples of all rows of `store`, after checking that everything agrees.
    fn stored(store: Store, n_features: usize, targets: Targets) -> Result<Self> {
        if n_features == 0 {
            fail!("samples need at least one feature per sample, got n_features = 0");
        }
        if !store.len().is_multiple_of(n_features) {
            fail!(
                "{} feature values do not divide into rows of {n_features}: pass n_features * samples values",
                store.len()
            );
        }
        let n = store.len() / n_features;
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
        let sharded = matches!(store, Store::File { .. } | Store::F32File { .. });
        Ok(Self {
            store: Arc::new(store),
            rows: None,
            n_features,
            targets,
            image: None,
            normalization: None,
            sharded,
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
        match &self.rows {
            Some(rows) => rows.len(),
            None => self.store.len() / self.n_features,
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the feature values take in memory, shared with the samples' splits.
    pub fn stored_bytes(&self) -> usize {
        self.store.bytes()
    }

    /// Whether these samples and `other` are views of the same values in memory (a split or a
    /// selection of the other, or both of one set).
    pub fn shares_values_with(&self, other: &Samples) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }

    /// The row of the store that sample `i` is.
    fn store_row(&self, i: usize) -> usize {
        self.rows.as_ref().map_or(i, |rows| rows[i])
    }

    /// Appends the features of sample `i` to `out`, as stored (not standardised).
    pub(super) fn extend_raw(&self, i: usize, out: &mut Vec<f32>) -> Result<()> {
        let nf = self.n_features;
        self.store.extend(self.store_row(i) * nf, nf, out)
    }

    /// Appends the float32 features of `indices` to `out`, standardised where the samples are.
    pub(super) fn extend_rows(&self, indices: &[usize], out: &mut Vec<f32>) -> Result<()> {
        let nf = self.n_features;
        out.reserve(indices.len() * nf);
        for &i in indices {
            let start = out.len();
            self.extend_raw(i, out)?;
            if let Some(norm) = &self.normalization {
                norm.standardise(&mut out[start..]);
            }
        }
        Ok(())
    }

    /// The number of features per sample.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// All features as float32, row-major, `n_features` per sample, standardised where the
    /// samples are: a copy, made for inspection (batches convert their rows alone).
    pub fn features(&self) -> Result<Vec<f32>> {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut out = Vec::new();
        self.extend_rows(&all, &mut out)?;
        Ok(out)
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
        let rows: Vec<usize> = indices.iter().map(|&i| self.store_row(i)).collect();
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
            rows: Some(Arc::new(rows)),
            targets,
            ..self.clone()
        }
    }
}

// The side of `Normalization` that reads and changes samples: here, beside their rows, so that
// `normalization.rs` knows nothing of the samples that hold one.
impl Normalization {
    /// The mean and population std of each feature of `samples`; a constant feature gets std 1.0.
    pub fn measure(samples: &Samples) -> Result<Self> {
        let mut row = Vec::with_capacity(samples.n_features);
        Self::of_rows(samples.n_features, samples.len(), |f| {
            for i in 0..samples.len() {
                row.clear();
                samples.extend_raw(i, &mut row)?;
                f(&row);
            }
            Ok(())
        })
    }

    /// Standardises the samples: each feature `x` becomes `(x - mean) / std` as batches are built
    /// (checked now to stay finite for every sample).
    pub fn apply(&self, samples: &mut Samples) -> Result<()> {
        self.check(samples.n_features)?;
        let mut row = Vec::with_capacity(samples.n_features);
        for i in 0..samples.len() {
            row.clear();
            samples.extend_raw(i, &mut row)?;
            self.standardise(&mut row);
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                fail!(
                    "normalizing feature {j} of sample {i} overflows float32: its std {} is too small for the data",
                    self.std[j]
                );
            }
        }
        samples.normalization = Some(self.clone());
        Ok(())
    }
}
