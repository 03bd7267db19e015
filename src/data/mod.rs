//! Data sets: samples in memory, where they come from (CSV, MNIST's IDX files, synthetic sets),
//! splits, minibatch orders and standardisation. Knows nothing of models or training.

pub mod csv;
pub mod idx;
pub mod samples;
pub mod synthetic;

pub use samples::{epoch_batches, Normalization, Samples, TargetKind, Targets};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::Result;

use synthetic::{MAX_PARITY_BITS, MAX_SPIRAL_POINTS};

/// Which part of a data set to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The training part.
    Train,
    /// The held-out test part.
    Test,
}

/// Where samples come from, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `csv:PATH`: a CSV file with a header row and a `label` column (see [`csv`]).
    Csv(PathBuf),
    /// `mnist:DIR`: a directory holding MNIST's IDX files (see [`idx`]).
    Mnist(PathBuf),
    /// `parity:N`: every N-bit pattern, labelled with the XOR of its bits.
    Parity(usize),
    /// `spirals:N`: two interleaved spirals of N points each.
    Spirals(usize),
}

impl Source {
    /// Loads the train or test part; `kind` says what a CSV's label column means.
    ///
    /// CSV: the same file for both parts. MNIST: `train-*` files for
    /// [`Part::Train`], `t10k-*` for [`Part::Test`]. parity: all 2^N rows for
    /// both. spirals: seed 0 for Train, seed 1 for Test. Sources that are
    /// classification by nature (mnist, parity, spirals) ignore `kind`.
    pub fn load(&self, part: Part, kind: TargetKind) -> Result<Samples> {
        match self {
            Source::Csv(path) => csv::read(path, kind),
            Source::Mnist(dir) => idx::mnist(dir, part),
            Source::Parity(bits) => synthetic::parity(*bits),
            Source::Spirals(points) => synthetic::spirals(
                *points,
                match part {
                    Part::Train => 0,
                    Part::Test => 1,
                },
            ),
        }
    }
}

impl Source {
    /// The shape `[C, H, W]` of the part's samples when they are images (MNIST's, from its header
    /// alone), known before anything is loaded; `None` for sources of flat rows.
    pub fn image_shape(&self, part: Part) -> Result<Option<[usize; 3]>> {
        match self {
            Source::Mnist(dir) => idx::image_shape(dir, part).map(Some),
            Source::Csv(_) | Source::Parity(_) | Source::Spirals(_) => Ok(None),
        }
    }
}

/// The accepted forms of a [`Source`], for error messages.
fn source_forms() -> String {
    format!(
        "use csv:PATH, mnist:DIR, parity:N (N bits, 1 to {MAX_PARITY_BITS}) or spirals:N (N points per spiral, 1 to {MAX_SPIRAL_POINTS})"
    )
}

/// A whole number in `1..=max` for `name:N`, or an error naming the accepted range.
fn count(name: &str, text: &str, max: usize, what: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad {name} size '{text}': write {name}:N with N {what}, a whole number from 1 to {max}"
        )),
    }
}

/// The path after `name:`, or an error if it is empty.
fn path(name: &str, text: &str, what: &str) -> std::result::Result<PathBuf, String> {
    if text.is_empty() {
        return Err(format!(
            "'{name}:' needs a {what} after the colon: write {name}:{}",
            what.to_uppercase()
        ));
    }
    Ok(Path::new(text).to_path_buf())
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let Some((name, rest)) = s.split_once(':') else {
            return Err(format!("unknown data source '{s}': {}", source_forms()));
        };
        match name {
            "csv" => path(name, rest, "path").map(Source::Csv),
            "mnist" => path(name, rest, "dir").map(Source::Mnist),
            "parity" => count(name, rest, MAX_PARITY_BITS, "bits").map(Source::Parity),
            "spirals" => {
                count(name, rest, MAX_SPIRAL_POINTS, "points per spiral").map(Source::Spirals)
            }
            _ => Err(format!("unknown data source '{s}': {}", source_forms())),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Csv(path) => write!(f, "csv:{}", path.display()),
            Source::Mnist(dir) => write!(f, "mnist:{}", dir.display()),
            Source::Parity(bits) => write!(f, "parity:{bits}"),
            Source::Spirals(points) => write!(f, "spirals:{points}"),
        }
    }
}
