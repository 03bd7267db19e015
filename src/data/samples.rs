//! A data set in memory: features and targets, splits, minibatches, standardisation.
//!
//! Features stay in their source's element type (float32 for tables, bytes for
//! MNIST's pixels), row-major, `n_features` per sample, until a batch is built:
//! only then is each row converted to float32 and standardised. Splits and
//! selections share the values and keep a list of rows. Targets are class ids
//! (classification), real values (regression) or none (rows to predict). Every
//! random choice here comes from the run's seed through a stream of its own
//! ([`crate::rng::stream`]): the split from one, each epoch's order from
//! another, so a run can be repeated exactly and no two choices share numbers.

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor};

use crate::rng::{self, Purpose, SplitMix64};

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

/// The feature values behind samples, shared by their splits and selections.
enum Store {
    /// Float32 values, row-major.
    F32(Vec<f32>),
    /// Bytes, row-major, each standing for `values[byte]` (MNIST's pixels: `byte / 255`).
    U8 {
        bytes: Vec<u8>,
        values: Box<[f32; 256]>,
    },
    /// Float32 values (little-endian) in a temporary file, removed with the store: a table's
    /// inputs over the memory budget.
    F32File {
        file: tempfile::NamedTempFile,
        len: usize,
    },
    /// Bytes as [`Store::U8`], left in a file from `offset` on and read as batches need them.
    File {
        file: std::fs::File,
        path: std::path::PathBuf,
        offset: u64,
        len: usize,
        values: Box<[f32; 256]>,
    },
}

impl Store {
    /// The number of values.
    fn len(&self) -> usize {
        match self {
            Store::F32(v) => v.len(),
            Store::U8 { bytes, .. } => bytes.len(),
            Store::File { len, .. } | Store::F32File { len, .. } => *len,
        }
    }

    /// Appends the `n` values from `start` to `out` as float32.
    fn extend(&self, start: usize, n: usize, out: &mut Vec<f32>) -> Result<()> {
        match self {
            Store::F32(v) => out.extend_from_slice(&v[start..start + n]),
            Store::U8 { bytes, values } => out.extend(
                bytes[start..start + n]
                    .iter()
                    .map(|&b| values[usize::from(b)]),
            ),
            Store::File {
                file,
                path,
                offset,
                values,
                ..
            } => {
                let mut bytes = vec![0u8; n];
                if let Err(e) = read_at(file, &mut bytes, offset + start as u64) {
                    fail!("cannot read '{}': {e}", path.display())
                }
                out.extend(bytes.iter().map(|&b| values[usize::from(b)]));
            }
            Store::F32File { file, .. } => {
                let mut bytes = vec![0u8; n * 4];
                if let Err(e) = read_at(file.as_file(), &mut bytes, start as u64 * 4) {
                    fail!("cannot read '{}': {e}", file.path().display())
                }
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
        }
        Ok(())
    }

    /// Bytes the values take in memory.
    fn bytes(&self) -> usize {
        match self {
            Store::F32(v) => v.len() * 4,
            Store::U8 { bytes, .. } => bytes.len(),
            Store::File { .. } | Store::F32File { .. } => 0,
        }
    }
}

/// Fills `buf` from `file` at `offset`.
#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`.
#[cfg(not(unix))]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Samples: features (shared, in their source's element type), their targets, and the
/// standardisation applied as batches are built.
#[derive(Clone)]
pub struct Samples {
    store: Arc<Store>,
    /// The rows of the store these samples are, in order; `None` for all of them.
    rows: Option<Arc<Vec<usize>>>,
    n_features: usize,
    targets: Targets,
    /// `[C, H, W]` when each sample is an image of C channels of H×W (`n_features` = C·H·W).
    image: Option<[usize; 3]>,
    /// Applied to each row as batches are built.
    normalization: Option<Normalization>,
    /// Whether epochs and splits go shard by shard (see [`Samples::epoch_batches`]).
    sharded: bool,
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
    fn extend_raw(&self, i: usize, out: &mut Vec<f32>) -> Result<()> {
        let nf = self.n_features;
        self.store.extend(self.store_row(i) * nf, nf, out)
    }

    /// Appends the float32 features of `indices` to `out`, standardised where the samples are.
    fn extend_rows(&self, indices: &[usize], out: &mut Vec<f32>) -> Result<()> {
        let nf = self.n_features;
        out.reserve(indices.len() * nf);
        for &i in indices {
            let start = out.len();
            self.extend_raw(i, out)?;
            if let Some(norm) = &self.normalization {
                for ((v, m), s) in out[start..].iter_mut().zip(&norm.mean).zip(&norm.std) {
                    *v = (*v - m) / s;
                }
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

    /// A shuffle from `seed`'s split stream, then the first (1 - valid_fraction) part is train,
    /// the rest validation.
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
        let mut order = permutation(n, &mut rng::stream(seed, Purpose::Split, 0));
        if self.sharded {
            // Each part in file order, so that its epochs read the file shard by shard.
            order[..n_train].sort_unstable();
            order[n_train..].sort_unstable();
        }
        Ok((
            self.select(&order[..n_train]),
            self.select(&order[n_train..]),
        ))
    }

    /// Epoch `epoch`'s minibatches (counted from 0), from `seed`'s order stream for that epoch:
    /// a shuffle of all the samples, or, for samples read
    /// from a file, a shuffle that reads it a part at a time: the samples cut into shards of
    /// consecutive ones (about 1 MB each), the shards in a shuffled order, and the samples of
    /// each window of 32 shards shuffled together. Every sample comes once per epoch either
    /// way, and the order depends on the seed and the data alone (not on the memory budget),
    /// so a resumed run takes the batches the uninterrupted one would have.
    pub fn epoch_batches(
        &self,
        batch_size: usize,
        seed: u64,
        epoch: usize,
    ) -> Result<Vec<Vec<usize>>> {
        if !self.sharded {
            return epoch_batches(self.len(), batch_size, seed, epoch);
        }
        if batch_size == 0 {
            fail!("batch size 0: use a batch size of at least 1");
        }
        let row = self.n_features.max(1);
        let shard = ((1usize << 20) / row).max(1);
        let mut rng = rng::stream(seed, Purpose::Order, epoch as u64);
        Ok(stream_order(self.len(), shard, 32, &mut rng)
            .chunks(batch_size)
            .map(<[usize]>::to_vec)
            .collect())
    }

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

/// A Fisher–Yates shuffle of `0..len` drawn from `rng`.
fn permutation(len: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
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

/// An order of `0..len`, drawn from `rng`, that reads it a part at a time: shards of `shard`
/// consecutive indices in a shuffled order, the indices of each `window` shards in a row
/// shuffled together.
pub fn stream_order(len: usize, shard: usize, window: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let shard = shard.max(1);
    let shards = permutation(len.div_ceil(shard), rng);
    let mut order = Vec::with_capacity(len);
    for group in shards.chunks(window.max(1)) {
        let start = order.len();
        for &s in group {
            order.extend(s * shard..((s + 1) * shard).min(len));
        }
        let part = &mut order[start..];
        for i in (1..part.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            part.swap(i, j);
        }
    }
    order
}

/// Epoch `epoch`'s minibatches (counted from 0): a permutation of 0..len from `seed`'s order
/// stream for that epoch, cut into batches of batch_size (the last may be smaller).
pub fn epoch_batches(
    len: usize,
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        fail!("batch size 0: use a batch size of at least 1");
    }
    let mut rng = rng::stream(seed, Purpose::Order, epoch as u64);
    Ok(permutation(len, &mut rng)
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
    pub fn fit(samples: &Samples) -> Result<Self> {
        let nf = samples.n_features();
        let n = samples.len();
        let mut row = Vec::with_capacity(nf);
        let mut each_row = |f: &mut dyn FnMut(&[f32])| -> Result<()> {
            for i in 0..n {
                row.clear();
                samples.extend_raw(i, &mut row)?;
                f(&row);
            }
            Ok(())
        };
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

    /// Standardises the samples: each feature `x` becomes `(x - mean) / std` as batches are built
    /// (checked now to stay finite for every sample).
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
        let mut row = Vec::with_capacity(nf);
        for i in 0..samples.len() {
            row.clear();
            samples.extend_raw(i, &mut row)?;
            let scaled = row.iter().zip(&self.mean).zip(&self.std);
            if let Some(j) = scaled
                .map(|((x, m), s)| (x - m) / s)
                .position(|v| !v.is_finite())
            {
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
